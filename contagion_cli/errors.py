"""Exit codes and the error type that carries a user's mistake to the command line.

Every error a user can cause is a :class:`InputError`: a list of :class:`Problem`, each with
where it is (file, line, column, field path) and what was expected. The CLI is the one place
that turns it into text on stderr and exit code 2; nothing else prints or exits.
"""

from __future__ import annotations

import difflib
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
        where = f"{self.location}: " if self.location is not None else ""
        field_path = f"{format_path(self.path)}: " if self.path else ""
        text = f"error: {where}{field_path}{self.message}"
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text


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
            out += f".{part}" if out else str(part)
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
