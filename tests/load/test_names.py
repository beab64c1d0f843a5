"""Account names to entities with numpy (load/names.py): the same answer as a dict in order of
first appearance, or None when it cannot be sure (the caller then asks Arrow)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from contagion_cli.load import books, names

pa = pytest.importorskip("pyarrow")


def by_dict(values: list[str]) -> tuple[list[int], list[str]]:
    """The obvious encoding: a dict of names in order of first appearance."""
    seen: dict[str, int] = {}
    ids = [seen.setdefault(v, len(seen)) for v in values]
    return ids, list(seen)


def chunked(values: list[str], cuts: list[int]) -> list:
    """``values`` as Arrow chunks cut at ``cuts`` (some of them slices of a larger array, so
    that their offsets do not start at 0)."""
    bounds = [0, *sorted({c for c in cuts if 0 < c < len(values)}), len(values)]
    out = []
    for k, (lo, hi) in enumerate(itertools.pairwise(bounds)):
        part = values[lo:hi]
        if k % 2:  # a slice of a longer array
            out.append(pa.array(["pad", *part, "pad"], pa.string()).slice(1, len(part)))
        else:
            out.append(pa.array(part, pa.string()))
    return out


def check(values: list[str], cuts: list[int] = ()) -> None:
    found = names.encode(chunked(values, list(cuts)))
    assert found is not None
    ids, picked = found
    want_ids, want_names = by_dict(values)
    assert ids.dtype == np.int64
    assert ids.tolist() == want_ids
    assert list(picked) == want_names
    assert len(picked) == len(want_names)


def test_distinct_and_repeated_names():
    check(["a", "bb", "a", "", "x" * 64, "é", "bb", "", "x" * 64, "a", "zz"], [4, 9])


def test_names_that_differ_past_the_first_word_and_in_length():
    # the same first 8 bytes, a byte past them, a trailing NUL: all different names
    values = ["abcdefgh", "abcdefghi", "abcdefghj", "abcdefgh\x00", "abcdefg", "abcdefgh"]
    check(values, [2])


def test_every_name_distinct_is_each_its_own_entity():
    values = [f"0x{i:040x}" for i in range(5000)]  # addresses, 42 bytes
    check(values, [1000, 1001, 4000])


def test_a_book_of_one_account_repeated():
    check(["same"] * 1000, [10, 500])


def test_empty_book():
    found = names.encode([pa.array([], pa.string())])
    assert found is not None
    assert found[0].tolist() == [] and len(found[1]) == 0


@given(
    st.lists(st.text(alphabet="ab\x00é", max_size=10), max_size=300),
    st.lists(st.integers(0, 300), max_size=4),
)
def test_agrees_with_a_dict(values, cuts):
    check(values, cuts)


def test_a_name_longer_than_it_reads_goes_to_arrow():
    assert names.encode([pa.array(["a", "x" * (names.MAX_NAME_BYTES + 1)])]) is None


def test_different_names_with_one_hash_go_to_arrow(monkeypatch):
    """A collision of hashes between different names: not merged, handed back (the keys are
    random, so the collision is forced)."""
    monkeypatch.setattr(names, "_finish", np.zeros_like)
    assert names.encode([pa.array(["a", "b", "a"])]) is None
    # equal names under the same forced hash are still one entity
    ids, picked = names.encode([pa.array(["a", "a", "a"])])
    assert ids.tolist() == [0, 0, 0] and list(picked) == ["a"]


def test_many_shared_prefixes_group_every_position(monkeypatch):
    """More shared hash prefixes than the candidates' path takes: every position is grouped."""
    monkeypatch.setattr(names, "FEW", 1)
    check([f"n{i % 7}" for i in range(200)], [50])


def test_assign_entities_uses_it_and_agrees_with_arrow(monkeypatch):
    values = [f"acct-{i % 900}" for i in range(2000)]
    book = books.PositionBook("lending", 2000, [pa.chunked_array(chunked(values, [700]))])
    books.forget_entities()
    (ids,), found = books.assign_entities([("p", book)])
    assert isinstance(found._names, names.NamePicks)
    arrow_ids, arrow_names = books._encode(pa.chunked_array(chunked(values, [700])))
    assert ids.tolist() == arrow_ids.tolist()
    assert list(found) == arrow_names.to_pylist()
    # when numpy cannot be sure, Arrow's answer is used
    monkeypatch.setattr(books, "encode_names", lambda chunks: None)
    books.forget_entities()
    (ids2,), found2 = books.assign_entities([("p", book)])
    assert ids2.tolist() == ids.tolist() and list(found2) == list(found)
    books.forget_entities()


def test_negative_index_and_bounds():
    picked = names.encode([pa.array(["a", "b", "a", "c"])])[1]
    assert picked[-1] == "c" and picked[0:2] == ["a", "b"]
    with pytest.raises(IndexError):
        picked[3]


def test_a_parquet_book_is_read_and_compiled_without_pyarrow_compute(tmp_path):
    """pyarrow.compute costs ~40 ms to import, numpy.ma (which np.unique and np.isin import)
    ~16 ms: reading a book of string accounts and float columns, checking its accounts and
    compiling it need neither (a fresh process: other tests import them)."""
    import subprocess
    import sys

    pq = pytest.importorskip("pyarrow.parquet")
    pq.write_table(
        pa.table(
            {
                "account": [f"0x{i:040x}" for i in range(3000)],
                "collateral.ETH": [1.0 + i % 7 for i in range(3000)],
                "debt.USDC": [900.0 + i % 11 for i in range(3000)],
            }
        ),
        tmp_path / "book.parquet",
    )
    (tmp_path / "scenario.yaml").write_text(
        "name: names\n"
        "assets:\n"
        "  USDC: {price: 1.0}\n"
        "  ETH: {price: 2000.0, market: {type: cpmm, base_reserve: 10000.0,"
        " quote_reserve: 20000000.0}}\n"
        "protocols:\n"
        "  lender:\n"
        "    type: lending\n"
        "    positions_file: book.parquet\n"
        "    collateral: {ETH: {ltv: 0.8, liquidation_threshold: 0.85,"
        " liquidation_bonus: 0.05}}\n"
        "shocks: [{ETH: -0.3}]\n"
    )
    code = (
        "import sys\n"
        "from contagion_cli.load.scenario import load_scenario\n"
        "from contagion_cli.compile.compiler import compile_scenario\n"
        "c = compile_scenario(load_scenario(sys.argv[1]))\n"
        "assert len(c.entity_names) == 3000, len(c.entity_names)\n"
        "assert c.entity_names[2999] == f'0x{2999:040x}'\n"
        "print('pyarrow.compute' in sys.modules, 'numpy.ma' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "scenario.yaml")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False False"
