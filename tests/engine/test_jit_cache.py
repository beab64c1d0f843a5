"""The folder of the compiled kernel: keyed on the sources it is compiled from, and a fallback
when the usual folder cannot be written (a read-only home in CI, a full disk)."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from contagion_cli import jit_cache
from contagion_cli.compile.compiler import compile_scenario
from contagion_cli.engine import kernels
from contagion_cli.load.scenario import load_scenario

QUICKSTART = Path(__file__).parents[2] / "scenarios" / "quickstart.yaml"


def test_the_key_follows_the_kernel_and_the_layout(tmp_path, monkeypatch):
    kernel, layout = tmp_path / "kernel.py", tmp_path / "layout.py"
    kernel.write_text("x = 1\n")
    layout.write_text("BUCKETS = 64\n")
    monkeypatch.setattr(jit_cache, "KEYED_FILES", (kernel, layout))
    first = jit_cache.cache_key("0.60")
    assert jit_cache.cache_key("0.60") == first  # stable
    layout.write_text("BUCKETS = 128\n")  # a constant the kernel reads: a new folder
    assert jit_cache.cache_key("0.60") != first
    layout.write_text("BUCKETS = 64\n")
    assert jit_cache.cache_key("0.61") != first  # another numba compiles other code


def test_the_usual_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("CONTAGION_CACHE_DIR", str(tmp_path / "cache"))
    folder, note = jit_cache.choose_folder("abc")
    assert folder == tmp_path / "cache" / "numba" / "abc" and folder.is_dir()
    assert note is None


def test_xdg_cache_home_is_the_default_base(tmp_path, monkeypatch):
    monkeypatch.delenv("CONTAGION_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    folder, _ = jit_cache.choose_folder("k")
    assert folder == tmp_path / "contagion-cli" / "numba" / "k"


def test_an_unwritable_folder_falls_back_to_the_temporary_one(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")  # even root cannot make a folder under a file
    monkeypatch.setenv("CONTAGION_CACHE_DIR", str(blocker / "cache"))
    monkeypatch.setattr(jit_cache.tempfile, "gettempdir", lambda: str(tmp_path / "tmp"))
    folder, note = jit_cache.choose_folder("k")
    assert folder is not None and folder.is_relative_to(tmp_path / "tmp")
    assert note is not None and "cannot cache the compiled kernel in" in note
    assert "CONTAGION_CACHE_DIR" in note


def test_nothing_writable_means_uncached(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    monkeypatch.setenv("CONTAGION_CACHE_DIR", str(blocker / "cache"))
    monkeypatch.setattr(jit_cache.tempfile, "gettempdir", lambda: str(blocker / "tmp"))
    folder, note = jit_cache.choose_folder("k")
    assert folder is None
    assert note is not None and "compiled in every run" in note


def test_a_nearly_full_disk_is_not_used(tmp_path, monkeypatch):
    monkeypatch.setenv("CONTAGION_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(jit_cache, "MIN_FREE_BYTES", 2**62)  # more than any disk has
    monkeypatch.setattr(jit_cache.tempfile, "gettempdir", lambda: str(tmp_path / "tmp"))
    folder, note = jit_cache.choose_folder("k")
    assert folder is None and note is not None and "MB free" in note


@pytest.mark.parametrize("marker", [True, False])
def test_warm_marker(tmp_path, monkeypatch, marker):
    monkeypatch.setattr(jit_cache, "FOLDER", tmp_path)
    if marker:
        jit_cache.mark_warm()
    assert jit_cache.is_warm() is marker


# --- a cache that cannot be written when numba saves the compiled kernel -------------------------
# numba compiles, then writes the cache, then runs: on a disk that filled up (or turned
# read-only) after the folder was chosen, the first call raises ENOSPC/EROFS. The fallback is
# tested with a stand-in for the cached dispatcher and the plain-Python twin as the "uncached"
# one: compiling the real uncached twin takes ~80 s (it is built, not compiled, below).


class FullDisk:
    """A cached numba dispatcher whose first call fails writing its cache."""

    signatures = ()

    def __init__(self, code: int = errno.ENOSPC) -> None:
        self.code = code
        self.calls = 0

    def __call__(self, *args):
        self.calls += 1
        raise OSError(self.code, os.strerror(self.code))

    # what a first call starts with (engine.kernels._load): the compile that writes the cache
    typeof_pyval = staticmethod(type)
    compile = __call__


@pytest.fixture
def notes(monkeypatch):
    seen: list[str] = []
    monkeypatch.setattr(kernels, "notify", seen.append)
    monkeypatch.setattr(kernels, "_cache_failed", False)
    return seen


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS, errno.EDQUOT, errno.EACCES])
def test_a_failed_cache_write_falls_back_to_the_uncached_twin(monkeypatch, notes, code):
    twin_calls = []

    def twin(*args):
        twin_calls.append(args)
        return 7

    monkeypatch.setattr(kernels, "uncached_kernel", lambda _variant=kernels.ALL: twin)
    cached = FullDisk(code)
    assert kernels.call(cached, "state", "out") == 7
    assert twin_calls == [("state", "out")]  # the same arguments, untouched
    assert len(notes) == 1 and "cannot write the compiled kernel to its cache" in notes[0]
    assert os.strerror(code) in notes[0]
    # every later run of this process (and of workers forked from it) takes the twin at once
    assert kernels.jit_kernel() is twin
    assert kernels.call(kernels.jit_kernel(), 1) == 7
    assert cached.calls == 1 and len(notes) == 1  # one note, not one per run


def test_other_errors_are_not_swallowed(monkeypatch, notes):
    monkeypatch.setattr(
        kernels, "uncached_kernel", lambda _variant=kernels.ALL: pytest.fail("no fallback")
    )
    with pytest.raises(OSError):
        kernels.call(FullDisk(errno.ENOENT))  # not a cache that could not be written

    def python_twin(*_args):  # not a numba dispatcher: nothing was cached
        raise OSError(errno.ENOSPC, "full")

    with pytest.raises(OSError):
        kernels.call(python_twin)
    assert not notes and not kernels._cache_failed


def test_a_run_survives_a_full_disk_at_its_first_jit_call(monkeypatch, notes):
    from contagion_cli.engine.raw import run_raw

    compiled = compile_scenario(load_scenario(QUICKSTART))
    expected = run_raw(compiled, executor=kernels.Executor.python)
    full = FullDisk()
    monkeypatch.setattr(kernels, "_cached_kernel", lambda _variant=kernels.ALL: full)
    monkeypatch.setattr(
        kernels, "uncached_kernel", lambda _variant=kernels.ALL: kernels.python_kernel()
    )  # no 80 s compile
    raw = run_raw(compiled, executor=kernels.Executor.jit)
    assert full.calls == 1 and len(notes) == 1
    assert raw.status == expected.status
    assert (raw.outputs.liquidations == expected.outputs.liquidations).all()


def test_the_command_line_prints_the_note_once_and_exits_0(monkeypatch, notes):
    from typer.testing import CliRunner

    from contagion_cli.cli.app import app
    from contagion_cli.cli.output import say

    full = FullDisk(errno.EROFS)
    monkeypatch.setattr(kernels, "_cached_kernel", lambda _variant=kernels.ALL: full)
    monkeypatch.setattr(
        kernels, "uncached_kernel", lambda _variant=kernels.ALL: kernels.python_kernel()
    )
    monkeypatch.setattr(kernels, "notify", say)  # what the CLI points it at: stderr
    monkeypatch.setenv("CONTAGION_EXECUTOR", "jit")
    result = CliRunner().invoke(app, ["run", str(QUICKSTART), "-f", "json"])
    assert result.exit_code == 0, result.output
    assert result.stderr.count("cannot write the compiled kernel to its cache") == 1
    assert "Read-only file system" in result.stderr


def test_no_locator_at_import_falls_back_too(monkeypatch, notes):
    import builtins

    real_import = builtins.__import__

    def no_locator(name, globals=None, locals=None, fromlist=(), level=0):
        if name == "kernel" and level == 2:
            raise RuntimeError("cannot cache function 'venue_sell': no locator available")
        return real_import(name, globals, locals, fromlist, level)

    monkeypatch.setattr(builtins, "__import__", no_locator)
    monkeypatch.setattr(kernels, "uncached_kernel", lambda _variant=kernels.ALL: "twin")
    kernels._cached_kernel.cache_clear()
    try:
        assert kernels._cached_kernel() == "twin"
    finally:
        kernels._cached_kernel.cache_clear()
    assert kernels._cache_failed and "no locator available" in notes[0]


@pytest.mark.skipif(
    os.environ.get("NUMBA_DISABLE_JIT") == "1",
    reason="with the JIT disabled njit returns the plain function: there is no cache to inspect",
)
def test_the_uncached_twin_is_built_without_a_cache():
    pytest.importorskip("numba")
    kernels.uncached_kernel.cache_clear()
    try:
        twin = kernels.uncached_kernel()  # decorating compiles nothing: no 80 s here
        assert twin.__module__.endswith("._kernel_uncached")
        assert type(twin._cache).__name__ == "NullCache"
        helper = twin.py_func.__globals__["venue_sell"]
        assert type(helper._cache).__name__ == "NullCache"
        assert not twin.signatures  # not compiled
    finally:
        kernels.uncached_kernel.cache_clear()


def test_a_compile_suspends_full_garbage_collections_and_restores_them() -> None:
    import gc

    from contagion_cli.engine import kernels

    before = gc.get_threshold()
    with kernels._without_gc():
        assert gc.get_threshold() == (*before[:2], kernels._NO_FULL_COLLECTION)
    assert gc.get_threshold() == before
    # two threads' first calls compiling at once, the first to start ending first
    first, second = kernels._without_gc(), kernels._without_gc()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)
    second.__exit__(None, None, None)
    assert gc.get_threshold() == before
