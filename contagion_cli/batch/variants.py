"""A scenario file compiled once per combination of ``--set`` values (the variants of a batch).

The YAML is read once; each combination is applied to a copy of the loaded document and
validated and compiled once. Points that differ only in their shocks share a variant: no
re-parsing, no re-validation per point.

Each compiled variant remembers where it came from (:func:`source_of`): the file, the ``--set``
texts and which combination. A Dask worker (:mod:`.distributed`) can then compile it again from
a shared file system instead of receiving the arrays over the network. A copy made with
``dataclasses.replace`` has no source: it is no longer what the file gives.
"""

from __future__ import annotations

import copy
import os
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..compile.compiler import Compiled, compile_scenario
from ..load.files import Sandbox
from ..load.overrides import apply_set
from ..load.scenario import validate_with_books
from ..load.yaml import load_file
from ..timings import phase
from . import grid
from .grid import Axis


@dataclass(frozen=True)
class Source:
    """How to compile a variant again: ``load_variants(path, sets, set_axes).compiled[index]``,
    under the same sandbox (a worker reads only what the client could)."""

    path: str  # absolute
    sets: tuple[str, ...]
    set_axes: tuple[Axis, ...]
    index: int
    sandbox: Sandbox = field(default_factory=Sandbox)

    def load(self) -> Variants:
        """Every variant of this source (compiled again from the file)."""
        return load_variants(self.path, self.sets, self.set_axes, self.sandbox)


#: id(compiled) -> (a weak reference to it, its source); entries leave with their object.
_SOURCES: dict[int, tuple[weakref.ref[Compiled], Source]] = {}


def _remember(compiled: Compiled, source: Source) -> None:
    key = id(compiled)
    ref = weakref.ref(compiled, lambda _ref: _SOURCES.pop(key, None))
    _SOURCES[key] = (ref, source)


def source_of(compiled: Compiled) -> Source | None:
    """Where a compiled scenario came from, when :func:`load_variants` compiled it."""
    entry = _SOURCES.get(id(compiled))
    if entry is None or entry[0]() is not compiled:
        return None
    return entry[1]


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
    path: str | Path,
    sets: Sequence[str] = (),
    set_axes: Sequence[Axis] = (),
    sandbox: Sandbox | None = None,
) -> Variants:
    """Load ``path``, apply the fixed ``sets``, then compile every combination of ``set_axes``;
    files are read within ``sandbox`` (default: the scenario's folder tree only)."""
    sandbox = sandbox or Sandbox()
    with phase("load"):
        doc = load_file(path, sandbox)
        for text in sets:
            apply_set(doc, text)
    combos = tuple(grid.product(set_axes))
    compiled = []
    for combo in combos:
        variant = copy.deepcopy(doc) if set_axes else doc
        for axis, k in zip(set_axes, combo, strict=True):
            apply_set(variant, f"{axis.key}={axis.texts[k]}")
        # positions files are relative to the YAML
        model = validate_with_books(variant, Path(path).parent, sandbox)
        with phase("compile"):
            compiled.append(compile_scenario(model))
    absolute = os.path.abspath(path)  # as given (symlinks kept), for a worker to open
    for k, c in enumerate(compiled):
        _remember(c, Source(absolute, tuple(sets), tuple(set_axes), k, sandbox))
    return Variants(tuple(compiled), tuple(set_axes), combos)


def load_compiled(
    path: str | Path, sets: Sequence[str] = (), sandbox: Sandbox | None = None
) -> Compiled:
    """One compiled scenario (``--set`` applied; files read within ``sandbox``)."""
    return load_variants(path, sets, (), sandbox).base
