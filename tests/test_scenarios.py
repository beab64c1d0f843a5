"""Every shipped scenario loads, runs, converges and obeys the basic accounting."""

from __future__ import annotations

from pathlib import Path

import pytest

from contagion_cli.compiler import compile_scenario
from contagion_cli.engine import run
from contagion_cli.inputs import load_scenario

# scenarios/policies/ holds `contagion check` policies, not scenarios (tests/test_check.py)
SCENARIOS = sorted(
    p
    for p in (Path(__file__).parents[1] / "scenarios").rglob("*.yaml")
    if "policies" not in p.parts
)


def test_there_are_scenarios():
    assert SCENARIOS


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_scenario_runs(path):
    result = run(compile_scenario(load_scenario(path)))
    assert result.converged
    assert result.bad_debt_usd >= 0
    for asset in result.assets.values():
        assert asset.final_price > 0


def test_readme_scenario_example_is_valid():
    from helpers import run_scenario, scenario_from_yaml

    readme = (Path(__file__).parents[1] / "README.md").read_text()
    block = readme.split("## Writing a scenario", 1)[1].split("```yaml\n", 1)[1].split("```")[0]
    result = run_scenario(scenario_from_yaml(block))
    assert result.converged
    assert result.liquidations > 0
