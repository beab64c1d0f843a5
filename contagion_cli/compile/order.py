"""The order of the lending book in memory: by protocol, then (collateral asset, debt asset,
trigger) for positions with one leg of each (docs/performance.md).

A round visits only the positions a price move can have made eligible (the kernel's trigger
index); a price move makes eligible the positions of one (protocol, collateral, debt) group
whose trigger (debt units / collateral units, times a threshold constant in the group) is
highest. Stored in that order they are neighbours in memory, so a round reads them with few
cache misses: on 10^6 positions in file order the same cascade ran 2.3x slower, on 10^7 7.6x.
The model does not depend on the order (MODEL.md §1; the batch sums are order-independent).
"""

from __future__ import annotations

import numpy as np

from .layout import I8


def trigger_order(
    protocol: np.ndarray,
    col_start: np.ndarray,
    col_asset: np.ndarray,
    col_units: np.ndarray,
    debt_start: np.ndarray,
    debt_asset: np.ndarray,
    debt_units: np.ndarray,
    n_assets: int,
) -> np.ndarray:
    """A stable permutation of the positions: by protocol, then single-leg positions by
    (collateral asset, debt asset, debt units / collateral units); positions with several legs
    (or none) after them, in their book order."""
    n = protocol.shape[0]
    n_col = np.diff(col_start)
    n_debt = np.diff(debt_start)
    single = (n_col == 1) & (n_debt == 1)
    c = np.full(n, n_assets, I8)  # past every asset: several legs, or none
    d = np.full(n, n_assets, I8)
    ratio = np.zeros(n)
    k = col_start[:-1][single]
    j = debt_start[:-1][single]
    c[single] = col_asset[k]
    d[single] = debt_asset[j]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio[single] = debt_units[j] / col_units[k]
    group = (protocol.astype(I8) * (n_assets + 1) + c) * (n_assets + 1) + d
    # two stable sorts: by ratio, then by group (an integer key: numpy's radix sort)
    order = np.argsort(ratio, kind="stable")
    return order[np.argsort(group[order], kind="stable")]


def permute_legs(
    start: np.ndarray, asset: np.ndarray, units: np.ndarray, order: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The CSR legs (``start``, ``asset``, ``units``) of the positions taken in ``order``."""
    counts = np.diff(start)[order]
    new_start = np.zeros(order.shape[0] + 1, start.dtype)
    np.cumsum(counts, out=new_start[1:])
    if asset.shape[0] == order.shape[0] and np.all(counts == 1):  # one leg each: a gather
        legs = start[:-1][order]
    else:
        legs = np.repeat(start[:-1][order].astype(I8) - new_start[:-1], counts) + np.arange(
            int(new_start[-1])
        )
    return new_start, asset[legs], units[legs]
