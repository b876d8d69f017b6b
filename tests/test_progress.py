"""Progress lines: whole lines in a log, whatever their length, and a run that outlives its reader."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb

from grocery.progress import Progress


def test_a_long_line_is_never_cut_to_a_width() -> None:
    progress = Progress.to_terminal()
    assert progress.console is not None
    message = "load: " + "a stage summary longer than any terminal, " * 5 + "end"
    with progress.console.capture() as captured:
        progress.info(message)
        with progress.step("checking " + "a-very-long-file-name-" * 6 + ".csv"):
            pass
    lines = captured.get().splitlines()
    assert lines[0] == message
    assert len(lines) == 2 and lines[1].startswith("  done checking a-very-long-file-name-")


def test_a_run_whose_reader_has_gone_goes_on_to_its_end(tmp_path: Path) -> None:
    """`grocery run 2>&1 | head -3`: the reader leaves after three lines. The run finishes its stages
    (dbt's too, whose callback prints each node from a worker thread) and exits 0, without a word
    more and without waiting forever on a node that never reported back."""
    home = tmp_path / "home"
    run = subprocess.Popen(
        [sys.executable, "-m", "grocery.cli", "run", "--stages", "extract,load,transform",
         "--scale", "0.001", "--home", str(home)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=tmp_path,
    )  # fmt: skip
    assert run.stdout is not None
    first = [run.stdout.readline() for _ in range(3)]
    run.stdout.close()
    assert first[0].startswith(b"extract: ")
    assert run.wait(timeout=120) == 0
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute("select count(*) from marts.mart_sales_summary").fetchone()[0] > 0


def test_square_brackets_in_a_message_are_printed_as_they_are() -> None:
    """A path or a name is never rich markup: "[red]" stays, and "[/x]" does not end the run."""
    progress = Progress.to_terminal()
    assert progress.console is not None
    where = "file:///tmp/h[/x] [red]/lake/raw"
    with progress.console.capture() as captured:
        progress.info(f"  landed 7 files in {where}")
        with progress.step(f"landing files in {where}"):
            pass
    lines = captured.get().splitlines()
    assert lines[0] == f"  landed 7 files in {where}"
    assert lines[1].startswith(f"  done landing files in {where} (")


def test_control_characters_in_a_message_are_printed_as_escapes() -> None:
    """A file name of the delivery reaches the progress lines: its ESC must not recolour the terminal."""
    progress = Progress.to_terminal()
    assert progress.console is not None
    name = "sales\x1b[31m\u202e.csv"
    with progress.console.capture() as captured:
        progress.info(f"  checked {name}")
        with progress.step(f"checking {name}"):
            pass
    lines = captured.get().splitlines()
    assert lines[0] == "  checked sales\\x1b[31m\\u202e.csv"
    assert lines[1].startswith("  done checking sales\\x1b[31m\\u202e.csv (")
