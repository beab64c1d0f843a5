"""Draw the shock paths of a Monte Carlo model (:mod:`.stochastic`) as kernel arrays.

Path ``i`` of a model with seed ``s`` uses its own generator, numpy's PCG64 seeded with
``SeedSequence([s, i])``: its numbers depend only on ``(s, i)``, never on how many paths are
drawn, in which order, in which chunk or on how many workers. A test can therefore rebuild any
path in plain numpy (docs/sweeps.md, "Reproducibility").
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..schema.stochastic import MonteCarloModel, correlation_matrix
from .layout import F8, Path

#: A path's cumulative log return stays inside these bounds: a price can fall to e^-27.6
#: (1e-12) of its start or rise 1e12-fold, never to 0 or inf. Bounding each step alone was not
#: enough: forty crash steps compound to e^-2000, a price of 0.0, and every ratio to the shocked
#: price divides by zero.
MIN_LOG_LEVEL = -27.631021115928547  # log(1e-12)
MAX_LOG_LEVEL = 27.631021115928547
DAYS_PER_YEAR = 365.0


def path_rng(seed: int, index: int) -> np.random.Generator:
    """The generator of path ``index`` (a pure function of the seed and the index)."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), int(index)]))


class PathSampler:
    """Samples paths of one model for one asset order (the compiled scenario's).

    Build it once per chunk (it factors the correlation matrix), then call :meth:`path`.
    """

    def __init__(self, model: MonteCarloModel, asset_names: Sequence[str]) -> None:
        self.model = model
        index = {name: a for a, name in enumerate(asset_names)}
        names = list(model.assets)
        self.columns = np.asarray([index[n] for n in names], dtype=np.int64)
        self.n_assets = len(asset_names)
        procs = [model.assets[n] for n in names]
        dt = model.dt_days / DAYS_PER_YEAR
        sigma = np.asarray([p.volatility for p in procs], F8)
        mu = np.asarray([p.drift for p in procs], F8)
        self.jumps = model.model == "jump_diffusion"
        intensity = np.asarray([p.jump_intensity for p in procs], F8)
        self.lam_dt = intensity * dt
        self.jump_mean = np.asarray([p.jump_mean for p in procs], F8)
        self.jump_vol = np.asarray([p.jump_volatility for p in procs], F8)
        # compensator: E[e^J] - 1 per jump, so that `drift` stays the expected return
        k = np.expm1(self.jump_mean + 0.5 * self.jump_vol**2) if self.jumps else 0.0
        self.drift_dt = (mu - 0.5 * sigma**2 - intensity * k) * dt
        self.vol_sqrt_dt = sigma * np.sqrt(dt)
        self.chol = _factor(np.asarray(correlation_matrix(model), F8))
        self.liquidity = np.ones((model.steps, self.n_assets), F8)
        for name, mult in model.liquidity.items():
            self.liquidity[0, index[name]] = mult

    def log_returns(self, index: int) -> np.ndarray:
        """Log returns ``[steps, assets of the model]`` of path ``index`` (model order)."""
        rng = path_rng(self.model.seed, index)
        shape = (self.model.steps, len(self.columns))
        z = rng.standard_normal(shape) @ self.chol.T
        out = self.drift_dt + self.vol_sqrt_dt * z
        if self.jumps:
            n = rng.poisson(self.lam_dt, size=shape)
            size = rng.standard_normal(shape)
            out = out + n * self.jump_mean + np.sqrt(n) * self.jump_vol * size
        return out

    def path(self, index: int) -> Path:
        """Path ``index`` as the kernel's :class:`~.layout.Path` (all assets, compiled order)."""
        returns = np.zeros((self.model.steps, self.n_assets), F8)
        # Bound the level, then take its steps: a path that touches a bound stays there until
        # a step carries it back inside, and no step's return changes away from the bounds.
        level = np.clip(np.cumsum(self.log_returns(index), axis=0), MIN_LOG_LEVEL, MAX_LOG_LEVEL)
        returns[:, self.columns] = np.expm1(np.diff(level, axis=0, prepend=0.0))
        return Path(returns, self.liquidity.copy())


def _factor(corr: np.ndarray) -> np.ndarray:
    """A matrix ``L`` with ``L Lᵀ = corr``: Cholesky, or an eigen factor when corr is singular."""
    try:
        return np.linalg.cholesky(corr)
    except np.linalg.LinAlgError:
        w, v = np.linalg.eigh(corr)
        return v * np.sqrt(np.clip(w, 0.0, None))


def sample_path(model: MonteCarloModel, asset_names: Sequence[str], index: int) -> Path:
    """Path ``index`` of ``model`` (a convenience for one path; chunks keep a sampler)."""
    return PathSampler(model, asset_names).path(index)
