"""Where numba keeps the compiled kernel, chosen before numba is imported.

numba's own cache (``cache=True``) checks the timestamp of the file that holds a cached
function and nothing else: an edit of :mod:`.compile.layout`, whose constants the kernel reads
and freezes at compile time, or a cache written by another version of this package, would be
loaded as if it were current (a stale index even fails to unpickle once a module it names has
moved). So the cache lives in a folder of its own per *key*: a hash of ``kernel.py``,
``compile/layout.py``, this package's version and numba's. A changed key is a fresh folder,
never a stale hit.

The folder is ``$CONTAGION_CACHE_DIR`` (or ``$XDG_CACHE_HOME/contagion-cli``, else
``~/.cache/contagion-cli``) ``/numba/<key>``. When it cannot be written (a read-only home in
CI, a full disk) the cache moves to the temporary folder; when that fails too the kernel runs
uncached (compiled in every process). Either way one note says so: :data:`NOTE`. A disk that
fills up (or turns read-only) only while numba writes the cache, after compiling, is caught at
the kernel's first call (:func:`.engine.kernels.call`), which then runs an uncached twin.

This module imports numba: import it only where the JIT is wanted (``kernel.py`` does).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from . import __version__

#: Free space a cache folder must have: the kernel's cache takes about 16 MB.
MIN_FREE_BYTES = 64 * 2**20
#: Written into a cache folder after the kernel's first successful call from it.
WARM_MARKER = ".warm"

_PACKAGE = Path(__file__).resolve().parent
#: The files whose edits change the compiled code: ``kernel.py``, the constants it reads, and how
#: its helpers are compiled (:mod:`.jit_link`: which ones numba inlines).
KEYED_FILES = (
    _PACKAGE / "kernel.py",
    _PACKAGE / "compile" / "layout.py",
    _PACKAGE / "jit_link.py",
)


def cache_key(numba_version: str) -> str:
    """A short hash of the kernel's sources and the versions that compile them."""
    digest = hashlib.sha256()
    for file in KEYED_FILES:
        digest.update(file.read_bytes())
    digest.update(f"|{__version__}|numba {numba_version}".encode())
    return digest.hexdigest()[:16]


def _base_folder() -> Path:
    explicit = os.environ.get("CONTAGION_CACHE_DIR", "").strip()
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "contagion-cli"


def _usable(folder: Path) -> str | None:
    """None when ``folder`` can hold the cache, else why not (for the note)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".probe-"):
            pass
        free = shutil.disk_usage(folder).free
    except OSError as exc:
        return exc.strerror or type(exc).__name__
    if free < MIN_FREE_BYTES:
        return f"only {free / 2**20:.0f} MB free"
    return None


def choose_folder(key: str) -> tuple[Path | None, str | None]:
    """The cache folder for ``key`` and a note for stderr when it is not the usual one."""
    preferred = _base_folder() / "numba" / key
    why = _usable(preferred)
    if why is None:
        return preferred, None
    uid = os.getuid() if hasattr(os, "getuid") else "user"
    fallback = Path(tempfile.gettempdir()) / f"contagion-cli-{uid}" / "numba" / key
    if _usable(fallback) is None:
        return fallback, (
            f"note: cannot cache the compiled kernel in {preferred.parent} ({why}); "
            f"using {fallback.parent} (set CONTAGION_CACHE_DIR to choose)"
        )
    return None, (
        f"note: cannot cache the compiled kernel ({why}); it is compiled in every run "
        "(set CONTAGION_CACHE_DIR to a writable folder)"
    )


def uncached_njit(*args: Any, **kwargs: Any) -> Any:
    """numba's ``njit`` with its cache off, whatever the decorator asks for: the kernel is
    compiled in memory, once per process."""
    import numba

    kwargs["cache"] = False
    return numba.njit(*args, **kwargs)


def _configure() -> tuple[Callable[..., Any], Path | None, str | None]:
    # numba reads NUMBA_CACHE_DIR when it is imported and config.CACHE_DIR when a function is
    # decorated: set both, before the kernel's first @njit
    import numba

    folder, note = choose_folder(cache_key(numba.__version__))
    if folder is None:
        return uncached_njit, None, note
    os.environ["NUMBA_CACHE_DIR"] = str(folder)
    numba.config.CACHE_DIR = str(folder)
    return numba.njit, folder, note


#: The decorator ``kernel.py`` uses: numba's ``njit``, caching in :data:`FOLDER` (or not at all).
njit, FOLDER, NOTE = _configure()


def _marker(variant: str) -> str:
    return WARM_MARKER if variant == "all" else f"{WARM_MARKER}-{variant}"


def is_warm(variant: str = "all") -> bool:
    """Whether the kernel (its specialised copy ``variant``) was already compiled into this
    cache folder (a load, not a compile)."""
    return FOLDER is not None and (FOLDER / _marker(variant)).exists()


def mark_warm(variant: str = "all") -> None:
    """Record that the cache folder holds the compiled kernel (best effort)."""
    if FOLDER is not None:
        with contextlib.suppress(OSError):
            (FOLDER / _marker(variant)).touch()


@contextlib.contextmanager
def caching_in(variant: str) -> Iterator[None]:
    """numba caches the functions decorated meanwhile in the subfolder ``variant`` of the
    cache folder. A specialised copy of ``kernel.py`` has the same file, names and bytecode as
    the kernel (only module constants differ, which numba's index does not see), so each copy
    needs a folder of its own."""
    if FOLDER is None:
        yield
        return
    import numba

    before = numba.config.CACHE_DIR
    numba.config.CACHE_DIR = str(FOLDER / variant)
    try:
        yield
    finally:
        numba.config.CACHE_DIR = before
