"""The plain-Python reference of the model (``tests/reference.py``), imported by path: it lives
with the tests, which are not a package, and it never imports the kernel."""

from __future__ import annotations

import functools
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

REFERENCE = Path(__file__).resolve().parents[1] / "tests" / "reference.py"


@functools.cache
def load() -> ModuleType:
    """``tests/reference.py`` as a module (``simulate(scenario)`` runs the model)."""
    name = "contagion_tests_reference"
    spec = importlib.util.spec_from_file_location(name, REFERENCE)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load the reference from {REFERENCE}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # its dataclasses look their module up while being defined
    spec.loader.exec_module(module)
    return module
