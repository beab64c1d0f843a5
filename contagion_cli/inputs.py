"""From a path and command-line overrides to a validated scenario (load -> override -> validate)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from .loader import load_file
from .overrides import apply_set, apply_shock_override
from .schema import Scenario
from .validation import validate_document


def load_scenario(
    path: str | Path,
    sets: Sequence[str] = (),
    shocks: Sequence[str] = (),
    liquidity: Sequence[str] = (),
) -> Scenario:
    """Load, apply ``--set`` / ``--shock`` / ``--liquidity``, validate. Raises InputError."""
    doc = load_file(path)
    for text in sets:
        apply_set(doc, text)
    apply_shock_override(doc, shocks, liquidity)
    return validate_document(doc)
