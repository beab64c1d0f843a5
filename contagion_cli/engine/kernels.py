"""Which kernel runs a cascade: the numba-compiled one, or its source as plain Python.

Both are the same source, ``kernel.py``. The JIT is loaded lazily, because importing numba and
loading its cache costs more than a small book's whole run; the plain-Python twin executes the
file a second time with ``njit`` as the identity.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import gc
import importlib.util
import os
import sys
import types
from collections.abc import Callable, Iterator
from enum import StrEnum
from typing import Any

import numpy as np

from ..compile.layout import FEATURES_ALL, KERNEL_VARIANTS
from ..errors import InputError, Location
from ..timings import phase

#: The kernel with every feature: ``kernel.py`` itself.
ALL = KERNEL_VARIANTS[-1][0]


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


def variant_for(features: int) -> str:
    """The smallest specialised kernel (``layout.KERNEL_VARIANTS``) with every feature of
    ``features`` (``Compiled.features``)."""
    for name, has in KERNEL_VARIANTS:
        if features & ~has == 0:
            return name
    return ALL


def jit_kernel(features: int = FEATURES_ALL) -> Callable:
    """``run_cascade`` compiled by numba (imports numba: only when the JIT is wanted), the copy
    specialised to ``features``: the cached kernel, or its uncached twin once the cache could
    not be written."""
    variant = variant_for(features)
    if _cache_failed:
        return uncached_kernel(variant)
    return _cached_kernel(variant)


#: Every kernel function handed out (by id): its variant and its name in its module, so that a
#: fallback runs the same function of the uncached copy.
_ORIGIN: dict[int, tuple[str, str]] = {}
#: The module namespaces of the kernel copies, by (kind, variant).
_NAMESPACES: dict[tuple[str, str], dict] = {}
#: ``build_triggers`` of the copy each ``run_cascade`` (by id) comes from.
_BUILDERS: dict[int, Callable] = {}


def _register(kind: str, variant: str, namespace: dict) -> Callable:
    _NAMESPACES[kind, variant] = namespace
    for name in ("run_cascade", "build_triggers"):
        _ORIGIN[id(namespace[name])] = (variant, name)
    run = namespace["run_cascade"]
    _BUILDERS[id(run)] = namespace["build_triggers"]
    return run  # type: ignore[no-any-return]


def features_of(kernel: Callable) -> int:
    """The features (``layout.FEATURE_*``) of the kernel copy ``kernel`` comes from: every
    feature for one not handed out here."""
    return dict(KERNEL_VARIANTS)[_ORIGIN.get(id(kernel), (ALL, ""))[0]]


def triggers_builder(kernel: Callable) -> Callable | None:
    """``build_triggers`` of the kernel copy ``kernel`` comes from (None: unknown, and the
    kernel builds its index itself)."""
    return _BUILDERS.get(id(kernel))


@functools.cache
def _cached_kernel(variant: str = ALL) -> Callable:
    with phase("jit"):  # importing numba and decorating the kernel's functions
        return _import_cached_kernel(variant)


def _import_cached_kernel(variant: str) -> Callable:
    from .. import jit_cache

    try:
        if variant == ALL:
            from ..kernel import build_triggers, run_cascade

            namespace = {"run_cascade": run_cascade, "build_triggers": build_triggers}
        else:  # a copy of kernel.py with the features it leaves out pruned, cached apart
            features = dict(KERNEL_VARIANTS)[variant]
            with jit_cache.caching_in(variant):
                namespace = _twin(f"_kernel_{variant}", jit_cache.njit, features, register=True)
    except RuntimeError as exc:  # numba: "cannot cache function ...: no locator available"
        if "cannot cache" not in str(exc):
            raise
        _fall_back(f"numba found no cache folder it can use: {exc}")
        return uncached_kernel(variant)
    _note_once(jit_cache.NOTE)
    if not jit_cache.is_warm(variant):
        where = f"; cached in {jit_cache.FOLDER}" if jit_cache.FOLDER else ""
        notify(
            f"note: compiling the cascade kernel for {_DESCRIBED.get(variant, variant)} "
            f"(once per install or upgrade{where})"
        )
    return _register("cached", variant, namespace)


#: How the compile note names a specialised kernel.
_DESCRIBED = {"lending": "lending scenarios", ALL: "every protocol type"}

_noted: set[str] = set()


def _note_once(text: str | None) -> None:
    if text and text not in _noted:
        _noted.add(text)
        notify(text)


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
            # not ``.signatures``: a list built by hashing every argument type, 75 us a call
            if is_jit(kernel) and not getattr(kernel, "overloads", True):
                _load(kernel, args)
            return kernel(*args)  # type: ignore[no-any-return]
        except OSError as exc:
            if not is_jit(kernel) or _cache_failed or exc.errno not in CACHE_WRITE_ERRORS:
                raise
            _fall_back(exc.strerror or type(exc).__name__)
        variant, name = _ORIGIN.get(id(kernel), (ALL, "run_cascade"))
        if name == "run_cascade":
            return uncached_kernel(variant)(*args)  # type: ignore[no-any-return]
        uncached_kernel(variant)
        return _NAMESPACES["uncached", variant][name](*args)  # type: ignore[no-any-return]


def _load(dispatcher: Any, args: tuple[object, ...]) -> None:
    """What a dispatcher's first call does before it runs: machine code for these argument
    types, loaded from the cache or compiled (and written to it). Done apart only to time it
    (``--timings``: "jit", not "kernel")."""
    with phase("jit"), _without_gc():
        dispatcher.compile(tuple(dispatcher.typeof_pyval(a) for a in args))


@contextlib.contextmanager
def _without_gc() -> Iterator[None]:
    """No full passes of Python's cyclic garbage collector while numba compiles (or loads its
    cache): the young generations are still collected.

    A cold compile builds about a million objects (numba's IR, types, LLVM wrappers) that stay
    alive until it ends, and the collector's full passes over that growing heap were 2-4 s of
    the lending kernel's cold compile of about 20 s (docs/performance.md, *Cold compile*). The
    young collections free most of the compile's garbage as it goes; turning the collector off
    altogether saved no more time and kept about 150 MB (lending) to 430 MB (every protocol
    type) more at the peak. A warm load allocates little: nothing changes for it."""
    young, middle, old = gc.get_threshold()
    if old == _NO_FULL_COLLECTION:  # another thread's first call is compiling: it restores it
        yield
        return
    gc.set_threshold(young, middle, _NO_FULL_COLLECTION)
    try:
        yield
    finally:
        gc.set_threshold(young, middle, old)


#: A threshold of middle-generation collections the compile never reaches.
_NO_FULL_COLLECTION = 1 << 30


def _fall_back(why: str) -> None:
    global _cache_failed
    _cache_failed = True
    notify(
        f"note: cannot write the compiled kernel to its cache ({why}); it is compiled in every "
        "run (set CONTAGION_CACHE_DIR to a writable folder with free space)"
    )


def is_jit(kernel: Callable) -> bool:
    """Whether ``kernel`` is a numba dispatcher (not the plain-Python twin)."""
    # on the class: ``signatures`` is a property that builds a list by hashing every argument
    # type of every overload (~70 us; this is asked twice a run, a sweep runs a thousand)
    return hasattr(type(kernel), "signatures")


#: The variants whose cache folder this process found or made warm.
_warm: set[str] = set()


def after_call(kernel: Callable) -> None:
    """Record, after the JIT's first successful call, that its cache folder is warm."""
    if is_jit(kernel) and not _cache_failed:
        from .. import jit_cache

        variant = _ORIGIN.get(id(kernel), (ALL, ""))[0]
        if variant in _warm:
            return  # a sweep calls the kernel a thousand times: one look at the disk
        if not jit_cache.is_warm(variant):
            jit_cache.mark_warm(variant)
        _warm.add(variant)


@functools.cache
def uncached_kernel(variant: str = ALL) -> Callable:
    """``kernel.py`` executed a second time with numba's ``njit`` and no cache: a kernel
    compiled in memory (once per process), for when the cache cannot be written."""
    from .. import jit_cache

    suffix = "" if variant == ALL else f"_{variant}"
    features = dict(KERNEL_VARIANTS)[variant]
    namespace = _twin(f"_kernel_uncached{suffix}", jit_cache.uncached_njit, features)
    return _register("uncached", variant, namespace)


@functools.cache
def python_kernel() -> Callable:
    """``kernel.py`` executed a second time with ``njit`` as the identity decorator."""

    def identity(*args: object, **_: object) -> object:
        if len(args) == 1 and callable(args[0]):
            return args[0]
        return lambda fn: fn

    return _register("python", ALL, _twin("_kernel_python", identity, plain=True))


def _twin(
    name: str,
    njit: Callable,
    features: int = FEATURES_ALL,
    register: bool = False,
    plain: bool = False,
) -> dict:
    """The namespace of ``kernel.py`` executed once more, with ``njit`` as its decorator and
    only the code of ``features`` (``layout.FEATURE_*``). ``register``: as the module
    ``<package>.<name>`` in ``sys.modules``, where numba looks for it when it loads the copy's
    cached code. ``plain``: a copy that runs as plain Python (``njit`` the identity), which
    must not import numba."""
    root = __name__.split(".")[0]  # the kernel sits at the package's root
    spec = importlib.util.find_spec(f"{root}.kernel")
    assert spec is not None and spec.loader is not None and spec.origin is not None
    # the loader's code object: Python's own bytecode cache (__pycache__, checked against the
    # source), shared with the JIT's import of kernel.py; compiling the source anew would cost
    # ~25 ms, a quarter of a small book's whole run
    code = spec.loader.get_code(spec.name)  # type: ignore[attr-defined]
    assert code is not None
    module = types.ModuleType(f"{root}.{name}")
    namespace = module.__dict__
    namespace.update(
        __file__=spec.origin, __package__=root, _TWIN_NJIT=njit, _TWIN_FEATURES=features
    )
    if plain:  # numba's inlining option, which the identity ignores (jit_link is numba's)
        namespace["_TWIN_SMALL_INLINE"] = "always"
    if register:
        sys.modules[module.__name__] = module
    exec(code, namespace)
    return namespace
