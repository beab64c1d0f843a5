"""Monte Carlo: the schema, the sampler against plain numpy, risk metrics against a reference
computed from the same paths, determinism, `contagion simulate` and its bad values."""

from __future__ import annotations

import copy
import csv
import dataclasses
import io
import json
import math
from pathlib import Path

import numpy as np
import pytest
import yaml
from helpers import scenario_from_yaml
from typer.testing import CliRunner

from contagion_cli.batch.risk_metrics import expected_shortfall, quantile
from contagion_cli.batch.simulate import model_of, simulate, with_overrides
from contagion_cli.cli.app import app
from contagion_cli.compile.compiler import compile_scenario
from contagion_cli.compile.layout import Path as ShockPath
from contagion_cli.compile.sampler import PathSampler
from contagion_cli.engine.run import run
from contagion_cli.errors import InputError
from contagion_cli.load.scenario import load_scenario
from contagion_cli.schema.stochastic import MonteCarloModel

ROOT = Path(__file__).parents[2]
MC = str(ROOT / "scenarios" / "quickstart-montecarlo.yaml")
QUICKSTART = str(ROOT / "scenarios" / "quickstart.yaml")
runner = CliRunner()


def cli(*args: str):
    return runner.invoke(app, list(args))


def mc_yaml(**changes) -> str:
    data = yaml.safe_load(Path(MC).read_text())
    data["shocks"] = {**data["shocks"], **changes}
    return yaml.safe_dump(data, sort_keys=False)


# --- schema ------------------------------------------------------------------------------------
def test_shipped_monte_carlo_scenario_loads():
    s = load_scenario(MC)
    assert isinstance(s.shocks, MonteCarloModel)
    assert s.shocks.model == "jump_diffusion" and s.shocks.steps == 7 and len(s.shocks) == 7
    assert s.shocks.assets["ETH"].volatility == 0.8


def _error(text: str) -> str:
    with pytest.raises(InputError) as exc:
        scenario_from_yaml(text)
    return exc.value.render()


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"stepz": 3}, ["shocks", "unknown key 'stepz'", "did you mean 'steps'"]),
        ({"model": "brownian"}, ["shocks.model", "'gbm' or 'jump_diffusion'"]),
        ({"steps": 0}, ["shocks.steps", ">= 1"]),
        ({"dt_days": -1}, ["shocks.dt_days", "> 0"]),
        ({"paths": 0}, ["shocks.paths", ">= 1"]),
        ({"seed": -3}, ["shocks.seed", ">= 0"]),
        ({"correlation": {"ETH": {"WBTC": 1.5}}}, ["shocks.correlation.ETH.WBTC", "<= 1"]),
        ({"correlation": {"ETH": {"BTC": 0.5}}}, ["'BTC' has no process", "did you mean 'WBTC'"]),
        (
            {"correlation": {"ETH": {"WBTC": 0.5}, "WBTC": {"ETH": 0.4}}},
            ["given twice", "0.5 and 0.4"],
        ),
        ({"liquidity": {"USDC": 0.5}}, ["shocks.liquidity.USDC", "no market"]),
        ({"liquidity": {"SOL": 0.5}}, ["shocks.liquidity.SOL", "unknown asset"]),
        ({"model": "gbm"}, ["jump_intensity is set but the model is 'gbm'"]),
    ],
)
def test_monte_carlo_mistakes_name_the_field(change, expected):
    text = _error(mc_yaml(**change))
    for fragment in expected:
        assert fragment in text, (fragment, text)
    assert "<test>:" in text  # a file position


def test_unknown_asset_and_misspelt_process_key():
    data = yaml.safe_load(mc_yaml())
    data["shocks"]["assets"]["SOL"] = {"volatilty": 0.5}
    text = _error(yaml.safe_dump(data, sort_keys=False))
    assert "unknown key 'volatilty'" in text and "did you mean 'volatility'" in text
    data["shocks"]["assets"]["SOL"] = {"volatility": 0.5}
    text = _error(yaml.safe_dump(data, sort_keys=False))
    assert "shocks.assets.SOL" in text and "unknown asset 'SOL'" in text


def test_correlation_must_be_positive_semidefinite():
    data = yaml.safe_load(mc_yaml())
    data["assets"]["SOL"] = {"price": 150}
    data["shocks"]["model"] = "gbm"
    data["shocks"]["assets"] = {a: {"volatility": 0.5} for a in ("ETH", "WBTC", "SOL")}
    data["shocks"]["correlation"] = {"ETH": {"WBTC": 0.9, "SOL": 0.9}, "WBTC": {"SOL": -0.9}}
    text = _error(yaml.safe_dump(data, sort_keys=False))
    assert "shocks.correlation" in text and "not positive semi-definite" in text
    # a perfectly correlated (singular) matrix is fine
    data["shocks"]["correlation"] = {"ETH": {"WBTC": 1.0, "SOL": 1.0}, "WBTC": {"SOL": 1.0}}
    scenario_from_yaml(yaml.safe_dump(data, sort_keys=False))


def test_shocks_of_the_wrong_type_get_one_clear_message():
    data = yaml.safe_load(mc_yaml())
    data["shocks"] = 3
    text = _error(yaml.safe_dump(data, sort_keys=False))
    assert "expected a list of shock steps, or a Monte Carlo model" in text


def test_json_schema_offers_both_forms_of_shocks():
    from contagion_cli.schema.models import json_schema

    shocks = json_schema()["properties"]["shocks"]
    assert len(shocks["oneOf"]) == 2


# --- sampler against plain numpy ---------------------------------------------------------------
def reference_path(model: MonteCarloModel, names: list[str], i: int) -> np.ndarray:
    """Returns [steps, assets] of path i, written out in plain numpy from docs/sweeps.md."""
    rng = np.random.default_rng(np.random.SeedSequence([model.seed, i]))
    mc = list(model.assets)
    n = len(mc)
    corr = np.eye(n)
    for a, row in model.correlation.items():
        for b, rho in row.items():
            corr[mc.index(a), mc.index(b)] = corr[mc.index(b), mc.index(a)] = rho
    dt = model.dt_days / 365.0
    mu = np.array([model.assets[a].drift for a in mc])
    sig = np.array([model.assets[a].volatility for a in mc])
    lam = np.array([model.assets[a].jump_intensity for a in mc])
    jm = np.array([model.assets[a].jump_mean for a in mc])
    js = np.array([model.assets[a].jump_volatility for a in mc])
    z = rng.standard_normal((model.steps, n)) @ np.linalg.cholesky(corr).T
    if model.model == "jump_diffusion":
        k = np.exp(jm + js**2 / 2) - 1
        log_r = (mu - sig**2 / 2 - lam * k) * dt + sig * math.sqrt(dt) * z
        counts = rng.poisson(lam * dt, size=(model.steps, n))
        log_r += counts * jm + np.sqrt(counts) * js * rng.standard_normal((model.steps, n))
    else:
        log_r = (mu - sig**2 / 2) * dt + sig * math.sqrt(dt) * z
    out = np.zeros((model.steps, len(names)))
    for j, a in enumerate(mc):
        out[:, names.index(a)] = np.exp(log_r[:, j]) - 1
    return out


@pytest.mark.parametrize("kind", ["gbm", "jump_diffusion"])
def test_sampler_matches_plain_numpy(kind):
    model = load_scenario(MC).shocks
    if kind == "gbm":
        procs = {a: p.model_copy(update={"jump_intensity": 0.0}) for a, p in model.assets.items()}
        model = model.model_copy(update={"model": "gbm", "assets": procs})
    names = ["USDC", "ETH", "WBTC"]
    sampler = PathSampler(model, names)
    for i in (0, 1, 17, 999):
        path = sampler.path(i)
        np.testing.assert_allclose(path.returns, reference_path(model, names, i), rtol=1e-12)
        assert path.liquidity[0, 1] == 0.8 and path.liquidity[1, 1] == 1.0
        assert np.all(path.returns[:, 0] == 0.0)


def _crash_model_yaml() -> str:
    """Forty ten-year steps of near-certain crashes: the log level sinks far below e^-745."""
    data = yaml.safe_load(mc_yaml(steps=40, dt_days=3650, paths=4))
    data["shocks"]["assets"]["ETH"].update(jump_intensity=10_000, jump_mean=-5)
    return yaml.safe_dump(data, sort_keys=False)


def test_a_path_that_compounds_past_underflow_stops_at_the_price_floor():
    model = scenario_from_yaml(_crash_model_yaml()).shocks
    sampler = PathSampler(model, ["USDC", "ETH", "WBTC"])
    unbounded = np.cumsum(sampler.log_returns(0)[:, 0])
    assert unbounded[-1] < -800  # exp() of it is 0.0 in float64
    level = np.cumprod(1.0 + sampler.path(0).returns[:, 1])
    assert np.all(level > 0.0)
    assert level[-1] == pytest.approx(1e-12, rel=1e-9)
    # Steps inside the bounds keep their returns: the first step is the unbounded one.
    assert sampler.path(0).returns[0, 1] == pytest.approx(math.expm1(unbounded[0]), rel=1e-12)


def test_simulate_survives_prices_that_compound_past_underflow(tmp_path):
    path = tmp_path / "crash.yaml"
    path.write_text(_crash_model_yaml())
    result = cli("simulate", str(path), "-f", "json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["paths"] == 4 and math.isfinite(out["var95"])


def test_sampler_moments_follow_the_model():
    text = mc_yaml(model="gbm", steps=1, dt_days=365, correlation={"ETH": {"WBTC": 0.6}})
    data = yaml.safe_load(text)
    data["shocks"]["assets"] = {
        "ETH": {"drift": 0.1, "volatility": 0.5},
        "WBTC": {"drift": 0.0, "volatility": 0.3},
    }
    model = scenario_from_yaml(yaml.safe_dump(data)).shocks
    sampler = PathSampler(model, ["USDC", "ETH", "WBTC"])
    logs = np.array([sampler.log_returns(i)[0] for i in range(4000)])
    assert abs(logs[:, 0].std() - 0.5) < 0.03 and abs(logs[:, 1].std() - 0.3) < 0.02
    assert abs(np.corrcoef(logs.T)[0, 1] - 0.6) < 0.04
    simple = np.expm1(logs)
    assert abs(simple[:, 0].mean() - (math.exp(0.1) - 1)) < 0.03  # drift is the expected return


# --- risk metrics against a reference from the same paths --------------------------------------
def test_simulation_metrics_match_numpy_on_the_same_paths():
    compiled = compile_scenario(load_scenario(MC))
    model = with_overrides(model_of(compiled), paths=200, seed=11)
    sim = simulate(compiled, model, workers=2)
    names = compiled.asset_names
    bad, liquidated, insolvent, compound_insolvent = [], [], [], []
    for i in range(model.paths):
        returns = reference_path(model, names, i)
        liquidity = np.ones_like(returns)
        liquidity[0, names.index("ETH")] = 0.8
        c = dataclasses.replace(compiled, path=ShockPath(returns, liquidity))
        r = run(c)
        bad.append(r.bad_debt_usd)
        liquidated.append(r.liquidated_usd)
        insolvent.append(len(r.insolvent_protocols))
        compound_insolvent.append(r.protocols["compound"].insolvent)
    bad, liquidated = np.array(bad), np.array(liquidated)
    np.testing.assert_allclose(sim.column("bad_debt_usd"), bad, rtol=1e-9, atol=1e-6)
    assert bad.max() > 0  # the tail is not empty: the test means something

    def close(a, b):
        assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-6), (a, b)

    close(sim.risk.var95, np.quantile(bad, 0.95, method="inverted_cdf"))
    close(sim.risk.var99, np.quantile(bad, 0.99, method="inverted_cdf"))
    assert sim.risk.evar99 == sim.risk.var99  # the earlier name of the 99th percentile
    assert sim.lookup("evar99") == sim.lookup("var99")
    close(sim.lookup("insolvent_protocols.max"), sim.lookup("insolvent_count.max"))  # alias
    close(sim.risk.es95, np.sort(bad)[-10:].mean())  # the worst 5% of 200 paths
    close(sim.risk.es99, np.sort(bad)[-2:].mean())  # the worst 1%
    close(sim.risk.lar95, np.quantile(liquidated, 0.95, method="inverted_cdf"))
    close(sim.risk.p_insolvent, np.mean(np.array(insolvent) > 0))
    close(sim.protocols["compound"].p_insolvent, np.mean(compound_insolvent))
    close(sim.metrics["bad_debt_usd"].mean, bad.mean())
    close(sim.lookup("bad_debt_usd.p99"), sim.risk.evar99)
    close(sim.risk.p_bad_debt, np.mean(bad > 0))
    close(sim.risk.p_loss, sim.risk.p_bad_debt)
    # another loss metric: VaR and P(loss) follow it, P(bad debt) stays about bad debt
    other = simulate(compiled, model, workers=1, loss_metric="liquidated_usd")
    close(other.risk.var95, np.quantile(liquidated, 0.95, method="inverted_cdf"))
    close(other.risk.p_loss, np.mean(liquidated > 0))
    close(other.risk.p_bad_debt, np.mean(bad > 0))


@pytest.mark.parametrize("n", [1, 7, 20, 101, 1000])
def test_quantile_and_expected_shortfall_definitions(n):
    x = np.random.default_rng(n).lognormal(size=n)
    for level in (0.5, 0.9, 0.95, 0.99):
        assert quantile(x, level) == np.quantile(x, level, method="inverted_cdf")
        tail = n * (1 - level)
        worst = np.sort(x)[::-1]
        whole = math.floor(round(tail, 9))
        ref = (worst[:whole].sum() + (tail - whole) * (worst[whole] if whole < n else 0)) / tail
        assert math.isclose(expected_shortfall(x, level), ref, rel_tol=1e-12)
        assert expected_shortfall(x, level) >= quantile(x, level) - 1e-12


def test_expected_shortfall_with_ties_is_the_tail_mean():
    x = np.zeros(100)
    x[:3] = [10.0, 20.0, 30.0]
    assert quantile(x, 0.95) == 0.0
    assert expected_shortfall(x, 0.95) == pytest.approx(60.0 / 5)
    assert expected_shortfall(x, 0.99) == 30.0


# --- determinism -------------------------------------------------------------------------------
def test_simulation_is_identical_across_workers_and_path_counts():
    compiled = compile_scenario(load_scenario(MC))
    model = with_overrides(model_of(compiled), paths=60, seed=5)
    a = simulate(compiled, model, workers=1)
    b = simulate(compiled, model, workers=4)
    assert np.array_equal(a.values, b.values, equal_nan=True)
    assert a.risk == b.risk
    longer = simulate(compiled, with_overrides(model, paths=90), workers=3)
    assert np.array_equal(longer.values[:60], a.values, equal_nan=True)  # path i: (seed, i)
    other = simulate(compiled, with_overrides(model, seed=6), workers=2)
    assert not np.array_equal(other.values, a.values)


def test_run_of_a_monte_carlo_scenario_is_path_zero():
    compiled = compile_scenario(load_scenario(MC))
    single = run(compiled)
    sim = simulate(compiled, with_overrides(model_of(compiled), paths=1))
    assert sim.column("bad_debt_usd")[0] == single.bad_debt_usd
    assert sim.column("liquidated_usd")[0] == single.liquidated_usd


# --- the command -------------------------------------------------------------------------------
def test_simulate_json_is_reproducible_with_a_seed():
    a = cli("simulate", MC, "--paths", "120", "--seed", "9", "-f", "json")
    b = cli("simulate", MC, "--paths", "120", "--seed", "9", "-f", "json", "--workers", "1")
    assert a.exit_code == 0, a.output
    assert a.stdout == b.stdout
    data = json.loads(a.stdout)
    for key in ("var95", "var99", "evar99", "es95", "lar95", "p_insolvent", "protocols", "metrics"):
        assert key in data
    assert data["paths"] == 120 and data["seed"] == 9
    assert 0 <= data["protocols"]["compound"]["p_insolvent"] <= 1


def test_simulate_table_markdown_csv_and_per_path(tmp_path):
    table = cli("simulate", MC, "--paths", "80")
    assert table.exit_code == 0, table.output
    assert "VaR 95%" in table.stdout and "VaR 99%" in table.stdout and "LaR 95%" in table.stdout
    assert "EVaR" not in table.stdout  # the 99th percentile is a VaR, not an entropic VaR
    assert "◀ VaR95" in table.stdout  # the terminal histogram marks VaR
    md = cli("simulate", MC, "--paths", "80", "-f", "markdown")
    assert md.exit_code == 0 and md.stdout.startswith("## contagion simulate")
    per_path = tmp_path / "paths.csv"
    out = cli("simulate", MC, "--paths", "80", "-f", "csv", "--per-path", str(per_path))
    assert out.exit_code == 0, out.output
    summary = {r["metric"]: r["value"] for r in csv.DictReader(io.StringIO(out.stdout))}
    rows = list(csv.DictReader(io.StringIO(per_path.read_text())))
    assert len(rows) == 80 and rows[3]["path"] == "3"
    bad = np.array([float(r["bad_debt_usd"]) for r in rows])
    assert float(summary["var95"]) == np.quantile(bad, 0.95, method="inverted_cdf")


def test_simulate_plot(tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "sim.png"
    result = cli("simulate", MC, "--paths", "50", "--plot", str(out))
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--paths", "0"], ["--paths", "from 1"]),
        (["--paths", "-5"], ["--paths"]),
        (["--paths", "many"], ["--paths"]),
        (["--seed", "-1"], ["--seed"]),
        (["--seed", "x"], ["--seed"]),
        (["-f", "yaml"], ["--format", "expected one of"]),
        (["--per-path", "paths.txt"], ["--per-path", ".csv"]),
        (["--metric", "bad_debts_usd"], ["--metric", "did you mean"]),
        (["--workers", "0"], ["--workers"]),
        (["--plot", "x.gif"], ["--plot", ".png"]),
        (["--set", "shocks.paths=0"], ["--set", "shocks.paths", ">= 1"]),
        (["--set", "shocks.assets.ETH.volatility=-1"], ["--set", ">= 0"]),
    ],
)
def test_simulate_bad_values_exit_2(args, expected):
    result = cli("simulate", MC, *args)
    assert result.exit_code == 2, result.output
    for text in expected:
        assert text in result.output, (text, result.output)


def test_simulate_a_fixed_path_scenario_is_a_clear_error():
    result = cli("simulate", QUICKSTART)
    assert result.exit_code == 2
    assert "fixed shock path" in result.stderr and "model: gbm" in result.stderr


def test_validate_and_run_accept_monte_carlo_files():
    ok = cli("validate", MC)
    assert ok.exit_code == 0 and "7 shock steps" in ok.stderr
    ran = cli("run", MC, "-f", "json")
    assert ran.exit_code == 0 and json.loads(ran.stdout)["total_rounds"] >= 7
    shocked = cli("run", MC, "--shock", "ETH=-0.3", "-f", "json")  # --shock still replaces it
    assert len(json.loads(shocked.stdout)["steps"]) == 1


def test_with_overrides_leaves_the_model_alone_without_options():
    model = load_scenario(MC).shocks
    assert with_overrides(model) is model
    assert with_overrides(model, paths=5).paths == 5 and model.paths == 2000
    assert copy.deepcopy(model) == model
