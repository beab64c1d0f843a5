"""The command line as a new user meets it: help with a true example per command, shell
completion, and usage mistakes told in the same ``error:`` / ``hint:`` style as every other
message, ``error:`` in red on a terminal only."""

from __future__ import annotations

import glob
import io
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from contagion_cli.cli import output
from contagion_cli.cli.app import app

ROOT = Path(__file__).parents[2]
COMMANDS = [
    "run",
    "validate",
    "schema",
    "sweep",
    "simulate",
    "critical",
    "clusters",
    "check",
    "diff",
    "compare",
    "generate",
]
runner = CliRunner()


def help_of(command: str) -> str:
    result = runner.invoke(app, [command, "--help"], env={"COLUMNS": "100"})
    assert result.exit_code == 0, result.output
    return result.stdout


def example_of(command: str) -> str:
    found = re.search(r"Example: (contagion .+)", help_of(command))
    assert found, f"{command} --help shows no example"
    return found.group(1).strip()


# --- help --------------------------------------------------------------------------------------
@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_shows_an_example(command):
    text = help_of(command)
    example = example_of(command)
    assert example.split()[:2] == ["contagion", command]
    assert len(example) <= 96, "the example must fit one line of an 100-column help"
    # flags take no value and take no type; options name what they take
    assert "<bool>" not in text and "<list[" not in text, text


@pytest.mark.parametrize("command", COMMANDS)
def test_every_example_is_true(command, tmp_path, monkeypatch):
    """Each command's example runs as printed (from a folder with the repository's scenarios;
    generate writes into the test's folder)."""
    # a copy, not a link: a linked folder leading out of the working tree is refused (security)
    shutil.copytree(ROOT / "scenarios", tmp_path / "scenarios")
    monkeypatch.chdir(tmp_path)
    words = shlex.split(example_of(command).replace("/tmp/", f"{tmp_path}/"))[1:]
    args = []
    for word in words:  # the shell expands a glob before contagion sees it
        args += sorted(glob.glob(word)) if "*" in word else [word]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output


def test_the_app_help_lists_every_command_and_completion():
    result = runner.invoke(app, ["--help"], env={"COLUMNS": "100"})
    assert result.exit_code == 0
    for command in COMMANDS:
        assert re.search(rf"│ {command}\s", result.stdout), command
    assert "--install-completion" in result.stdout and "--show-completion" in result.stdout


# --- completion --------------------------------------------------------------------------------
def test_show_completion_prints_a_script(monkeypatch):
    # typer reads the user's shell from the process tree (shellingham): bash in a terminal,
    # but sh under `make test-nojit`, whose recipe runs through /bin/sh. The user here: bash.
    import typer.completion

    monkeypatch.setattr(typer.completion, "_get_shell_name", lambda: "bash")
    result = runner.invoke(app, ["--show-completion"])
    assert result.exit_code == 0, result.output
    assert "complete -o default -F _contagion_completion contagion" in result.stdout


@pytest.mark.parametrize(
    ("words", "cword", "expected"),
    [
        ("contagion ru", 1, "run"),
        ("contagion run --sh", 2, "--shock"),
        ("contagion sw", 1, "sweep"),
    ],
)
def test_the_installed_command_completes(words, cword, expected):
    exe = shutil.which("contagion") or str(Path(os.sys.executable).parent / "contagion")
    env = {
        **os.environ,
        "_CONTAGION_COMPLETE": "complete_bash",
        "COMP_WORDS": words,
        "COMP_CWORD": str(cword),
    }
    proc = subprocess.run([exe], capture_output=True, text=True, env=env, timeout=120)
    assert expected in proc.stdout.split(), proc.stdout + proc.stderr


# --- usage errors ------------------------------------------------------------------------------
QUICKSTART = str(ROOT / "scenarios" / "quickstart.yaml")
USAGE = [
    ("an unknown command", ["runn", QUICKSTART],
     ["error: no such command 'runn'", "hint: did you mean 'run'?"]),
    ("an unknown option", ["run", QUICKSTART, "--bogus"],
     ["error: no such option: --bogus", "hint: 'contagion run --help'"]),
    ("a misspelt option", ["run", QUICKSTART, "--wid"],
     ["error: no such option: --wid", "hint: did you mean --wide?"]),
    ("a missing argument", ["run"],
     ["error: missing argument", "usage: contagion run [OPTIONS]", "SCENARIO"]),
    ("a missing option", ["check", QUICKSTART],
     ["error: missing option '--policy'", "hint: 'contagion check --help'"]),
    ("a bad number", ["run", QUICKSTART, "--top", "0"],
     ["error: --top: input should be greater than or equal to 1"]),
    ("not a number", ["sweep", QUICKSTART, "--workers", "abc"],
     ["error: --workers: input should be a valid integer"]),
    ("an option without its value", ["run", QUICKSTART, "--shock"],
     ["error: option '--shock' requires an argument"]),
    ("an extra argument", ["run", QUICKSTART, "extra.yaml"],
     ["error: got unexpected extra argument", "usage: contagion run"]),
]  # fmt: skip


@pytest.mark.parametrize("case", USAGE, ids=[c[0] for c in USAGE])
def test_usage_errors_in_our_style(case):
    _, args, fragments = case
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    text = result.stderr
    assert text.startswith("error: ") and "\n  hint: " in text
    assert "╭" not in text and "Traceback" not in text and result.stdout == ""
    for fragment in fragments:
        assert fragment in text, text


def test_a_bare_command_prints_its_help():
    result = runner.invoke(app, [])
    assert result.exit_code == 2
    assert "Usage: contagion" in result.stdout and "error:" not in result.output


def _colour_terminal(monkeypatch) -> io.StringIO:
    buffer = io.StringIO()
    terminal = Console(file=buffer, force_terminal=True, color_system="standard")
    monkeypatch.setattr(output, "err_console", terminal)
    return buffer


RED_ERROR = "\x1b[1;31merror\x1b[0m:"


@pytest.mark.parametrize(
    "args", [["run", "/nonexistent.yaml"], ["run", QUICKSTART, "--bogus"], ["runn"]]
)
def test_error_is_red_on_a_terminal(args, monkeypatch):
    buffer = _colour_terminal(monkeypatch)
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    text = buffer.getvalue()
    assert text.startswith(RED_ERROR), repr(text)
    assert "\x1b[1;36mhint\x1b[0m:" in text


def test_no_colour_in_a_pipe():
    """CliRunner's stderr is not a terminal, as a pipe or a CI log is not."""
    for args in (["run", "/nonexistent.yaml"], ["run", QUICKSTART, "--bogus"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 2 and "\x1b[" not in result.stderr
        assert result.stderr.startswith("error: ")


def test_a_message_with_brackets_is_printed_as_it_is(monkeypatch):
    """Labels are coloured without rich markup, so a path with brackets survives."""
    buffer = _colour_terminal(monkeypatch)
    output.say("error: positions[0] of [bold]x[/bold]\n  hint: fix it")
    plain = re.sub(r"\x1b\[[0-9;]*m", "", buffer.getvalue())
    assert plain == "error: positions[0] of [bold]x[/bold]\n  hint: fix it\n"


def test_the_installed_command_in_a_pipe():
    exe = shutil.which("contagion") or str(Path(os.sys.executable).parent / "contagion")
    proc = subprocess.run(
        [exe, "run", QUICKSTART, "--bogus"], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 2
    assert proc.stderr == (
        "error: no such option: --bogus\n  hint: 'contagion run --help' lists its options and "
        "an example\n"
    )
