"""The one base of every model of the scenario, policy and Monte Carlo schemas."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    """Frozen, strict types (no "3000" for 3000), unknown keys rejected: load/validation.py names
    the line of each problem and, for a misspelt key, the closest known one."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)
