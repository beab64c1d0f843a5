"""Account names to entity numbers (a dictionary encoding) with numpy, read from the buffers of
Arrow string columns.

pyarrow's ``dictionary_encode`` needs ``pyarrow.compute`` (about 40 ms to import) and hashes
about 150 ns a name: on a book of 10^6 accounts, the largest part of validating it (checking
that no account appears twice) and of a warm ``contagion run``. Here each name is read from
the column's buffers as a few 64-bit words, hashed with keys drawn per process, and grouped by
one sort. Every name of a group is then compared, byte for byte, with the group's first: two
positions are one entity only when their names are equal. When two different names share a
hash (about one book in 10^7 of 10^6 names; a crafted file cannot aim at keys it never sees)
or a name is longer than :data:`MAX_NAME_BYTES`, :func:`encode` gives up and the caller uses
Arrow's exact encoding.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

#: Longest name hashed here (an Ethereum address is 42 bytes); longer ones go to Arrow.
MAX_NAME_BYTES = 64
#: Rows read into words at a time: bounds the temporaries (rows x 64 bytes, and their indices).
BLOCK_ROWS = 1 << 18

_WORDS = MAX_NAME_BYTES // 8
# odd multipliers drawn from the OS per process: which names collide is unknowable in advance
# (os.urandom, not numpy.random: importing that costs a run of the quickstart ~7 ms)
_KEYS = np.frombuffer(os.urandom(8 * (_WORDS + 1)), np.uint64) | np.uint64(1)


#: The mask that keeps the first ``r`` bytes of a little-endian word, by ``r`` (0 to 8).
_KEEP = np.array([(1 << (8 * r)) - 1 for r in range(9)], np.uint64)


class NamePicks(Sequence[str]):
    """The names at ``positions`` (ascending: entity ``i`` is the ``i``-th first appearance) of
    the concatenated ``chunks``, read one at a time when asked: a report names a few entities,
    never all 10^6."""

    def __init__(
        self, chunks: Sequence[Any], starts: np.ndarray, positions: np.ndarray | None
    ) -> None:
        self._chunks = chunks
        self._starts = starts
        self._positions = positions  # None: every position (every name distinct)

    def __len__(self) -> int:
        return int(self._starts[-1]) if self._positions is None else len(self._positions)

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if not -len(self) <= i < len(self):
            raise IndexError(i)
        i = int(i) % len(self)
        position = i if self._positions is None else int(self._positions[i])
        c = int(np.searchsorted(self._starts, position, side="right")) - 1
        return self._chunks[c][position - int(self._starts[c])].as_py()


class _Column:
    """The offsets and bytes of each chunk of a string column, and the width of its longest
    name in 64-bit words."""

    def __init__(self, chunks: Sequence[Any]) -> None:
        self.offsets: list[np.ndarray] = []
        self.data: list[np.ndarray] = []
        lengths, longest = [], 0
        for chunk in chunks:
            offsets = chunk.buffers()[1]
            off = np.frombuffer(offsets, np.int32)[chunk.offset : chunk.offset + len(chunk) + 1]
            self.offsets.append(off)
            if off.size > 1:
                longest = max(longest, int(np.diff(off).max()))
            lengths.append(len(chunk))
        self.longest = longest
        self.width = max(1, -(-longest // 8))
        for chunk in chunks:
            raw = chunk.buffers()[2]
            raw = np.frombuffer(raw, np.uint8) if raw is not None else np.zeros(0, np.uint8)
            # zero bytes after the names: a word read at any byte of a name stays inside
            padded = np.zeros(raw.size + 8 * self.width + 8, np.uint8)
            padded[: raw.size] = raw
            # the 8 bytes from each byte on, as one little-endian word: a name's w-th word is
            # one read, not eight
            self.data.append(
                np.lib.stride_tricks.as_strided(
                    padded, shape=(padded.size - 7, 8), strides=(1, 1), writeable=False
                ).view("<u8")[:, 0]
            )
        self.starts = np.zeros(len(chunks) + 1, np.int64)
        np.cumsum(lengths, out=self.starts[1:])

    def _rows(self, c: int, local: np.ndarray | slice) -> tuple[np.ndarray, np.ndarray]:
        """(first byte, length) of rows ``local`` (indices, or a slice: no gather) of chunk
        ``c``."""
        off = self.offsets[c]
        if isinstance(local, slice):
            begin = off[local.start : local.stop].astype(np.int64)
            return begin, off[local.start + 1 : local.stop + 1] - begin
        begin = off[local].astype(np.int64)
        return begin, off[local + 1] - begin

    def _word(self, c: int, begin: np.ndarray, length: np.ndarray, w: int) -> np.ndarray:
        """The ``w``-th 64-bit word of each name, zero past its end."""
        word = self.data[c][begin + 8 * w]
        rest = length - 8 * w
        if rest.min(initial=8) < 8:  # the bytes past a name's end are another name's
            word &= _KEEP[np.clip(rest, 0, 8)]
        return word

    def words(self, c: int, local: np.ndarray | slice) -> tuple[np.ndarray, np.ndarray]:
        """(lengths, names as ``width`` zero-padded 64-bit words) of rows ``local`` of chunk
        ``c``."""
        begin, length = self._rows(c, local)
        words = np.empty((len(begin), self.width), np.uint64)
        for w in range(self.width):
            words[:, w] = self._word(c, begin, length, w)
        return length, words

    def hashes(self, c: int, local: slice) -> np.ndarray:
        """The hash of each name of rows ``local`` of chunk ``c``, from its length and its
        words, one word at a time (no matrix of words); sums wrap modulo 2^64, as meant."""
        begin, length = self._rows(c, local)
        h = length.astype(np.uint64) * _KEYS[_WORDS]
        for w in range(self.width):
            h += self._word(c, begin, length, w) * _KEYS[w]
        return _finish(h)

    def words_at(self, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The same for positions of the whole column, in the order given."""
        length = np.empty(len(positions), np.int64)
        words = np.empty((len(positions), self.width), np.uint64)
        chunk = np.searchsorted(self.starts, positions, side="right") - 1
        for c in _distinct(np.sort(chunk)):
            rows = np.flatnonzero(chunk == c)
            length[rows], words[rows] = self.words(int(c), positions[rows] - self.starts[c])
        return length, words


def _finish(h: np.ndarray) -> np.ndarray:
    # the finaliser of splitmix64: every input bit moves the high bits the sort looks at
    h ^= h >> np.uint64(31)
    h *= np.uint64(0x94D049BB133111EB)
    h ^= h >> np.uint64(29)
    return h


def _run_starts(ordered: np.ndarray) -> np.ndarray:
    """Where each run of equal values of a sorted array starts (a boolean per element)."""
    starts = np.empty(ordered.size, bool)
    starts[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=starts[1:])
    return starts


def _distinct(ordered: np.ndarray) -> np.ndarray:
    """The distinct values of a sorted array (np.unique would import numpy.ma, ~16 ms)."""
    return ordered[_run_starts(ordered)]


#: Positions whose 32-bit hash prefix another position shares, up to which only those are
#: grouped (a book of distinct names has ~n^2 / 2^33 of them: ~120 at 10^6); with more (books
#: that share accounts) every position is.
FEW = 1 << 16
#: Bits of the table that picks those positions (2^20 booleans: 1 MB, which stays in cache).
TABLE_BITS = 20


def encode(chunks: Sequence[Any]) -> tuple[np.ndarray, NamePicks] | None:
    """(int64 entity of every row, the distinct names in order of first appearance) of the
    concatenated ``chunks`` (Arrow ``string`` arrays without nulls); None when this encoding
    cannot be sure of the answer (see the module's note)."""
    column = _Column(chunks)
    n = int(column.starts[-1])
    if column.longest > MAX_NAME_BYTES:
        return None
    hashes = np.empty(n, np.uint64)
    for c in range(len(chunks)):
        size = len(chunks[c])
        for lo in range(0, size, BLOCK_ROWS):
            hi = min(size, lo + BLOCK_ROWS)
            start = column.starts[c] + lo
            hashes[start : start + hi - lo] = column.hashes(c, slice(lo, hi))
    # equal names have equal hashes: sorting 32 bits of each finds every position that can
    # share its name (a sort of 32-bit keys costs half one of 64, an argsort twice that)
    prefix = (hashes >> np.uint64(32)).astype(np.uint32)
    ordered = np.sort(prefix)
    shared = _distinct(ordered[1:][ordered[1:] == ordered[:-1]])
    del ordered
    if shared.size == 0:  # no two names share a prefix: each position is its own entity
        return np.arange(n, dtype=np.int64), NamePicks(chunks, column.starts, None)
    if shared.size <= FEW:
        # a 2^20-bit table of the shared prefixes' top bits (it stays in cache) picks the
        # candidates and a few more; the exact prefixes then sort those few out
        table = np.zeros(1 << TABLE_BITS, bool)
        table[shared >> np.uint32(32 - TABLE_BITS)] = True
        maybe = np.flatnonzero(table[prefix >> np.uint32(32 - TABLE_BITS)])
        found = np.minimum(np.searchsorted(shared, prefix[maybe]), shared.size - 1)
        candidates = maybe[shared[found] == prefix[maybe]]  # (np.isin: numpy.ma's import)
    else:
        candidates = np.arange(n, dtype=np.int64)
    del prefix
    heads = _heads(column, candidates, hashes[candidates])
    if heads is None:
        return None
    del hashes
    if np.array_equal(heads, candidates):  # the prefixes were shared, the names are not
        return np.arange(n, dtype=np.int64), NamePicks(chunks, column.starts, None)
    same = np.arange(n, dtype=np.int64)  # the first position with each position's name
    same[candidates] = heads
    first = same == np.arange(n)
    entity = np.cumsum(first) - 1  # positions ascend: the order of first appearance
    return entity[same], NamePicks(chunks, column.starts, np.flatnonzero(first))


def _heads(column: _Column, positions: np.ndarray, hashes: np.ndarray) -> np.ndarray | None:
    """For each of ``positions`` (ascending), the first of them with the same name; None when
    two different names share a hash."""
    order = np.argsort(hashes, kind="stable")  # equal hashes: ascending positions
    head = _run_starts(hashes[order])
    group = np.cumsum(head) - 1  # of each slot of ``order``
    first_slot = np.flatnonzero(head)[group]
    others = np.flatnonzero(~head)
    for lo in range(0, len(others), BLOCK_ROWS):
        slots = others[lo : lo + BLOCK_ROWS]
        length, words = column.words_at(positions[order[slots]])
        head_length, head_words = column.words_at(positions[order[first_slot[slots]]])
        if not (np.array_equal(length, head_length) and np.array_equal(words, head_words)):
            return None
    heads = np.empty(len(positions), np.int64)
    heads[order] = positions[order[first_slot]]
    return heads
