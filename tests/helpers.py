"""Shared test helpers: build scenarios from YAML text or dicts, run them."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import yaml

from contagion_cli.compile.compiler import compile_scenario
from contagion_cli.engine.run import run
from contagion_cli.load.validation import validate_document
from contagion_cli.load.yaml import load_text
from contagion_cli.results.run import RunResult
from contagion_cli.schema.models import Scenario


def scenario_from_yaml(text: str) -> Scenario:
    return validate_document(load_text(text, "<test>"))


def scenario_from_dict(data: dict[str, Any]) -> Scenario:
    return scenario_from_yaml(yaml.safe_dump(data, sort_keys=False))


def run_scenario(s: Scenario, trace: bool = False) -> RunResult:
    return run(compile_scenario(s), trace=trace)


def close(a: float, b: float, rel: float = 1e-9, abs_: float = 1e-6) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=rel, abs_tol=abs_)


def invoke_on_file(tmp_path: Path, text: str | bytes, *args: str, command: str = "validate"):
    """``contagion COMMAND <text written to a file> ARGS...`` in-process: (result, file path)."""
    from typer.testing import CliRunner

    from contagion_cli.cli.app import app

    path = tmp_path / "scenario.yaml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return CliRunner().invoke(app, [command, str(path), *args]), str(path)


def assert_error(result, *fragments: str) -> None:
    """An input error as users see it: exit 2, a message, no traceback, each fragment in it."""
    output = result.output
    assert result.exit_code == 2, output
    assert "Traceback" not in output
    assert "error:" in output
    for fragment in fragments:
        assert fragment in output, f"{fragment!r} not in:\n{output}"
