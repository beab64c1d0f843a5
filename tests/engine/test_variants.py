"""Which specialised kernel a scenario runs on (layout.KERNEL_VARIANTS, Compiled.features), and
what a run copies of the compiled state."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from contagion_cli.compile.compiler import compile_scenario
from contagion_cli.compile.layout import (
    FEATURE_CAPITAL,
    FEATURE_CDP,
    FEATURE_OPTIONS,
    FEATURE_PERP,
    FEATURE_VENUES,
    FEATURES_ALL,
    KERNEL_VARIANTS,
)
from contagion_cli.engine.kernels import ALL, variant_for
from contagion_cli.load.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "scenarios"


def _compiled(name: str):  # type: ignore[no-untyped-def]
    return compile_scenario(load_scenario(SCENARIOS / name))


def test_the_smallest_kernel_with_every_feature_is_chosen() -> None:
    assert KERNEL_VARIANTS[0] == ("lending", 0)
    assert variant_for(0) == "lending"
    for feature in (FEATURE_CDP, FEATURE_VENUES, FEATURE_CAPITAL, FEATURE_CDP | FEATURE_PERP):
        assert variant_for(feature) == ALL
    assert variant_for(FEATURES_ALL) == ALL


@pytest.mark.parametrize(
    ("name", "has", "variant"),
    [
        ("quickstart.yaml", 0, "lending"),
        ("levers/liquidators-capital.yaml", FEATURE_CAPITAL, ALL),
        ("types/cdp-auctions.yaml", FEATURE_CDP, ALL),
        ("types/perp-squeeze.yaml", FEATURE_PERP, ALL),
        ("types/options-hedging.yaml", FEATURE_OPTIONS, ALL),
        ("venues/dislocation-contained.yaml", FEATURE_VENUES, ALL),
    ],
)
def test_a_scenario_names_the_features_it_uses(name: str, has: int, variant: str) -> None:
    features = _compiled(name).features
    assert features & has == has
    if has == 0:
        assert features == 0
    assert variant_for(features) == variant


def test_a_run_copies_what_the_kernel_writes_and_shares_the_rest() -> None:
    c = _compiled("quickstart.yaml")
    st = c.fresh_state()
    for name in ("status", "col_units", "debt_units"):
        mine, theirs = getattr(st.lending, name), getattr(c.state.lending, name)
        assert mine is not theirs and not np.shares_memory(mine, theirs)
        np.testing.assert_array_equal(mine, theirs)
    for name in ("protocol", "col_start", "col_asset", "debt_start", "debt_asset"):
        assert getattr(st.lending, name) is getattr(c.state.lending, name)
    assert st.assets is not c.state.assets and not np.shares_memory(st.assets, c.state.assets)


def test_the_lending_kernel_refuses_a_scenario_it_was_not_built_for() -> None:
    from contagion_cli.compile.layout import STATUS_UNSUPPORTED, empty_outputs
    from contagion_cli.engine import kernels
    from contagion_cli.engine.raw import call_kernel

    c = _compiled("types/cdp-auctions.yaml")
    lending_only = kernels.jit_kernel(0)  # what a lending scenario runs on
    out = empty_outputs(c.n_protocols, c.n_assets, c.n_steps, 0, c.n_venues)
    status = call_kernel(lending_only, c, c.fresh_state(), c.path, c.params, out)
    assert status == STATUS_UNSUPPORTED
    assert int(out.p.liquidations.sum()) == 0  # nothing ran


def test_the_lending_kernel_takes_no_book_of_the_other_types() -> None:
    # None for a book it never reads: its entry point would unbox every array of each
    from contagion_cli.engine import kernels
    from contagion_cli.engine.raw import _books

    c = _compiled("types/cdp-auctions.yaml")
    st = c.fresh_state()
    assert _books(kernels.jit_kernel(0), st, c.options) == (None, None, None, None)
    books = _books(kernels.jit_kernel(), st, c.options)
    assert books[0] is st.cdp and books[1] is st.perp and books[2] is st.leveraged
    assert books[3] is c.options
