"""Scenario files from pull requests (issue 16): what they may read, how much, and how much of
it an error may show (docs/security.md)."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from contagion_cli.batch.variants import load_variants, source_of
from contagion_cli.cli.app import app
from contagion_cli.errors import QUOTE_LIMIT, InputError, one_line, quote
from contagion_cli.load import files
from contagion_cli.load import scenario as load_scenario_module
from contagion_cli.load import yaml as load_yaml
from contagion_cli.load.files import Sandbox, read_capped
from contagion_cli.load.scenario import load_scenario
from tests.helpers import assert_error

runner = CliRunner()

SECRET = "ghp_SECRETTOKEN0123456789"
BOOK = "account,collateral.ETH,debt.USDC\nalice,10,15000\nbob,5,9000\n"


def scenario(positions_file: str | None = None) -> dict:
    lend: dict = {
        "type": "lending",
        "collateral": {
            "ETH": {"ltv": 0.8, "liquidation_threshold": 0.82, "liquidation_bonus": 0.05}
        },
        "positions": [{"account": "carol", "collateral": {"ETH": 1.0}, "debt": {"USDC": 100.0}}],
    }
    if positions_file is not None:
        lend["positions_file"] = positions_file
    return {
        "name": "untrusted",
        "assets": {
            "USDC": {"price": 1.0},
            "ETH": {
                "price": 2000.0,
                "market": {"type": "cpmm", "base_reserve": 2000, "quote_reserve": 4.0e6},
            },
        },
        "protocols": {"lend": lend},
        "shocks": [{"ETH": -0.2}],
    }


def write_scenario(folder: Path, positions_file: str | None = None, name: str = "s.yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(yaml.safe_dump(scenario(positions_file), sort_keys=False))
    return path


def secret_file(folder: Path, name: str = ".git-credentials") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(f"https://user:{SECRET}@github.com\n")
    return path


def assert_refused(result, *fragments: str) -> None:
    assert_error(result, *fragments)
    assert SECRET not in result.output
    assert "root:" not in result.output  # nothing of /etc/passwd


# --- positions_file stays in the scenario's folder tree -----------------------------------------


@pytest.mark.parametrize("target", ["/etc/passwd", "/proc/self/status", "../outside/.env"])
def test_a_positions_file_outside_the_folder_is_refused(tmp_path, target):
    secret_file(tmp_path / "outside", ".env")
    path = write_scenario(tmp_path / "repo", target)
    result = runner.invoke(app, ["validate", str(path)])
    assert_refused(result, "is outside the scenario's folder", "--allow-outside")
    assert f"{path}:" in result.output  # the line of the key: file:line:col
    assert "protocols.lend.positions_file" in result.output


def test_home_is_outside_too(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    secret_file(tmp_path / "home")
    path = write_scenario(tmp_path / "repo", "~/.git-credentials")
    assert_refused(runner.invoke(app, ["validate", str(path)]), "is outside the scenario's folder")


def test_a_link_inside_the_folder_is_followed(tmp_path):
    secret = secret_file(tmp_path / "outside")
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "book.csv").symlink_to(secret)
    path = write_scenario(repo, "book.csv")
    assert_refused(runner.invoke(app, ["validate", str(path)]), "(links followed)")


def test_a_link_that_stays_inside_is_read(tmp_path):
    repo = tmp_path / "repo"
    (repo / "books").mkdir(parents=True)
    (repo / "books" / "real.csv").write_text(BOOK)
    (repo / "book.csv").symlink_to(repo / "books" / "real.csv")
    path = write_scenario(repo, "book.csv")
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 0, result.output
    assert "3 positions" in result.output


def test_the_sandbox_is_checked_before_the_file_exists(tmp_path):
    # "not found" for /etc/shadow-like paths would tell a pull request which files exist
    path = write_scenario(tmp_path / "repo", "/nonexistent/contagion/book.csv")
    result = runner.invoke(app, ["validate", str(path)])
    assert_refused(result, "is outside the scenario's folder")
    assert "not found" not in result.output


def test_allow_outside_admits_a_folder_or_a_file(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "book.csv").write_text(BOOK)
    path = write_scenario(tmp_path / "repo", str(shared / "book.csv"))
    assert_refused(runner.invoke(app, ["validate", str(path)]), "outside")
    for allowed in (shared, shared / "book.csv"):
        result = runner.invoke(app, ["validate", str(path), "--allow-outside", str(allowed)])
        assert result.exit_code == 0, result.output
    # another folder does not admit it
    other = tmp_path / "other"
    other.mkdir()
    result = runner.invoke(app, ["validate", str(path), "--allow-outside", str(other)])
    assert_refused(result, "outside")


def test_allow_outside_must_exist(tmp_path):
    path = write_scenario(tmp_path / "repo")
    result = runner.invoke(app, ["validate", str(path), "--allow-outside", str(tmp_path / "x")])
    assert_error(result, "--allow-outside", "does not exist")


def test_a_scenario_named_by_a_link_out_of_its_folder_is_refused(tmp_path):
    # a pull request can add scenarios/evil.yaml -> ~/.git-credentials; an error quoting the
    # "YAML" would print the token
    secret = secret_file(tmp_path / "home")
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "evil.yaml").symlink_to(secret)
    result = runner.invoke(app, ["validate", str(repo / "evil.yaml")])
    assert_refused(result, "the file is a symbolic link to something outside")
    result = runner.invoke(app, ["check", str(repo / "s.yaml"), "-p", str(repo / "evil.yaml")])
    assert_refused(result, "the policy file is a symbolic link")
    # allowed explicitly, the file is read (and is no YAML mapping)
    result = runner.invoke(
        app, ["validate", str(repo / "evil.yaml"), "--allow-outside", str(secret)]
    )
    assert result.exit_code == 2 and "expected a mapping" in result.output


def test_a_folder_linked_out_of_the_checkout_is_refused(tmp_path, monkeypatch):
    # `scenarios/home -> ~` in a pull request, and a glob such as scenarios/*/*.yaml
    home = tmp_path / "home"
    home.mkdir()
    (home / "hosts.yaml").write_text(f"{SECRET}\n")  # a YAML file that is one secret
    repo = tmp_path / "repo"
    (repo / "scenarios").mkdir(parents=True)
    (repo / "scenarios" / "home").symlink_to(home)
    monkeypatch.chdir(repo)  # the checkout is the working directory, as in CI
    result = runner.invoke(app, ["validate", "scenarios/home/hosts.yaml"])
    assert_refused(result, "the folder", "scenarios/home' on its path is a symbolic link")
    result = runner.invoke(
        app, ["validate", "scenarios/home/hosts.yaml", "--allow-outside", str(home)]
    )
    assert result.exit_code == 2 and "expected a mapping" in result.output  # read, when allowed
    # a link to a folder inside the folder that holds it is fine
    (repo / "scenarios" / "real").mkdir()
    write_scenario(repo / "scenarios" / "real", name="ok.yaml")
    (repo / "scenarios" / "same").symlink_to(repo / "scenarios" / "real")
    assert runner.invoke(app, ["validate", "scenarios/same/ok.yaml"]).exit_code == 0


def test_a_loop_of_links_is_an_input_error(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "loop.csv").symlink_to("loop.csv")
    path = write_scenario(repo, "loop.csv")
    assert_error(runner.invoke(app, ["validate", str(path)]), "a loop of symbolic links")
    (repo / "a.yaml").symlink_to("b.yaml")
    (repo / "b.yaml").symlink_to("a.yaml")
    result = runner.invoke(app, ["check", str(path), "-p", str(repo / "a.yaml")])
    assert_error(result, "a loop of symbolic links")


def test_a_link_within_its_folder_is_fine(tmp_path):
    path = write_scenario(tmp_path / "repo")
    (tmp_path / "repo" / "alias.yaml").symlink_to(path)
    result = runner.invoke(app, ["validate", str(tmp_path / "repo" / "alias.yaml")])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    "command",
    [
        ["run", "{s}"],
        ["validate", "{s}"],
        ["sweep", "{s}", "--shock", "ETH=-0.1,-0.2"],
        ["simulate", "{s}"],
        ["critical", "{s}", "--asset", "ETH", "--above", "0"],
        ["clusters", "{s}", "--asset", "ETH"],
        ["check", "{s}", "-p", "{p}"],
        ["diff", "{s}", "{s}"],
        ["diff", "{s}", "--set", "protocols.lend.reserve_usd=1"],
        ["compare", "{s}", "{s}"],
    ],
    ids=lambda c: "-".join(c[:1] + [a for a in c[2:] if a.startswith("--set")]),
)
def test_every_command_that_loads_a_scenario_honours_the_sandbox(tmp_path, command):
    secret_file(tmp_path / "outside")
    path = write_scenario(tmp_path / "repo", "../outside/.git-credentials")
    policy = tmp_path / "repo" / "policy.yaml"
    policy.write_text("gates:\n  - check: bad_debt_usd <= 1e9\n")
    args = [a.format(s=path, p=policy) for a in command]
    assert_refused(runner.invoke(app, args), "is outside the scenario's folder")


def test_dask_workers_reload_under_the_clients_sandbox(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "book.csv").write_text(BOOK)
    path = write_scenario(tmp_path / "repo", str(shared / "book.csv"))
    with pytest.raises(InputError, match="outside"):
        load_variants(path)
    sandbox = Sandbox.allowing([shared])
    compiled = load_variants(path, sandbox=sandbox).base
    source = source_of(compiled)
    assert source is not None and source.sandbox == sandbox
    again = source.load().base  # what a Dask worker does
    assert again.position_counts.sum() == compiled.position_counts.sum() == 3


def test_the_library_default_is_the_strict_sandbox(tmp_path):
    secret_file(tmp_path / "outside")
    path = write_scenario(tmp_path / "repo", "../outside/.git-credentials")
    with pytest.raises(InputError) as err:
        load_scenario(path)
    assert SECRET not in err.value.render()


# --- an error quotes at most ~80 characters of a file -------------------------------------------


def test_quote_caps_and_escapes():
    assert quote("abc") == "'abc'"
    long = "x" * 10_000
    text = quote(long)
    assert text.startswith("'" + "x" * QUOTE_LIMIT + "'") and "9,920 more characters" in text
    assert "\n" not in quote("a\nb") and "\\n" in quote("a\nb")
    assert "\x1b" not in quote("\x1b]8;;http://x\x07") and "\\x1b" in quote("\x1b")
    assert quote("it's") == "'it\\'s'"


def test_one_line_escapes_what_could_start_a_line_or_a_ci_command():
    assert one_line("a\r\nb") == "a\\r\\nb"
    assert one_line("\u202egnp.exe") == "\\u202egnp.exe"  # a bidi override
    assert one_line("\ud800") == "\\ud800"  # a lone surrogate cannot even be printed
    assert one_line("::error::x") == ":\\:error:\\:x"
    assert one_line("a ##[error]b ##vso[task]") == "a #\\#[error]b #\\#vso[task]"
    assert one_line("Aave v3 (ETH) — 50% <ok>") == "Aave v3 (ETH) — 50% <ok>"  # untouched


def test_a_huge_bad_scalar_is_not_echoed(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("x" * 2_000_000 + "\n")  # a single value, not a mapping
    result = runner.invoke(app, ["validate", str(path)])
    assert_error(result, "expected a mapping at the top level", "more characters")
    assert len(result.output) < 600


def test_a_huge_bad_key_is_not_echoed(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(scenario()) + "? " + "k" * 1_000_000 + "\n: 1\n")
    result = runner.invoke(app, ["validate", str(path)])
    assert_error(result, "unknown key")
    assert len(result.output) < 1000


def test_a_csv_row_in_an_error_is_quoted_not_echoed(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "book.csv").write_text(
        "account,collateral.ETH,debt.USDC\nalice,10,15000\n" + "y" * 50_000 + "\n"
    )
    path = write_scenario(repo, "book.csv")
    result = runner.invoke(app, ["validate", str(path)])
    assert_error(result, "expected 3 columns, found 1", f"{repo / 'book.csv'}:3")
    assert len(result.output) < 600


def test_a_message_is_one_safe_line_whatever_it_holds(tmp_path):
    # a key with a newline and a CI command: the message quotes it escaped
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(scenario()) + '"x\\n::error::pwned\\u001b[2J": 1\n')
    result = runner.invoke(app, ["validate", str(path)])
    assert_error(result, "unknown key")
    assert "\x1b" not in result.output
    assert not any(line.lstrip().startswith("::") for line in result.output.splitlines())


def test_quoted_file_names_are_safe_too(tmp_path):
    path = write_scenario(tmp_path / "repo", "book\n::error::x.csv")
    result = runner.invoke(app, ["validate", str(path)])
    assert_error(result, "positions file not found")
    assert not any(line.lstrip().startswith("::") for line in result.output.splitlines())


# --- only regular files, and never more bytes than a cap ------------------------------------------


def contagion(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """The installed command in a process of its own (a hang fails the test, not the suite)."""
    exe = Path(sys.executable).with_name("contagion")
    return subprocess.run(
        [str(exe), *args], capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_a_fifo_is_refused_without_blocking(tmp_path):
    # nobody writes to these pipes: opening one for reading would wait forever
    repo = tmp_path / "repo"
    repo.mkdir()
    os.mkfifo(repo / "scenario.yaml")
    os.mkfifo(repo / "policy.yaml")
    os.mkfifo(repo / "book.csv")
    good = write_scenario(repo, "book.csv", name="good.yaml")
    for args, what in (
        (["run", str(repo / "scenario.yaml")], "scenario file"),
        (["check", str(good), "-p", str(repo / "policy.yaml")], "policy file"),
        (["run", str(good)], "positions file"),
    ):
        result = contagion(*args, timeout=60)
        assert result.returncode == 2, result.stderr
        assert f"the {what} is not a regular file: it is a named pipe (FIFO)" in result.stderr


def test_a_folder_and_a_device_are_not_regular_files(tmp_path):
    repo = tmp_path / "repo"
    (repo / "book.csv").mkdir(parents=True)
    path = write_scenario(repo, "book.csv")
    assert_error(runner.invoke(app, ["validate", str(path)]), "not a regular file: it is a folder")
    assert_error(runner.invoke(app, ["validate", str(repo)]), "not a regular file: it is a folder")
    # /dev/zero never ends: a link to it is refused as a device, once the sandbox lets it in
    (repo / "zero.yaml").symlink_to("/dev/zero")
    result = runner.invoke(app, ["validate", str(repo / "zero.yaml"), "--allow-outside", "/dev"])
    assert_error(result, "not a regular file: it is a device")
    (repo / "zero.csv").symlink_to("/dev/zero")
    path = write_scenario(repo, "zero.csv")
    result = runner.invoke(app, ["validate", str(path), "--allow-outside", "/dev/zero"])
    assert_error(result, "not a regular file: it is a device")


def test_the_byte_cap_is_counted_while_reading_not_taken_from_the_size():
    # /proc files say they are empty (st_size 0) and are not
    proc = Path("/proc/self/maps")
    if not proc.exists():
        pytest.skip("needs /proc")
    assert proc.stat().st_size == 0
    with pytest.raises(InputError, match="larger than"):
        read_capped(proc, 16, "scenario file")
    assert len(read_capped(proc, 2**24, "scenario file")) > 16


def test_a_yaml_file_over_the_cap_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(load_yaml, "MAX_FILE_BYTES", 4096)
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(scenario()) + "description: " + "x" * 5000 + "\n")
    assert_error(
        runner.invoke(app, ["validate", str(path)]),
        "the file is larger than 4,096 bytes",
        "positions_file",
    )


def write_book(repo: Path, name: str, rows: int, gz: bool = False) -> Path:
    data = BOOK.splitlines()[0] + "\n" + "".join(f"a{i},1,100\n" for i in range(rows))
    repo.mkdir(parents=True, exist_ok=True)
    file = repo / name
    file.write_bytes(gzip.compress(data.encode()) if gz else data.encode())
    return write_scenario(repo, name)


def test_a_gz_book_is_capped_after_decompression(tmp_path, monkeypatch):
    path = write_book(tmp_path / "repo", "book.csv.gz", 20_000, gz=True)
    assert (tmp_path / "repo" / "book.csv.gz").stat().st_size < 100_000
    ok = runner.invoke(app, ["validate", str(path)])
    assert ok.exit_code == 0 and "20,001 positions" in ok.output, ok.output
    monkeypatch.setattr(files, "MAX_BOOK_BYTES", 100_000)  # below its 200 kB of text
    result = runner.invoke(app, ["validate", str(path)])
    assert_error(result, "book.csv.gz: the decompressed positions file is larger than")


def test_a_gz_of_one_endless_line_is_refused_quickly(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "book.csv.gz").write_bytes(gzip.compress(b"account,x\n" + b"\0" * (8 << 20)))
    path = write_scenario(repo, "book.csv.gz")
    assert_error(runner.invoke(app, ["validate", str(path)]), "a line is longer than 1 MiB")


def test_a_broken_gz_is_an_input_error(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "book.csv.gz").write_bytes(gzip.compress(BOOK.encode())[:-12])
    path = write_scenario(repo, "book.csv.gz")
    assert_error(runner.invoke(app, ["validate", str(path)]), "book.csv.gz")


def test_a_plain_book_over_the_cap_is_refused(tmp_path, monkeypatch):
    path = write_book(tmp_path / "repo", "book.csv", 20_000)
    monkeypatch.setattr(files, "MAX_BOOK_BYTES", 100_000)
    assert_error(runner.invoke(app, ["validate", str(path)]), "the positions file is larger than")


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_rows_are_capped_per_file_and_per_scenario(tmp_path, monkeypatch, fmt):
    repo = tmp_path / "repo"
    path = write_book(repo, "book.csv", 5_000)
    if fmt == "parquet":
        import pyarrow.csv as pacsv
        import pyarrow.parquet as pq

        pq.write_table(pacsv.read_csv(repo / "book.csv"), repo / "book.parquet")
        path = write_scenario(repo, "book.parquet")
    monkeypatch.setattr(files, "MAX_POSITIONS", 4_000)
    assert_error(runner.invoke(app, ["validate", str(path)]), "rows; at most 4,000")
    monkeypatch.setattr(files, "MAX_POSITIONS", 5_000)
    monkeypatch.setattr(load_scenario_module, "MAX_POSITIONS", 5_000)  # 5,000 + 1 inline
    assert_error(
        runner.invoke(app, ["validate", str(path)]), "more than 5,000 positions (inline and files)"
    )


def test_a_parquet_books_decoded_columns_are_capped(tmp_path, monkeypatch):
    import pyarrow as pa
    import pyarrow.parquet as pq

    repo = tmp_path / "repo"
    repo.mkdir()
    n = 200_000  # one account name repeated: a few kB on disk, megabytes decoded
    table = pa.table(
        {
            "account": pa.array(["x" * 50] * n),
            "collateral.ETH": pa.array([1.0] * n),
            "debt.USDC": pa.array([100.0] * n),
        }
    )
    pq.write_table(table, repo / "book.parquet", compression="zstd")
    assert (repo / "book.parquet").stat().st_size < 100_000
    path = write_scenario(repo, "book.parquet")
    monkeypatch.setattr(files, "MAX_BOOK_BYTES", 2_000_000)
    result = runner.invoke(app, ["validate", str(path)])
    assert_error(result, "the decoded positions file is larger than")


def test_a_huge_header_line_is_refused(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "book.csv").write_bytes(b"account" + b",x" * (files.MAX_HEADER_BYTES // 2) + b"\n")
    path = write_scenario(repo, "book.csv")
    assert_error(runner.invoke(app, ["validate", str(path)]), "book.csv:1", "header line")


# --- limits enforced early: counted from the parser's events, before anything is composed -------

POSITION = "{account: a, collateral: {ETH: 1.5}, debt: {USDC: 1000.0}}"


def inline_book(lines: list[str]) -> str:
    text = yaml.safe_dump(scenario(), sort_keys=False)
    return text.replace("    positions:\n", "    positions:\n" + "".join(lines), 1)


def refused_before_composing(text: str, monkeypatch) -> tuple[InputError, int]:
    """The error for ``text`` and the peak memory of refusing it; composing is forbidden."""

    def never(*_args, **_kwargs):
        raise AssertionError("the document was composed before its size was checked")

    monkeypatch.setattr(load_yaml._Loader, "get_single_node", never)
    tracemalloc.start()
    try:
        with pytest.raises(InputError) as err:
            load_yaml.load_text(text, "big.yaml")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return err.value, peak


def test_a_book_too_large_for_yaml_stops_at_the_node_limit(monkeypatch):
    # the limit scaled down 20x (the full size costs 20 s under tracemalloc; the figures at
    # full size are in docs/security.md): 10,000 inline positions are 110,000 values
    monkeypatch.setattr(load_yaml, "MAX_NODES", 50_000)
    text = inline_book([f"    - {POSITION}\n"] * 10_000)
    err, peak = refused_before_composing(text, monkeypatch)
    message = err.render()
    assert "more than 50,000 values" in message
    line = int(message.split("big.yaml:")[1].split(":")[0])
    assert 4_000 < line < 5_000  # where the count crossed the limit, not the end of the file
    assert peak < 4 * len(text)  # events are dropped as they come: no tree of nodes


def test_aliases_count_as_what_they_expand_to(monkeypatch):
    # one anchored position and 450,000 aliases of it: 5 MB of text, 5 million values
    lines = [f"    - &p {POSITION}\n"] + ["    - *p\n"] * 450_000
    err, peak = refused_before_composing(inline_book(lines), monkeypatch)
    assert "more than 1,000,000 values" in err.render()
    assert peak < 40 * 2**20


def test_a_billion_laughs_is_refused_at_the_first_alias_past_the_limit(monkeypatch):
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 10) + "]")
    err, _ = refused_before_composing("\n".join(lines) + "\n", monkeypatch)
    # a..e hold 123,455 values, each alias of e 111,111: the 8th alias on f's line (column 29)
    # crosses 10^6, long before f's 10^7 or i's 10^10
    assert "big.yaml:6:29:" in err.render()


def test_a_document_under_the_limit_still_loads_with_its_aliases():
    text = "a: &a [1, 2, 3]\nb: *a\nc: {<<: &m {x: 1}, y: 2}\nd: *m\n"
    doc = load_yaml.load_text(text, "ok.yaml")
    assert doc.data == {"a": [1, 2, 3], "b": [1, 2, 3], "c": {"x": 1, "y": 2}, "d": {"x": 1}}


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("a: &a [*a]\n", "recursive alias"),
        ("a: &a {b: [1, {c: *a}]}\n", "recursive alias"),
        ("a: " + "[" * 65 + "]" * 65 + "\n", "nested more than 64 levels"),
    ],
)
def test_recursion_and_depth_are_refused_from_the_events(text, fragment, monkeypatch):
    err, _ = refused_before_composing(text, monkeypatch)
    assert fragment in err.render()


# --- messages ----------------------------------------------------------------------------------


@pytest.mark.parametrize("numpy_reader", [False, True], ids=["pyarrow", "numpy"])
@pytest.mark.parametrize(
    ("content", "line"),
    [
        (b"account,collateral.ETH,debt.USDC\nalice,10,15000\nb\xffb,5,9000\n", 3),
        (b"account,collateral.ETH,debt.USDC\nalice,10,15000\nbob,5,9000\xe9\n", 3),
        (b"account,collateral.\xe9TH,debt.USDC\nalice,10,15000\n", 1),
    ],
    ids=["text-column", "number-column", "header"],
)
def test_a_csv_encoding_error_names_its_line(tmp_path, monkeypatch, content, line, numpy_reader):
    if numpy_reader:
        from contagion_cli.load import books

        monkeypatch.setattr(books, "_read_csv", books._read_csv_numpy)
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "book.csv").write_bytes(content)
    path = write_scenario(repo, "book.csv")
    result = runner.invoke(app, ["validate", str(path)])
    assert_error(result, f"book.csv:{line}: not UTF-8 text", "save the file as UTF-8")


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_a_column_named_twice_is_an_input_error(tmp_path, fmt):
    repo = tmp_path / "repo"
    repo.mkdir()
    if fmt == "csv":
        (repo / "book.csv").write_text("account,account,collateral.ETH,debt.USDC\na,b,1,100\n")
    else:
        pa = pytest.importorskip("pyarrow")
        pq = pytest.importorskip("pyarrow.parquet")
        table = pa.Table.from_arrays(
            [pa.array(["a"]), pa.array(["b"]), pa.array([1.0]), pa.array([100.0])],
            names=["account", "account", "collateral.ETH", "debt.USDC"],
        )
        pq.write_table(table, repo / "book.parquet")
    path = write_scenario(repo, f"book.{fmt}")
    assert_error(runner.invoke(app, ["validate", str(path)]), "column 'account' appears twice")
