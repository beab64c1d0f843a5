"""Positions files as other tools write them: every Arrow type a writer may choose (pyarrow,
polars), CSV from spreadsheets (';', thousands separators, decimal commas) and exports with
columns of their own (``ignore_columns``)."""

from __future__ import annotations

import decimal
from pathlib import Path

import numpy as np
import pytest
import yaml
from helpers import assert_error
from typer.testing import CliRunner

from contagion_cli.cli.app import app
from contagion_cli.compile.compiler import compile_scenario
from contagion_cli.engine.run import run
from contagion_cli.errors import InputError, Location
from contagion_cli.load import books
from contagion_cli.load.scenario import load_scenario

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

runner = CliRunner()

ACCOUNTS = ["whale", "fund", "degen"]
ETH = [40.0, 25.0, 12.0]  # whole units: integer columns hold them too
DEBT = [60000.0, 40000.0, 21000.0]


def scenario(tmp_path: Path, book: str | None, **protocol) -> Path:
    data = {
        "name": "types",
        "assets": {
            "USDC": {"price": 1.0},
            "ETH": {
                "price": 2000.0,
                "market": {"type": "cpmm", "base_reserve": 2000, "quote_reserve": 4.0e6},
            },
        },
        "protocols": {
            "lend": {
                "type": "lending",
                "reserve_usd": 1000.0,
                "collateral": {
                    "ETH": {"ltv": 0.8, "liquidation_threshold": 0.82, "liquidation_bonus": 0.05}
                },
                **({"positions_file": book} if book else {}),
                **protocol,
            }
        },
        "shocks": [{"ETH": -0.25}],
    }
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def figures(path: Path) -> dict:
    data = run(compile_scenario(load_scenario(path)), entities=10).to_dict()
    return {k: data[k] for k in ("protocols", "assets", "liquidations", "bad_debt_usd", "entities")}


@pytest.fixture
def inline(tmp_path) -> dict:
    positions = [
        {"account": a, "collateral": {"ETH": e}, "debt": {"USDC": d}}
        for a, e, d in zip(ACCOUNTS, ETH, DEBT, strict=True)
    ]
    result = figures(scenario(tmp_path, None, positions=positions))
    assert result["liquidations"] > 0  # the book is stressed: a wrong cast would show
    return result


def write_parquet(path: Path, account, eth, debt) -> None:
    pq.write_table(pa.table({"account": account, "collateral.ETH": eth, "debt.USDC": debt}), path)


TEXT_TYPES = {
    "string": lambda v: pa.array(v, pa.string()),
    "large_string": lambda v: pa.array(v, pa.large_string()),
    "dictionary": lambda v: pa.array(v, pa.string()).dictionary_encode(),
    "large dictionary": lambda v: pa.array(v, pa.large_string()).dictionary_encode(),
    "string_view": lambda v: pa.array(v, pa.string_view()),
}
NUMBER_TYPES = {
    "float64": lambda v: pa.array(v, pa.float64()),
    "float32": lambda v: pa.array(v, pa.float32()),
    "int64": lambda v: pa.array([int(x) for x in v], pa.int64()),
    "int32": lambda v: pa.array([int(x) for x in v], pa.int32()),
    "uint64": lambda v: pa.array([int(x) for x in v], pa.uint64()),
    "decimal128": lambda v: pa.array([decimal.Decimal(str(x)) for x in v], pa.decimal128(20, 4)),
    "decimal256": lambda v: pa.array([decimal.Decimal(str(x)) for x in v], pa.decimal256(40, 6)),
    "text": lambda v: pa.array([repr(x) for x in v], pa.large_string()),
}


@pytest.mark.parametrize("kind", sorted(TEXT_TYPES))
def test_parquet_accounts_of_every_text_type(tmp_path, inline, kind):
    """The text type a writer picks (polars: large_string or string_view; pandas categoricals:
    dictionary) reads like plain strings, into the same entities."""
    if kind == "string_view" and not hasattr(pa, "string_view"):
        pytest.skip("this pyarrow has no string_view")
    write_parquet(
        tmp_path / "book.parquet",
        TEXT_TYPES[kind](ACCOUNTS),
        pa.array(ETH),
        pa.array(DEBT),
    )
    assert figures(scenario(tmp_path, "book.parquet")) == inline


@pytest.mark.parametrize("kind", sorted(NUMBER_TYPES))
def test_parquet_amounts_of_every_number_type(tmp_path, inline, kind):
    """Integers, decimals, float32 and numbers stored as text are amounts like float64."""
    write_parquet(
        tmp_path / "book.parquet",
        pa.array(ACCOUNTS),
        NUMBER_TYPES[kind](ETH),
        NUMBER_TYPES[kind](DEBT),
    )
    assert figures(scenario(tmp_path, "book.parquet")) == inline


def test_integer_account_ids(tmp_path):
    """Account ids written as integers are names like any other: the same entity wherever the
    id appears."""
    write_parquet(
        tmp_path / "book.parquet", pa.array([7, 8, 9], pa.int64()), pa.array(ETH), pa.array(DEBT)
    )
    compiled = compile_scenario(load_scenario(scenario(tmp_path, "book.parquet")))
    assert list(compiled.entity_names) == ["7", "8", "9"]


def test_polars_parquet(tmp_path, inline):
    pl = pytest.importorskip("polars")
    frame = pl.DataFrame({"account": ACCOUNTS, "collateral.ETH": ETH, "debt.USDC": DEBT})
    frame.write_parquet(tmp_path / "book.parquet")
    assert figures(scenario(tmp_path, "book.parquet")) == inline
    # a categorical account column is written dictionary-encoded
    frame = frame.with_columns(pl.col("account").cast(pl.Categorical))
    frame.write_parquet(tmp_path / "book.parquet")
    assert figures(scenario(tmp_path, "book.parquet")) == inline


def test_entities_across_books_of_different_text_types():
    """One account in two books, one written as large_string and one dictionary-encoded, is
    one entity (the internal error of issue 17)."""
    first = books.PositionBook(
        "lending", 2, [pa.chunked_array([pa.array(["a", "b"], pa.large_string())])]
    )
    second = books.PositionBook(
        "lending", 2, [pa.chunked_array([pa.array(["b", "c"]).dictionary_encode()])]
    )
    third = books.PositionBook("lending", 1, [pa.chunked_array([pa.array([None], pa.string())])])
    ids, names = books.assign_entities([("p", first), ("q", second), ("r", third)])
    assert [i.tolist() for i in ids] == [[0, 1], [1, 2], [3]]
    assert list(names) == ["a", "b", "c", "r#0"]


def _entities(book_list, monkeypatch, limit):
    monkeypatch.setattr(books, "PYTHON_ENTITIES_MAX", limit)
    ids, names = books.assign_entities(book_list)
    return [i.tolist() for i in ids], list(names)


def test_small_inline_books_name_entities_in_python_as_arrow_does(monkeypatch):
    """Inline positions (Python lists of names) are hashed in Python below a size, not by
    pyarrow.compute (whose import costs more than a small book's run): same ids, same names,
    same order of first appearance, the same default name for a position without account."""
    book_list = [
        ("p", books.PositionBook("lending", 4, [["a", None, "b", "a"]])),
        ("q", books.PositionBook("lending", 3, [["b", "c", None]])),
        ("r", books.PositionBook("lending", 5, [["d"], None])),  # a file part without accounts
    ]
    arrow = _entities(book_list, monkeypatch, -1)
    python = _entities(book_list, monkeypatch, 10**6)
    assert python == arrow
    assert arrow == (
        [[0, 1, 2, 0], [2, 3, 4], [5, 6, 7, 8, 9]],
        ["a", "p#1", "b", "c", "q#2", "d", "r#1", "r#2", "r#3", "r#4"],
    )


def test_arrow_parts_or_large_books_go_through_pyarrow(monkeypatch):
    calls = []
    monkeypatch.setattr(books, "_assign_entities_python", lambda b: calls.append(b))
    arrow_part = [("p", books.PositionBook("lending", 2, [pa.array(["a", "b"])]))]
    assert list(books.assign_entities(arrow_part)[1]) == ["a", "b"]
    monkeypatch.setattr(books, "PYTHON_ENTITIES_MAX", 1)
    assert list(books.assign_entities([("p", books.PositionBook("lending", 2, [["a", "b"]]))])[1])
    assert calls == []  # neither took the Python path


def test_one_book_is_hashed_once_for_validation_and_compilation(monkeypatch):
    """Loading checks a lending book's accounts and compiling names the same book's entities:
    the second call returns the first's ids (read-only) without hashing the names again; any
    other column, list or protocol name is hashed anew."""
    calls = []
    real = books._assign_entities_arrow
    monkeypatch.setattr(books, "_assign_entities_arrow", lambda b: calls.append(1) or real(b))
    monkeypatch.setattr(books, "_last", None)
    column = pa.chunked_array([pa.array(["a", "b", "a"])])
    first = books.assign_entities([("p", books.PositionBook("lending", 4, [["z"], column]))])
    again = books.assign_entities([("p", books.PositionBook("lending", 4, [["z"], column]))])
    assert len(calls) == 1 and again is first
    assert [i.tolist() for i in again[0]] == [[0, 1, 2, 1]]
    with pytest.raises(ValueError):
        again[0][0][0] = 5  # shared by both calls: nobody may write into them
    for other in (
        [("p", books.PositionBook("lending", 4, [["y"], column]))],  # another inline account
        [("q", books.PositionBook("lending", 4, [["y"], column]))],  # another protocol
        [("q", books.PositionBook("lending", 4, [["y"], pa.array(["a", "b", "a"])]))],
    ):
        books.assign_entities(other)
    assert len(calls) == 4


def test_a_repeated_account_is_named_with_its_first_two_positions():
    column = pa.array(["b", "a", "c", "a", "b"])
    with pytest.raises(InputError) as raised:
        books.check_unique_accounts(
            "lend", books.PositionBook("lending", 5, [column]), Location("lend.csv")
        )
    # "b" is the first repeated account to appear, at positions 0 and 4
    assert "account 'b' appears twice in protocol 'lend' (positions 0 and 4" in str(
        raised.value.problems[0].message
    )


BAD_PARQUET = [
    (
        "float accounts",
        lambda: (pa.array([1.5, 2.5, 3.5]), pa.array(ETH), pa.array(DEBT)),
        ["column 'account': expected text or integer ids, found Arrow type double"],
    ),
    (
        "boolean amounts",
        lambda: (pa.array(ACCOUNTS), pa.array([True, False, True]), pa.array(DEBT)),
        ["column 'collateral.ETH': expected numbers, found Arrow type bool"],
    ),
    (
        "a list column",
        lambda: (pa.array(ACCOUNTS), pa.array([[1.0], [2.0], [3.0]]), pa.array(DEBT)),
        ["column 'collateral.ETH': expected numbers", "list"],
    ),
    (
        "a word among amounts stored as text",
        lambda: (pa.array(ACCOUNTS), pa.array(["40", "lots", "12"]), pa.array(DEBT)),
        [":2:", "column 'collateral.ETH': expected a number, found 'lots'"],
    ),
    (
        "thousands separators in amounts stored as text",
        lambda: (pa.array(ACCOUNTS), pa.array(ETH), pa.array(["60,000", "40,000", "21,000"])),
        [":1:", "found '60,000'", "without thousands separators: 60000"],
    ),
    (
        "negative amount in an integer column",
        lambda: (pa.array(ACCOUNTS), pa.array([40, -25, 12], pa.int32()), pa.array(DEBT)),
        [":2:", "column 'collateral.ETH'", ">= 0", "-25.0"],
    ),
    (
        "absurd decimal",
        lambda: (
            pa.array(ACCOUNTS),
            pa.array([decimal.Decimal("1e30")] * 3, pa.decimal256(60, 0)),
            pa.array(DEBT),
        ),
        ["column 'collateral.ETH'", "<= 1e+18"],
    ),
]


@pytest.mark.parametrize("case", BAD_PARQUET, ids=[c[0] for c in BAD_PARQUET])
def test_bad_parquet_types(tmp_path, case):
    _, columns, fragments = case
    write_parquet(tmp_path / "book.parquet", *columns())
    result = runner.invoke(app, ["validate", str(scenario(tmp_path, "book.parquet"))])
    assert_error(result, "book.parquet", *fragments)


# --- CSV from spreadsheets ---------------------------------------------------------------------
BAD_CSV = [
    (
        "semicolons",
        "account;collateral.ETH;debt.USDC\nwhale;40;60000\n",
        [":1:", "separated by ';', not ','", "comma-separated"],
    ),
    ("tabs", "account\tcollateral.ETH\tdebt.USDC\nwhale\t40\t60000\n", ["separated by tabs"]),
    (
        "unquoted thousands separators",
        "account,collateral.ETH,debt.USDC\nwhale,40,60,000\n",
        [":2:", "line 2 has 4 fields, the header 3", "thousands separators (100,000)"],
    ),
    (
        "an unquoted comma in a name",
        "account,collateral.ETH,debt.USDC\nwhale,inc,40,60000\n",
        [":2:", "line 2 has 4 fields", "quote a field"],
    ),
    (
        "quoted thousands separators",
        'account,collateral.ETH,debt.USDC\nwhale,40,"60,000"\n',
        [":2:", "found '60,000'", "without thousands separators: 60000"],
    ),
    (
        "spaces between thousands",
        "account,collateral.ETH,debt.USDC\nwhale,40,60 000\n",
        [":2:", "found '60 000'", "without thousands separators: 60000"],
    ),
    (
        "a decimal comma",
        'account,collateral.ETH,debt.USDC\nwhale,"40,5",60000\n',
        [":2:", "found '40,5'", "use '.' as the decimal point: 40.5"],
    ),
]


@pytest.mark.parametrize("case", BAD_CSV, ids=[c[0] for c in BAD_CSV])
def test_spreadsheet_csv_gets_a_hint(tmp_path, case):
    _, text, fragments = case
    (tmp_path / "book.csv").write_text(text)
    result = runner.invoke(app, ["run", str(scenario(tmp_path, "book.csv"))])
    assert_error(result, "book.csv", *fragments)


def test_numpy_csv_reader_gives_the_same_hint(tmp_path):
    (tmp_path / "book.csv").write_text("account,collateral.ETH,debt.USDC\nwhale,40,60 000\n")
    with pytest.raises(InputError) as caught:
        books._read_csv_numpy(tmp_path / "book.csv")
    assert "without thousands separators: 60000" in caught.value.render()


@pytest.mark.parametrize(
    ("value", "hint"),
    [
        ("1,000,000", "write numbers without thousands separators: 1000000"),
        ("1'000.5", "write numbers without thousands separators: 1000.5"),
        ("1\u202f000", "write numbers without thousands separators: 1000"),
        ("2,5", "use '.' as the decimal point: 2.5"),
        ("lots", None),
        ("1.2.3", None),
    ],
)
def test_number_hint(value, hint):
    got = books.number_hint(value)
    assert (got is None) if hint is None else got.startswith(hint)


# --- ignore_columns ----------------------------------------------------------------------------
DUNE = "block_time,account,collateral.ETH,debt.USDC,tx_hash\n" + "".join(
    f"2024-08-05 00:0{k}:00.000 UTC,{a},{e},{d},0x{k:064x}\n"
    for k, (a, e, d) in enumerate(zip(ACCOUNTS, ETH, DEBT, strict=True))
)


def test_an_export_with_columns_of_its_own(tmp_path, inline):
    (tmp_path / "book.csv").write_text(DUNE)
    result = runner.invoke(app, ["validate", str(scenario(tmp_path, "book.csv"))])
    assert_error(result, "unknown column 'block_time'", "ignore_columns: [block_time, tx_hash]")
    path = scenario(tmp_path, "book.csv", ignore_columns=["block_time", "tx_hash"])
    assert figures(path) == inline


def test_parquet_columns_can_be_ignored_too(tmp_path, inline):
    table = pa.table(
        {
            "account": ACCOUNTS,
            "collateral.ETH": ETH,
            "debt.USDC": DEBT,
            "block_time": pa.array([1, 2, 3], pa.timestamp("s")),
            "collateral.SOL": [1.0, 2.0, 3.0],  # an asset this scenario does not model
        }
    )
    pq.write_table(table, tmp_path / "book.parquet")
    path = scenario(tmp_path, "book.parquet", ignore_columns=["block_time", "collateral.SOL"])
    assert figures(path) == inline


def test_names_not_in_the_file_are_harmless(tmp_path, inline):
    write_parquet(tmp_path / "book.parquet", pa.array(ACCOUNTS), pa.array(ETH), pa.array(DEBT))
    assert figures(scenario(tmp_path, "book.parquet", ignore_columns=["tx_hash"])) == inline


BAD_IGNORE = [
    ("a read column", ["block_time", "debt.USDC"], ["'debt.USDC' is a column a lending protocol"]),
    ("the account column", ["account"], ["'account' is a column a lending protocol reads"]),
    ("a string, not a list", "block_time", ["ignore_columns", "list"]),
    ("an empty name", [""], ["ignore_columns[0]"]),
    ("a number", [3], ["ignore_columns[0]"]),
    ("null", None, ["ignore_columns"]),
]


@pytest.mark.parametrize("case", BAD_IGNORE, ids=[c[0] for c in BAD_IGNORE])
def test_bad_ignore_columns(tmp_path, case):
    _, value, fragments = case
    (tmp_path / "book.csv").write_text(DUNE)
    path = scenario(tmp_path, "book.csv", ignore_columns=value)
    result = runner.invoke(app, ["validate", str(path)])
    assert_error(result, "protocols.lend.ignore_columns", *fragments)
    assert "scenario.yaml:" in result.output  # the YAML line of the key


def test_ignore_columns_needs_a_positions_file(tmp_path):
    path = scenario(
        tmp_path,
        None,
        positions=[{"account": "a", "collateral": {"ETH": 1.0}, "debt": {"USDC": 1.0}}],
        ignore_columns=["block_time"],
    )
    result = runner.invoke(app, ["validate", str(path)])
    assert_error(result, "protocols.lend.ignore_columns", "has none")


def test_a_misspelt_ignore_key_is_caught(tmp_path):
    (tmp_path / "book.csv").write_text(DUNE)
    path = scenario(tmp_path, "book.csv", ignore_column=["block_time"])
    result = runner.invoke(app, ["validate", str(path)])
    assert_error(result, "ignore_column", "did you mean 'ignore_columns'")


def test_ignored_csv_columns_are_not_parsed(tmp_path):
    """A skipped column may hold anything: it is never read as numbers."""
    text = "account,collateral.ETH,debt.USDC,note.x\nwhale,40,60000,not a number\n"
    (tmp_path / "book.csv").write_text(text)
    columns = books._read_csv(tmp_path / "book.csv", ignore=["note.x"])
    np.testing.assert_array_equal(books._to_numpy(columns["debt.USDC"], False), [60000.0])
    assert "note.x" not in books._read_csv_numpy(tmp_path / "book.csv", ignore=["note.x"])


def test_many_chunks_are_named_as_one_column_would_be(monkeypatch):
    """A file's batches are hashed chunk by chunk, never joined into one copy of the names:
    ids and names are those of the combined column (names repeat across chunks, and across
    a chunked, a plain and an inline part)."""
    monkeypatch.setattr(books, "_last", None)
    names = [f"n{i % 7}" if i % 3 else f"m{i}" for i in range(40)]
    chunked = pa.chunked_array([pa.array(names[k : k + 6]) for k in range(0, 40, 6)])
    book_list = [
        ("p", books.PositionBook("lending", 42, [["m3", "zz"], chunked])),
        ("q", books.PositionBook("lending", 3, [pa.array(["n1", "new", "m0"])])),
    ]
    ids, found = books.assign_entities(book_list)
    expected: dict[str, int] = {}
    for name in ["m3", "zz", *names, "n1", "new", "m0"]:
        expected.setdefault(name, len(expected))
    assert list(found) == list(expected)
    assert [i.tolist() for i in ids] == [
        [expected[n] for n in ["m3", "zz", *names]],
        [expected[n] for n in ["n1", "new", "m0"]],
    ]


def test_a_chunk_with_a_shorter_dictionary_is_encoded_whole():
    """Should Arrow give a chunk the dictionary as it was when that chunk was hashed (a prefix
    of the final one), the names are combined and encoded whole: the same ids either way."""

    class Prefixes:
        def __init__(self, column):
            self.column = column

        def dictionary_encode(self):
            whole = self.column.combine_chunks().dictionary_encode()
            first = pa.DictionaryArray.from_arrays(
                whole.indices.slice(0, 2), whole.dictionary.slice(0, 2)
            )
            rest = pa.DictionaryArray.from_arrays(whole.indices.slice(2), whole.dictionary)
            return pa.chunked_array([first, rest])

        def combine_chunks(self):
            return self.column.combine_chunks()

        def __len__(self):
            return len(self.column)

    column = pa.chunked_array([pa.array(["a", "b"]), pa.array(["c", "a"])])
    ids, names = books._encode(Prefixes(column))
    assert ids.tolist() == [0, 1, 2, 0] and names.to_pylist() == ["a", "b", "c"]
    ids, names = books._encode(column)  # Arrow's own: every chunk has the final dictionary
    assert ids.tolist() == [0, 1, 2, 0] and names.to_pylist() == ["a", "b", "c"]


def test_compiling_forgets_the_entity_cache_and_released_books_are_gone(tmp_path):
    """Once compiled, nothing holds the book's account column for the cache (it would stay
    for the whole run); a scenario whose books were released cannot be compiled again, and
    says why rather than compiling an empty book."""
    from contagion_cli.load.scenario import release_books

    path = tmp_path / "scenario.yaml"
    data = {
        "name": "t",
        "assets": {"USDC": {"price": 1.0}, "ETH": {"price": 2000.0}},
        "protocols": {
            "lend": {
                "type": "lending",
                "collateral": {
                    "ETH": {"ltv": 0.8, "liquidation_threshold": 0.85, "liquidation_bonus": 0.05}
                },
                "positions_file": "lend.parquet",
            }
        },
        "shocks": [{"ETH": -0.3}],
    }
    path.write_text(yaml.safe_dump(data))
    table = pa.table(
        {
            "account": ["a", "b", "c"],
            "collateral.ETH": [1.0, 2.0, 3.0],
            "debt.USDC": [1500.0, 100.0, 5000.0],
        }
    )
    pq.write_table(table, tmp_path / "lend.parquet")
    model = load_scenario(path)
    assert books._last is not None  # loading checked the accounts: the cache holds them
    compiled = compile_scenario(model)
    assert books._last is None
    release_books(model)
    assert model.positions_book("lend") is None
    assert list(compiled.entity_names) == ["a", "b", "c"]  # the names outlive the rows
    with pytest.raises(ValueError, match="positions_file was not read"):
        compile_scenario(model)
