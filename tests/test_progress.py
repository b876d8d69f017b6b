"""Progress lines: whole lines in a log, whatever their length."""

from __future__ import annotations

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
