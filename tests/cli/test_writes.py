"""Every file the tool writes is written all at once (issue 16): a full disk leaves the file
as it was, a failure removes only what this run created, and stdout on a full device is a
clear error (exit 2), not a crash."""

from __future__ import annotations

import errno
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from contagion_cli import atomic
from contagion_cli.cli.app import app

ROOT = Path(__file__).parents[2]
QUICKSTART = str(ROOT / "scenarios" / "quickstart.yaml")
MONTECARLO = str(ROOT / "scenarios" / "quickstart-montecarlo.yaml")
POLICY = str(ROOT / "scenarios" / "policies" / "quickstart-policy.yaml")
runner = CliRunner()

#: (the command, the file it writes), ``{f}`` standing for that file.
WRITERS = [
    (["run", QUICKSTART, "-o", "{f}"], "report.json"),
    (["run", QUICKSTART, "-o", "{f}"], "report.md"),
    (["run", QUICKSTART, "--graph", "{f}"], "graph.dot"),
    (["schema", "-o", "{f}"], "schema.json"),
    (["check", QUICKSTART, "-p", POLICY, "-j", "1", "--junit", "{f}"], "junit.xml"),
    (["check", QUICKSTART, "-p", POLICY, "-j", "1", "--markdown", "{f}"], "comment.md"),
    (["simulate", MONTECARLO, "-n", "4", "-j", "1", "--per-path", "{f}"], "paths.csv"),
    (["simulate", MONTECARLO, "-n", "4", "-j", "1", "--per-path", "{f}"], "paths.parquet"),
    (["sweep", QUICKSTART, "--shock", "ETH=-0.1,-0.2", "-j", "1", "-o", "{f}"], "s.parquet"),
    (["clusters", QUICKSTART, "--asset", "ETH", "--levels", "-0.1", "--plot", "{f}"], "w.png"),
]
IDS = [f"{args[0]}-{name}" for args, name in WRITERS]


@pytest.fixture(autouse=True)
def _python_executor(monkeypatch):
    monkeypatch.setenv("CONTAGION_EXECUTOR", "python")  # small books: no compile


def _args(args: list[str], file: Path) -> list[str]:
    return [a.format(f=file) for a in args]


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


@pytest.mark.parametrize(("args", "name"), WRITERS, ids=IDS)
def test_a_full_disk_leaves_the_old_file_as_it_was(tmp_path, monkeypatch, args, name):
    if name.endswith((".parquet", ".png")):
        pytest.importorskip("pyarrow" if name.endswith(".parquet") else "matplotlib")
    file = tmp_path / name
    file.write_bytes(b"the report of yesterday")

    def full(_path):  # the disk fills up while the new file is flushed
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(atomic, "_sync", full)
    result = runner.invoke(app, _args(args, file))
    assert result.exit_code == 2, result.output
    assert "No space left on device" in result.output
    assert "Traceback" not in result.output and "internal error" not in result.output
    assert file.read_bytes() == b"the report of yesterday"
    assert _leftovers(tmp_path) == []  # the temporary file is gone too


@pytest.mark.parametrize(("args", "name"), WRITERS, ids=IDS)
def test_a_good_write_replaces_the_file_and_keeps_its_mode(tmp_path, args, name):
    if name.endswith((".parquet", ".png")):
        pytest.importorskip("pyarrow" if name.endswith(".parquet") else "matplotlib")
    file = tmp_path / name
    file.write_bytes(b"old")
    file.chmod(0o640)
    result = runner.invoke(app, _args(args, file))
    assert result.exit_code in (0, 1), result.output  # check: a gate may fail
    assert file.read_bytes() != b"old" and file.stat().st_size > 0
    assert stat.S_IMODE(file.stat().st_mode) == 0o640
    assert _leftovers(tmp_path) == []


def test_a_failed_parquet_write_never_deletes_the_old_file(tmp_path, monkeypatch):
    # pyarrow removes the file it was writing when it fails: that must be our temporary file
    pq = pytest.importorskip("pyarrow.parquet")
    file = tmp_path / "s.parquet"
    file.write_bytes(b"kept")
    real = pq.write_table

    def fails_halfway(table, where, *a, **k):
        Path(where).write_bytes(b"PAR1 half")
        real(table, where + ".x")  # pyarrow's own path, so its cleanup code is exercised
        os.remove(where + ".x")
        raise OSError(errno.EDQUOT, os.strerror(errno.EDQUOT))

    monkeypatch.setattr(pq, "write_table", fails_halfway)
    args = ["sweep", QUICKSTART, "--shock", "ETH=-0.1,-0.2", "-j", "1", "-o", str(file)]
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and "quota" in result.output.lower(), result.output
    assert file.read_bytes() == b"kept"
    assert _leftovers(tmp_path) == []


def test_a_new_file_gets_the_usual_mode_and_a_link_is_written_through(tmp_path):
    umask = os.umask(0o022)
    try:
        new = tmp_path / "new.json"
        assert runner.invoke(app, ["schema", "-o", str(new)]).exit_code == 0
        assert stat.S_IMODE(new.stat().st_mode) == 0o644
    finally:
        os.umask(umask)
    target = tmp_path / "real.json"
    target.write_text("{}")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    assert runner.invoke(app, ["schema", "-o", str(link)]).exit_code == 0
    assert link.is_symlink() and '"title"' in target.read_text()


def test_generate_writes_each_file_at_once(tmp_path, monkeypatch):
    folder = tmp_path / "gen"
    folder.mkdir()
    (folder / "scenario.yaml").write_text("old: true\n")

    def full(_path):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(atomic, "_sync", full)
    result = runner.invoke(app, ["generate", str(folder), "--positions", "50"])
    assert result.exit_code == 2 and "No space left on device" in result.output
    assert (folder / "scenario.yaml").read_text() == "old: true\n"
    assert _leftovers(folder) == []


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
@pytest.mark.parametrize("fmt", ["json", "table"])
def test_stdout_on_a_full_device_is_a_clear_error(fmt):
    exe = Path(sys.executable).with_name("contagion")
    with open("/dev/full", "w") as full:
        result = subprocess.run(
            [str(exe), "run", QUICKSTART, "-f", fmt],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
            env={**os.environ, "CONTAGION_EXECUTOR": "python"},
            check=False,
        )
    assert result.returncode == 2, result.stderr
    assert "cannot write the report to stdout: No space left on device" in result.stderr
    assert "Traceback" not in result.stderr and "Exception ignored" not in result.stderr
