"""Account names to entities: the numpy encoding of ``load/names.py`` against Arrow's
``dictionary_encode`` (what the loader used before, and still falls back to), on the account
column of the peer cascade's book as the loader reads it from Parquet.

``python -m benchmarks.names [POSITIONS]`` prints the best of 5 runs of each, and the import
of ``pyarrow.compute`` that Arrow's way needs (in a fresh process); docs/performance.md quotes
it (10^6 positions by default)."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from contagion_cli.generate import write
from contagion_cli.load import books as loader
from contagion_cli.load.files import read_parquet
from contagion_cli.load.names import encode

from . import books
from .timing import best_of

#: Time allowed for each encoder's 5 runs (a budget that never ends them early).
RUNS_S = 60.0


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    positions = int(args[0]) if args else 10**6
    with tempfile.TemporaryDirectory(prefix="contagion-bench-names-") as tmp:
        write(books.peer_cascade(positions), Path(tmp), "parquet")
        column = read_parquet(Path(tmp) / "lender.parquet").column("account")
    numpy_timed, (ids, names) = best_of(lambda: encode(column.chunks), RUNS_S, 5)  # type: ignore[misc]
    arrow_timed, (arrow_ids, arrow_names) = best_of(lambda: loader._encode(column), RUNS_S, 5)
    numpy_s, arrow_s = numpy_timed.seconds, arrow_timed.seconds
    same = np.array_equal(ids, arrow_ids) and len(names) == len(arrow_names)
    code = "import time, pyarrow; t = time.perf_counter(); import pyarrow.compute; "
    code += "print(time.perf_counter() - t)"
    imports = min(
        float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True).stdout)
        for _ in range(3)
    )  # fmt: skip
    print(f"{positions:,} account names: numpy {numpy_s * 1e3:.1f} ms, Arrow's dictionary_encode "
          f"{arrow_s * 1e3:.1f} ms (+ {imports * 1e3:.0f} ms to import pyarrow.compute); "
          f"same entities: {'yes' if same else 'NO'}")  # fmt: skip


if __name__ == "__main__":
    main()
