"""Which kernel runs a cascade: the numba-compiled one, or its source as plain Python.

Both are the same source, ``kernel.py``. The JIT is loaded lazily, because importing numba and
loading its cache costs more than a small book's whole run; the plain-Python twin executes the
file a second time with ``njit`` as the identity.
"""

from __future__ import annotations

import functools
import importlib.util
import os
from collections.abc import Callable
from enum import StrEnum

from ..errors import InputError, Location


class Executor(StrEnum):
    """How the kernel runs.

    ``jit`` is the numba-compiled kernel. ``python`` runs the very same source as plain Python
    (no numba import, no JIT start-up): for a small book it finishes before numba would have
    loaded its cache. ``auto`` tries ``python`` within a small work budget and falls back to
    ``jit`` when the cascade turns out larger.
    """

    auto = "auto"
    jit = "jit"
    python = "python"


#: Position visits the plain-Python executor may spend under ``auto`` before handing over to
#: the JIT (about 0.1 s of interpretation, the cost of numba's own start-up).
AUTO_PYTHON_BUDGET = 5_000


def default_executor() -> Executor:
    """``CONTAGION_EXECUTOR`` (auto, jit or python), default auto."""
    value = os.environ.get("CONTAGION_EXECUTOR", "auto").strip().lower() or "auto"
    try:
        return Executor(value)
    except ValueError:
        raise InputError.single(
            f"unknown executor {value!r}",
            Location("CONTAGION_EXECUTOR"),
            hint="expected one of: auto, jit, python",
        ) from None


def _silent(_text: str) -> None:
    pass


#: Where notes about the JIT go (the cache folder in use, a compile starting). Silent in the
#: library; the command line points it at stderr.
notify: Callable[[str], None] = _silent


@functools.cache
def jit_kernel() -> Callable:
    """``run_cascade`` compiled by numba (imports numba: only when the JIT is wanted)."""
    from .. import jit_cache
    from ..kernel import run_cascade

    if jit_cache.NOTE:
        notify(jit_cache.NOTE)
    if not jit_cache.is_warm():
        where = f"; cached in {jit_cache.FOLDER}" if jit_cache.FOLDER else ""
        notify(f"note: compiling the cascade kernel (once per install or upgrade{where})")
    return run_cascade


def after_call(kernel: Callable) -> None:
    """Record, after the JIT's first successful call, that its cache folder is warm."""
    if hasattr(kernel, "signatures"):  # a numba dispatcher, not the plain-Python twin
        from .. import jit_cache

        if not jit_cache.is_warm():
            jit_cache.mark_warm()


@functools.cache
def python_kernel() -> Callable:
    """``kernel.py`` executed a second time with ``njit`` as the identity decorator."""
    root = __name__.split(".")[0]  # the kernel sits at the package's root
    spec = importlib.util.find_spec(f"{root}.kernel")
    assert spec is not None and spec.loader is not None and spec.origin is not None
    source = spec.loader.get_source(spec.name)  # type: ignore[attr-defined]
    assert source is not None

    def identity(*args: object, **_: object) -> object:
        if len(args) == 1 and callable(args[0]):
            return args[0]
        return lambda fn: fn

    namespace = {
        "__name__": f"{root}._kernel_python",
        "__package__": root,
        "_TWIN_NJIT": identity,
    }
    exec(compile(source, spec.origin, "exec"), namespace)
    return namespace["run_cascade"]  # type: ignore[return-value]
