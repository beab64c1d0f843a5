"""The format of a report: ``--format``, else the ``--output`` file's extension, else a table
(cli/output.py ``choose_format``), the same for every command. A format the command does not
write, or a ``--format`` that contradicts the extension, exits 2 before any work."""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

import pytest
from helpers import assert_error
from typer.testing import CliRunner

from contagion_cli.cli.app import app

ROOT = Path(__file__).parents[2]
QUICKSTART = str(ROOT / "scenarios" / "quickstart.yaml")
CANDIDATE = str(ROOT / "scenarios" / "candidates" / "quickstart.yaml")
MC = str(ROOT / "scenarios" / "quickstart-montecarlo.yaml")
POLICY = "gates:\n  - check: bad_debt_usd <= 7.5e5\n"
runner = CliRunner()

#: Each command with small arguments, and a key its JSON report carries.
COMMANDS = {
    "run": (["run", QUICKSTART], "protocols"),
    "sweep": (["sweep", QUICKSTART, "--shock", "ETH=-0.1,-0.2"], "rows"),
    "simulate": (["simulate", MC, "--paths", "4"], "paths"),
    "critical": (
        ["critical", QUICKSTART, "--asset", "ETH", "--above", "0", "--scan", "8"],
        "status",
    ),
    "clusters": (["clusters", QUICKSTART, "--asset", "ETH", "--levels", "-0.1,-0.2"], "levels"),
    "check": (["check", QUICKSTART, "--policy", "{policy}"], "verdicts"),
    "diff": (["diff", QUICKSTART, CANDIDATE], "changes"),
    "compare": (["compare", QUICKSTART, CANDIDATE], "designs"),
}
#: The formats each command writes (besides the table).
WRITES = {
    "run": {"json", "csv", "markdown"},
    "sweep": {"json", "csv", "parquet"},
    "simulate": {"json", "csv", "markdown"},
    "critical": {"json"},
    "clusters": {"json", "csv"},
    "check": {"json", "markdown"},
    "diff": {"json", "csv", "markdown"},
    "compare": {"json", "csv", "markdown"},
}


def invoke(command: str, tmp_path: Path, *extra: str):
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    args = [a.replace("{policy}", str(policy)) for a in COMMANDS[command][0]]
    return runner.invoke(app, [*args, *extra])


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_output_json_writes_json_without_format(command, tmp_path):
    out = tmp_path / "out.json"
    result = invoke(command, tmp_path, "-o", str(out))
    assert result.exit_code in (0, 1), result.output  # check and diff may fail a gate
    data = json.loads(out.read_text())
    key = COMMANDS[command][1]
    assert key is None or key in data
    assert f"wrote {out}" in result.stderr
    assert "{" not in result.stdout  # the report went to the file, not stdout


@pytest.mark.parametrize("command", sorted(c for c in COMMANDS if "csv" in WRITES[c]))
def test_output_csv_writes_csv(command, tmp_path):
    out = tmp_path / "out.csv"
    result = invoke(command, tmp_path, "-o", str(out))
    assert result.exit_code in (0, 1), result.output
    rows = list(csv.reader(io.StringIO(out.read_text())))
    assert len(rows) >= 2 and len(rows[0]) >= 2


@pytest.mark.parametrize("command", sorted(c for c in COMMANDS if "markdown" in WRITES[c]))
@pytest.mark.parametrize("suffix", [".md", ".markdown"])
def test_output_md_writes_markdown(command, suffix, tmp_path):
    out = tmp_path / f"out{suffix}"
    result = invoke(command, tmp_path, "-o", str(out))
    assert result.exit_code in (0, 1), result.output
    text = out.read_text()
    assert text.startswith("#") and "|" in text


def test_output_parquet_writes_parquet_for_sweep(tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    out = tmp_path / "out.parquet"
    result = invoke("sweep", tmp_path, "-o", str(out))
    assert result.exit_code == 0, result.output
    table = pq.read_table(out)
    assert table.num_rows == 2 and "shock.ETH" in table.column_names


@pytest.mark.parametrize("command", ["run", "sweep", "check"])
@pytest.mark.parametrize("name", ["out.txt", "report.log", "report"])
def test_other_names_get_the_table(command, name, tmp_path):
    """.txt, an extension of no format, or none: the table, as a pipe gets it."""
    out = tmp_path / name
    result = invoke(command, tmp_path, "-o", str(out))
    assert result.exit_code in (0, 1), result.output
    text = out.read_text()
    assert "─" in text and not text.lstrip().startswith("{")


@pytest.mark.parametrize(
    ("command", "name"),
    [
        (command, f"out.{ext}")
        for command in sorted(COMMANDS)
        for fmt, ext in (("csv", "csv"), ("markdown", "md"), ("parquet", "parquet"))
        if fmt not in WRITES[command]
    ],
)
def test_an_extension_of_a_format_the_command_does_not_write(command, name, tmp_path):
    out = tmp_path / name
    result = invoke(command, tmp_path, "-o", str(out))
    assert_error(result, "--output", "this command does not write", "use --format with one of")
    assert not out.exists()


def test_critical_to_csv_names_what_it_writes(tmp_path):
    result = invoke("critical", tmp_path, "-o", str(tmp_path / "x.csv"))
    assert_error(
        result,
        "--output: this command does not write csv (the extension of",
        "hint: use --format with one of: table, json",
    )


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_format_that_contradicts_the_extension(command, tmp_path):
    out = tmp_path / "out.csv"
    result = invoke(command, tmp_path, "-f", "json", "-o", str(out))
    assert_error(result, "--output", "--format json would write csv's extension '.csv'")
    assert not out.exists()


@pytest.mark.parametrize("command", ["run", "sweep"])
def test_format_and_a_matching_or_neutral_name(command, tmp_path):
    """--format wins over a name that implies no format (.txt: a table) and agrees with its own
    extension; its value is read case-insensitively."""
    for name in ("out.json", "out.txt", "out.dat"):
        out = tmp_path / name
        result = invoke(command, tmp_path, "-f", "JSON", "-o", str(out))
        assert result.exit_code == 0, result.output
        json.loads(out.read_text())


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["-f", "yaml"], ["--format", "unknown value 'yaml'", "expected one of: table, json"]),
        (["-f", "parquet"], ["--format", "Parquet is binary: give a file with --output"]),
    ],
)
def test_bad_formats(args, fragments, tmp_path):
    assert_error(invoke("sweep", tmp_path, *args), *fragments)


@pytest.mark.parametrize("extra", [(), ("--wide",), ("-f", "markdown")])
def test_a_report_does_not_load_richs_emoji_table(extra):
    """Every console of the report has ``emoji=False``: rich would otherwise import its emoji
    table (2 ms of every run) to replace ":name:" codes that no report contains (a scenario's
    names are printed as written)."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from contagion_cli.cli import console\n"
        "try:\n"
        "    console.main()\n"
        "except SystemExit as exc:\n"
        "    assert exc.code in (0, None), exc.code\n"
        "print('emoji table loaded:', 'rich._emoji_codes' in sys.modules, file=sys.stderr)\n"
    )
    args = [sys.executable, "-c", code, "run", QUICKSTART, *extra]
    env = {**os.environ, "CONTAGION_EXECUTOR": "python"}
    done = subprocess.run(args, capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "emoji table loaded: False" in done.stderr, done.stderr
