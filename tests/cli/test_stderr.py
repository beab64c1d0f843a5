"""No numpy RuntimeWarning reaches stderr (issue 16): every shipped scenario, run the way a user
runs it (the default executor: the plain-Python twin for small books), with warnings as errors."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from contagion_cli.cli.app import app
from contagion_cli.engine import kernels

ROOT = Path(__file__).parents[2]
SCENARIOS = sorted(p for p in (ROOT / "scenarios").rglob("*.yaml") if "policies" not in p.parts)
runner = CliRunner()


def test_the_kernel_call_keeps_ieee_arithmetic_quiet():
    # the JIT's error_model="numpy" divides by zero silently; the Python twin must too
    def kernel(x):
        return np.float64(x) / np.float64(0.0)

    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        assert kernels.call(kernel, 1.0) == np.inf
        with pytest.raises(RuntimeWarning):
            kernel(1.0)  # what the twin would print without it


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: str(p.relative_to(ROOT / "scenarios")))
def test_no_runtime_warning_on_stderr(path, monkeypatch):
    monkeypatch.setenv("CONTAGION_EXECUTOR", "auto")  # what a user gets
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        args = ["run", str(path), "--trace", "--entities", "-f", "csv"]
        result = runner.invoke(app, args)
        assert result.exit_code in (0, 1), result.output
        if "model:" in path.read_text():
            result = runner.invoke(app, ["simulate", str(path), "-n", "16", "-j", "1"])
            assert result.exit_code == 0, result.output
    assert "RuntimeWarning" not in result.stderr


def test_batch_commands_print_no_runtime_warning(monkeypatch):
    monkeypatch.setenv("CONTAGION_EXECUTOR", "python")
    quickstart = str(ROOT / "scenarios" / "quickstart.yaml")
    commands = [
        ["sweep", quickstart, "--shock", "ETH=0,-0.5,-0.99", "--liquidity", "ETH=1e-6,1e6"],
        ["critical", quickstart, "--asset", "ETH", "--above", "0", "--scan", "12"],
        ["clusters", quickstart, "--asset", "ETH", "--levels", "-0.01,-0.5,-0.99"],
        [
            "check",
            quickstart,
            "-p",
            str(ROOT / "scenarios" / "policies" / "quickstart-policy.yaml"),
        ],
        ["compare", quickstart, quickstart, "--shock", "ETH=0"],
        ["diff", quickstart, str(ROOT / "scenarios" / "candidates" / "quickstart.yaml"), "--all"],
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        for args in commands:
            result = runner.invoke(app, [*args, "-j", "1"] if args[0] != "compare" else args)
            assert result.exit_code in (0, 1), (args, result.output)
            assert "RuntimeWarning" not in result.stderr
