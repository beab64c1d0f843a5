"""Which kernel runs a cascade: the numba-compiled one, or its source as plain Python.

Both are the same source, ``kernel.py``. The JIT is loaded lazily, because importing numba and
loading its cache costs more than a small book's whole run; the plain-Python twin executes the
file a second time with ``njit`` as the identity.
"""

from __future__ import annotations

import errno
import functools
import importlib.util
import os
from collections.abc import Callable
from enum import StrEnum
from typing import Any

import numpy as np

from ..errors import InputError, Location
from ..timings import phase


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


#: errnos of a cache that numba could not write (disk full, read-only, quota, permission):
#: the kernel then runs uncached rather than the command failing.
CACHE_WRITE_ERRORS = frozenset(
    {errno.ENOSPC, errno.EROFS, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EFBIG}
)

#: Set once numba failed to write the cache in this process: every later JIT call uses the
#: uncached twin (compiled in memory once), and forked workers inherit the choice.
_cache_failed = False


def jit_kernel() -> Callable:
    """``run_cascade`` compiled by numba (imports numba: only when the JIT is wanted): the
    cached kernel, or its uncached twin once the cache could not be written."""
    if _cache_failed:
        return uncached_kernel()
    return _cached_kernel()


@functools.cache
def _cached_kernel() -> Callable:
    with phase("jit"):  # importing numba and decorating the kernel's functions
        return _import_cached_kernel()


def _import_cached_kernel() -> Callable:
    from .. import jit_cache

    try:
        from ..kernel import run_cascade
    except RuntimeError as exc:  # numba: "cannot cache function ...: no locator available"
        if "cannot cache" not in str(exc):
            raise
        _fall_back(f"numba found no cache folder it can use: {exc}")
        return uncached_kernel()
    if jit_cache.NOTE:
        notify(jit_cache.NOTE)
    if not jit_cache.is_warm():
        where = f"; cached in {jit_cache.FOLDER}" if jit_cache.FOLDER else ""
        notify(f"note: compiling the cascade kernel (once per install or upgrade{where})")
    return run_cascade


def call(kernel: Callable, *args: object) -> int:
    """``kernel(*args)``; when numba fails to write the compiled kernel to its cache (the disk
    filled up or turned read-only after the folder was chosen), the uncached twin runs instead.

    numba compiles, and writes the cache, before the call executes, so the arguments are
    untouched when the error arrives and the twin gets them as they were.

    numpy's floating-point warnings are off during the call: the kernel's arithmetic is IEEE
    (``error_model="numpy"``: a division by zero is an infinity the kernel handles), which the
    JIT never reports; the plain-Python twin, running on numpy scalars, would print a
    RuntimeWarning for the same arithmetic.
    """
    with np.errstate(all="ignore"):
        try:
            if is_jit(kernel) and not kernel.signatures:  # type: ignore[attr-defined]
                _load(kernel, args)
            return kernel(*args)  # type: ignore[no-any-return]
        except OSError as exc:
            if not is_jit(kernel) or _cache_failed or exc.errno not in CACHE_WRITE_ERRORS:
                raise
            _fall_back(exc.strerror or type(exc).__name__)
        return uncached_kernel()(*args)  # type: ignore[no-any-return]


def _load(dispatcher: Any, args: tuple[object, ...]) -> None:
    """What a dispatcher's first call does before it runs: machine code for these argument
    types, loaded from the cache or compiled (and written to it). Done apart only to time it
    (``--timings``: "jit", not "kernel")."""
    with phase("jit"):
        dispatcher.compile(tuple(dispatcher.typeof_pyval(a) for a in args))


def _fall_back(why: str) -> None:
    global _cache_failed
    _cache_failed = True
    notify(
        f"note: cannot write the compiled kernel to its cache ({why}); it is compiled in every "
        "run (set CONTAGION_CACHE_DIR to a writable folder with free space)"
    )


def is_jit(kernel: Callable) -> bool:
    """Whether ``kernel`` is a numba dispatcher (not the plain-Python twin)."""
    return hasattr(kernel, "signatures")


def after_call(kernel: Callable) -> None:
    """Record, after the JIT's first successful call, that its cache folder is warm."""
    if is_jit(kernel) and not _cache_failed:
        from .. import jit_cache

        if not jit_cache.is_warm():
            jit_cache.mark_warm()


@functools.cache
def uncached_kernel() -> Callable:
    """``kernel.py`` executed a second time with numba's ``njit`` and no cache: a kernel
    compiled in memory (once per process), for when the cache cannot be written."""
    from .. import jit_cache

    return _twin("_kernel_uncached", jit_cache.uncached_njit)


@functools.cache
def python_kernel() -> Callable:
    """``kernel.py`` executed a second time with ``njit`` as the identity decorator."""

    def identity(*args: object, **_: object) -> object:
        if len(args) == 1 and callable(args[0]):
            return args[0]
        return lambda fn: fn

    return _twin("_kernel_python", identity)


def _twin(name: str, njit: Callable) -> Callable:
    """``run_cascade`` of ``kernel.py`` executed once more, with ``njit`` as its decorator."""
    root = __name__.split(".")[0]  # the kernel sits at the package's root
    spec = importlib.util.find_spec(f"{root}.kernel")
    assert spec is not None and spec.loader is not None and spec.origin is not None
    # the loader's code object: Python's own bytecode cache (__pycache__, checked against the
    # source), shared with the JIT's import of kernel.py; compiling the source anew would cost
    # ~25 ms, a quarter of a small book's whole run
    code = spec.loader.get_code(spec.name)  # type: ignore[attr-defined]
    assert code is not None
    namespace = {"__name__": f"{root}.{name}", "__package__": root, "_TWIN_NJIT": njit}
    exec(code, namespace)
    return namespace["run_cascade"]  # type: ignore[return-value]
