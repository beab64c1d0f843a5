"""``contagion generate``: write a seeded synthetic scenario with its positions files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import InputError, Location
from .guard import guarded
from .output import cannot_write, say
from .startup import begin


def generate(
    output: Annotated[
        Path,
        typer.Argument(help="Directory to write scenario.yaml and the books into.", metavar="DIR"),
    ],
    positions: Annotated[int, typer.Option("--positions", "-n", help="Positions.")] = 100_000,
    protocols: Annotated[int, typer.Option("--protocols", help="Lending protocols.")] = 3,
    assets: Annotated[int, typer.Option("--assets", help="Collateral assets.")] = 3,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
    shared: Annotated[
        float, typer.Option("--shared", help="Share of positions on a shared account.")
    ] = 0.2,
    shock: Annotated[
        float, typer.Option("--shock", help="Return of the first asset in the path.")
    ] = -0.30,
    market_share: Annotated[
        float,
        typer.Option("--market-share", help="Pool depth per side / collateral of the asset."),
    ] = 2.0,
    format: Annotated[str, typer.Option("--format", "-f", help="Books as csv or parquet.")] = "csv",
) -> None:
    """Write a seeded synthetic scenario: heavy-tailed positions, health factors above 1,
    accounts shared across protocols, markets sized against the book.

    Example: contagion generate /tmp/big --positions 1000000 --format parquet
    """
    from ..generate import Spec, generate, write

    begin()
    with guarded():
        if format not in ("csv", "parquet"):
            raise InputError.single(
                f"unknown value {format!r}",
                Location("--format"),
                hint="expected one of: csv, parquet",
            )
        spec = Spec(positions, protocols, assets, seed, shared, shock, market_share)
        problems = spec.check()
        if problems:
            raise InputError.single("; ".join(problems), Location("contagion generate"))
        if format == "parquet":
            from ..render.rows import require_pyarrow

            require_pyarrow("--format")
        try:
            written = write(generate(spec), output, format)
        except OSError as exc:
            raise cannot_write(exc, getattr(exc, "filename", None) or output) from None
        for path in written:
            say(f"wrote {path}")
