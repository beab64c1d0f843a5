"""The kernel's section banners mirror the reference's (issue 13): a reader who finds a rule in
one file finds it under the same heading in the other.

A banner is a comment line ``# --- <title> ---...``; the sections compared are one per part of
the model (markets and one per protocol type), in the order both files define them.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
KERNEL = ROOT / "contagion_cli" / "kernel.py"
REFERENCE = ROOT / "tests" / "reference.py"

SECTIONS = ("markets", "lending", "cdp", "perp", "leveraged", "options")

_BANNER = re.compile(r"^\s*# --- (?P<title>(?P<section>[a-z]+)\b.*?) -+$")


def banners(text: str) -> list[str]:
    """The titles of the section banners of ``SECTIONS`` in ``text``, in order."""
    found = []
    for line in text.splitlines():
        m = _BANNER.match(line)
        if m and m.group("section") in SECTIONS:
            found.append(m.group("title"))
    return found


def test_banners_are_found_in_a_snippet() -> None:
    text = "# --- lending (x) -----\n    # --- cdp ---\n# --- round: settle ---\n# --- markets"
    assert banners(text) == ["lending (x)", "cdp"]  # not a round comment, not an open rule


def test_kernel_sections_mirror_the_reference_banners() -> None:
    kernel = banners(KERNEL.read_text(encoding="utf-8"))
    reference = banners(REFERENCE.read_text(encoding="utf-8"))
    assert [t.split()[0] for t in reference] == list(SECTIONS)
    assert kernel == reference


def test_a_diverging_banner_is_caught() -> None:
    reference = REFERENCE.read_text(encoding="utf-8")
    edited = reference.replace("# --- cdp (", "# --- cdp vaults (", 1)
    assert edited != reference
    assert banners(edited) != banners(KERNEL.read_text(encoding="utf-8"))
