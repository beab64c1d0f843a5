"""glibc's malloc thresholds (contagion_cli/heap.py), set by the console script and by the reading
of a positions file: blocks of 4 MiB and more get a mapping of their own (returned when freed),
smaller ones come from the heap, and what a run frees there stays for the next run. Each case
runs in a fresh interpreter: the thresholds are the process's, and glibc moves its own as a
process frees memory."""

from __future__ import annotations

import ctypes
import json
import os
import subprocess
import sys

import pytest

from contagion_cli import heap

#: The thresholds are glibc's (other C libraries have none); the probe reads its mallinfo2
#: (glibc 2.33 and later).
glibc = pytest.mark.skipif(
    not heap._glibc() or not hasattr(ctypes.CDLL(None), "mallinfo2"),
    reason="the probe reads glibc's mallinfo2 (glibc 2.33 and later)",
)

#: Prints, as JSON: where blocks of 2 MiB and 8 MiB came from (bytes glibc mapped for them
#: apart from the heap), and the page faults of a second 3 MiB block after a first was freed.
PROBE = """
import ctypes, json, resource, sys
import numpy as np

class Mallinfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]

libc = ctypes.CDLL(None)
libc.mallinfo2.restype = Mallinfo2

def mapped_for(nbytes):
    before = libc.mallinfo2().hblkhd
    block = np.ones(nbytes // 8)
    return libc.mallinfo2().hblkhd - before

def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt

SETUP

small, big = mapped_for(2 << 20), mapped_for(8 << 20)
block = np.ones(3 << 17)  # 3 MiB, written
del block
before = faults()
block = np.ones(3 << 17)  # again: fresh pages (a fault each) or the ones just freed
again = faults() - before
print(json.dumps({"small": small, "big": big, "again": again}))
"""


def probe(setup: str) -> dict[str, int]:
    code = PROBE.replace("SETUP", setup)
    env = {k: v for k, v in os.environ.items() if k != "GLIBC_TUNABLES"}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@glibc
def test_blocks_under_4_mib_come_from_the_heap_and_are_kept_for_the_next_run():
    got = probe("from contagion_cli import heap; assert heap.set_thresholds()")
    assert got["small"] == 0  # from the heap
    assert got["big"] >= 8 << 20  # 4 MiB and more: mapped apart, and unmapped when freed
    assert got["again"] < 64  # the freed 3 MiB served the next block: no fresh pages
    # for contrast, glibc's defaults: a fresh process maps a 2 MiB block apart
    assert probe("pass")["small"] >= 2 << 20
    # and the mmap threshold alone (what reading a positions file used to set) leaves the trim
    # threshold at 128 KiB: the freed 3 MiB went back, the next block is all fresh pages
    alone = probe("libc.mallopt.argtypes = (ctypes.c_int, ctypes.c_int)\nlibc.mallopt(-3, 4 << 20)")
    assert alone["small"] == 0 and alone["again"] > 500


@glibc
def test_the_console_script_and_a_positions_file_set_them():
    script = probe("from contagion_cli.cli import startup; startup.console_script()")
    assert script["small"] == 0 and script["again"] < 64
    reader = probe(
        "from contagion_cli.load import books\n"
        "try:\n    books.read_book('/nonexistent.csv', 'lending', (), None)\n"
        "except Exception:\n    pass"
    )
    assert reader["small"] == 0 and reader["again"] < 64


def test_elsewhere_than_glibc_nothing_is_pinned(monkeypatch):
    monkeypatch.setattr(heap, "_set", None)
    monkeypatch.setattr(heap.os, "confstr", lambda name: None)  # musl answers no version
    assert heap.set_thresholds() is False
    assert heap.set_thresholds() is False  # decided once

    def no_such_name(name):
        raise ValueError("unrecognized configuration name")

    monkeypatch.setattr(heap, "_set", None)
    monkeypatch.setattr(heap.os, "confstr", no_such_name)
    assert heap.set_thresholds() is False
