"""A scenario file compiled once per combination of ``--set`` values (the variants of a batch).

The YAML is read once; each combination is applied to a copy of the loaded document and
validated and compiled once. Points that differ only in their shocks share a variant: no
re-parsing, no re-validation per point.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from . import grid
from .compiler import Compiled, compile_scenario
from .grid import Axis
from .loader import load_file
from .overrides import apply_set
from .validation import validate_document


@dataclass(frozen=True)
class Variants:
    """``compiled[k]`` is the scenario with the set-axis values ``combos[k]`` (value indices)."""

    compiled: tuple[Compiled, ...]
    axes: tuple[Axis, ...]
    combos: tuple[tuple[int, ...], ...]

    @property
    def base(self) -> Compiled:
        return self.compiled[0]


def load_variants(
    path: str | Path, sets: Sequence[str] = (), set_axes: Sequence[Axis] = ()
) -> Variants:
    """Load ``path``, apply the fixed ``sets``, then compile every combination of ``set_axes``."""
    doc = load_file(path)
    for text in sets:
        apply_set(doc, text)
    combos = tuple(grid.product(set_axes))
    compiled = []
    for combo in combos:
        variant = copy.deepcopy(doc) if set_axes else doc
        for axis, k in zip(set_axes, combo, strict=True):
            apply_set(variant, f"{axis.key}={axis.texts[k]}")
        compiled.append(compile_scenario(validate_document(variant)))
    return Variants(tuple(compiled), tuple(set_axes), combos)


def load_compiled(path: str | Path, sets: Sequence[str] = ()) -> Compiled:
    """One compiled scenario (``--set`` applied)."""
    return load_variants(path, sets).base
