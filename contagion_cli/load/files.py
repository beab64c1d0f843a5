"""Reading files that an untrusted scenario names, or that a pull request put where CI looks.

``contagion check`` runs on files from pull requests (docs/security.md), so every read here is
bounded and confined:

* **Where** (:class:`Sandbox`): a positions file must resolve, symbolic links followed, inside
  the scenario file's folder tree; a scenario or policy file named on the command line may be a
  link only to a file inside the folder it is named in. ``--allow-outside PATH`` admits more.
* **What**: regular files only. A folder, a named pipe (which would block the read forever), a
  device (``/dev/zero`` never ends) or a socket is refused before a byte is read, by the type
  of the file actually opened (:func:`open_regular`).
* **How much**: every read counts its bytes and stops at a cap (:class:`CappedReader`), whatever
  the file's size claims to be (``/proc`` files say 0); a ``.gz`` is capped again after
  decompression, and a Parquet file's decoded columns are capped batch by batch.
"""

from __future__ import annotations

import errno
import gzip
import io
import os
import stat
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from ..errors import InputError, Location, quote

#: Most bytes of a positions file: on disk, after decompressing a ``.gz``, and of its decoded
#: columns (a book of 10^7 positions takes about 0.7 GiB as CSV).
MAX_BOOK_BYTES = 2**30
#: Most rows of one positions file, and most positions of a scenario, inline and files
#: together: a run peaks at about 165 bytes a position (BENCHMARKS.md: 1.63 GB at 10^7).
MAX_POSITIONS = 10_000_000
#: Longest CSV header line (a book has a column per asset leg, not a million columns).
MAX_HEADER_BYTES = 2**20
#: Rows a Parquet batch decodes at a time (the decoded-size cap is checked after each).
PARQUET_BATCH_ROWS = 1 << 16

_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a device"),
    (stat.S_ISBLK, "a device"),
    (stat.S_ISSOCK, "a socket"),
)


_BOOK_HINT = "the cap keeps an untrusted file from exhausting memory (docs/security.md)"


class LimitExceededError(OSError):
    """A read went past its cap (raised from inside pyarrow's reads, recognised after)."""


@dataclass(frozen=True)
class Sandbox:
    """Where the files a scenario names may be read from: the scenario file's own folder
    tree, and the files and folders of ``--allow-outside`` (absolute, links resolved).

    Immutable and picklable: it travels with a compiled scenario's source to Dask workers, so a
    worker reads under the same rule as the client.
    """

    outside: tuple[str, ...] = ()

    @classmethod
    def allowing(cls, paths: Iterable[str | Path]) -> Sandbox:
        """A sandbox that also admits ``paths`` (each must exist: a typo is not a silent no-op)."""
        admitted = []
        for path in paths:
            p = Path(path).expanduser()
            if not p.exists():
                raise InputError.single(
                    f"{quote(str(path))} does not exist",
                    Location("--allow-outside"),
                    hint="name a file or folder that positions files may be read from",
                )
            admitted.append(str(resolved(p, Location("--allow-outside"))))
        return cls(tuple(admitted))

    def admits(self, file: Path, root: Path) -> bool:
        """Whether ``file`` (resolved) lies in ``root`` (resolved) or in a path allowed outside."""
        if file.is_relative_to(root):
            return True
        return any(file.is_relative_to(Path(other)) for other in self.outside)

    def named_file(self, path: str | Path, what: str) -> None:
        """A file named on the command line: it, and every folder on its path below the
        working directory, may be a symbolic link only to something inside the folder that
        holds the link. A pull request can add ``scenarios/x.yaml -> ~/.git-credentials``, or a
        folder ``scenarios/home -> /home/runner`` for a glob ``scenarios/*/*.yaml`` to reach;
        an error about such a "scenario" would quote the secret. Folders above the working
        directory (``/tmp -> /private/tmp``) are the machine's, not the pull request's."""
        given = Path(os.path.abspath(path))  # as written: `..` folded, no link followed
        cwd = Path(os.path.abspath(os.getcwd()))
        for link in [*reversed(given.parents), given]:
            if link == cwd or link in cwd.parents or not link.is_symlink():
                continue
            folder = resolved(link.parent, Location(str(path)))
            if not self.admits(resolved(link, Location(str(path))), folder):
                kind = "the " + what if link == given else f"the folder {str(link)!r} on its path"
                raise InputError.single(
                    f"{kind} is a symbolic link to something outside {str(folder)!r}",
                    Location(str(path)),
                    hint="a file from a pull request may not read files elsewhere; to allow it, "
                    "pass --allow-outside with the link's target",
                )

    def positions_file(self, text: str, base: Path, where: Location, path: tuple) -> Path:
        """The file a ``positions_file:`` value names (relative to the scenario's folder
        ``base``), refused when it resolves outside the sandbox. The sandbox is checked before
        the file's existence, so that a scenario cannot probe which files exist elsewhere."""
        file = Path(text).expanduser()
        if not file.is_absolute():
            file = base / file
        target = resolved(file, where)
        root = resolved(base, where)
        if not self.admits(target, root):
            raise InputError.single(
                f"positions file {quote(text)} is outside the scenario's folder "
                f"{str(root)!r} (links followed)",
                where,
                path,
                hint="a scenario may read files only in its own folder tree; to read this one, "
                "pass --allow-outside PATH (a file or a folder)",
            )
        return target


def resolved(path: Path, where: Location) -> Path:
    """``path`` with every symbolic link followed; a loop of links is an input error (a pull
    request can add ``a.csv -> a.csv``), not a crash."""
    try:
        return path.resolve()
    except (RuntimeError, OSError) as exc:  # RuntimeError: "Symlink loop" (Python < 3.13)
        reason = "a loop of symbolic links" if "loop" in str(exc).lower() else str(exc)
        raise InputError.single(f"cannot follow {quote(str(path))}: {reason}", where) from None


def _kind(mode: int) -> str | None:
    for test, word in _KINDS:
        if test(mode):
            return word
    return None if stat.S_ISREG(mode) else "not a file"


def open_regular(path: str | Path, what: str, where: Location | None = None) -> BinaryIO:
    """Open ``path`` for reading if it is a regular file; an :class:`InputError` otherwise
    ("not found", "not a regular file: a named pipe", "permission denied").

    The type is checked on the file actually opened (``fstat``), and the open itself does not
    block on a named pipe (``O_NONBLOCK``), so a FIFO swapped in between cannot hang the run.
    """
    where = where or Location(str(path))
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise InputError.single(f"{what} not found", where, hint="check the path") from None
    except OSError as exc:
        raise InputError.single(f"cannot read the {what}: {exc.strerror}", where) from None
    kind = _kind(mode)
    if kind is not None:
        raise _not_regular(what, kind, where)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ENXIO:  # a socket
            raise _not_regular(what, "a socket", where) from None
        raise InputError.single(f"cannot read the {what}: {exc.strerror}", where) from None
    try:
        kind = _kind(os.fstat(fd).st_mode)
        if kind is not None:
            raise _not_regular(what, kind, where)
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _not_regular(what: str, kind: str, where: Location) -> InputError:
    return InputError.single(
        f"the {what} is not a regular file: it is {kind}",
        where,
        hint="give the path of a file",
    )


class CappedReader(io.RawIOBase):
    """A binary stream that refuses to deliver more than ``limit`` bytes of ``inner``.

    The cap holds whatever the file's size says; past it a read raises
    :class:`LimitExceededError` (inside pyarrow too: its Python-file reads re-raise it)."""

    def __init__(self, inner: Any, limit: int, what: str) -> None:
        super().__init__()
        self.inner = inner
        self.limit = limit
        self.what = what
        self.count = 0
        self.exceeded = False

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return bool(getattr(self.inner, "seekable", lambda: False)())

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return int(self.inner.seek(offset, whence))

    def tell(self) -> int:
        return int(self.inner.tell())

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = self.inner.read(len(view))
        n = len(data)
        self.count += n
        if self.count > self.limit:
            self.exceeded = True
            raise LimitExceededError(errno.EFBIG, f"{self.what} is larger than {_size(self.limit)}")
        view[:n] = data
        return n

    def close(self) -> None:
        try:
            self.inner.close()
        finally:
            super().close()


def _size(n: int) -> str:
    if n >= 2**30:
        return f"{n / 2**30:g} GiB"
    return f"{n / 2**20:g} MiB" if n >= 2**20 else f"{n:,} bytes"


def too_large(what: str, limit: int, where: Location, hint: str | None = None) -> InputError:
    return InputError.single(f"the {what} is larger than {_size(limit)}", where, hint=hint)


def read_capped(path: str | Path, limit: int, what: str, hint: str | None = None) -> bytes:
    """Every byte of a regular file, refused past ``limit`` bytes (counted while reading)."""
    where = Location(str(path))
    with open_regular(path, what, where) as fh:
        chunks = []
        total = 0
        while True:
            chunk = fh.read(min(1 << 20, limit + 1 - total))
            if not chunk:
                break
            total += len(chunk)
            if total > limit:
                raise too_large(what, limit, where, hint)
            chunks.append(chunk)
    return b"".join(chunks)


def open_book(path: Path) -> CappedReader:
    """A positions file as a capped binary stream: a ``.gz`` is decompressed here, and both the
    file and its decompressed text are capped at :data:`MAX_BOOK_BYTES`."""
    raw = CappedReader(open_regular(path, "positions file"), MAX_BOOK_BYTES, "positions file")
    if path.suffix.lower() != ".gz":
        return raw
    return CappedReader(
        gzip.GzipFile(fileobj=raw, mode="rb"), MAX_BOOK_BYTES, "decompressed positions file"
    )


def book_error(exc: BaseException, path: Path) -> InputError | None:
    """The message for a failed read of a positions file, when the failure is one of ours
    (a cap) or a broken compressed stream; None for other errors."""
    where = Location(str(path))
    chain = [exc, exc.__cause__, exc.__context__]
    for err in chain:
        if isinstance(err, LimitExceededError):
            return InputError.single(f"the {err.strerror}", where, hint=_BOOK_HINT)
    for err in chain:
        if isinstance(err, gzip.BadGzipFile | zlib.error | EOFError):
            return InputError.single(f"not a readable .gz file: {quote(str(err))}", where)
    return None


def read_csv(path: Path, options: Any) -> Any:
    """A CSV book as a pyarrow Table (``options``: its ConvertOptions), read a block at a time
    through :func:`open_book` and refused as soon as it passes :data:`MAX_POSITIONS` rows or
    :data:`MAX_BOOK_BYTES` of decoded columns (a 1 GiB file of short rows is 70M positions).
    pyarrow's own errors (``ArrowInvalid``) are the caller's to explain."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    with open_book(path) as stream:
        reader = pacsv.open_csv(io.BufferedReader(stream, 1 << 20), convert_options=options)
        return pa.Table.from_batches(_capped_batches(reader, path), schema=reader.schema)


def read_parquet(path: Path) -> Any:
    """A Parquet book as a pyarrow Table, decoded a batch at a time so that its rows and decoded
    columns stay under :data:`MAX_POSITIONS` and :data:`MAX_BOOK_BYTES` (a few compressed bytes
    can declare a column of 10^9 equal values)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    where = Location(str(path))
    try:
        with open_book(path) as stream:
            parquet = pq.ParquetFile(stream)
            rows = parquet.metadata.num_rows
            if rows > MAX_POSITIONS:  # declared: refused before decoding anything
                raise _too_many_rows(rows, where)
            batches = _capped_batches(parquet.iter_batches(batch_size=PARQUET_BATCH_ROWS), path)
            return pa.Table.from_batches(batches, schema=parquet.schema_arrow)
    except InputError:
        raise
    except Exception as exc:  # pyarrow raises many types for a bad file
        raise book_error(exc, path) or InputError.single(
            f"not a readable Parquet file: {quote(str(exc), 200)}", where
        ) from None


def _capped_batches(batches: Iterable[Any], path: Path) -> list[Any]:
    out, rows, decoded = [], 0, 0
    for batch in batches:
        rows += batch.num_rows
        decoded += batch.nbytes
        if rows > MAX_POSITIONS:
            raise _too_many_rows(rows, Location(str(path)), "at least ")
        if decoded > MAX_BOOK_BYTES:
            raise too_large(
                "decoded positions file", MAX_BOOK_BYTES, Location(str(path)), _BOOK_HINT
            )
        out.append(batch)
    return out


def _too_many_rows(rows: int, where: Location, qualifier: str = "") -> InputError:
    return InputError.single(
        f"the positions file has {qualifier}{rows:,} rows; at most {MAX_POSITIONS:,}",
        where,
        hint=_BOOK_HINT,
    )
