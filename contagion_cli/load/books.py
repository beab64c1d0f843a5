"""Position books as columns: inline YAML positions and ``positions_file`` (CSV or Parquet).

A large book never becomes Python objects per row: CSV is parsed by pyarrow (or, without it,
numpy's C parser), Parquet by pyarrow, and every check is a vectorised mask. Errors name the
file, the line (CSV) or row (Parquet), the column and what was expected.

Columns, per protocol type (``<ASSET>`` is an asset name of the scenario; a 0 or empty cell
means "no leg")::

    lending    account, collateral.<ASSET>..., debt.<ASSET>...
    cdp        account, collateral.<ASSET>..., debt
    perp       account, asset, size, entry_price, margin
    leveraged  account, holdings.<ASSET>..., debt_usd
    options    asset, kind, strike, expiry_days, units, vol

``account`` is optional (default ``<protocol>#<row>``). Columns named in the protocol's
``ignore_columns`` are skipped (a Dune export's ``block_time``); any other column is an error,
so that a misspelt ``colateral.ETH`` never vanishes silently.

Whatever Arrow types the writer chose (pyarrow, polars, pandas, DuckDB: ``large_string``,
``string_view``, dictionary-encoded text; integers and decimals for numbers), the columns are
cast to text and float64 before any check (:func:`_as_checked`).
"""

from __future__ import annotations

import csv
import itertools
import math
import re
import sys
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import heap
from ..errors import InputError, Location, Problem, did_you_mean, quote
from ..schema.models import MAX_AMOUNT, MAX_PRICE
from .files import MAX_HEADER_BYTES, MAX_POSITIONS, book_error, open_book, read_csv, read_parquet
from .names import encode as encode_names

#: Leg columns (``prefix.<ASSET>``) and scalar columns of each protocol type, with the range
#: each number must be in: (low, low inclusive, high).
LEGS: dict[str, tuple[str, ...]] = {
    "lending": ("collateral", "debt"),
    "cdp": ("collateral",),
    "perp": (),
    "leveraged": ("holdings",),
    "options": (),
}
NUMBERS: dict[str, dict[str, tuple[float, bool, float]]] = {
    "lending": {},
    "cdp": {"debt": (0.0, True, MAX_AMOUNT)},
    "perp": {
        "size": (-MAX_AMOUNT, True, MAX_AMOUNT),
        "entry_price": (0.0, False, MAX_PRICE),
        "margin": (0.0, True, MAX_AMOUNT),
    },
    "leveraged": {"debt_usd": (0.0, True, MAX_AMOUNT)},
    "options": {
        "strike": (0.0, False, MAX_PRICE),
        "expiry_days": (0.0, False, 3650.0),
        "units": (0.0, False, MAX_AMOUNT),
        "vol": (0.0, False, 10.0),
    },
}
TEXTS: dict[str, tuple[str, ...]] = {
    "lending": (),
    "cdp": (),
    "perp": ("asset",),
    "leveraged": (),
    "options": ("asset", "kind"),
}
#: Types whose positions carry an `account` (option positions belong to their vault).
HAS_ACCOUNT = frozenset({"lending", "cdp", "perp", "leveraged"})


@dataclass
class PositionBook:
    """One protocol's positions as columns (inline positions and its positions file)."""

    kind: str
    n: int
    accounts: list[Any] = field(default_factory=list)  # per part: a sequence of names or None
    legs: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)  # prefix -> asset -> f8
    numbers: dict[str, np.ndarray] = field(default_factory=dict)  # column -> f8
    texts: dict[str, np.ndarray] = field(default_factory=dict)  # column -> str array
    sources: list[tuple[str, int, int]] = field(default_factory=list)  # (file, first row, n)


def book_from_positions(kind: str, positions: Sequence[Any]) -> PositionBook:
    """Inline YAML positions (already validated) as a :class:`PositionBook`."""
    n = len(positions)
    legs: dict[str, dict[str, np.ndarray]] = {}
    for prefix in LEGS[kind]:
        table: dict[str, np.ndarray] = {}
        for i, pos in enumerate(positions):
            for asset, units in getattr(pos, prefix).items():
                table.setdefault(asset, np.zeros(n))[i] = units
        legs[prefix] = table
    numbers = {
        col: np.fromiter((getattr(pos, _field(col)) for pos in positions), float, count=n)
        for col in NUMBERS[kind]
    }
    texts = {
        col: np.array([getattr(pos, col) for pos in positions], dtype=str)
        if n
        else np.zeros(0, dtype=str)
        for col in TEXTS[kind]
    }
    accounts = [pos.account for pos in positions] if kind in HAS_ACCOUNT else []
    return PositionBook(kind, n, [accounts] if kind in HAS_ACCOUNT else [], legs, numbers, texts)


def _field(column: str) -> str:
    return column  # file columns and YAML fields share their names


def accounts_of(first: PositionBook, second: PositionBook) -> PositionBook:
    """The accounts of ``merge(first, second)`` alone (its columns are not needed to check
    them, and copying them costs ~20 ms a million positions)."""
    return PositionBook(first.kind, first.n + second.n, first.accounts + second.accounts)


def merge(first: PositionBook, second: PositionBook) -> PositionBook:
    """Inline positions followed by the file's (without inline positions: the file's own
    columns, not a copy of them; nothing writes into a book's columns)."""
    if first.n == 0:
        return PositionBook(
            second.kind,
            second.n,
            first.accounts + second.accounts,
            {prefix: dict(second.legs.get(prefix, {})) for prefix in LEGS[second.kind]},
            dict(second.numbers),
            dict(second.texts),
            list(second.sources),
        )
    n = first.n + second.n
    legs: dict[str, dict[str, np.ndarray]] = {}
    for prefix in LEGS[first.kind]:
        assets = list(first.legs.get(prefix, {})) + [
            a for a in second.legs.get(prefix, {}) if a not in first.legs.get(prefix, {})
        ]
        legs[prefix] = {
            a: np.concatenate(
                [
                    first.legs.get(prefix, {}).get(a, np.zeros(first.n)),
                    second.legs.get(prefix, {}).get(a, np.zeros(second.n)),
                ]
            )
            for a in assets
        }
    numbers = {c: np.concatenate([first.numbers[c], second.numbers[c]]) for c in first.numbers}
    texts = {c: np.concatenate([first.texts[c], second.texts[c]]) for c in first.texts}
    sources = first.sources + [(f, r + first.n, k) for f, r, k in second.sources]
    return PositionBook(
        first.kind, n, first.accounts + second.accounts, legs, numbers, texts, sources
    )


# --- reading files -----------------------------------------------------------------------------


def read_book(
    path: str, kind: str, assets: Iterable[str], where: Location, ignore: Sequence[str] = ()
) -> PositionBook:
    """Read and check a positions file (CSV or Parquet) of a protocol of type ``kind``,
    skipping the columns named in ``ignore`` (see :func:`unignorable`)."""
    heap.set_thresholds()  # a book's big columns get mappings of their own (heap.py)
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix in (".parquet", ".pq"):
        columns, first_line = _read_parquet(p), 0
    elif suffix in (".csv", ".txt", ".gz") or suffix == "":
        _check_csv_layout(p)
        columns, first_line = _read_csv(p, ignore), 2  # line 1 is the header
    else:
        raise InputError.single(
            f"cannot tell the format of {quote(p.name)}", where, hint="use .csv or .parquet"
        )
    skipped = set(ignore)
    columns = {name: col for name, col in columns.items() if name not in skipped}
    try:
        return _book_from_columns(str(p), kind, columns, set(assets), first_line)
    finally:
        del columns  # the file's columns not kept by the book: freed, and given back
        release_arrow_memory()


TEXT_COLUMNS = ("account", "asset", "kind")


def unignorable(kind: str, names: Iterable[str], assets: Iterable[str]) -> list[str]:
    """The names in ``ignore_columns`` that a protocol of type ``kind`` reads: skipping one
    would quietly drop collateral, debt or a position's terms from the book. A leg of an asset
    the scenario does not have (``collateral.SOL``) may be skipped: it names what is dropped."""
    known = set(assets)
    reads = set(NUMBERS[kind]) | set(TEXTS[kind]) | ({"account"} if kind in HAS_ACCOUNT else set())
    out = []
    for name in names:
        prefix, dot, asset = name.partition(".")
        if name in reads or (dot and prefix in LEGS[kind] and asset in known):
            out.append(name)
    return out


def _read_parquet(p: Path) -> dict[str, Any]:
    try:
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        raise InputError.single(
            "reading Parquet needs pyarrow",
            Location(str(p)),
            hint="pip install 'contagion-cli[parquet]', or give the book as CSV",
        ) from None
    table = read_parquet(p)  # a regular file, its bytes and decoded columns capped
    _unique_columns(table.column_names, p, None)
    return {name: table.column(name) for name in table.column_names}


def _read_csv(p: Path, ignore: Sequence[str] = ()) -> dict[str, Any]:
    try:
        import pyarrow as pa
        import pyarrow.csv as pacsv
    except ImportError:
        return _read_csv_numpy(p, ignore)
    names = [c.strip() for c in _header(p).split(",")]
    _unique_columns(names, p, 1)
    try:
        # text columns stay text; every other column must parse as a number
        # known number columns are typed up front so a stray word is an error, not a string
        # column; unknown columns are left to Arrow and reported by name afterwards
        numeric = {c for cols in NUMBERS.values() for c in cols}
        types = {c: pa.string() for c in names if c in TEXT_COLUMNS}
        types |= {c: pa.float64() for c in names if c in numeric or "." in c}
        types |= {c: pa.string() for c in names if c in ignore}  # skipped: read as it is
        # only an empty cell is "no value": Arrow's default would also read 'nan' and 'NA' as
        # empty, and a NaN written into a book is an error the user should hear about
        options = pacsv.ConvertOptions(
            column_types=types, null_values=[""], strings_can_be_null=False
        )
        # read through a capped stream (a .gz decompressed here), never by path: pyarrow would
        # open a FIFO or a gzip bomb without a limit
        table = read_csv(p, options)
    except pa.ArrowInvalid as exc:
        raise _arrow_error(p, names, str(exc)) from None
    except (OSError, EOFError, zlib.error) as exc:
        raise book_error(exc, p) or InputError.single(
            f"cannot read the CSV file: {quote(str(exc))}", Location(str(p))
        ) from None
    return {name: table.column(name) for name in table.column_names}


def _unique_columns(names: list[str], p: Path, line: int | None) -> None:
    """A column named twice has no one meaning (and pyarrow cannot pick one)."""
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise InputError.single(
                f"column {quote(name)} appears twice", Location(str(p), line), hint="rename one"
            )
        seen.add(name)


def _header(p: Path) -> str:
    """The first line of a CSV book (capped: a file of one endless line is refused)."""
    try:
        with open_book(p) as stream:
            line = stream.readline(MAX_HEADER_BYTES + 1)
    except (OSError, EOFError, zlib.error) as exc:
        raise book_error(exc, p) or InputError.single(
            f"cannot read the CSV file: {quote(str(exc))}", Location(str(p))
        ) from None
    if len(line) > MAX_HEADER_BYTES:
        raise InputError.single(
            f"the header line is longer than {MAX_HEADER_BYTES // 2**20} MiB",
            Location(str(p), 1),
            hint="line 1 names the columns: account, collateral.<ASSET>, ...",
        )
    return _decode_line(line, p, 1).strip()


def _decode_line(line: bytes, p: Path, number: int) -> str:
    try:
        return line.decode("utf-8-sig" if number == 1 else "utf-8")
    except UnicodeDecodeError as exc:
        raise InputError.single(
            f"not UTF-8 text (byte {exc.start + 1} of the line)",
            Location(str(p), number),
            hint="save the file as UTF-8",
        ) from None


def _lines(p: Path) -> Iterator[tuple[int, str]]:
    """(line number, text) of a CSV book, each line decoded strictly (error path only)."""
    with open_book(p) as stream:
        for number, line in enumerate(stream, start=1):
            yield number, _decode_line(line, p, number)


def _arrow_error(p: Path, names: list[str], text: str) -> InputError:
    """Arrow names the column and the value but not the line; find the line (error path only).
    File content in Arrow's message (a whole row) is quoted, not echoed."""
    first = text.strip().splitlines()[0] if text.strip() else text
    try:
        if "invalid UTF8" in first:
            for _ in _lines(p):  # raises at the first line that is not UTF-8
                pass
        if "straddl" in first:  # no line end within pyarrow's block
            return InputError.single(
                "a line is longer than 1 MiB (a book has one position a line)",
                Location(str(p)),
                hint="is this a CSV file?",
            )
        shape = re.search(r"Expected (\d+) columns, got (\d+): (.*)", first, re.S)
        if shape:
            expected, got = int(shape.group(1)), int(shape.group(2))
            line = None
            for number, row in enumerate(_rows(p), start=1):
                if number > 1 and len(row) == got:
                    line = number
                    break
            return InputError.single(
                f"expected {expected} columns, found {got}: {quote(shape.group(3))}",
                Location(str(p), line),
                hint="every line needs one cell per column of the header",
            )
        found = re.search(r"column #(\d+).*invalid value '(.*)'", first, re.S)
        if not found:
            return InputError.single(
                f"not a valid CSV positions file: {quote(first, 200)}", Location(str(p))
            )
        index, value = int(found.group(1)), found.group(2)
        name = names[index] if index < len(names) else f"#{index + 1}"
        line = None
        for number, row in enumerate(_rows(p), start=1):
            if number > 1 and index < len(row) and row[index].strip() == value.strip():
                line = number
                break
    except (OSError, EOFError, zlib.error) as exc:
        return book_error(exc, p) or InputError.single(
            f"cannot read the CSV file: {quote(str(exc))}", Location(str(p))
        )
    except InputError as exc:
        return exc
    return InputError.single(
        f"column {quote(name)}: expected a number, found {quote(value)}",
        Location(str(p), line),
        hint=number_hint(value),
    )


#: ``1,000,000``, ``1 000 000``, ``1'000``, ``1_000.5``: digits grouped in threes.
_SEPARATORS = ",' _\u00a0\u202f"
_GROUPED = re.compile(r"^[+-]?\d{1,3}([" + _SEPARATORS + r"]\d{3})+(\.\d*)?$")
#: ``1,5``: a decimal comma.
_DECIMAL_COMMA = re.compile(r"^[+-]?\d*,\d+$")


def number_hint(value: str) -> str | None:
    """What to do about a number written for people rather than parsers (None: no idea)."""
    text = value.strip()
    plain = re.sub("[" + _SEPARATORS + "]", "", text)
    if _GROUPED.match(text):
        also = (
            f" (or {text.replace(',', '.')} if ',' is the decimal point)"
            if (_DECIMAL_COMMA.match(text))
            else ""
        )
        return f"write numbers without thousands separators: {plain}{also}"
    if _DECIMAL_COMMA.match(text):
        return f"use '.' as the decimal point: {text.replace(',', '.')}"
    return None


def _check_csv_layout(p: Path) -> None:
    """Catch, from the header and the first row, a file that is not comma-separated or whose
    numbers carry thousands separators, before the parser reports it in its own words."""
    try:
        # through the capped, regular-file-only reader (a .gz decompressed), never p.open
        rows = list(itertools.islice(_rows(p), 2))
    except (OSError, InputError, csv.Error):
        return  # the reader says what is wrong with the file
    if not rows:
        return
    header = rows[0]
    if len(header) == 1:
        line = header[0]
        for sep, what in ((";", "';'"), ("\t", "tabs"), ("|", "'|'")):
            if sep in line:
                raise InputError.single(
                    f"the header is separated by {what}, not ','",
                    Location(str(p), 1),
                    hint="contagion reads comma-separated CSV: save the file with ',' between "
                    "fields and '.' as the decimal point (a spreadsheet's 'CSV, comma-separated')",
                )
    if len(rows) > 1 and len(rows[1]) > len(header):
        extra = len(rows[1]) - len(header)
        groups = [c for c in rows[1][1:] if re.fullmatch(r"\d{3}(\.\d*)?", c.strip())]
        hint = (
            "a number written with thousands separators (100,000) splits into two fields: "
            "write it without them (100000)"
            if groups
            else "quote a field that contains ',' (\"a,b\")"
        )
        raise InputError.single(
            f"line 2 has {len(rows[1])} fields, the header {len(header)} "
            f"({extra} more than the columns)",
            Location(str(p), 2),
            hint=hint,
        )


def _rows(p: Path) -> Iterator[list[str]]:
    return csv.reader(text for _, text in _lines(p))


def _read_csv_numpy(p: Path, ignore: Sequence[str] = ()) -> dict[str, Any]:
    """CSV without pyarrow: numpy's C parser, one typed column at a time."""
    names = [c.strip() for c in _header(p).split(",")]
    _unique_columns(names, p, 1)
    lines = [text for _, text in _lines(p)]  # capped, and a bad byte names its line
    if len(lines) - 1 > MAX_POSITIONS:
        raise InputError.single(
            f"the positions file has {len(lines) - 1:,} rows; at most {MAX_POSITIONS:,}",
            Location(str(p)),
        )
    out: dict[str, Any] = {}
    for i, name in enumerate(names):
        if name in ignore:
            continue
        text = name in TEXT_COLUMNS
        try:
            col = np.loadtxt(
                lines, delimiter=",", skiprows=1, usecols=[i], dtype=str if text else float, ndmin=1
            )
        except ValueError as exc:
            found = re.search(r"'([^']*)'", str(exc))
            hint = (number_hint(found.group(1)) if found else None) or "expected a number"
            raise InputError.single(
                f"column {quote(name)}: {quote(str(exc), 200)}", Location(str(p)), hint=hint
            ) from None
        out[name] = np.char.strip(col, '"') if text else col
    return out


def _to_numpy(col: Any, text: bool) -> np.ndarray:
    if isinstance(col, np.ndarray):
        return col
    if text:
        return np.asarray(col.to_numpy(zero_copy_only=False)).astype(str)
    return np.asarray(col.to_numpy(zero_copy_only=False), dtype=float)


def _book_from_columns(
    source: str, kind: str, columns: dict[str, Any], assets: set[str], first_line: int
) -> PositionBook:
    problems: list[Problem] = []
    n = len(next(iter(columns.values()))) if columns else 0
    row_word = "line" if first_line else "row"

    def where(row: int | None = None) -> Location:
        if row is None:
            return Location(source)
        return Location(source, row + (first_line or 1))

    allowed = {"account"} if kind in HAS_ACCOUNT else set()
    allowed |= set(NUMBERS[kind]) | set(TEXTS[kind])
    legs: dict[str, dict[str, np.ndarray]] = {prefix: {} for prefix in LEGS[kind]}
    unknown = [
        name
        for name in columns
        if name not in allowed
        and not (name.partition(".")[1] and name.partition(".")[0] in LEGS[kind])
    ]
    skip = (
        f"to skip {'them' if len(unknown) > 1 else 'it'}, add "
        f"ignore_columns: [{', '.join(unknown)}] to the protocol"
    )
    for name in columns:
        prefix, dot, asset = name.partition(".")
        if dot and prefix in LEGS[kind]:
            if asset not in assets:
                hint = did_you_mean(asset, assets) or "known assets: " + ", ".join(sorted(assets))
                problems.append(
                    Problem(
                        f"column {quote(name)}: unknown asset {quote(asset)}", where(), hint=hint
                    )
                )
            continue
        if name not in allowed:
            expected = sorted(allowed) + [f"{p}.<ASSET>" for p in LEGS[kind]]
            problems.append(
                Problem(
                    f"unknown column {quote(name)} for a {kind} protocol",
                    where(),
                    hint=did_you_mean(name, expected)
                    or "expected: " + ", ".join(expected) + "; " + skip,
                )
            )
    for col in list(NUMBERS[kind]) + list(TEXTS[kind]):
        if col not in columns:
            problems.append(Problem(f"missing column {col!r}", where()))
    for prefix in LEGS[kind]:
        required = prefix in ("collateral", "holdings")
        if required and not any(c.startswith(prefix + ".") for c in columns):
            problems.append(
                Problem(f"no {prefix}.<ASSET> column", where(), hint=f"for example '{prefix}.ETH'")
            )
    if problems:
        raise InputError(problems)
    columns = _as_checked(columns, where)

    def check(name: str, values: np.ndarray, low: float, low_ok: bool, high: float) -> None:
        bad = ~np.isfinite(values)
        bad |= (values < low) if low_ok else (values <= low)
        bad |= values > high
        if bad.any():
            rows = np.flatnonzero(bad)
            r = int(rows[0])
            v = values[r]
            what = (
                "a finite number"
                if not math.isfinite(v)
                else f"a value {'>=' if low_ok else '>'} {low:g} and <= {high:g}"
            )
            more = f" ({len(rows) - 1} more rows like it)" if len(rows) > 1 else ""
            problems.append(
                Problem(
                    f"column {quote(name)}: expected {what}, found {float(v)!r}{more}", where(r)
                )
            )

    for prefix in LEGS[kind]:
        for name, col in columns.items():
            head, dot, asset = name.partition(".")
            if not dot or head != prefix:
                continue
            # an empty cell in a leg column means "none of this asset"; a written NaN is an error
            values = _to_numpy(_fill_nulls(col), False)
            check(name, values, 0.0, True, MAX_AMOUNT)
            legs[prefix][asset] = values
    numbers = {}
    for name, (low, low_ok, high) in NUMBERS[kind].items():
        values = _to_numpy(columns[name], False)
        check(name, values, low, low_ok, high)
        numbers[name] = values
    texts = {}
    for name in TEXTS[kind]:
        values = _to_numpy(columns[name], True)
        texts[name] = values
    if kind == "perp":
        zero = numbers["size"] == 0
        if zero.any():
            problems.append(Problem("column 'size': must not be 0", where(int(np.argmax(zero)))))
        _check_assets(texts["asset"], assets, "asset", where, problems)
    if kind == "options":
        _check_assets(texts["asset"], assets, "asset", where, problems)
        kinds = texts["kind"]
        bad = (kinds != "put") & (kinds != "call")
        if bad.any():
            r = int(np.argmax(bad))
            problems.append(
                Problem(
                    f"column 'kind': expected 'put' or 'call', found {quote(kinds[r])}", where(r)
                )
            )
    if kind in ("lending", "cdp", "leveraged"):
        prefix = "holdings" if kind == "leveraged" else "collateral"
        held = np.zeros(n, dtype=bool)
        for values in legs[prefix].values():
            held |= values > 0
        if not held.all():
            r = int(np.argmax(~held))
            problems.append(
                Problem(
                    f"this position holds no {prefix}",
                    where(r),
                    hint=f"every {row_word} needs a positive {prefix}.<ASSET>",
                )
            )
    if problems:
        raise InputError(problems[:25])
    accounts: list[Any] = []
    if kind in HAS_ACCOUNT:
        accounts = [columns.get("account")]
    return PositionBook(kind, n, accounts, legs, numbers, texts, [(source, 0, n)])


def _is_text_type(t: Any) -> bool:
    import pyarrow as pa

    return bool(
        pa.types.is_string(t)
        or pa.types.is_large_string(t)
        or getattr(pa.types, "is_string_view", lambda _: False)(t)
    )


def _as_checked(columns: dict[str, Any], where: Any) -> dict[str, Any]:
    """Arrow columns as the types the checks read: text columns as ``string``, the others as
    ``float64``, whatever types the writer chose (``large_string``, ``string_view`` and
    dictionaries from polars or pandas, integer ids, integers and decimals for amounts).
    numpy columns (CSV without pyarrow) are already typed."""
    out: dict[str, Any] = {}
    for name, col in columns.items():
        if isinstance(col, np.ndarray):
            out[name] = col
            continue
        import pyarrow as pa

        t = col.type
        if pa.types.is_dictionary(t):
            col, t = col.cast(t.value_type), t.value_type
        text = name in TEXT_COLUMNS
        if t == (pa.string() if text else pa.float64()):
            # already the type: a cast would still import pyarrow.compute (~40 ms)
            out[name] = col
        elif pa.types.is_null(t):
            out[name] = col.cast(pa.string() if text else pa.float64())
        elif text and (_is_text_type(t) or pa.types.is_integer(t)):
            out[name] = col.cast(pa.string())
        elif not text and (
            pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)
        ):
            out[name] = col.cast(pa.float64(), safe=False)  # a 20-digit integer rounds
        elif not text and _is_text_type(t):
            out[name] = _numbers_from_text(name, col, where)
        else:
            expected = "text or integer ids" if text else "numbers"
            raise InputError.single(
                f"column {name!r}: expected {expected}, found Arrow type {t}",
                where(),
                hint="write it as "
                + ("a string column" if text else "a float, integer or decimal column"),
            )
    return out


def _numbers_from_text(name: str, col: Any, where: Any) -> Any:
    """A number column a writer stored as text ("1.5"): cast, or name the first row that is not
    a number."""
    import pyarrow as pa

    try:
        return col.cast(pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    for row, value in enumerate(col.to_pylist()):
        if value is None:
            continue
        try:
            float(value)
        except ValueError:
            raise InputError.single(
                f"column {name!r}: expected a number, found {value!r}",
                where(row),
                hint=number_hint(value),
            ) from None
    return col.cast(pa.float64(), safe=False)


def _fill_nulls(col: Any) -> Any:
    if isinstance(col, np.ndarray) or col.null_count == 0:
        return col
    import pyarrow.compute as pc

    return pc.fill_null(col, 0.0)


def _check_assets(
    values: np.ndarray, assets: set[str], column: str, where: Any, problems: list[Problem]
) -> None:
    unknown = sorted(set(np.unique(values).tolist()) - assets)
    if unknown:
        r = int(np.argmax(np.isin(values, unknown)))
        problems.append(
            Problem(
                f"column {column!r}: unknown asset {quote(unknown[0])}",
                where(r),
                hint=did_you_mean(unknown[0], assets) or "known: " + ", ".join(sorted(assets)),
            )
        )


# --- accounts: one entity per account name across every protocol -------------------------------


class EntityNames(Sequence[str]):
    """Entity names by index, without a Python string per row when pyarrow holds them."""

    def __init__(self, names: Any) -> None:
        self._names = names

    def __len__(self) -> int:
        return len(self._names)

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        value = self._names[int(i)]
        return value.as_py() if hasattr(value, "as_py") else str(value)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return (self[i] for i in range(len(self)))


#: Up to this many positions, when no book holds Arrow arrays (inline YAML positions), the
#: names are hashed in Python: importing pyarrow.compute costs ~70 ms, a dict ~0.3 µs a name.
PYTHON_ENTITIES_MAX = 50_000

Entities = tuple[list[np.ndarray], EntityNames]
#: The books of the last call that hashed names with pyarrow, and what it found. Loading a
#: scenario checks the accounts of each lending book with a positions file, and compiling it
#: names the entities of all its books: for a scenario of one such protocol, the same names
#: twice (~0.15-0.25 s a million). The ids are read-only: a later call may return them again.
_last: tuple[list[tuple[str, int, list[Any]]], Entities] | None = None


def assign_entities(books: Sequence[tuple[str, PositionBook]]) -> Entities:
    """An entity index for every position of every book (an account seen in several protocols
    is one entity; positions without an account are ``<protocol>#<row>``), in order of first
    appearance."""
    global _last
    if _plain_and_small(books):
        return _assign_entities_python(books)
    key = [(name, book.n, list(book.accounts)) for name, book in books]
    if _last is not None and _same_books(_last[0], key):
        return _last[1]
    _last = None  # not kept through the hashing below: its peak is the peak of a large book
    found = _assign_entities_arrow(books)
    for ids in found[0]:
        ids.flags.writeable = False
    _last = (key, found)
    return found


def _same_books(
    old: list[tuple[str, int, list[Any]]], new: list[tuple[str, int, list[Any]]]
) -> bool:
    """Whether two calls name the same accounts: names, sizes, and each part the same array
    (an Arrow or numpy column: the same object) or an equal list (inline accounts)."""
    if len(old) != len(new):
        return False
    for (name_a, n_a, parts_a), (name_b, n_b, parts_b) in zip(old, new, strict=True):
        if name_a != name_b or n_a != n_b or len(parts_a) != len(parts_b):
            return False
        for a, b in zip(parts_a, parts_b, strict=True):
            same = a == b if isinstance(a, list) and isinstance(b, list) else a is b
            if not same:
                return False
    return True


def forget_entities() -> None:
    """Drop the cache of :func:`assign_entities`: its key holds the books' account columns,
    so once a scenario is compiled (the last call that could reuse it) it would keep them,
    hundreds of MB on a large book, alive for the whole run."""
    global _last
    _last = None


def release_arrow_memory() -> None:
    """Give the memory Arrow's pool has freed back to the system. Arrow's default pool
    (mimalloc, jemalloc) keeps freed pages for reuse; after reading and hashing a book of 10^7
    positions that is over a GB which numpy, whose arrays come from the system allocator,
    cannot reuse (the peak of ``contagion run``, docs/performance.md). Without pyarrow
    imported there is nothing to release (and nothing is imported for it)."""
    pa = sys.modules.get("pyarrow")
    if pa is not None:
        pa.default_memory_pool().release_unused()


def _assign_entities_arrow(books: Sequence[tuple[str, PositionBook]]) -> Entities:
    try:
        import pyarrow as pa
    except ImportError:
        return _assign_entities_python(books)
    chunks = []
    for pname, book in books:
        row = 0
        for part in book.accounts:
            n = _part_length(part, book, row)
            if part is None:
                chunk = _default_names(pname, row, n)
            else:
                values = part if not isinstance(part, list) else pa.array(part, pa.string())
                if isinstance(values, np.ndarray):
                    values = pa.array(values.astype(str), pa.string())
                if isinstance(values, pa.ChunkedArray):
                    if values.type == pa.string() and not values.null_count:
                        # a file's batches as they are: hashed below without a copy
                        chunks.extend(values.chunks)
                        row += n
                        continue
                    values = values.combine_chunks()
                if values.type != pa.string():  # large_string, dictionary, ids: one type
                    if pa.types.is_dictionary(values.type):
                        values = values.cast(values.type.value_type)
                    values = values.cast(pa.string())
                if values.null_count:
                    import pyarrow.compute as pc

                    defaults = _default_names(pname, row, n)
                    values = pc.if_else(pc.is_null(values), defaults, values)
                chunk = values
            chunks.append(chunk)
            row += n
    if not chunks:
        return [np.zeros(0, np.int64) for _ in books], EntityNames([])
    # numpy's encoding first (no pyarrow.compute to import, a third of Arrow's time); Arrow's
    # when that one cannot be sure (load/names.py)
    found = encode_names(chunks)
    ids, names = found if found is not None else _encode(pa.chunked_array(chunks, pa.string()))
    del chunks, found
    release_arrow_memory()  # the hash table and any copies of the names
    out, start = [], 0
    for _, book in books:
        out.append(ids[start : start + book.n])
        start += book.n
    return out, EntityNames(names)


def _default_names(protocol: str, row: int, n: int) -> Any:
    """``<protocol>#<row>`` for ``n`` positions without an account, from row ``row`` on."""
    import pyarrow as pa
    import pyarrow.compute as pc

    numbers = pc.cast(pa.array(np.arange(row, row + n)), pa.string())
    return pc.binary_join_element_wise(f"{protocol}#", numbers, "")


def _encode(names: Any) -> tuple[np.ndarray, Any]:
    """Dictionary-encode a chunked string column: (int64 index of every row, the distinct
    names in order of first appearance). Arrow hashes the chunks with one table and gives
    every chunk the final dictionary, so the names are never joined into one copy (10^7 names
    are ~150 MB); should a chunk carry a shorter dictionary (the memo table as it was, a
    prefix of the final one), the column is combined and encoded whole."""
    encoded = names.dictionary_encode()
    if encoded.num_chunks == 0:
        return np.zeros(0, np.int64), names.combine_chunks()
    dictionary = encoded.chunk(encoded.num_chunks - 1).dictionary
    if any(len(c.dictionary) != len(dictionary) for c in encoded.chunks):
        whole = names.combine_chunks().dictionary_encode()
        return whole.indices.to_numpy(zero_copy_only=False).astype(np.int64), whole.dictionary
    ids = np.empty(len(names), np.int64)
    start = 0
    for chunk in encoded.chunks:
        ids[start : start + len(chunk)] = chunk.indices.to_numpy(zero_copy_only=False)
        start += len(chunk)
    return ids, dictionary


def check_unique_accounts(protocol: str, book: PositionBook, where: Location) -> None:
    """A lending account has one position per market: refuse one that appears twice (in the
    file, or once inline and once in the file)."""
    (ids,), names = assign_entities([(protocol, book)])
    if len(names) < book.n:  # fewer entities than positions: an account repeats
        counts = np.bincount(ids, minlength=len(names))
        dup = int(np.flatnonzero(counts > 1)[0])  # the first to appear of those repeated
        rows = np.flatnonzero(ids == dup)
        raise InputError.single(
            f"account {quote(names[int(dup)])} appears twice in protocol {protocol!r} "
            f"(positions {rows[0]} and {rows[1]}, counting from 0)",
            where,
            hint="a lending account has one position per market; merge them",
        )


def _plain_and_small(books: Sequence[tuple[str, PositionBook]]) -> bool:
    """Whether every account part is a Python list (or absent) and the books are small: the
    Python path then gives the names and the order pyarrow's dictionary encoding gives."""
    plain = all(part is None or isinstance(part, list) for _, b in books for part in b.accounts)
    return plain and sum(b.n for _, b in books) <= PYTHON_ENTITIES_MAX


def _part_length(part: Any, book: PositionBook, row: int) -> int:
    if part is None:
        # an account-less file part covers the rest of the book
        return book.n - row
    return len(part)


def _assign_entities_python(
    books: Sequence[tuple[str, PositionBook]],
) -> tuple[list[np.ndarray], Any]:
    index: dict[str, int] = {}
    out = []
    for pname, book in books:
        ids = np.empty(book.n, np.int64)
        row = 0
        for part in book.accounts:
            n = _part_length(part, book, row)
            for k in range(n):
                name = None if part is None else part[k]
                if name is None or (isinstance(name, float) and math.isnan(name)):
                    name = f"{pname}#{row + k}"
                ids[row + k] = index.setdefault(str(name), len(index))
            row += n
        out.append(ids)
    return out, EntityNames(list(index))
