"""Positions files (CSV, Parquet) and `contagion generate` (issue 6 items 1 and 2)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from contagion_cli.cli.app import app
from contagion_cli.compile.compiler import compile_scenario
from contagion_cli.engine.run import run
from contagion_cli.load import books
from contagion_cli.load.scenario import load_scenario

runner = CliRunner()

SCENARIO = {
    "name": "books",
    "assets": {
        "USDC": {"price": 1.0},
        "ETH": {
            "price": 2000.0,
            "market": {"type": "cpmm", "base_reserve": 2000, "quote_reserve": 4.0e6},
        },
        "WBTC": {"price": 40000.0, "market": {"type": "exponential", "depth_usd": 5.0e7}},
    },
    "protocols": {
        "lend": {
            "type": "lending",
            "reserve_usd": 1000.0,
            "collateral": {
                "ETH": {"ltv": 0.8, "liquidation_threshold": 0.82, "liquidation_bonus": 0.05},
                "WBTC": {"ltv": 0.7, "liquidation_threshold": 0.75, "liquidation_bonus": 0.07},
            },
        },
        "perps": {"type": "perp", "maintenance_margin": 0.05, "reserve_usd": 100.0},
    },
    "shocks": [{"ETH": -0.2, "WBTC": -0.1}],
}
LEND_ROWS = [
    # account, collateral.ETH, collateral.WBTC, debt.USDC
    ("a", 10.0, 0.0, 15000.0),
    ("b", 0.0, 1.0, 26000.0),
    ("c", 5.0, 0.5, 20000.0),
    ("d", 20.0, 0.0, 30000.0),
]
PERP_ROWS = [("t1", "ETH", 10.0, 2000.0, 3000.0), ("t2", "ETH", -5.0, 1900.0, 2000.0)]


def inline_scenario() -> dict:
    data = yaml.safe_load(yaml.safe_dump(SCENARIO))
    data["protocols"]["lend"]["positions"] = [
        {
            "account": a,
            "collateral": {k: v for k, v in (("ETH", e), ("WBTC", w)) if v},
            "debt": {"USDC": d},
        }
        for a, e, w, d in LEND_ROWS
    ]
    data["protocols"]["perps"]["positions"] = [
        {"account": a, "asset": s, "size": z, "entry_price": p, "margin": m}
        for a, s, z, p, m in PERP_ROWS
    ]
    return data


def write_csv(path: Path, header: str, rows) -> None:
    path.write_text(header + "\n" + "\n".join(",".join(str(v) for v in r) for r in rows) + "\n")


def file_scenario(tmp_path: Path, fmt: str = "csv") -> Path:
    data = yaml.safe_load(yaml.safe_dump(SCENARIO))
    if fmt == "csv":
        write_csv(
            tmp_path / "lend.csv", "account,collateral.ETH,collateral.WBTC,debt.USDC", LEND_ROWS
        )
        write_csv(tmp_path / "perps.csv", "account,asset,size,entry_price,margin", PERP_ROWS)
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        cols = list(zip(*LEND_ROWS, strict=True))
        pq.write_table(
            pa.table(
                {
                    "account": cols[0],
                    "collateral.ETH": cols[1],
                    "collateral.WBTC": cols[2],
                    "debt.USDC": cols[3],
                }
            ),
            tmp_path / "lend.parquet",
        )
        cols = list(zip(*PERP_ROWS, strict=True))
        pq.write_table(
            pa.table(
                {
                    "account": cols[0],
                    "asset": cols[1],
                    "size": cols[2],
                    "entry_price": cols[3],
                    "margin": cols[4],
                }
            ),
            tmp_path / "perps.parquet",
        )
    data["protocols"]["lend"]["positions_file"] = f"lend.{fmt}"
    data["protocols"]["perps"]["positions_file"] = f"perps.{fmt}"
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def result_of(path: Path):
    return run(compile_scenario(load_scenario(path)), entities=10).to_dict()


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_positions_file_gives_the_same_results_as_inline_positions(tmp_path, fmt):
    inline = tmp_path / "inline.yaml"
    inline.write_text(yaml.safe_dump(inline_scenario()))
    expected = result_of(inline)
    got = result_of(file_scenario(tmp_path, fmt))
    assert expected["liquidations"] > 0
    for key in ("protocols", "assets", "liquidations", "bad_debt_usd", "rounds", "entities"):
        assert got[key] == expected[key], key


def test_sweep_reads_positions_files_relative_to_the_scenario(tmp_path, monkeypatch):
    path = file_scenario(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the relative path must not depend on the working directory
    out = tmp_path / "sweep.csv"
    args = ["sweep", str(path), "--shock", "ETH=-0.1:-0.3:0.1", "-f", "csv", "-o", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    rows = out.read_text().strip().splitlines()
    assert len(rows) == 4  # header and three shocks
    inline = tmp_path / "inline.yaml"
    inline.write_text(yaml.safe_dump(inline_scenario()))
    out_inline = tmp_path / "sweep-inline.csv"
    args = ["sweep", str(inline), "--shock", "ETH=-0.1:-0.3:0.1", "-f", "csv", "-o"]
    result = runner.invoke(app, [*args, str(out_inline)])
    assert result.exit_code == 0, result.output
    assert out_inline.read_text() == out.read_text()


def test_inline_and_file_positions_add_up(tmp_path):
    path = file_scenario(tmp_path)
    data = yaml.safe_load(path.read_text())
    data["protocols"]["lend"]["positions"] = [
        {"account": "x", "collateral": {"ETH": 1.0}, "debt": {"USDC": 100.0}}
    ]
    path.write_text(yaml.safe_dump(data))
    compiled = compile_scenario(load_scenario(path))
    assert compiled.position_counts.tolist() == [5, 2]
    assert compiled.entity_names[0] == "x"


def test_numpy_csv_reader_matches_pyarrow(tmp_path):
    write_csv(tmp_path / "b.csv", "account,collateral.ETH,collateral.WBTC,debt.USDC", LEND_ROWS)
    a = books._read_csv(tmp_path / "b.csv")
    b = books._read_csv_numpy(tmp_path / "b.csv")
    for name in a:
        left = books._to_numpy(a[name], name == "account")
        np.testing.assert_array_equal(left, b[name])


def test_default_account_names_for_a_file_without_accounts(tmp_path):
    path = file_scenario(tmp_path)
    write_csv(tmp_path / "lend.csv", "collateral.ETH,debt.USDC", [(10, 15000), (2, 1000)])
    names = list(compile_scenario(load_scenario(path)).entity_names)
    assert names[:2] == ["lend#0", "lend#1"]


BAD = [
    (
        "unknown column",
        "account,collateral.ETH,debt.USDC,colour",
        [("a", 1, 10, "red")],
        ["unknown column 'colour'"],
    ),
    (
        "unknown asset in a column",
        "account,collateral.ETHH,debt.USDC",
        [("a", 1, 10)],
        ["column 'collateral.ETHH': unknown asset 'ETHH'", "did you mean 'ETH'"],
    ),
    (
        "negative amount",
        "account,collateral.ETH,debt.USDC",
        [("a", 1, 10), ("b", -2, 10)],
        [":3:", "column 'collateral.ETH'", ">= 0", "-2.0"],
    ),
    (
        "NaN",
        "account,collateral.ETH,debt.USDC",
        [("a", 1, 10), ("b", 1, "nan")],
        [":3:", "column 'debt.USDC'", "finite"],
    ),
    ("text in a number column", "account,collateral.ETH,debt.USDC", [("a", "lots", 10)], ["lots"]),
    ("absurd amount", "account,collateral.ETH,debt.USDC", [("a", 1e30, 10)], [":2:", "<= 1e+18"]),
    ("no collateral column", "account,debt.USDC", [("a", 10)], ["no collateral.<ASSET> column"]),
    (
        "a position with no collateral",
        "account,collateral.ETH,debt.USDC",
        [("a", 0, 10)],
        [":2:", "holds no collateral"],
    ),
    (
        "duplicate account",
        "account,collateral.ETH,debt.USDC",
        [("a", 1, 10), ("a", 2, 10)],
        ["account 'a' appears twice in protocol 'lend'"],
    ),
]


@pytest.mark.parametrize("command", ["run", "validate"])
@pytest.mark.parametrize("case", BAD, ids=[c[0] for c in BAD])
def test_bad_lending_files(tmp_path, case, command):
    """``validate`` reads the positions files too: it never says ok where ``run`` exits 2."""
    _, header, rows, fragments = case
    path = file_scenario(tmp_path)
    write_csv(tmp_path / "lend.csv", header, rows)
    result = runner.invoke(app, [command, str(path)])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in result.output
    assert "lend.csv" in result.output or "lend" in result.output


BAD_PERPS = [
    (
        "missing column",
        "account,asset,size,entry_price",
        [("t", "ETH", 1, 2000)],
        ["missing column 'margin'"],
    ),
    (
        "size zero",
        "account,asset,size,entry_price,margin",
        [("t", "ETH", 0, 2000, 10)],
        [":2:", "column 'size': must not be 0"],
    ),
    (
        "unknown asset",
        "account,asset,size,entry_price,margin",
        [("t", "ETC", 1, 2000, 10)],
        [":2:", "unknown asset 'ETC'"],
    ),
    (
        "negative entry",
        "account,asset,size,entry_price,margin",
        [("t", "ETH", 1, -5, 10)],
        [":2:", "column 'entry_price'", "> 0"],
    ),
]


@pytest.mark.parametrize("case", BAD_PERPS, ids=[c[0] for c in BAD_PERPS])
def test_bad_perp_files(tmp_path, case):
    _, header, rows, fragments = case
    path = file_scenario(tmp_path)
    write_csv(tmp_path / "perps.csv", header, rows)
    result = runner.invoke(app, ["run", str(path)])
    assert result.exit_code == 2, result.output
    for fragment in fragments:
        assert fragment in result.output


def test_missing_positions_file_names_the_yaml_line(tmp_path):
    path = file_scenario(tmp_path)
    (tmp_path / "lend.csv").unlink()
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 2
    assert "positions file not found" in result.output
    assert "protocols.lend.positions_file" in result.output


def test_not_a_parquet_file(tmp_path):
    path = file_scenario(tmp_path, "parquet")
    (tmp_path / "lend.parquet").write_text("not parquet")
    result = runner.invoke(app, ["run", str(path)])
    assert result.exit_code == 2 and "not a readable Parquet file" in result.output


# --- contagion generate ------------------------------------------------------------------------


def test_generate_is_seeded_and_runs(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    for out, seed in ((a, 7), (b, 7), (c, 8)):
        result = runner.invoke(app, ["generate", str(out), "-n", "3000", "--seed", str(seed)])
        assert result.exit_code == 0, result.output
    assert (a / "lender-0.csv").read_bytes() == (b / "lender-0.csv").read_bytes()
    assert (a / "lender-0.csv").read_bytes() != (c / "lender-0.csv").read_bytes()
    res = run(compile_scenario(load_scenario(a / "scenario.yaml")), entities=3000)
    assert sum(p.positions for p in res.protocols.values()) <= 3000
    assert res.liquidations > 0
    # some accounts are shared across protocols (all entities listed, not only the largest)
    assert any(len(e.protocols) > 1 for e in res.entities)


def test_generate_parquet(tmp_path):
    result = runner.invoke(app, ["generate", str(tmp_path), "-n", "500", "-f", "parquet"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "lender-0.parquet").exists()
    assert run(compile_scenario(load_scenario(tmp_path / "scenario.yaml"))).converged


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["-n", "0"], "--positions must be"),
        (["--assets", "99"], "--assets must be"),
        (["--shared", "1.5"], "--shared must be"),
        (["--shock", "-2"], "--shock must be"),
        (["-f", "xlsx"], "unknown value 'xlsx'"),
        (["--positions", "many"], "error: --positions: input should be a valid integer"),
    ],
)
def test_generate_bad_options(tmp_path, args, fragment):
    result = runner.invoke(app, ["generate", str(tmp_path / "out"), *args])
    assert result.exit_code == 2
    assert fragment in result.output


@pytest.mark.parametrize("debts", [(15000.0, 26000.0, 20000.0, 30000.0), (15000.0, 0, 20000.0, 0)])
def test_one_asset_column_compiles_as_a_table_with_an_empty_second_column(tmp_path, debts):
    """A leg table of one column takes a path of its own (no position x asset matrix): its
    arrays are those of the same book with a second, all-zero column of another asset, which
    adds no leg and does not mark the asset as used."""
    data = yaml.safe_load(yaml.safe_dump(SCENARIO))
    del data["protocols"]["perps"]
    data["protocols"]["lend"]["positions_file"] = "lend.csv"
    (tmp_path / "scenario.yaml").write_text(yaml.safe_dump(data))
    rows = [(a, e or 1.0, d) for (a, e, _, _), d in zip(LEND_ROWS, debts, strict=True)]
    write_csv(tmp_path / "lend.csv", "account,collateral.ETH,debt.USDC", rows)
    one = compile_scenario(load_scenario(tmp_path / "scenario.yaml"))
    write_csv(
        tmp_path / "lend.csv",
        "account,collateral.ETH,collateral.WBTC,debt.USDC,debt.ETH",
        [(a, e, 0, d, 0) for a, e, d in rows],
    )
    two = compile_scenario(load_scenario(tmp_path / "scenario.yaml"))
    for name in ("col_start", "col_asset", "col_units", "debt_start", "debt_asset", "debt_units"):
        assert getattr(one.lending, name).tolist() == getattr(two.lending, name).tolist(), name
    assert one.protocols.uses.tolist() == two.protocols.uses.tolist()
    # the compiled book is stored in trigger order (compile/order.py): row k is the book's
    # position lending_order[k]
    order = range(len(debts)) if one.lending_order is None else one.lending_order.tolist()
    stored = [debts[i] for i in order]
    assert one.lending.debt_start.tolist() == [0, *np.cumsum([d > 0 for d in stored])]
    assert one.lending.debt_units.tolist() == [d for d in stored if d > 0]
