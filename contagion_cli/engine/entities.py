"""The ``--entities`` view: the largest entities (accounts across protocols), start and end."""

from __future__ import annotations

import numpy as np

from ..compile.compiler import Compiled, State
from ..compile.entities import entity_totals
from ..results.run import EntityResult


def entity_footprints(
    compiled: Compiled, final: State, final_price: np.ndarray, top: int
) -> list[EntityResult]:
    """The ``top`` entities by debt (then exposure), with start and end figures."""
    n_e = len(compiled.entity_names)
    if n_e == 0:
        return []
    totals, protocols = entity_totals(compiled, final, final_price, True)
    return _ranked(compiled, totals, protocols, top)


def _ranked(
    compiled: Compiled, totals: dict[str, np.ndarray], protocols: list[set[int]], top: int
) -> list[EntityResult]:
    n_e = len(compiled.entity_names)
    equity0 = totals["assets0"] - totals["debt0"]
    equity1 = totals["assets1"] - totals["debt1"]
    order = sorted(
        range(n_e),
        key=lambda e: (-totals["debt0"][e], -totals["exposure0"][e], compiled.entity_names[e]),
    )
    out = []
    for e in order[:top]:
        eq0 = float(equity0[e])
        out.append(
            EntityResult(
                account=compiled.entity_names[e],
                protocols=sorted(compiled.protocol_names[p] for p in protocols[e]),
                positions=int(totals["positions"][e]),
                collateral_usd=float(totals["assets0"][e]),
                debt_usd=float(totals["debt0"][e]),
                exposure_usd=float(totals["exposure0"][e]),
                leverage=float(totals["exposure0"][e] / eq0) if eq0 > 0 else None,
                liquidated_positions=int(totals["liquidated"][e]),
                adl_usd=float(totals["adl"][e]),
                collateral_end_usd=float(totals["assets1"][e]),
                debt_end_usd=float(totals["debt1"][e]),
                loss_usd=float(eq0 - equity1[e]),
            )
        )
    return out
