"""The plain-Python executor runs the kernel's own source; `auto` hands over to the JIT."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import close, scenario_from_dict
from hypothesis import given
from hypothesis import strategies as st
from strategies import cascade_scenarios, lending_scenarios

from contagion_cli.compile.compiler import compile_scenario
from contagion_cli.engine.kernels import AUTO_PYTHON_BUDGET, Executor, default_executor
from contagion_cli.engine.run import run
from contagion_cli.errors import InputError
from contagion_cli.load.scenario import load_scenario


def _same(a, b) -> None:
    assert a.rounds == b.rounds and a.liquidations == b.liquidations
    assert a.converged == b.converged
    for name, pa in a.protocols.items():
        pb = b.protocols[name]
        assert pa.depth == pb.depth and pa.liquidations == pb.liquidations
        assert close(pa.bad_debt_usd, pb.bad_debt_usd, rel=1e-12)
        assert close(pa.repaid_usd, pb.repaid_usd, rel=1e-12)
    for name, xa in a.assets.items():
        assert close(xa.final_price, b.assets[name].final_price, rel=1e-12)


@given(st.one_of(lending_scenarios(), cascade_scenarios()))
def test_python_executor_matches_jit(data):
    compiled = compile_scenario(scenario_from_dict(data))
    _same(run(compiled, executor=Executor.jit), run(compiled, executor=Executor.python))


def _big_book():
    """A book bigger than the auto executor's budget."""
    data = {
        "name": "big",
        "assets": {
            "USDC": {"price": 1.0},
            "ETH": {
                "price": 1000.0,
                "market": {"type": "cpmm", "base_reserve": 1e5, "quote_reserve": 1e8},
            },
        },
        "protocols": {
            "p": {
                "type": "lending",
                "collateral": {
                    "ETH": {"ltv": 0.8, "liquidation_threshold": 0.8, "liquidation_bonus": 0.05}
                },
                "positions": [
                    {"collateral": {"ETH": 1.0 + i % 7}, "debt": {"USDC": 700.0 + i % 90}}
                    for i in range(AUTO_PYTHON_BUDGET + 10)
                ],
            }
        },
        "shocks": [{"ETH": -0.15}],
    }
    return compile_scenario(scenario_from_dict(data))


def test_auto_hands_large_runs_to_the_jit():
    quick = compile_scenario(
        load_scenario(Path(__file__).parents[2] / "scenarios" / "quickstart.yaml")
    )
    for compiled in (quick, _big_book()):
        _same(run(compiled, executor=Executor.auto), run(compiled, executor=Executor.jit))


def test_auto_sends_a_book_above_the_budget_straight_to_the_jit(monkeypatch):
    """Not one plain-Python pass over a big book: it would cost more than the JIT start-up."""
    from contagion_cli.engine import kernels

    big = _big_book()

    def refuse():
        raise AssertionError("the plain-Python twin ran on a book above the budget")

    monkeypatch.setattr(kernels, "python_kernel", refuse)
    _same(run(big, executor=Executor.auto), run(big, executor=Executor.jit))


def test_executor_from_environment(monkeypatch):
    monkeypatch.setenv("CONTAGION_EXECUTOR", "python")
    assert default_executor() is Executor.python
    monkeypatch.setenv("CONTAGION_EXECUTOR", "turbo")
    with pytest.raises(InputError, match="unknown executor 'turbo'"):
        default_executor()


def test_the_plain_python_twin_reuses_the_cached_bytecode(monkeypatch):
    """The twin executes kernel.py's code object from Python's bytecode cache (checked against
    the source), not a compile of the source in every process (~25 ms of a small run)."""
    import builtins
    import importlib.util

    from contagion_cli.engine import kernels

    spec = importlib.util.find_spec("contagion_cli.kernel")
    assert spec is not None and spec.cached is not None
    monkeypatch.setattr("sys.dont_write_bytecode", False)
    spec.loader.get_code(spec.name)  # writes the cache where the install allows it
    if not Path(spec.cached).exists():
        pytest.skip("the package's __pycache__ cannot be written here")
    real_compile = builtins.compile

    def no_kernel_compile(source, filename, *args, **kwargs):
        assert not str(filename).endswith("kernel.py"), "kernel.py compiled from its source"
        return real_compile(source, filename, *args, **kwargs)

    monkeypatch.setattr(builtins, "compile", no_kernel_compile)
    kernels.python_kernel.cache_clear()
    try:
        twin = kernels.python_kernel()
    finally:
        kernels.python_kernel.cache_clear()
    assert twin.__module__ == "contagion_cli._kernel_python" and not kernels.is_jit(twin)
