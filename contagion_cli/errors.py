"""Exit codes and the error type that carries a user's mistake to the command line.

Every error a user can cause is a :class:`InputError`: a list of :class:`Problem`, each with
where it is (file, line, column, field path) and what was expected. The CLI is the one place
that turns it into text on stderr and exit code 2; nothing else prints or exits.

Scenario files come from pull requests (docs/security.md): a message that shows what a file
holds shows it through :func:`quote` (at most :data:`QUOTE_LIMIT` characters, one line, no
control characters), and :meth:`Problem.render` makes every part of a message one safe line.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes (README, "Exit codes"). Scripts and CI depend on them."""

    OK = 0
    GATE_FAILED = 1  # a gate, a `--fail-if`, or `--strict` (not converged) failed
    INVALID_INPUT = 2  # the scenario, a policy or an option is invalid
    INTERNAL = 3  # a bug: the message says so and gives the version
    CLUSTER_FAILED = 4  # --scheduler: the Dask cluster could not finish (workers lost, none)
    INTERRUPTED = 130
    TERMINATED = 143  # SIGTERM while worker processes ran (128 + 15, as a shell reports it)


#: Characters of a file's content a message shows at most (a 200 MB scalar is not echoed).
QUOTE_LIMIT = 80
#: Characters of one message at most, whatever it quotes (a last guard after :func:`quote`).
MESSAGE_LIMIT = 2000

#: Unicode categories shown as escapes: control (Cc), format (Cf: bidi overrides, zero
#: widths), surrogate (Cs), unassigned (Cn: noncharacters), line and paragraph separators.
_ESCAPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Cn", "Zl", "Zp"})
_SHORT_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
#: CI log commands: GitHub reads ``::cmd::`` at the start of a line (leading blanks ignored)
#: and ``##[cmd]`` anywhere in one, Azure Pipelines ``##vso[``. Doubled marks are broken up.
_CI_MARKS = re.compile(r"::|##")


def _escape_char(ch: str) -> str:
    if ch in _SHORT_ESCAPES:
        return _SHORT_ESCAPES[ch]
    code = ord(ch)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def _needs_escape(ch: str) -> bool:
    return unicodedata.category(ch) in _ESCAPED_CATEGORIES


def one_line(text: object) -> str:
    """Text from a file made safe for one line of a terminal or a CI log.

    Control and invisible characters (newlines, ESC, bidi overrides, surrogates) are shown as
    escapes (``\\n``, ``\\x1b``, ``\\u202e``), so the text can neither start a line of its
    own nor move the cursor; ``::`` and ``##`` become ``:\\:`` and ``#\\#``, so it cannot
    become a CI workflow command wherever the line is cut."""
    value = str(text)
    if not value.isascii() or not value.isprintable() or "::" in value or "##" in value:
        value = "".join(_escape_char(ch) if _needs_escape(ch) else ch for ch in value)
        value = _CI_MARKS.sub(lambda m: m.group()[0] + "\\" + m.group()[1], value)
    return value


def safe_lines(text: str) -> str:
    """Text of several lines (a message and its hint), each line made safe by
    :func:`one_line`: the last guard of everything written to stderr."""
    return "\n".join(one_line(line) for line in text.split("\n"))


def shorten(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, saying how many more there were."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit:,} more characters)"


def quote(value: object, limit: int = QUOTE_LIMIT) -> str:
    """A value from a file, quoted for a message: ``'abc'``, one safe line (:func:`one_line`),
    at most ``limit`` characters of it."""
    text = value if isinstance(value, str) else str(value)
    head = text[: limit + 1]  # escape only what is shown: the value may be 200 MB
    shown = one_line(head[:limit]).replace("'", "\\'")
    more = len(text) - limit
    return f"'{shown}'" + (f"... ({more:,} more characters)" if more > 0 else "")


class Terminated(BaseException):
    """SIGTERM arrived while worker processes ran a batch: like ``KeyboardInterrupt``, not an
    ``Exception``, so that no ``except Exception`` swallows it (exit code 143)."""


@dataclass(frozen=True)
class Location:
    """Where a value came from: a file position, or a command-line option."""

    source: str  # a file path, or "--set", "--shock", ...
    line: int | None = None  # 1-based
    column: int | None = None  # 1-based

    def __str__(self) -> str:
        if self.line is None:
            return self.source
        if self.column is None:
            return f"{self.source}:{self.line}"
        return f"{self.source}:{self.line}:{self.column}"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input."""

    message: str
    location: Location | None = None
    path: tuple[str | int, ...] = ()
    hint: str | None = None

    def render(self) -> str:
        """``error: FILE:LINE:COL: FIELD: MESSAGE`` and a hint line; each part one safe line
        (names and paths come from files), however the message was built."""
        where = f"{_safe(str(self.location), 1000)}: " if self.location is not None else ""
        field_path = f"{_safe(format_path(self.path), 1000)}: " if self.path else ""
        text = f"error: {where}{field_path}{_safe(self.message, MESSAGE_LIMIT)}"
        if self.hint:
            text += f"\n  hint: {_safe(self.hint, MESSAGE_LIMIT)}"
        return text


def _safe(text: str, limit: int) -> str:
    return one_line(shorten(text, limit))


@dataclass
class InputError(Exception):
    """The user's input is invalid (exit code 2). Holds every problem found, not just the first."""

    problems: list[Problem] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(self.render())

    @classmethod
    def single(
        cls,
        message: str,
        location: Location | None = None,
        path: Sequence[str | int] = (),
        hint: str | None = None,
    ) -> InputError:
        return cls([Problem(message, location, tuple(path), hint)])

    def render(self) -> str:
        return "\n".join(p.render() for p in self.problems)


def format_path(path: Iterable[str | int]) -> str:
    """`('protocols', 'aave', 'positions', 3, 'debt')` -> `protocols.aave.positions[3].debt`."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            text = shorten(str(part), QUOTE_LIMIT)  # a key is file content too
            out += f".{text}" if out else text
    return out


def did_you_mean(word: str, candidates: Iterable[str]) -> str | None:
    """A "did you mean" hint for a misspelt name, or None when nothing is close."""
    options = sorted({str(c) for c in candidates})
    close = difflib.get_close_matches(str(word), options, n=3, cutoff=0.6)
    if not close:
        lowered = {o.lower(): o for o in options}
        if str(word).lower() in lowered:
            close = [lowered[str(word).lower()]]
    if not close:
        return None
    return "did you mean " + " or ".join(repr(c) for c in close) + "?"


def known_names_hint(word: str, candidates: Iterable[str], what: str) -> str:
    """'did you mean ...?' when something is close, else the list of valid names."""
    options = sorted({str(c) for c in candidates})
    suggestion = did_you_mean(word, options)
    if suggestion:
        return suggestion
    if not options:
        return f"no {what} are defined"
    shown = ", ".join(options[:12]) + (", ..." if len(options) > 12 else "")
    return f"known {what}: {shown}"


def with_article(word: str) -> str:
    """``an options``, ``a lending``: the indefinite article messages put before a name."""
    return ("an " if word[:1].lower() in "aeiou" else "a ") + word
