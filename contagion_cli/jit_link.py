"""The kernel's helpers compiled to be linked into its entry points, not on their own.

numba compiles each jitted function into a library of its own and, when one is done, optimises
it at O3 and emits its machine code, even for a function that only other jitted functions call.
Each caller then links the helper's module into its own, optimises the whole again and emits
its own machine code. For the kernel that was work done twice or more for nothing: its helpers
are only ever called from its entry points (``run_cascade``, ``build_triggers`` and, in the
kernel with every feature, the few the tests call: the functions with a CPython wrapper), whose
modules hold all of their code (a warm process loads the entry points from the cache and never
compiles a helper at all); and a helper several levels down was optimised once per level.
Worse, the IR a caller links is what machine-code generation left of the helper's, which LLVM
does not inline again: numba had to inline the small helpers itself (``inline="always"``), at
the cost of running their untyped pipeline again at every call site.

A module registered here (:func:`small_helper_inlining`: ``kernel.py`` and each copy of it)
has its helpers compiled for linking only: a library that numba finishes whose functions are
the module's and that defines no wrapper (no CPython or C entry: only jitted code can call it)
is linked and verified but neither optimised nor handed to the JIT engine. Its callers link its
function-optimised IR, and the entry point's module is optimised once, at O3, with everything
in it. The lending kernel's cold compile went from about 15 s to about 12 s, and the kernel with
every protocol type from 45 s to 31 s; the cascade runs 2-4 % slower (docs/performance.md,
*Helpers compiled for linking only*).

This reaches into numba's code generator (``CPUCodeLibrary.finalize`` and what it calls,
``JITCPUCodegen.set_env``). It is installed only when those exist, and it is off with
``CONTAGION_JIT_LINK_ONLY=0``; either way numba then compiles as it always did, and the kernel
asks numba to inline its small helpers itself.
"""

from __future__ import annotations

import functools
import os
from typing import Any

from .errors import InputError, Location

#: The prefix numba gives a C entry's name (``FunctionDescriptor.llvm_cfunc_wrapper_name``).
_CFUNC_PREFIX = "cfunc."

#: The mangled namespaces of the registered modules (``_ZN13contagion_cli6kernel``, ...).
_namespaces: set[str] = set()


def enabled() -> bool:
    """``CONTAGION_JIT_LINK_ONLY``: 1 (the default, also when empty) or 0."""
    value = os.environ.get("CONTAGION_JIT_LINK_ONLY", "").strip() or "1"
    if value not in ("0", "1"):
        raise InputError.single(
            f"unknown value {value!r}",
            Location("CONTAGION_JIT_LINK_ONLY"),
            hint="expected 1 (the default: the kernel's helpers compiled only to be linked) "
            "or 0 (numba's usual compile)",
        )
    return value == "1"


def small_helper_inlining(module: str) -> str:
    """Register ``module`` (a jitted module's ``__name__``) to have its helpers compiled for
    linking only, where that can be done, and return numba's ``inline`` option for its small
    helpers: ``"never"`` when registered (LLVM inlines them in the entry point's module),
    ``"always"`` otherwise (LLVM would not inline them: the cascade ran 2.2x slower).
    Imports numba."""
    namespace = _mangled_namespace(module) if enabled() and _install() else None
    if namespace is None:
        return "always"
    _namespaces.add(namespace)
    return "never"


def linked_only(library: Any) -> bool:
    """Whether numba compiled ``library`` (a ``CodeLibrary``) for linking only."""
    return bool(getattr(library, "_contagion_link_only", False))


def _mangled_namespace(module: str) -> str | None:
    """How numba's mangled names of ``module``'s functions begin: ``_ZN`` and the module's
    dotted parts, each led by its length (``_ZN13contagion_cli6kernel``); None if numba's
    mangler no longer writes them so."""
    from numba.core import itanium_mangler

    name = itanium_mangler.mangle(f"{module}.f", ())
    if not (name.startswith(itanium_mangler.PREFIX + "N") and name.endswith("1fE")):
        return None
    return name[: -len("1fE")]


def _cpython_prefix() -> str | None:
    """The prefix numba gives a CPython wrapper's name (``_ZN7cpython`` in numba 0.59-0.68),
    from numba's own mangler: a change there turns this module off rather than wrong."""
    from numba.core import itanium_mangler

    plain = itanium_mangler.mangle("m.f", ())
    wrapper = itanium_mangler.prepend_namespace(plain, ns="cpython")
    tail = plain[len(itanium_mangler.PREFIX) + 1 :]  # "1m1fE": what follows "_ZN"
    if not (wrapper.endswith(tail) and "cpython" in wrapper):
        return None
    return wrapper[: -len(tail)]


#: What :func:`_install` replaces or calls, by class of ``numba.core.codegen``.
_NEEDED = {
    "CPUCodeLibrary": (
        "finalize",
        "_optimize_final_module",
        "_finalize_final_module",
        "_finalize_dynamic_globals",
        "_verify_declare_only_symbols",
    ),
    "JITCPUCodegen": ("set_env",),
}


def patchable(codegen: Any) -> bool:
    """Whether numba's ``codegen`` module has every class and method this module patches."""
    for cls_name, methods in _NEEDED.items():
        cls = getattr(codegen, cls_name, None)
        if cls is None or not all(callable(getattr(cls, m, None)) for m in methods):
            return False
    return True


@functools.cache
def _install() -> bool:
    """Patch numba's code library (once per process); False, and nothing patched, when its
    internals are not the ones this was written against."""
    from numba.core import codegen

    if not patchable(codegen):
        return False
    cpython_prefix = _cpython_prefix()
    if cpython_prefix is None:
        return False
    wrappers = (cpython_prefix, _CFUNC_PREFIX)
    library: Any = codegen.CPUCodeLibrary
    engine: Any = codegen.JITCPUCodegen

    numba_finalize = library.finalize
    numba_optimize_final_module = library._optimize_final_module
    numba_finalize_final_module = library._finalize_final_module
    numba_set_env = engine.set_env

    def for_linking_only(module: Any) -> bool:
        # a registered module's function, and no wrapper: only jitted code can call it
        if not _namespaces:
            return False
        names = [fn.name for fn in module.functions if not fn.is_declaration]
        registered = tuple(_namespaces)
        return not any(n.startswith(wrappers) for n in names) and any(
            n.startswith(registered) for n in names
        )

    def finalize(self: Any) -> None:
        # decided on the library's own functions, before its callees are linked in
        self._contagion_link_only = for_linking_only(self._final_module)
        numba_finalize(self)

    def optimize_final_module(self: Any) -> None:
        # its callers optimise its code with theirs (numba ran the function passes already)
        if not linked_only(self):
            numba_optimize_final_module(self)

    def finalize_final_module(self: Any) -> None:
        if not linked_only(self):
            numba_finalize_final_module(self)
            return
        # numba's version, less handing the module to the JIT engine (which emits its machine
        # code): callers link ``_get_module_for_linking``, a copy of the module
        self._finalize_dynamic_globals()
        self._verify_declare_only_symbols()
        self._finalized = True

    def set_env(self: Any, env_name: str, env: Any) -> None:
        # numba writes a finished function's environment pointer into its machine code; a
        # library compiled for linking only has none (the address is 0)
        if _namespaces and not self._engine.get_global_value_address(env_name):
            return
        numba_set_env(self, env_name, env)

    library.finalize = finalize
    library._optimize_final_module = optimize_final_module
    library._finalize_final_module = finalize_final_module
    engine.set_env = set_env
    return True
