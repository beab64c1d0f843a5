"""glibc's malloc thresholds, set once: big blocks go back to the system, the heap stays.

glibc decides where a block comes from with two thresholds. A block at or above the *mmap
threshold* gets pages of its own from the kernel and gives them back when freed; free memory
at the top of the heap beyond the *trim threshold* is given back too. By default glibc moves
both as the process frees memory (the mmap threshold up to the size of the largest mapped block
freed, up to 32 MiB; the trim threshold to twice that), so what happens depended on what the
process had freed before. Both cost something here:

- **Memory.** Once the threshold had risen, the 27 MB columns of a book's parts (a protocol of
  3 x 10^6 positions) came from the heap, whose freed blocks stay resident: about 230 MB more
  at the peak of 10^7 positions. So blocks of 4 MiB and more always get their own mapping.
- **Speed.** Every run of the kernel allocates fresh copies of the book's arrays and frees
  them at the end. Where the heap's top was trimmed after each run, the next run got fresh
  pages from the kernel: zeroed, a page fault each. A process that had read its book from a
  file (which used to fix the mmap threshold alone, and with it the trim threshold at 128 KiB)
  took 150-250 faults and 0.4-0.6 ms of system time per run of 10^5 positions (5 ms of kernel),
  3,000-4,600 faults and 6-11 ms per run of 10^6 (55 ms). With a trim threshold of 64 MiB the
  freed arrays stay in the heap for the next run: 2-3 and about 170 faults a run
  (docs/performance.md, "The allocator between runs").

:func:`set_thresholds` sets both, once per process: the console script at its start, and the
reading of a positions file (its memory figures depend on the mmap threshold, whoever calls
it). Elsewhere than glibc it does nothing.
"""

from __future__ import annotations

import ctypes
import os

#: mallopt's parameter numbers (glibc's malloc.h).
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
#: Blocks of this size and more get a mapping of their own, returned to the system when freed.
MMAP_THRESHOLD = 4 << 20
#: Free memory at the top of the heap is kept up to this much (a run of 10^6 positions frees
#: about 50 MB of blocks under 4 MiB), and given back beyond it.
TRIM_THRESHOLD = 64 << 20

_set: bool | None = None


def set_thresholds() -> bool:
    """Set glibc's two thresholds (once per process); whether they are set."""
    global _set
    if _set is None:
        _set = _mallopt()
    return _set


def _mallopt() -> bool:
    if not _glibc():
        return False  # musl ignores mallopt; macOS and Windows have their own allocators
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # pragma: no cover - a glibc without mallopt
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    # mallopt returns 1 on success; setting either threshold ends glibc's own adjustment
    mmap = mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
    trim = mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    return bool(mmap and trim)


def _glibc() -> bool:
    """Whether the C library is glibc (it answers this confstr; musl and others do not)."""
    try:
        return (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc")
    except (AttributeError, ValueError, OSError):  # no confstr, or no such name here
        return False
