"""What the reports show: per-type columns, who was auto-deleveraged, units bought, the
round-by-round flows, every channel of the contagion tree, and the graph file formats."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from functools import cache
from pathlib import Path

import pytest
from helpers import run_scenario, scenario_from_yaml
from typer.testing import CliRunner

from contagion_cli.cli.app import app
from contagion_cli.compile.compiler import compile_scenario
from contagion_cli.engine.run import run
from contagion_cli.load.scenario import load_scenario
from contagion_cli.render import numbers as fmt
from contagion_cli.render.formats import Format as OutputFormat
from contagion_cli.render.graph import primary_parents
from contagion_cli.render.report import render_text
from contagion_cli.render.table import adl_rows, details, trace_view
from contagion_cli.results.run import RunResult

SCENARIOS = Path(__file__).parents[2] / "scenarios"
MIXED = SCENARIOS / "mixed.yaml"
QUICKSTART = SCENARIOS / "quickstart.yaml"
PERP = SCENARIOS / "types" / "perp-squeeze.yaml"
OPTIONS = SCENARIOS / "types" / "options-hedging.yaml"
TYPE_HEADERS = ["auctions", "zero-bid", "closed", "ADL", "delevered", "hedged (units)"]


@cache
def result_of(path: Path, trace: bool = False, entities: int = 0) -> RunResult:
    return run(compile_scenario(load_scenario(path)), trace=trace, entities=entities)


def text_of(path: Path, fmt_: OutputFormat, trace: bool = False, entities: int = 0) -> str:
    return render_text(result_of(path, trace, entities), fmt_, width=140)


def table_headers(text: str, first: str) -> list[str]:
    """The headers of the rich table whose first column is ``first`` (split on 2+ spaces)."""
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().split("  ") if c.strip()]
        if cells and cells[0] == first and len(cells) > 2:
            return cells
    raise AssertionError(f"no table starting with {first!r}")


def markdown_table(text: str, title: str) -> list[dict[str, str]]:
    """The rows of the Markdown table under ``### title``, as dicts by header."""
    lines = text.splitlines()
    start = lines.index(f"### {title}") + 2
    block = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        block.append([c.strip() for c in line.strip("|").split(" | ")])
    headers, rows = block[0], block[2:]
    return [dict(zip(headers, row, strict=True)) for row in rows]


# --- per-type columns --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (QUICKSTART, []),
        (SCENARIOS / "types" / "cdp-auctions.yaml", ["auctions", "zero-bid"]),
        (PERP, ["closed", "ADL"]),
        (SCENARIOS / "types" / "leveraged-fire-sale.yaml", ["delevered"]),
        (OPTIONS, ["hedged (units)"]),
        (MIXED, TYPE_HEADERS),
    ],
)
def test_type_columns_appear_only_for_types_in_the_scenario(path, expected):
    headers = table_headers(text_of(path, OutputFormat.table), "protocol")
    assert [h for h in headers if h in TYPE_HEADERS] == expected
    md_headers = list(markdown_table(text_of(path, OutputFormat.markdown), "Protocols")[0])
    assert [h for h in md_headers if h in TYPE_HEADERS] == expected


def test_type_columns_carry_each_types_figures():
    result = result_of(MIXED)
    rows = {
        r["protocol"]: r for r in markdown_table(text_of(MIXED, OutputFormat.markdown), "Protocols")
    }
    perps, maker = result.protocols["perps"], result.protocols["maker"]
    assert rows["perps"]["closed"] == fmt.usd(perps.liquidated_usd)
    assert rows["perps"]["ADL"] == fmt.usd(perps.adl_usd) != "$0"
    assert rows["maker"]["auctions"] == str(maker.auctions)
    assert rows["looper"]["delevered"] == fmt.usd(result.protocols["looper"].deleveraging_sales_usd)
    assert rows["puts"]["hedged (units)"] == fmt.units(result.protocols["puts"].hedge_units_traded)
    # a column of one type stays empty for the others
    assert (
        rows["lending"]["ADL"]
        == rows["lending"]["auctions"]
        == rows["perps"]["hedged (units)"]
        == ""
    )
    # the facts of the type no longer crowd the details column; the levers' and haircut stay
    assert "delevered" not in rows["looper"]["details"]
    looper = result.protocols["looper"]
    assert looper.haircut > 0
    assert rows["looper"]["details"] == f"haircut {looper.haircut * 100:.1f}%"


def test_zero_bid_auctions_show_the_collateral_given_away():
    path = SCENARIOS / "types" / "cdp-auctions.yaml"
    maker = result_of(path).protocols["maker"]
    assert maker.zero_bid_auctions > 0
    row = markdown_table(text_of(path, OutputFormat.markdown), "Protocols")[0]
    assert (
        row["zero-bid"] == f"{maker.zero_bid_auctions} ({fmt.usd(maker.zero_bid_collateral_usd)})"
    )


def test_lending_quickstart_stays_compact():
    text = text_of(QUICKSTART, OutputFormat.table)
    assert table_headers(text, "protocol") == [
        "protocol",
        "type",
        "positions",
        "liquidations",
        "repaid",
        "coll. sold",
        "bad debt",
        "shortfall",
        "reserve used",
        "details",
        "insolvent",
        "distress",
        "depth",
    ]
    assert "Auto-deleveraging" not in text and "\nRounds" not in text


def test_lever_details_count_rounds_in_good_grammar():
    base = result_of(QUICKSTART).protocols["aave"]
    one = replace(base, paused_rounds=1, deferred_liquidations=5, deferred_debt_usd=1.35e7)
    assert details(one) == "paused 1 round, 5 deferred ($13.5M debt)"
    assert details(replace(base, paused_rounds=2)) == "paused 2 rounds"
    both = replace(base, skipped_unprofitable=2, skipped_capital=1, credit_losses_usd=3.8e6)
    assert details(both) == "skipped 2 unprofitable, 1 unfunded; credit loss $3.80M"


@pytest.mark.parametrize(
    ("name", "field"),
    [("circuit-breaker", "paused_rounds"), ("liquidators", "skipped_unprofitable")],
)
def test_lever_examples_show_their_details(name, field):
    path = SCENARIOS / "levers" / f"{name}.yaml"
    result = result_of(path)
    touched = [pr for pr in result.protocols.values() if getattr(pr, field)]
    assert touched, f"{name}.yaml no longer exercises {field}"
    text = text_of(path, OutputFormat.markdown)
    for pr in touched:
        assert details(pr) and details(pr) in text


# --- auto-deleveraging -------------------------------------------------------------------------
@pytest.mark.parametrize("fmt_", [OutputFormat.table, OutputFormat.markdown])
def test_adl_block_lists_who_was_cut_largest_first(fmt_):
    venue = result_of(PERP).protocols["venue"]
    assert len(venue.adl_cuts) == venue.adl_positions > 1
    text = text_of(PERP, fmt_)
    assert "Auto-deleveraging" in text
    block = text[text.index("Auto-deleveraging") : text.index("Assets")]
    positions = [block.index(f"{cut.account}") for cut in venue.adl_cuts]
    assert positions == sorted(positions), "cuts are listed largest first"
    for cut in venue.adl_cuts:
        assert fmt.usd(cut.cut_usd) in block
    assert f"deficit {fmt.usd(venue.deficit_usd)}" in block
    n = venue.adl_positions
    assert f"{fmt.usd(venue.adl_usd)} cut from {n} profitable positions" in block


def test_adl_block_sums_the_cuts_beyond_those_listed():
    """Results list the largest cuts only (engine.MAX_ADL_CUTS); the rest is one row."""
    result = result_of(PERP)
    venue = result.protocols["venue"]
    shown = venue.adl_cuts[:1]
    short = replace(result, protocols={"venue": replace(venue, adl_cuts=shown)})
    rows = adl_rows(short)
    rest = venue.adl_positions - 1
    assert [r[:2] for r in rows] == [
        ["venue", shown[0].account],
        ["venue", f"{rest} other positions"],
    ]
    assert rows[-1][3] == fmt.usd(venue.adl_usd - shown[0].cut_usd)


def test_adl_block_only_when_a_venue_deleveraged():
    assert "Auto-deleveraging" not in text_of(OPTIONS, OutputFormat.table)
    assert "Auto-deleveraging" not in text_of(OPTIONS, OutputFormat.markdown)
    mixed = text_of(MIXED, OutputFormat.markdown)
    rows = markdown_table(mixed, "Auto-deleveraging")
    cuts = result_of(MIXED).protocols["perps"].adl_cuts
    assert cuts
    assert [(r["protocol"], r["account"]) for r in rows] == [("perps", c.account) for c in cuts]


# --- assets: units bought ----------------------------------------------------------------------
def test_a_short_squeeze_shows_units_bought():
    eth = result_of(PERP).assets["ETH"]
    assert eth.sold_units == 0 and eth.bought_units > 0
    row = {r["asset"]: r for r in markdown_table(text_of(PERP, OutputFormat.markdown), "Assets")}
    assert row["ETH"]["sold (units)"] == "0"
    bought = fmt.units(eth.bought_units)
    assert row["ETH"]["bought (units)"] == bought
    table = text_of(PERP, OutputFormat.table)
    assert "bought (units)" in table_headers(table, "asset")
    assert any(line.split()[:1] == ["ETH"] and bought in line for line in table.splitlines())


def test_the_summary_shows_the_notional_perps_closed():
    """Perps repay no debt: "$0 repaid" alone would hide what their liquidations did."""
    closed = fmt.usd(result_of(PERP).protocols["venue"].liquidated_usd)
    for fmt_ in (OutputFormat.table, OutputFormat.markdown):
        assert f"$0 repaid, {closed} of perps closed" in text_of(PERP, fmt_)


# --- the round-by-round trace ------------------------------------------------------------------
def test_trace_flows_per_protocol_add_up_to_the_net_sold():
    result = result_of(MIXED, trace=True)
    assert result.trace and any(row.flows["puts"] for row in result.trace)
    for row in result.trace:
        for asset, net in row.net_sold_units.items():
            total = sum(flows.get(asset, 0.0) for flows in row.flows.values())
            assert total == pytest.approx(net, rel=1e-9, abs=1e-6)


def test_trace_table_shows_liquidations_and_flows_per_protocol():
    result = result_of(MIXED, trace=True)
    text = text_of(MIXED, OutputFormat.table, trace=True)
    headers = table_headers(text, "step")
    for name in ("perps", "lending", "maker", "looper"):
        assert f"{name} liq." in headers and f"{name} flows" in headers
    # the option vault hedges, it never liquidates: its flows and no liquidation column
    assert "puts flows" in headers and "puts liq." not in headers
    hedge = result.trace[0].flows["puts"]["ETH"]
    assert hedge > 0  # a put writer sells into the fall
    assert f"ETH {fmt.units(hedge)}" in text
    # the numeraire never moves nor trades: named once instead of two columns of zeros
    assert "unchanged and not traded: USDC" in text and "USDC price" not in headers


def test_trace_markdown_has_the_hedge_flow_of_each_round():
    result = result_of(OPTIONS, trace=True)
    rows = markdown_table(text_of(OPTIONS, OutputFormat.markdown, trace=True), "Rounds")
    assert len(rows) == len(result.trace)
    for row, traced in zip(rows, result.trace, strict=True):
        assert (row["step"], row["round"]) == (str(traced.step), str(traced.round))
        flows = traced.flows["vault"]
        assert row["vault flows"] == "; ".join(f"{a} {fmt.units(u)}" for a, u in flows.items())
    assert rows[0]["vault flows"].startswith("ETH ")
    assert "vault liq." not in rows[0]


def test_trace_csv_is_long_format_with_flows():
    result = result_of(MIXED, trace=True)
    rows = list(csv.DictReader(io.StringIO(text_of(MIXED, OutputFormat.csv, trace=True))))
    trace = {(r["name"], r["field"]): r["value"] for r in rows if r["section"] == "trace"}
    first = result.trace[0]
    name = f"s{first.step}r{first.round}"
    assert float(trace[(name, "flows.puts.ETH")]) == first.flows["puts"]["ETH"]
    assert float(trace[(name, "prices.ETH")]) == first.prices["ETH"]
    assert int(trace[(name, "liquidations.perps")]) == first.liquidations["perps"]
    assert (name, "flows.lending.ETH") not in trace  # what a protocol did not trade is left out
    assert len({n for n, _ in trace}) == len(result.trace)


def test_trace_counts_the_liquidations_skipped_each_round():
    """The TWAP example's slow market declines 3 liquidations in rounds 2 and 3 and liquidates
    in round 4 (its header says so; the trace must show it)."""
    result = run(compile_scenario(load_scenario(SCENARIOS / "levers" / "oracle-twap.yaml")), True)
    skipped = [r.skipped["slow"] for r in result.trace]
    assert skipped[:4] == [0, 3, 3, 0]
    assert sum(skipped) == result.protocols["slow"].skipped_unprofitable
    view = trace_view(result)
    assert "slow skipped" in view.headers and "fast skipped" not in view.headers


def test_json_carries_trace_flows():
    data = json.loads(text_of(MIXED, OutputFormat.json, trace=True))
    assert "flow_units" not in data["trace"][0]
    assert data["trace"][0]["flows"]["puts"]["ETH"] > 0
    assert data["trace"][0]["flows"]["lending"] == {}


def test_entities_in_markdown_and_csv():
    result = result_of(MIXED, entities=5)
    top = result.entities[0]
    md = markdown_table(text_of(MIXED, OutputFormat.markdown, entities=5), "Entities")
    assert [r["account"] for r in md] == [e.account for e in result.entities]
    assert md[0]["loss"] == fmt.usd(top.loss_usd)
    rows = list(csv.DictReader(io.StringIO(text_of(MIXED, OutputFormat.csv, entities=5))))
    entity = {(r["name"], r["field"]): r["value"] for r in rows if r["section"] == "entity"}
    assert float(entity[(top.account, "loss_usd")]) == top.loss_usd
    assert entity[(top.account, "protocols")] == ";".join(top.protocols)


# --- the contagion tree ------------------------------------------------------------------------
#: fund-a and fund-c both sell into the shock; fund-a's pro-rata sale of ETH and WBTC (and
#: fund-c's ETH) then push fund-b over its maximum leverage in round 2: three edges into fund-b.
TWO_CHANNELS = """
name: two-channels
assets:
  USDC: {price: 1.0}
  ETH: {price: 1000, market: {type: cpmm, base_reserve: 1000, quote_reserve: 1.0e6}}
  WBTC: {price: 50000, market: {type: cpmm, base_reserve: 20, quote_reserve: 1.0e6}}
protocols:
  fund-a:
    type: leveraged
    max_leverage: 3.0
    target_leverage: 2.0
    positions:
      - {account: a, holdings: {ETH: 100, WBTC: 2}, debt_usd: 130000}
  fund-b:
    type: leveraged
    max_leverage: 3.0
    target_leverage: 2.0
    positions:
      - {account: b, holdings: {ETH: 100, WBTC: 2}, debt_usd: 125000}
  fund-c:
    type: leveraged
    max_leverage: 3.0
    target_leverage: 2.0
    positions:
      - {account: c, holdings: {ETH: 100}, debt_usd: 65000}
shocks:
  - {ETH: -0.05, WBTC: -0.05}
"""


def test_tree_names_every_channel_of_the_parent_and_other_sources_under_also():
    result = run_scenario(scenario_from_yaml(TWO_CHANNELS))
    into_b = sorted((e.source, e.asset) for e in result.edges if e.target == "fund-b")
    assert into_b == [("fund-a", "ETH"), ("fund-a", "WBTC"), ("fund-c", "ETH")]
    assert primary_parents(result)["fund-b"][0] == "fund-a"
    tree = render_text(result, OutputFormat.table, width=140)
    line = next(line for line in tree.splitlines() if "fund-b  depth" in line)
    assert line.rstrip().endswith(
        "fund-b  depth 1, step 1 round 2  via ETH, WBTC  also fund-c (ETH)"
    )


# --- graph files -------------------------------------------------------------------------------
def test_graph_md_is_fenced_and_mmd_is_bare(tmp_path):
    runner = CliRunner()
    for name in ("graph.md", "graph.mmd", "graph.mermaid"):
        result = runner.invoke(
            app, ["run", str(QUICKSTART), "-f", "json", "--graph", str(tmp_path / name)]
        )
        assert result.exit_code == 0, result.output
    md = (tmp_path / "graph.md").read_text()
    bare = (tmp_path / "graph.mmd").read_text()
    assert bare.startswith("flowchart LR\n")
    assert md == f"```mermaid\n{bare}```\n"
    assert (tmp_path / "graph.mermaid").read_text() == bare
