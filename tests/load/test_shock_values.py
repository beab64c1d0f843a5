"""Shock returns as people write them: ``-35%`` in a file as on the command line, and a return
above +500 % (the typo of a fall: 35 for -0.35) refused unless the scenario says it is meant."""

from __future__ import annotations

from pathlib import Path

import pytest
from cases import CHAIN
from helpers import assert_error, invoke_on_file, scenario_from_yaml
from typer.testing import CliRunner

from contagion_cli.cli.app import app
from contagion_cli.load.overrides import number_of
from contagion_cli.schema.returns import EXTREME_RETURN, extreme_message

runner = CliRunner()
STEP = "  - {ETH: -0.20}\n"


def with_step(step: str, settings: str = "") -> str:
    text = CHAIN.replace(STEP, f"  - {step}\n")
    assert text != CHAIN
    return text.replace("name: chain\n", f"name: chain\n{settings}")


# --- percentages in files ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("written", "read"),
    [("-35%", -0.35), ("+20%", 0.2), ("-35 %", -0.35), ("'-12.5%'", -0.125), ("500%", 5.0)],
)
def test_a_percentage_in_a_shock_step(written, read):
    scenario = scenario_from_yaml(with_step(f"{{ETH: {written}}}"))
    assert scenario.shocks[0].returns == {"ETH": pytest.approx(read)}


def test_percentages_of_liquidity_and_later_steps():
    text = with_step("{ETH: -10%, liquidity: {ETH: 50%}}\n  - {ETH: '-5%'}")
    scenario = scenario_from_yaml(text)
    assert scenario.shocks[0].returns == {"ETH": pytest.approx(-0.1)}
    assert scenario.shocks[0].liquidity == {"ETH": pytest.approx(0.5)}
    assert scenario.shocks[1].returns == {"ETH": pytest.approx(-0.05)}


def test_a_file_and_the_command_line_read_percentages_alike(tmp_path):
    file = tmp_path / "pct.yaml"
    file.write_text(with_step("{ETH: -35%}"))
    by_file = runner.invoke(app, ["run", str(file), "-f", "json"])
    by_option = runner.invoke(app, ["run", str(file), "--shock", "ETH=-35%", "-f", "json"])
    plain = runner.invoke(app, ["run", str(file), "--shock", "ETH=-0.35", "-f", "json"])
    assert by_file.exit_code == by_option.exit_code == plain.exit_code == 0
    assert by_file.stdout == by_option.stdout == plain.stdout


BAD_PERCENT = [
    ("a word", "{ETH: lots%}", ["shocks[0].ETH", "expected a number, found the text 'lots%'"]),
    ("NaN", "{ETH: nan%}", ["shocks[0].ETH", "expected a number"]),
    ("a fall beyond -100%", "{ETH: -150%}", ["shocks[0].ETH", "expected a value > -1"]),
    ("exactly -100%", "{ETH: -100%}", ["expected a value > -1", "take the price to 0"]),
    ("a percent sign alone", "{ETH: '%'}", ["shocks[0].ETH", "expected a number"]),
    ("a negative liquidity", "{ETH: -10%, liquidity: {ETH: -50%}}", ["liquidity.ETH", "> 0"]),
    ("beyond the cap", "{ETH: 20000%}", ["shocks[0].ETH", "<= 100"]),
]


@pytest.mark.parametrize("case", BAD_PERCENT, ids=[c[0] for c in BAD_PERCENT])
def test_bad_percentages(tmp_path, case):
    _, step, fragments = case
    result, path = invoke_on_file(tmp_path, with_step(step))
    assert_error(result, f"{path}:", *fragments)


def test_a_percentage_outside_a_shock_step_stays_an_error(tmp_path):
    """Only the shock path reads percentages: elsewhere a fraction is written as one."""
    text = CHAIN.replace("reserve_usd: 1.0e6", "reserve_usd: 5%", 1)
    result, _ = invoke_on_file(tmp_path, text)
    assert_error(result, "reserve_usd", "expected a number, found the text '5%'")


@pytest.mark.parametrize(
    ("text", "value"),
    [("-0.35", -0.35), ("-35%", -0.35), (" 12.5 % ", 0.125), ("inf", None), ("x", None)],
)
def test_number_of(text, value):
    got = number_of(text)
    assert got == pytest.approx(value) if value is not None else got is None


def test_a_percentage_is_the_float_of_its_fraction():
    """-35% is exactly the float -0.35 (not -35 * 0.01 = -0.35000000000000003), so a file, an
    option and a fraction run the same numbers."""
    assert number_of("-35%") == -0.35 and number_of("-12.34%") == -0.1234


# --- extreme returns ---------------------------------------------------------------------------
def test_a_return_of_35_is_refused_with_the_likely_intent(tmp_path):
    result, path = invoke_on_file(tmp_path, with_step("{ETH: 35}"), command="run")
    assert_error(
        result,
        f"{path}:",
        "shocks[0].ETH: a return of 35 is +3,500%",
        "did you mean -0.35 (-35%)?",
        "settings.allow_extreme_shocks: true",
        "--allow-extreme-shocks",
    )


@pytest.mark.parametrize("command", ["run", "validate"])
def test_the_option_and_the_setting_allow_it(tmp_path, command):
    text = with_step("{ETH: 35}")
    result, _ = invoke_on_file(tmp_path, text, "--allow-extreme-shocks", command=command)
    assert result.exit_code == 0, result.output
    allowed = with_step("{ETH: 35}", "settings: {allow_extreme_shocks: true}\n")
    result, _ = invoke_on_file(tmp_path, allowed, command=command)
    assert result.exit_code == 0, result.output


def test_up_to_500_percent_is_taken_as_meant(tmp_path):
    assert scenario_from_yaml(with_step(f"{{ETH: {EXTREME_RETURN}}}")).shocks[0].returns
    result, _ = invoke_on_file(tmp_path, with_step("{ETH: 5.0001}"))
    assert_error(result, "a return of 5.0001 is +500%", "refused unless allowed")


@pytest.mark.parametrize(
    "args",
    [["--shock", "ETH=35"], ["--shock", "ETH=3500%"], ["--set", "shocks.0.ETH=35"]],
)
def test_the_command_line_is_held_to_the_same_rule(tmp_path, args):
    result, _ = invoke_on_file(tmp_path, CHAIN, *args, command="run")
    assert_error(result, "a return of 35 is +3,500%", "did you mean -0.35 (-35%)?")


def test_a_percentage_written_as_a_number_below_minus_one(tmp_path):
    result, _ = invoke_on_file(tmp_path, CHAIN, "--shock", "ETH=-35", command="run")
    assert_error(result, "expected a value > -1", "did you mean -0.35 (-35%)?")


BAD_SETTING = [
    ("a word", "yes please", ["allow_extreme_shocks", "expected true or false"]),
    ("a number", "1", ["allow_extreme_shocks", "expected true or false"]),
    ("a misspelt key", None, ["allow_extreme_shock", "did you mean 'allow_extreme_shocks'"]),
]


@pytest.mark.parametrize("case", BAD_SETTING, ids=[c[0] for c in BAD_SETTING])
def test_bad_allow_extreme_shocks(tmp_path, case):
    _, value, fragments = case
    settings = (
        f"settings: {{allow_extreme_shocks: {value}}}\n"
        if value is not None
        else "settings: {allow_extreme_shock: true}\n"
    )
    result, _ = invoke_on_file(tmp_path, with_step("{ETH: -0.2}", settings))
    assert_error(result, *fragments)


def test_extreme_message_names_the_likely_return():
    message, hint = extreme_message(12.0)
    assert message == (
        "a return of 12 is +1,200%: returns above +5 (+500%) are refused unless allowed"
    )
    assert hint.startswith("did you mean -0.12 (-12%)?")


# --- every command that takes shocks -----------------------------------------------------------
def _chain(tmp_path: Path) -> str:
    path = tmp_path / "chain.yaml"
    path.write_text(CHAIN)
    return str(path)


COMMANDS = {
    "sweep": (["sweep", "{f}", "--shock", "ETH=-0.1,10"], "--shock: ETH: a return of 10"),
    "critical": (
        ["critical", "{f}", "--asset", "ETH", "--above", "0", "--from", "0", "--to", "8"],
        "--to: ETH: a return of 8",
    ),
    "clusters": (["clusters", "{f}", "--asset", "ETH", "--levels", "1:7:1"], "a return of 6"),
    "diff": (["diff", "{f}", "{f}", "--shock", "ETH=9"], "--shock: ETH: a return of 9"),
    "compare": (["compare", "{f}", "{f}", "--shock", "ETH=9"], "a return of 9 is +900%"),
    "check": (["check", "{f}", "-p", "{policy}"], "policy.yaml:2:5: gates[0].shock"),
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_refuses_and_allows_alike(tmp_path, command):
    (tmp_path / "policy.yaml").write_text(
        "gates:\n  - check: bad_debt_usd >= 0\n    shock: {ETH: 10}\n"
    )
    args, fragment = COMMANDS[command]
    f = _chain(tmp_path)
    args = [a.replace("{f}", f).replace("{policy}", str(tmp_path / "policy.yaml")) for a in args]
    assert_error(runner.invoke(app, args), fragment, "did you mean", "--allow-extreme-shocks")
    allowed = runner.invoke(app, [*args, "--allow-extreme-shocks"])
    assert allowed.exit_code == 0, allowed.output
