"""From a path and command-line overrides to a validated scenario with its position books
(load -> override -> validate -> read books)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..errors import InputError, Location, Problem, with_article
from ..schema.models import Scenario
from .books import book_from_positions, check_unique_accounts, merge, read_book, unignorable
from .overrides import apply_set, apply_shock_override
from .validation import validate_document
from .yaml import Document, load_file


def load_scenario(
    path: str | Path,
    sets: Sequence[str] = (),
    shocks: Sequence[str] = (),
    liquidity: Sequence[str] = (),
) -> Scenario:
    """Load, apply ``--set`` / ``--shock`` / ``--liquidity``, validate, read the positions
    files. Raises InputError."""
    doc = load_file(path)
    for text in sets:
        apply_set(doc, text)
    apply_shock_override(doc, shocks, liquidity)
    return validate_with_books(doc, Path(path).parent)


def validate_with_books(doc: Document, base: Path) -> Scenario:
    """Validate a loaded (and overridden) document, then read every ``positions_file`` named
    in it (relative to ``base``, the scenario file's folder). A book's problems are input
    errors like the file's own, so ``contagion validate`` sees them too."""
    resolve_books(doc, base)
    scenario = validate_document(doc)
    problems = []
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
            book = read_book(
                proto.positions_file, proto.type, scenario.assets, where, proto.ignore_columns
            )
            if proto.type == "lending":
                inline = book_from_positions(proto.type, proto.positions)
                check_unique_accounts(name, merge(inline, book), where)
        except InputError as exc:
            problems += exc.problems
            continue
        scenario._books[name] = book
    if problems:
        raise InputError(problems)
    return scenario


def resolve_books(doc: Document, base: Path) -> None:
    """Make every ``positions_file`` absolute (relative to the scenario file) and check that it
    exists, naming the line of the key when it does not."""
    protocols = doc.data.get("protocols")
    if not isinstance(protocols, dict):
        return
    for name, proto in protocols.items():
        if not isinstance(proto, dict) or not isinstance(proto.get("positions_file"), str):
            continue
        file = Path(proto["positions_file"]).expanduser()
        if not file.is_absolute():
            file = base / file
        if not file.is_file():
            raise InputError.single(
                f"positions file not found: {file}",
                doc.locate(("protocols", name, "positions_file")),
                ("protocols", name, "positions_file"),
                hint="the path is relative to the scenario file",
            )
        proto["positions_file"] = str(file.resolve())
