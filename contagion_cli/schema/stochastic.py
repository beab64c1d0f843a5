"""The Monte Carlo shock model of a scenario: ``shocks: {model: gbm | jump_diffusion, ...}``.

A pure function of a dict, like :mod:`.schema` (no numpy, no I/O): the frozen models, the
discriminator that tells a Monte Carlo mapping from a list of shock steps, and the
cross-reference checks (names, correlation matrix) that :mod:`.semantics` reports. The paths
themselves are drawn by :mod:`.sampler`. Field meanings: docs/sweeps.md, "Monte Carlo".
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from ..errors import known_names_hint
from .base import Strict

#: Most paths one simulation may ask for (a typo of 1e9 should not start a day-long run).
MAX_PATHS = 10_000_000
#: Most steps of one path.
MAX_MC_STEPS = 10_000
#: Largest seed (numpy's SeedSequence takes any non-negative integer; keep it to 63 bits).
MAX_SEED = 2**63 - 1
#: Correlation matrices may miss positive semi-definiteness by this much (rounding of inputs).
PSD_TOLERANCE = 1e-10

#: The discriminator tags of ``Scenario.shocks`` (capitalised: validation drops them from paths).
PATH_TAG = "Path"
MONTE_CARLO_TAG = "MonteCarlo"

Rate = Annotated[float, Field(ge=-10, le=10, allow_inf_nan=False)]
Volatility = Annotated[float, Field(ge=0, le=10, allow_inf_nan=False)]


class AssetProcess(Strict):
    """The random walk of one asset's price (annualised rates; Merton jump-diffusion)."""

    drift: Rate = Field(0.0, description="Expected return per year (0.0: a martingale).")
    volatility: Volatility = Field(
        description="Diffusion volatility per year (ETH: about 0.6 to 0.9)."
    )
    jump_intensity: Annotated[float, Field(ge=0, le=10_000, allow_inf_nan=False)] = Field(
        0.0, description="jump_diffusion: expected number of jumps per year (Poisson rate)."
    )
    jump_mean: Annotated[float, Field(ge=-5, le=5, allow_inf_nan=False)] = Field(
        0.0, description="jump_diffusion: mean of the log jump size (-0.2: about -18% a jump)."
    )
    jump_volatility: Annotated[float, Field(ge=0, le=5, allow_inf_nan=False)] = Field(
        0.0, description="jump_diffusion: standard deviation of the log jump size."
    )


class MonteCarloModel(Strict):
    """Correlated random shock paths; ``contagion simulate`` runs each through the cascade.

    Notes
    -----
    Each step of length ``dt = dt_days / 365`` years gives asset ``a`` the log return
    ``(drift - volatility²/2 - jump_intensity·k)·dt + volatility·√dt·Z + Σ jumps`` with ``Z``
    standard normals correlated by ``correlation``, a Poisson(jump_intensity·dt) number of
    jumps, each Normal(jump_mean, jump_volatility²), and the compensator
    ``k = exp(jump_mean + jump_volatility²/2) - 1`` (so that ``drift`` stays the expected
    return). The simple return of the step is ``exp(log return) - 1``.
    """

    model: Literal["gbm", "jump_diffusion"] = Field(
        description="gbm: correlated geometric Brownian motion. jump_diffusion: the same plus "
        "Merton jumps (crashes)."
    )
    steps: Annotated[int, Field(ge=1, le=MAX_MC_STEPS)] = Field(
        1, description="Steps per path (each step: shock, then liquidation rounds)."
    )
    dt_days: Annotated[float, Field(gt=0, le=3650, allow_inf_nan=False)] = Field(
        1.0, description="Length of one step in days (rates are per 365-day year)."
    )
    assets: Annotated[dict[str, AssetProcess], Field(min_length=1, max_length=1000)] = Field(
        description="The assets that move; every other asset keeps its price."
    )
    correlation: dict[str, dict[str, Annotated[float, Field(ge=-1, le=1)]]] = Field(
        default_factory=dict,
        description="Correlations of the diffusion shocks, e.g. {ETH: {WBTC: 0.8}}; a pair "
        "may be given once (either order); pairs not given are 0. Jumps are independent.",
    )
    liquidity: dict[str, Annotated[float, Field(gt=0, le=1e6, allow_inf_nan=False)]] = Field(
        default_factory=dict,
        description="Multiplier of an asset's market liquidity from the first step on.",
    )
    paths: Annotated[int, Field(ge=1, le=MAX_PATHS)] = Field(
        1000, description="Paths that `contagion simulate` runs by default (--paths)."
    )
    seed: Annotated[int, Field(ge=0, le=MAX_SEED)] = Field(
        0, description="Random seed (--seed): path i depends only on (seed, i)."
    )

    @model_validator(mode="after")
    def _jumps_need_jump_diffusion(self) -> MonteCarloModel:
        if self.model == "gbm":
            for name, proc in self.assets.items():
                if proc.jump_intensity > 0:
                    raise ValueError(
                        f"assets.{name}.jump_intensity is set but the model is 'gbm'; "
                        "use model: jump_diffusion"
                    )
        return self

    def __len__(self) -> int:
        """Steps of one path: what a list of shock steps' ``len`` means (`contagion validate`)."""
        return self.steps


def shock_kind(value: Any) -> str | None:
    """Discriminator of ``Scenario.shocks``: a mapping is a Monte Carlo model, a list a path."""
    if isinstance(value, dict | MonteCarloModel):
        return MONTE_CARLO_TAG
    if isinstance(value, list | tuple):
        return PATH_TAG
    return None


#: The message when ``shocks`` is neither a list nor a mapping.
SHOCKS_TYPE_MESSAGE = (
    "expected a list of shock steps, or a Monte Carlo model (a mapping with 'model: gbm' or "
    "'model: jump_diffusion')"
)


# --- cross-references (reported by semantics.py) ----------------------------------------------
Found = tuple[tuple[str, ...], str, str | None]  # (path under `shocks`, message, hint)


def reference_problems(mc: MonteCarloModel, assets: Mapping[str, Any]) -> Iterator[Found]:
    """Names the model uses that the scenario lacks, and a bad correlation matrix.

    ``assets`` is the scenario's asset table (name -> :class:`~.schema.Asset`).
    """
    for name in mc.assets:
        if name not in assets:
            yield (
                ("assets", name),
                f"unknown asset {name!r}",
                known_names_hint(name, assets, "assets"),
            )
        elif getattr(assets[name], "issuer", None) is not None:
            yield (
                ("assets", name),
                f"asset {name!r} is issued by a protocol: its price follows its backing",
                "give the backing asset a process instead",
            )
    for name in mc.liquidity:
        if name not in assets:
            yield (
                ("liquidity", name),
                f"unknown asset {name!r}",
                known_names_hint(name, assets, "assets"),
            )
        elif getattr(assets[name], "market", None) is None:
            yield (
                ("liquidity", name),
                f"asset {name!r} has no market, so its liquidity cannot be scaled",
                f"give assets.{name} a market, or remove this multiplier",
            )
    yield from _correlation_problems(mc)


def _correlation_problems(mc: MonteCarloModel) -> Iterator[Found]:
    names = list(mc.assets)
    seen: dict[frozenset[str], float] = {}
    for a, row in mc.correlation.items():
        if a not in mc.assets:
            yield (
                ("correlation", a),
                f"{a!r} has no process under shocks.assets",
                (known_names_hint(a, names, "assets with a process")),
            )
            continue
        for b, rho in row.items():
            where = ("correlation", a, b)
            if b not in mc.assets:
                yield (
                    where,
                    f"{b!r} has no process under shocks.assets",
                    known_names_hint(b, names, "assets with a process"),
                )
                continue
            if a == b:
                if rho != 1.0:
                    yield where, f"the correlation of {a} with itself is 1, found {rho}", None
                continue
            pair = frozenset((a, b))
            if pair in seen and seen[pair] != rho:
                yield (
                    where,
                    f"the correlation of {a} and {b} is given twice, as {seen[pair]} and {rho}",
                    "give each pair once",
                )
            seen[pair] = rho
    matrix = correlation_matrix(mc)
    if matrix is not None and not _is_psd(matrix):
        yield (
            ("correlation",),
            "the correlation matrix is not positive semi-definite (no joint distribution has "
            "these correlations)",
            "check the signs: if A and B move together and B and C move together, A and C "
            "cannot be strongly opposed",
        )


def correlation_matrix(mc: MonteCarloModel) -> list[list[float]] | None:
    """The full matrix in the order of ``mc.assets`` (None when names are wrong)."""
    index = {name: i for i, name in enumerate(mc.assets)}
    n = len(index)
    matrix = [[1.0 if i == j else 0.0 for j in range(n)] for i in range(n)]
    for a, row in mc.correlation.items():
        for b, rho in row.items():
            if a not in index or b not in index:
                return None
            if a != b:
                matrix[index[a]][index[b]] = matrix[index[b]][index[a]] = float(rho)
    return matrix


def _is_psd(matrix: list[list[float]]) -> bool:
    """Positive semi-definite, by a Cholesky factorisation that tolerates zero pivots."""
    n = len(matrix)
    low = [[0.0] * n for _ in range(n)]
    for i in range(n):
        for j in range(i + 1):
            s = matrix[i][j] - sum(low[i][k] * low[j][k] for k in range(j))
            if i == j:
                if s < -PSD_TOLERANCE:
                    return False
                low[i][i] = math.sqrt(max(s, 0.0))
            elif low[j][j] > PSD_TOLERANCE:
                low[i][j] = s / low[j][j]
            elif abs(s) > 1e-8:  # a zero pivot needs a zero remainder
                return False
    return True
