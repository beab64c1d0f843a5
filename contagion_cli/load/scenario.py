"""From a path and command-line overrides to a validated scenario (load -> override -> validate)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..errors import InputError
from ..schema.models import Scenario
from .overrides import apply_set, apply_shock_override
from .validation import validate_document
from .yaml import Document, load_file


def load_scenario(
    path: str | Path,
    sets: Sequence[str] = (),
    shocks: Sequence[str] = (),
    liquidity: Sequence[str] = (),
) -> Scenario:
    """Load, apply ``--set`` / ``--shock`` / ``--liquidity``, validate. Raises InputError."""
    doc = load_file(path)
    for text in sets:
        apply_set(doc, text)
    apply_shock_override(doc, shocks, liquidity)
    resolve_books(doc, Path(path).parent)
    return validate_document(doc)


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
