import os
import sys
from pathlib import Path

from hypothesis import HealthCheck, settings

sys.path.insert(0, str(Path(__file__).parent))

# In-process tests exercise the numba kernel; tests of the `auto` and `python` executors say so
# explicitly, and the subprocess tests run the default.
os.environ.setdefault("CONTAGION_EXECUTOR", "jit")

# Kernels compile on first use; never let a compile count against a hypothesis deadline.
settings.register_profile(
    "default", deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=60
)
settings.register_profile(
    "nojit", deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=15
)
settings.load_profile("nojit" if os.environ.get("NUMBA_DISABLE_JIT") == "1" else "default")
