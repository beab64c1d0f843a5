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
# CI gates merges, so its examples are fixed (the same on every run: a red CI means a change
# broke something, not that the generator wandered somewhere new); local runs keep exploring.
settings.register_profile(
    "ci",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    max_examples=60,
    derandomize=True,
    database=None,
)
_profile = os.environ.get("CONTAGION_HYPOTHESIS_PROFILE")
if _profile is None:
    _profile = "nojit" if os.environ.get("NUMBA_DISABLE_JIT") == "1" else "default"
settings.load_profile(_profile)
