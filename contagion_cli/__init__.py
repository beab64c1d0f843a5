"""contagion: a stress tester for DeFi liquidation cascades."""

import time as _time

__version__ = "0.1.0"

#: When the package was imported: ``--timings`` counts a command's start-up from here (the
#: interpreter's own ~30 ms come before).
IMPORTED = _time.perf_counter()
