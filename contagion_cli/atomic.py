"""Writing a file all at once: every report, chart and book the tool writes.

The bytes go to a temporary file beside the target (same folder, so the same file system),
are flushed to disk, and only then renamed over the target. A full disk, a quota or an
interrupt therefore leaves the target as it was, never truncated; and a failure removes only
the temporary file this run created, never a file that was there before.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def replacing(path: str | Path) -> Iterator[Path]:
    """A temporary path beside ``path`` for the caller to write; renamed over ``path`` when
    the block ends without an error, removed when it fails.

    The temporary name keeps the target's suffix (``.walls.png.1a2b3c4d.tmp.png``), so that a
    writer that picks its format by extension (matplotlib) picks the same one. A target that is
    a symbolic link is written through, as ``open()`` would.
    """
    target = Path(path)
    if target.is_symlink():
        target = target.resolve()
    # os.urandom, as secrets.token_hex does, without importing secrets (hashlib, hmac: ~5 ms
    # of every command's start-up)
    temp = target.with_name(f".{target.name}.{os.urandom(4).hex()}.tmp{target.suffix}")
    # created here, exclusively, with the mode a new file gets (0666 less the umask)
    os.close(os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        yield temp
        _sync(temp)
        with contextlib.suppress(FileNotFoundError):  # keep an existing target's permissions
            os.chmod(temp, stat.S_IMODE(os.stat(target).st_mode))
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)  # ours: created above
        raise


def _sync(path: Path) -> None:
    """Flush a written file to disk: a full disk may only say so here."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_bytes(path: str | Path, data: bytes) -> None:
    """``data`` as the whole content of ``path`` (see :func:`replacing`)."""
    with replacing(path) as temp, open(temp, "wb") as fh:
        fh.write(data)


def write_text(path: str | Path, text: str) -> None:
    """``text`` (UTF-8) as the whole content of ``path`` (see :func:`replacing`)."""
    write_bytes(path, text.encode("utf-8"))
