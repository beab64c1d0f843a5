"""From a path and command-line overrides to a validated scenario with its position books
(load -> override -> validate -> read books).

Every file is read under a :class:`~.files.Sandbox`: positions files only from the scenario
file's folder tree unless ``--allow-outside`` admits more (docs/security.md)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..errors import InputError, Location, Problem, quote, with_article
from ..schema.models import Scenario
from ..timings import phase
from .books import (
    accounts_of,
    book_from_positions,
    check_unique_accounts,
    read_book,
    release_arrow_memory,
    unignorable,
)
from .files import MAX_POSITIONS, Sandbox
from .overrides import apply_set, apply_shock_override
from .validation import validate_document
from .yaml import Document, load_file


def load_scenario(
    path: str | Path,
    sets: Sequence[str] = (),
    shocks: Sequence[str] = (),
    liquidity: Sequence[str] = (),
    sandbox: Sandbox | None = None,
) -> Scenario:
    """Load, apply ``--set`` / ``--shock`` / ``--liquidity``, validate, read the positions
    files (within ``sandbox``). Raises InputError."""
    with phase("load"):
        doc = load_file(path, sandbox)
    return scenario_of(doc, path, sets, shocks, liquidity, sandbox)


def scenario_of(
    doc: Document,
    path: str | Path,
    sets: Sequence[str] = (),
    shocks: Sequence[str] = (),
    liquidity: Sequence[str] = (),
    sandbox: Sandbox | None = None,
) -> Scenario:
    """The scenario file ``path``, already loaded as ``doc``: overrides applied, validated,
    its positions files read."""
    with phase("load"):
        for text in sets:
            apply_set(doc, text)
        apply_shock_override(doc, shocks, liquidity)
    return validate_with_books(doc, Path(path).parent, sandbox)


def validate_with_books(doc: Document, base: Path, sandbox: Sandbox | None = None) -> Scenario:
    """Validate a loaded (and overridden) document, then read every ``positions_file`` named
    in it (relative to ``base``, the scenario file's folder, and inside ``sandbox``). A book's
    problems are input errors like the file's own, so ``contagion validate`` sees them too."""
    with phase("validate"):
        resolve_books(doc, base, sandbox or Sandbox())
        scenario = validate_document(doc)
    problems = []
    total = sum(len(proto.positions) for proto in scenario.protocols.values())
    for name, proto in scenario.protocols.items():
        if proto.positions_file is None:
            continue
        where = Location(proto.positions_file)
        read = unignorable(proto.type, proto.ignore_columns, scenario.assets)
        if read:
            path = ("protocols", name, "ignore_columns")
            problems.append(
                Problem(
                    f"{read[0]!r} is a column {with_article(proto.type)} protocol reads",
                    doc.locate(path),
                    path,
                    hint="skipping it would drop those figures from the book; remove it from "
                    "ignore_columns",
                )
            )
            continue
        try:
            with phase("load"):
                book = read_book(
                    proto.positions_file, proto.type, scenario.assets, where, proto.ignore_columns
                )
            if proto.type == "lending":
                with phase("validate"):
                    inline = book_from_positions(proto.type, proto.positions)
                    check_unique_accounts(name, accounts_of(inline, book), where)
        except InputError as exc:
            problems += exc.problems
            continue
        total += book.n
        if total > MAX_POSITIONS:  # checked book by book: memory stays near the cap
            raise InputError.single(
                f"the scenario has more than {MAX_POSITIONS:,} positions (inline and files)",
                doc.locate(("protocols", name, "positions_file")),
                ("protocols", name, "positions_file"),
                hint="a run peaks at about 165 bytes a position; the cap keeps a scenario from a "
                "pull request from exhausting memory (docs/security.md)",
            )
        scenario._books[name] = book
    if problems:
        raise InputError(problems)
    return scenario


def release_books(scenario: Scenario) -> None:
    """Forget the rows read from ``scenario``'s positions files and give their memory back,
    once it is compiled and nothing reads them (``contagion run``: the report reads the
    compiled arrays, which are copies)."""
    scenario.release_books()
    release_arrow_memory()


def resolve_books(doc: Document, base: Path, sandbox: Sandbox) -> None:
    """Make every ``positions_file`` absolute (relative to the scenario file, links resolved),
    refusing one outside ``sandbox`` and naming the line of the key when it is refused or
    missing."""
    protocols = doc.data.get("protocols")
    if not isinstance(protocols, dict):
        return
    for name, proto in protocols.items():
        if not isinstance(proto, dict) or not isinstance(proto.get("positions_file"), str):
            continue
        path = ("protocols", name, "positions_file")
        where = doc.locate(path)
        file = sandbox.positions_file(proto["positions_file"], base, where, path)
        if not file.exists():
            raise InputError.single(
                f"positions file not found: {quote(str(file))}",
                where,
                path,
                hint="the path is relative to the scenario file",
            )
        proto["positions_file"] = str(file)
