"""Helpers compiled for linking only (``jit_link``): their callers still run them right, in
any order of compiles, and numba compiles as usual for modules not registered, when turned
off, and when its internals are not the expected ones."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import types
from pathlib import Path

import numba
import pytest
from numba.core import codegen

from contagion_cli import jit_link
from contagion_cli.errors import InputError

QUICKSTART = Path(__file__).parents[2] / "scenarios" / "quickstart.yaml"

#: A jitted module of one helper (callable from jitted code only, as the kernel's) and two
#: entry points that call it.
SOURCE = """
HELPER = {"no_cpython_wrapper": True, "no_cfunc_wrapper": True, "error_model": "numpy"}

@njit(**HELPER)
def scaled(x, k):
    total = 0.0
    for i in range(3):  # a loop: not a constant once inlined
        total += x * k + i
    return total

@njit
def twice(x):
    return scaled(x, 2.0)

@njit
def thrice(x):
    return scaled(x, 3.0)
"""

_numbers = itertools.count()


def _module(register: bool) -> types.ModuleType:
    """A fresh module of :data:`SOURCE` (new dispatchers: nothing compiled yet), registered
    with jit_link or not."""
    module = types.ModuleType(f"tests_jit_link_case_{next(_numbers)}")
    sys.modules[module.__name__] = module  # numba reads a function's module from here
    if register:
        assert jit_link.small_helper_inlining(module.__name__) == "never"
    module.__dict__["njit"] = numba.njit
    exec(SOURCE, module.__dict__)
    return module


def _linked_only(dispatcher) -> bool:
    (overload,) = dispatcher.overloads.values()
    return jit_link.linked_only(overload.library)


def test_this_numba_is_patched():
    """The numba this project installs is the one jit_link was written for: if this fails, a
    numba upgrade changed its code generator and the kernel compiles the slow way (correct, but
    its cold compile of lending scenarios back to about 15 s)."""
    assert jit_link.patchable(codegen)
    assert jit_link.small_helper_inlining("contagion_cli.kernel") == "never"
    from contagion_cli import kernel

    assert kernel.SMALL["inline"] == "never"


def test_a_registered_modules_helpers_are_compiled_for_linking_only():
    m = _module(register=True)
    assert m.twice(1.5) == 3.0 + 4.0 + 5.0
    assert _linked_only(m.scaled)
    assert not _linked_only(m.twice)  # a CPython wrapper: machine code of its own


def test_a_helper_compiled_first_serves_later_callers():
    m = _module(register=True)
    assert m.twice(1.0) == 2.0 + 3.0 + 4.0
    assert m.thrice(1.0) == 3.0 + 4.0 + 5.0  # links the same helper, compiled for twice
    assert _linked_only(m.scaled) and not _linked_only(m.thrice)


def test_other_modules_compile_as_usual():
    m = _module(register=False)
    assert m.twice(1.0) == 9.0
    assert not _linked_only(m.scaled)


def test_off_with_the_environment_variable(monkeypatch):
    monkeypatch.setenv("CONTAGION_JIT_LINK_ONLY", "0")
    assert jit_link.small_helper_inlining("anything") == "always"
    m = _module(register=False)
    assert m.twice(1.0) == 9.0
    assert not _linked_only(m.scaled)


@pytest.mark.parametrize(("value", "on"), [("1", True), ("0", False), ("", True), (" 0 ", False)])
def test_the_environment_variable(monkeypatch, value, on):
    monkeypatch.setenv("CONTAGION_JIT_LINK_ONLY", value)
    assert jit_link.enabled() is on


@pytest.mark.parametrize("value", ["2", "-1", "yes", "off", "nan", "1.0", "0" * 10_000])
def test_a_bad_value_of_the_environment_variable_is_a_message(monkeypatch, value):
    monkeypatch.setenv("CONTAGION_JIT_LINK_ONLY", value)
    with pytest.raises(InputError) as raised:
        jit_link.small_helper_inlining("anything")
    text = str(raised.value)
    assert "CONTAGION_JIT_LINK_ONLY" in text and "expected 1" in text


def test_a_bad_value_ends_a_jit_run_with_exit_2_and_no_traceback(tmp_path):
    env = {
        **os.environ,
        "CONTAGION_EXECUTOR": "jit",
        "CONTAGION_JIT_LINK_ONLY": "maybe",
        "CONTAGION_CACHE_DIR": str(tmp_path / "cache"),
    }
    argv = [sys.executable, "-m", "contagion_cli", "run", str(QUICKSTART)]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False, timeout=300)
    assert done.returncode == 2
    assert "CONTAGION_JIT_LINK_ONLY" in done.stderr and "'maybe'" in done.stderr
    assert "Traceback" not in done.stderr


def test_unknown_internals_are_left_alone():
    class Library:
        def finalize(self): ...

    assert not jit_link.patchable(types.SimpleNamespace())
    assert not jit_link.patchable(
        types.SimpleNamespace(CPUCodeLibrary=Library, JITCPUCodegen=codegen.JITCPUCodegen)
    )
    assert not jit_link.patchable(types.SimpleNamespace(CPUCodeLibrary=codegen.CPUCodeLibrary))


def test_the_mangled_namespace_of_a_module():
    assert jit_link._mangled_namespace("contagion_cli.kernel") == "_ZN13contagion_cli6kernel"
    assert jit_link._mangled_namespace("contagion_cli._kernel_lending") == (
        "_ZN13contagion_cli15_kernel_lending"
    )


def _run(tmp_path: Path, executor: str) -> dict:
    env = {
        **os.environ,
        "CONTAGION_EXECUTOR": executor,
        "CONTAGION_JIT_LINK_ONLY": "0",
        "CONTAGION_CACHE_DIR": str(tmp_path / "cache"),
    }
    argv = [sys.executable, "-m", "contagion_cli", "run", str(QUICKSTART), "--format", "json"]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False, timeout=600)
    assert done.returncode in (0, 1), done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


@pytest.mark.slow
def test_the_kernel_compiled_the_usual_way_gives_the_same_results(tmp_path):
    """With jit_link off, the lending kernel compiles as numba always does (its small helpers
    inlined by numba): the same results as the plain-Python kernel. (With it on, every other
    test of the kernel runs it.)"""
    assert _run(tmp_path, "jit") == _run(tmp_path, "python")
