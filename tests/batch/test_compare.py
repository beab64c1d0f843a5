"""`contagion compare`: designs side by side, the same figures as `run`, and bad inputs."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from contagion_cli.batch.compare import compare
from contagion_cli.cli.app import app
from contagion_cli.load.yaml import load_file

ROOT = Path(__file__).parents[2]
POOLED = str(ROOT / "scenarios" / "levers" / "isolation-pooled.yaml")
ISOLATED = str(ROOT / "scenarios" / "levers" / "isolation-isolated.yaml")
QUICKSTART = str(ROOT / "scenarios" / "quickstart.yaml")
DYNAMIC = str(ROOT / "scenarios" / "levers" / "dynamic-risk.yaml")
runner = CliRunner()


def cli(*args: str):
    return runner.invoke(app, list(args))


def compare_json(*args: str) -> dict:
    result = cli("compare", *args, "--format", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def run_json(*args: str) -> dict:
    result = cli("run", *args, "--format", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


# --- what it reports ---------------------------------------------------------------------------
def test_isolation_pooled_versus_isolated():
    data = compare_json(POOLED, ISOLATED)
    assert data["labels"] == ["isolation-pooled", "isolation-isolated"]
    assert data["same_shocks"] is True and "MEME -60%" in data["on"]
    pooled, isolated = data["designs"]
    # the same MEME loss in both designs ...
    assert pooled["bad_debt_usd"] == pytest.approx(isolated["bad_debt_usd"], rel=1e-9)
    assert pooled["bad_debt_usd"] > 1e6
    # ... but the pooled market is insolvent as a whole and drags the aUSDC vault in (depth 1),
    # while isolation keeps the loss in the MEME market (depth 0, the main pool untouched)
    assert pooled["insolvent_protocols"] == ["pool"]
    assert isolated["insolvent_protocols"] == ["meme-market"]
    assert pooled["propagation_depth"] == 1 and isolated["propagation_depth"] == 0
    assert pooled["protocols"]["safe-vault"]["liquidations"] > 0
    assert isolated["protocols"]["safe-vault"]["liquidations"] == 0
    assert isolated["protocols"]["pool"]["bad_debt_usd"] == 0
    assert "meme-market" not in pooled["protocols"]
    # the same total reserve, split 80/20
    assert pooled["reserve_usd"] == isolated["reserve_usd"] == 1.0e6


@pytest.mark.parametrize("path", [POOLED, ISOLATED])
def test_figures_are_those_of_run(path):
    design = compare_json(POOLED, ISOLATED)["designs"][[POOLED, ISOLATED].index(path)]
    alone = run_json(path)
    for key in (
        "converged",
        "rounds",
        "liquidations",
        "liquidated_usd",
        "bad_debt_usd",
        "shortfall_usd",
        "insolvent_protocols",
        "propagation_depth",
        "amplification",
        "amplification_asset",
    ):
        assert design[key] == alone[key], key
    assert design["slippage_usd"] == pytest.approx(
        sum(a["slippage_usd"] for a in alone["assets"].values()), rel=1e-12
    )
    for name, p in alone["protocols"].items():
        for key in ("bad_debt_usd", "insolvent", "depth", "uncovered_usd", "reserve_usd"):
            assert design["protocols"][name][key] == p[key], (name, key)
    assert design["uncovered_usd"] == pytest.approx(
        sum(p["uncovered_usd"] for p in alone["protocols"].values())
    )


def test_shock_and_set_apply_to_every_file():
    data = compare_json(POOLED, ISOLATED, "--shock", "MEME=-0.2", "--set", "settings.recovery=0")
    assert data["on"] == "--shock MEME -20%"
    for design in data["designs"]:
        assert design["shocks"] == "MEME -20%"
        # at -20% every MEME borrower keeps a health factor above 1: nothing happens
        assert design["liquidations"] == 0 and design["bad_debt_usd"] == 0
        assert design["insolvent_protocols"] == []
    worse = compare_json(POOLED, "--shock", "MEME=-70%", "--label", "x")["designs"][0]
    assert worse["bad_debt_usd"] > compare_json(POOLED)["designs"][0]["bad_debt_usd"]


def test_labels_name_the_designs():
    data = compare_json(POOLED, ISOLATED, "--label", "v2 pool", "--label", "v3 isolated")
    assert data["labels"] == ["v2 pool", "v3 isolated"]
    assert [d["scenario"] for d in data["designs"]] == ["isolation-pooled", "isolation-isolated"]


def test_labels_stay_unique_when_names_collide():
    data = compare_json(POOLED, POOLED)
    assert data["labels"] == [POOLED, f"{POOLED} (2)"]
    assert data["designs"][0]["bad_debt_usd"] == data["designs"][1]["bad_debt_usd"]


def test_library_call_equals_the_command():
    result = compare([POOLED, ISOLATED])
    assert [d.label for d in result.designs] == ["isolation-pooled", "isolation-isolated"]
    assert result.protocols == ["pool", "safe-vault", "meme-market"]
    assert result.to_dict() == compare_json(POOLED, ISOLATED)


def test_different_shock_paths_are_flagged():
    result = cli("compare", QUICKSTART, DYNAMIC, "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["same_shocks"] is False
    assert "shock paths differ" in result.stderr
    assert data["designs"][1]["shocks"] == "ETH -12%; ETH -20%"


# --- formats -----------------------------------------------------------------------------------
def test_table_has_a_column_per_design():
    result = cli("compare", POOLED, ISOLATED)
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert "compare - 2 designs, on the files' shock path: MEME -60%" in text
    header = next(line for line in text.splitlines() if "isolation-pooled" in line)
    assert header.index("isolation-pooled") < header.index("isolation-isolated")
    rows = {line.split("  ")[1].strip(): line for line in text.splitlines() if line.count("  ")}
    assert "1 of 2: pool" in rows["Insolvent protocols"]
    assert "1 of 3: meme-market" in rows["Insolvent protocols"]
    meme = next(line for line in text.splitlines() if line.strip().startswith("meme-market"))
    assert meme.split()[1] == "-" and meme.split()[-1] == "INSOLVENT"


GOLDEN_TABLE = """\
compare - 2 designs, on the files' shock path: MEME -60%

                               isolation-pooled   isolation-isolated
 ────────────────────────────────────────────────────────────────────
  Converged                                 yes                  yes
  Rounds with action                          2                    1
  Liquidations                                3                    2
  Liquidated                             $8.18M               $3.48M
  Slippage                               $15.5K               $15.5K
  Bad debt                               $1.32M               $1.32M
  Shortfall                                  $0                   $0
  Reserves                               $1.00M               $1.00M
  Uncovered (beyond reserves)             $322K               $1.12M
  Insolvent protocols              1 of 2: pool  1 of 3: meme-market
  Propagation depth                           1                    0
  Amplification                    1.09x (MEME)         1.09x (MEME)

  Bad debt by protocol
    pool                       $1.32M INSOLVENT                   $0
    safe-vault                               $0                   $0
    meme-market                               -     $1.32M INSOLVENT

"""


def test_table_golden():
    from contagion_cli.render.compare import compare_table
    from contagion_cli.render.formats import plain_text as to_text

    text = to_text(compare_table(compare([POOLED, ISOLATED])), 100)
    assert "\n".join(line.rstrip() for line in text.splitlines()) + "\n" == GOLDEN_TABLE


def test_markdown_is_a_table_per_section():
    result = cli("compare", POOLED, ISOLATED, "--format", "markdown")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "## contagion compare: isolation-pooled vs isolation-isolated"
    table = [line for line in lines if line.startswith("|")]
    assert all(line.count("|") == 4 for line in table)  # label column + 2 designs
    assert "| Propagation depth | 1 | 0 |" in lines
    assert "| `meme-market` | - | $1.32M **insolvent** |" in lines


def test_csv_has_a_row_per_design():
    result = cli("compare", POOLED, ISOLATED, "--format", "csv")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["label"] for r in rows] == ["isolation-pooled", "isolation-isolated"]
    assert rows[0]["insolvent_protocols"] == "pool"
    assert rows[0]["protocols.meme-market.bad_debt_usd"] == ""  # not a protocol of that design
    assert float(rows[1]["protocols.meme-market.bad_debt_usd"]) > 1e6
    assert rows[1]["protocols.meme-market.insolvent"] == "true"


def test_output_file(tmp_path):
    out = tmp_path / "cmp.json"
    result = cli("compare", POOLED, ISOLATED, "-f", "json", "--output", str(out))
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert json.loads(out.read_text())["labels"] == ["isolation-pooled", "isolation-isolated"]


# --- bad inputs --------------------------------------------------------------------------------
def _fails(*args: str) -> str:
    result = cli("compare", *args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    return result.stderr


def test_missing_file():
    err = _fails(POOLED, "/nonexistent/design.yaml")
    assert "/nonexistent/design.yaml" in err and "not found" in err


def test_every_invalid_file_is_reported(tmp_path):
    for name in ("a", "b"):
        data = _load(POOLED)
        data["protocols"]["pool"]["close_factr"] = 0.5
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    err = _fails(str(tmp_path / "a.yaml"), POOLED, str(tmp_path / "b.yaml"))
    assert "a.yaml" in err and "b.yaml" in err
    assert err.count("unknown key 'close_factr'") == 2
    assert "did you mean 'close_factor'" in err
    assert err.count("error:") == 2  # nothing else is wrong with them


def test_set_that_one_design_lacks_names_the_file():
    err = _fails(POOLED, ISOLATED, "--set", "protocols.meme-market.reserve_usd=1e6")
    assert "no protocol named 'meme-market'" in err
    assert f"(in {POOLED})" in err and ISOLATED not in err


def test_bad_shock():
    err = _fails(POOLED, ISOLATED, "--shock", "MEME=lots")
    assert "MEME" in err and "lots" in err


def test_label_count_must_match():
    err = _fails(POOLED, ISOLATED, "--label", "only-one")
    assert "1 labels for 2 files" in err


def test_duplicate_and_empty_labels():
    assert "given twice" in _fails(POOLED, ISOLATED, "--label", "x", "--label", "x")
    assert "empty" in _fails(POOLED, ISOLATED, "--label", "x", "--label", " ")


def test_unknown_format():
    err = _fails(POOLED, "--format", "parquet")
    assert "expected one of: table, json, csv, markdown" in err


def test_no_files_is_a_usage_error():
    result = cli("compare")
    assert result.exit_code == 2


def test_installed_command_and_jq():
    exe = shutil.which("contagion") or str(Path(sys.executable).parent / "contagion")
    env = {k: v for k, v in os.environ.items() if k != "CONTAGION_EXECUTOR"}
    proc = subprocess.run(
        [exe, "compare", POOLED, ISOLATED, "--format", "json"],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    jq = shutil.which("jq")
    if jq is None:
        pytest.skip("jq is not installed")
    query = subprocess.run(
        [jq, "-r", '.designs[] | "\\(.label) \\(.insolvent_protocols | join(","))"'],
        input=proc.stdout,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert query.stdout.splitlines() == ["isolation-pooled pool", "isolation-isolated meme-market"]


# --- the shipped comparisons -------------------------------------------------------------------
GENERATIONS = sorted(str(p) for p in (ROOT / "scenarios" / "generations").glob("*.yaml"))
VENUES = sorted(str(p) for p in (ROOT / "scenarios" / "venues").glob("*.yaml"))
DESIGN_KEYS = ("oracle", "dynamic_risk", "route")


def _load(path: str) -> dict:
    """The file as the tool reads it (YAML 1.2 numbers: `4.31e6` is a float)."""
    return load_file(path).data


def _book(path: str) -> tuple[dict, dict]:
    """Per account: collateral units per asset and total debt, over the lending design (the
    outside `vault` aside); and reserves and liabilities in total."""
    data = _load(path)
    book: dict[str, dict] = {}
    totals = {"reserve_usd": 0.0, "liabilities_usd": 0.0}
    for name, proto in data["protocols"].items():
        if name == "vault":
            continue
        for key in totals:
            totals[key] += proto[key]
        for pos in proto["positions"]:
            entry = book.setdefault(pos["account"], {"debt": 0.0})
            entry["debt"] += pos["debt"]["USDC"]
            for asset, units in pos["collateral"].items():
                entry[asset] = entry.get(asset, 0.0) + units
    return book, totals


def test_generations_hold_the_same_book_market_and_event():
    assert [Path(p).name for p in GENERATIONS] == [
        "1-monolithic.yaml",
        "2-isolated.yaml",
        "3-coordinated.yaml",
    ]
    docs = [_load(p) for p in GENERATIONS]
    first_book, first_totals = _book(GENERATIONS[0])
    for path, data in zip(GENERATIONS[1:], docs[1:], strict=True):
        book, totals = _book(path)
        assert book.keys() == first_book.keys()
        for account, entry in book.items():
            assert entry.keys() == first_book[account].keys(), account
            for key, value in entry.items():
                assert value == pytest.approx(first_book[account][key], rel=1e-9), (account, key)
        for key, value in totals.items():
            assert value == pytest.approx(first_totals[key], rel=2e-3), key
        assert data["shocks"] == docs[0]["shocks"]
        assert data["protocols"]["vault"] == docs[0]["protocols"]["vault"]
        for name, asset in data["assets"].items():
            if name != "aUSDC":  # the receipt of the main market: `pool`, then `eth-market`
                assert asset == docs[0]["assets"][name], name
    # accounts that span markets: every leg starts at the account's health factor
    prices = {a: v["price"] for a, v in docs[0]["assets"].items() if "price" in v}
    lts = {
        a: c["liquidation_threshold"] for a, c in docs[0]["protocols"]["pool"]["collateral"].items()
    }
    pooled = {p["account"]: p for p in docs[0]["protocols"]["pool"]["positions"]}

    def health(pos):
        power = sum(u * prices[a] * lts[a] for a, u in pos["collateral"].items())
        return power / pos["debt"]["USDC"]

    spanning = set()
    for name, proto in docs[1]["protocols"].items():
        if name == "vault":
            continue
        for pos in proto["positions"]:
            if len(pooled[pos["account"]]["collateral"]) > 1:
                spanning.add(pos["account"])
            assert health(pos) == pytest.approx(health(pooled[pos["account"]]), rel=1e-3)
    assert spanning == {"whale", "fund", "desk"}


def test_generations_side_by_side():
    data = compare_json(*GENERATIONS)
    assert data["labels"] == ["1-monolithic", "2-isolated", "3-coordinated"]
    assert data["same_shocks"] is True and "LONG@pool -83%" in data["on"]
    mono, isolated, coordinated = data["designs"]
    assert all(d["converged"] for d in data["designs"])
    assert mono["reserve_usd"] == pytest.approx(isolated["reserve_usd"], rel=2e-3)
    # one pooled market: the LONG loss is the whole market's, and it exceeds the one reserve
    assert mono["insolvent_protocols"] == ["pool"] and mono["bad_debt_usd"] > 0
    # isolated: the loss stays in the LONG market; without the accounts' ETH behind their
    # LONG legs it is larger than the pooled one, and mostly uncovered
    assert isolated["insolvent_protocols"] == ["long-market"]
    assert isolated["bad_debt_usd"] > mono["bad_debt_usd"]
    assert isolated["bad_debt_usd"] == isolated["protocols"]["long-market"]["bad_debt_usd"]
    for market in ("eth-market", "wbtc-market"):
        assert isolated["protocols"][market]["bad_debt_usd"] == 0
    # coordinated: the median ignores the drained pool
    assert coordinated["bad_debt_usd"] < min(mono["bad_debt_usd"], isolated["bad_debt_usd"])
    assert coordinated["insolvent_protocols"] == []
    assert coordinated["coordination"]["adjusted_entities"] > 0
    assert mono["coordination"] is None and isolated["coordination"] is None


def test_generation_three_without_its_median_is_generation_two():
    spot = [f"protocols.{m}.oracle.type=spot" for m in ("eth-market", "wbtc-market", "long-market")]
    static = [
        f"protocols.{m}.dynamic_risk=null" for m in ("eth-market", "wbtc-market", "long-market")
    ]
    sets = [arg for s in [*spot, *static, "coordination.enabled=false"] for arg in ("--set", s)]
    third = compare_json(GENERATIONS[2], *sets)["designs"][0]
    second = compare_json(GENERATIONS[1])["designs"][0]
    assert third["insolvent_protocols"] == second["insolvent_protocols"]
    for key in ("liquidations", "liquidated_usd", "bad_debt_usd"):
        assert third[key] == pytest.approx(second[key], rel=1e-9), key


def test_dislocation_contained_and_uncontained():
    assert [Path(p).name for p in VENUES] == [
        "dislocation-contained.yaml",
        "dislocation-uncontained.yaml",
    ]
    contained, uncontained = (_load(p) for p in VENUES)
    # the same market, book and shock: only the oracle and the route differ
    assert contained["assets"] == uncontained["assets"]
    assert contained["shocks"] == uncontained["shocks"]
    for name, proto in contained["protocols"].items():
        other = uncontained["protocols"][name]
        assert {k: v for k, v in proto.items() if k not in DESIGN_KEYS} == {
            k: v for k, v in other.items() if k not in DESIGN_KEYS
        }
        assert proto["oracle"] == {"type": "median"} and "route" not in proto
        assert other["oracle"] == {"type": "spot", "venues": ["pool"]}
        assert other["route"] == {"pool": 1}

    data = compare_json(*VENUES)
    c, u = data["designs"]
    assert (c["label"], u["label"]) == ("dislocation-contained", "dislocation-uncontained")
    # uncontained: every on-chain-lender borrower falls at the dislocated price, their ETH is
    # dumped into the thin pool, which pulls the second lender in one round later
    assert u["protocols"]["onchain-lender"]["liquidations"] == 5
    assert u["protocols"]["second-lender"]["liquidations"] == 3
    assert u["insolvent_protocols"] == ["onchain-lender", "second-lender"]
    assert u["propagation_depth"] == 1 and u["bad_debt_usd"] > 1e6
    # contained: only the borrower that ETH -12% alone takes below 1
    assert c["liquidations"] == 1 and c["bad_debt_usd"] == 0
    assert c["insolvent_protocols"] == [] and c["propagation_depth"] == 0
    assert c["slippage_usd"] < 0.01 * u["slippage_usd"]
