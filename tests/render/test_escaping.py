"""Names from pull requests in every output format (issue 16): a scenario's name, the accounts
of its positions file, sources, policy and gate names, and file names, each written so that it
can neither command a terminal or a CI log nor break the format (docs/security.md)."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import subprocess
import unicodedata
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml
from rich.console import Console
from typer.testing import CliRunner

from contagion_cli.cli.app import app
from contagion_cli.render import escape

ROOT = Path(__file__).parents[2]
runner = CliRunner()

#: What a hostile name tries: a log command on a new line, a legacy one mid-line, an OSC 8
#: link, a screen clear, rich markup, HTML, a Markdown link and table cells, a formula, bidi.
HOSTILE = (
    "x\n::error file=a::pwned \x1b]8;;https://e.x\x07click\x1b]8;;\x07 \x1b[2J "
    "[link=https://e.x]rich[/link] <script>alert(1)</script> [md](https://e.x) | cell | "
    "##[error]legacy ##vso[task] \u202eevil\r"
)
ACCOUNTS = [
    '=HYPERLINK("https://e.x")',
    "@SUM(A1:A9)",
    "+1+1",
    "-2+3",
    "::error::account",
    "<img src=x onerror=alert(1)>",
    "a\x1b[31mred",
]


def hostile_scenario(folder: Path, name: str = HOSTILE, file: str = "hostile.yaml") -> Path:
    data = yaml.safe_load((ROOT / "scenarios" / "quickstart.yaml").read_text())
    data["name"] = name
    data["description"] = HOSTILE
    data["expected"] = [{"metric": "bad_debt_usd", "at_least": 0, "source": HOSTILE}]
    book = folder / "accounts.csv"
    rows = [f'"{a.replace(chr(34), chr(34) * 2)}",100,250000' for a in ACCOUNTS]
    book.write_text("account,collateral.ETH,debt.USDC\n" + "\n".join(rows) + "\n")
    data["protocols"]["aave"]["positions_file"] = book.name
    path = folder / file
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def hostile_policy(folder: Path) -> Path:
    policy = {
        "name": HOSTILE,
        "gates": [
            {"name": HOSTILE, "check": "bad_debt_usd <= 1", "shock": {"ETH": -0.4}},
            {"name": "ok " + HOSTILE, "check": "liquidations >= 0"},
        ],
    }
    path = folder / "policy.yaml"
    path.write_text(yaml.safe_dump(policy, sort_keys=False))
    return path


def assert_safe(text: str) -> None:
    """Nothing in ``text`` commands a terminal or a CI log."""
    for ch in set(text):
        category = unicodedata.category(ch)
        assert ch == "\n" or category not in ("Cc", "Cf", "Cs", "Zl", "Zp"), repr(ch)
    for line in text.split("\n"):
        assert not line.lstrip().startswith("::"), line
        assert "##[" not in line and "##vso[" not in line, line


def invoke(args: list[str], monkeypatch) -> str:
    """stdout of ``contagion ARGS``; stdout and stderr both checked with :func:`assert_safe`."""
    monkeypatch.setenv("CONTAGION_EXECUTOR", "python")  # small books: no compile
    result = runner.invoke(app, args)
    assert result.exit_code in (0, 1), result.output
    assert_safe(result.output)
    return result.stdout


@pytest.fixture
def hostile(tmp_path):
    return hostile_scenario(tmp_path)


def test_run_in_every_format(hostile, tmp_path, monkeypatch):
    base = ["run", str(hostile), "--entities", "--shock", "ETH=-40%"]
    table = invoke([*base, "-f", "table"], monkeypatch)
    assert "[link=https://e.x]rich[/link]" in table  # shown, not interpreted
    assert "\\n:\\:error" in table and "\\x1b]8;;" in table  # escapes a reader can see

    data = json.loads(invoke([*base, "-f", "json"], monkeypatch))
    assert data["scenario"] == HOSTILE  # JSON keeps the exact text, escaped by JSON itself
    assert {e["account"] for e in data["entities"]} >= set(ACCOUNTS)

    rows = list(csv.reader(io.StringIO(invoke([*base, "-f", "csv"], monkeypatch))))
    for row in rows:
        for cell in row:
            if cell.lstrip().startswith(escape.FORMULA_STARTS):
                float(cell.rstrip("%"))  # only numbers may start with = + - @
    entity_names = {row[1] for row in rows if row[0] == "entity"}
    assert '\'=HYPERLINK("https://e.x")' in entity_names
    assert "'-2+3" in entity_names and "'@SUM(A1:A9)" in entity_names
    negative = [r for r in rows if r[0] == "asset" and r[2] == "endogenous_impact"]
    assert negative and all(not r[3].startswith("'") for r in negative)  # numbers unguarded

    markdown = invoke([*base, "-f", "markdown"], monkeypatch)
    assert_markdown_safe(markdown)

    for suffix in (".dot", ".mmd", ".md"):
        graph = tmp_path / f"graph{suffix}"
        invoke([*base, "--graph", str(graph)], monkeypatch)
        assert_safe(graph.read_text())
    dot = (tmp_path / "graph.dot").read_text()
    assert dot.splitlines()[0].startswith('digraph "contagion: x\\\\n')


def assert_markdown_safe(text: str) -> None:
    assert_safe(text)
    assert "<script" not in text and "<img" not in text
    assert not re.search(r"(?<!\\)\]\(https://e\.x\)", text)  # no link or image
    lines = text.split("\n")
    for k, line in enumerate(lines):
        rule = lines[k + 1] if k + 1 < len(lines) else ""
        if line.startswith("| ") and "---" in rule and set(rule) <= set("|-: "):
            width = _cells(line)
            j = k + 2
            while j < len(lines) and lines[j].startswith("|"):
                assert _cells(lines[j]) == width, lines[j]  # no cell added by a name
                j += 1


def _cells(line: str) -> int:
    """Cells of a GFM table row: pipes not escaped with a backslash."""
    count, escaped = 0, False
    for ch in line:
        if ch == "|" and not escaped:
            count += 1
        escaped = ch == "\\" and not escaped
    return count - 1


def test_the_terminal_table_emits_no_escape_sequences_but_colours(hostile, monkeypatch):
    from contagion_cli.compile.compiler import compile_scenario
    from contagion_cli.engine.run import run
    from contagion_cli.load.scenario import load_scenario
    from contagion_cli.render.report import RUN, RunReport

    monkeypatch.setenv("CONTAGION_EXECUTOR", "python")
    result = run(compile_scenario(load_scenario(hostile)), entities=20)
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, color_system="truecolor", width=200)
    console.print(RUN.table(RunReport(result)))
    text = buffer.getvalue()
    # colours (CSI ... m) are the only escape sequences: no OSC 8 link, no screen clear
    stripped = re.sub(r"\x1b\[[0-9;]*m", "", text)
    assert "\x1b" not in stripped
    assert "\x1b]8" not in text
    assert_safe(stripped)


def test_check_junit_markdown_and_stderr(hostile, tmp_path, monkeypatch):
    policy = hostile_policy(tmp_path)
    junit, comment = tmp_path / "report.xml", tmp_path / "comment.md"
    args = ["check", str(hostile), "-p", str(policy), "-j", "1"]
    result = runner.invoke(app, [*args, "--junit", str(junit), "--markdown", str(comment)])
    assert result.exit_code == 1 and "FAIL " in result.stderr  # a failed gate, made safe
    assert_safe(result.output)
    root = ET.fromstring(junit.read_text())  # well-formed
    assert root.tag == "testsuites"
    names = [case.get("name") for case in root.iter("testcase")]
    assert names and all("\x1b" not in n and "\n" not in n for n in names)
    assert_safe(junit.read_text())
    xmllint = shutil.which("xmllint")
    if xmllint:
        subprocess.run([xmllint, "--noout", str(junit)], check=True)
    assert_markdown_safe(comment.read_text())
    for fmt in ("table", "json", "markdown"):
        text = invoke([*args, "-f", fmt], monkeypatch)
        if fmt == "markdown":
            assert_markdown_safe(text)


def test_a_file_name_is_untrusted_too(tmp_path, monkeypatch):
    # a pull request can add `scenarios/x<newline>::error::y.yaml` and a name that is not
    # even UTF-8 (Python hands it over with lone surrogates, which cannot be printed raw)
    folder = tmp_path / "repo"
    folder.mkdir()
    path = hostile_scenario(folder, "plain name", file="s\n::error::x \x1b[2J.yaml")
    policy = hostile_policy(folder)
    odd = folder / "odd\udcff.yaml"
    odd.write_bytes(path.read_bytes())
    for scenario in (path, odd):
        result = runner.invoke(app, ["check", str(scenario), "-p", str(policy), "-j", "1"])
        assert result.exit_code == 1 and "FAIL " in result.stderr
        assert_safe(result.output)
        output = invoke(["diff", str(scenario), str(scenario), "-f", "markdown"], monkeypatch)
        assert_markdown_safe(output)
        invoke(["diff", str(scenario), str(scenario)], monkeypatch)
        invoke(["validate", str(scenario)], monkeypatch)
    result = runner.invoke(app, ["validate", str(folder / "missing\n::error::x.yaml")])
    assert result.exit_code == 2
    assert_safe(result.output)


def test_compare_in_every_format(tmp_path, monkeypatch):
    first = hostile_scenario(tmp_path, HOSTILE + " 1", "a.yaml")
    second = hostile_scenario(tmp_path, "=cmd|' /C calc'!A0", "b.yaml")
    base = ["compare", str(first), str(second), "--shock", "ETH=-40%"]
    assert "[link=" in invoke([*base, "-f", "table"], monkeypatch)
    assert_markdown_safe(invoke([*base, "-f", "markdown"], monkeypatch))
    rows = list(csv.reader(io.StringIO(invoke([*base, "-f", "csv"], monkeypatch))))
    assert rows[2][0] == "'=cmd|' /C calc'!A0"
    json.loads(invoke([*base, "-f", "json"], monkeypatch))


def test_batch_commands(hostile, tmp_path, monkeypatch):
    sweep = ["sweep", str(hostile), "--shock", "ETH=-0.1,-0.4", "-j", "1"]
    invoke([*sweep, "-f", "table"], monkeypatch)
    invoke([*sweep, "-f", "csv"], monkeypatch)
    invoke(["critical", str(hostile), "--asset", "ETH", "--above", "0", "--scan", "8"], monkeypatch)
    invoke(["clusters", str(hostile), "--asset", "ETH", "--levels", "-0.1,-0.4"], monkeypatch)
    data = yaml.safe_load((ROOT / "scenarios" / "quickstart-montecarlo.yaml").read_text())
    data["name"] = HOSTILE
    mc = tmp_path / "mc.yaml"
    mc.write_text(yaml.safe_dump(data, sort_keys=False))
    for fmt in ("table", "markdown", "json", "csv"):
        text = invoke(["simulate", str(mc), "-n", "8", "-j", "1", "-f", fmt], monkeypatch)
        if fmt == "markdown":
            assert_markdown_safe(text)


def test_a_plot_title_with_dollars_does_not_break_matplotlib(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    path = hostile_scenario(tmp_path, "$\\frac{1}{$ ^_^ $x_{", "p.yaml")
    plot = tmp_path / "walls.png"
    invoke(
        ["clusters", str(path), "--asset", "ETH", "--levels", "-0.1", "--plot", str(plot)],
        monkeypatch,
    )
    assert plot.stat().st_size > 0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("=1+2", "'=1+2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("+cmd", "'+cmd"),
        ("-2+3", "'-2+3"),
        (" =x", "' =x"),
        ("-0.35", "-0.35"),  # a number is not a formula
        ("-35%", "-35%"),
        ("+1e6", "+1e6"),
        ("-1,234.5", "-1,234.5"),
        ("alice", "alice"),
        ("a=b", "a=b"),
        ("\t=x", "\\t=x"),  # the tab is shown escaped; the text no longer starts a formula
    ],
)
def test_csv_formula_guard(text, expected):
    assert escape.csv_text(text) == expected


def test_markdown_escapes():
    assert escape.md("a|b") == "a\\|b"
    assert escape.md("<script>x</script>") == "&lt;script>x&lt;/script>"
    assert escape.md("bad_debt_usd <= 5") == "bad_debt_usd <= 5"  # comparisons stay readable
    assert escape.md("[x](http://e)") == "\\[x\\](http://e)"
    assert escape.md("&amp;") == "&amp;amp;"
    assert escape.md_code("a`b") == "``a`b``"
    assert escape.md_code("a|b", table=True) == "`a\\|b`"
    assert escape.json_text('"##[error]"') == '"#\\u0023[error]"'
    assert json.loads(escape.json_text(json.dumps("##[error]x"))) == "##[error]x"
