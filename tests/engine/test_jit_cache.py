"""The folder of the compiled kernel: keyed on the sources it is compiled from, and a fallback
when the usual folder cannot be written (a read-only home in CI, a full disk)."""

from __future__ import annotations

import pytest

from contagion_cli import jit_cache


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
