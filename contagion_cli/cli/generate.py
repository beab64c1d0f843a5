"""``contagion generate``: write a seeded synthetic scenario with its positions files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import InputError, Location


def register(app: typer.Typer) -> None:
    """Add the ``generate`` command to the CLI."""
    from .app import _choice, _errors, err_console

    @app.command()
    def generate(
        output: Annotated[
            Path, typer.Argument(help="Directory to write scenario.yaml and the books into.")
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
        format: Annotated[
            str, typer.Option("--format", "-f", help="Books as csv or parquet.")
        ] = "csv",
    ) -> None:
        """Write a seeded synthetic scenario: heavy-tailed positions, health factors above 1,
        accounts shared across protocols, markets sized against the book."""
        from enum import StrEnum

        from ..generate import Spec, generate, write

        class BookFormat(StrEnum):
            csv = "csv"
            parquet = "parquet"

        with _errors():
            fmt = _choice(format, BookFormat, "--format")
            spec = Spec(positions, protocols, assets, seed, shared, shock, market_share)
            problems = spec.check()
            if problems:
                raise InputError.single("; ".join(problems), Location("contagion generate"))
            if fmt is BookFormat.parquet:
                try:
                    import pyarrow  # noqa: F401
                except ImportError:
                    raise InputError.single(
                        "Parquet needs pyarrow",
                        Location("--format"),
                        hint="pip install 'contagion-cli[parquet]', or use --format csv",
                    ) from None
            written = write(generate(spec), output, fmt.value)
            for path in written:
                err_console.print(f"wrote {path}", markup=False)
