"""`./dev`, the checkout's entry point: it installs from the checkout, and runs grocery where it was called."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DEV = REPO / "dev"
VENV = Path(sys.executable).parents[1]  # the environment running these tests


def dev(*args: str, cwd: Path, script: Path = DEV) -> subprocess.CompletedProcess[str]:
    stamp = VENV / ".installed"
    if not stamp.is_file() or stamp.stat().st_mtime < (REPO / "pyproject.toml").stat().st_mtime:
        pytest.skip(f"{VENV} was not set up by ./dev, which would install into it")
    env = {**os.environ, "GROCERY_VENV": str(VENV)}
    return subprocess.run(
        ["bash", str(script), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def test_grocery_reads_relative_paths_from_the_callers_folder(tmp_path: Path) -> None:
    (tmp_path / "grocery.yaml").write_text("source:\n  scale: 0.25\n")
    done = dev("grocery", "config", "--config", "grocery.yaml", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "scale: 0.25" in done.stdout
    # Called through a symlink (in a folder of scripts on PATH, say), it still finds the checkout.
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "grocery-dev").symlink_to(DEV)
    done = dev(
        "grocery", "config", "--config", "grocery.yaml", cwd=tmp_path, script=tmp_path / "bin" / "grocery-dev"
    )
    assert done.returncode == 0, done.stderr
    assert "scale: 0.25" in done.stdout


def test_an_unknown_command_is_one_line_and_exit_2(tmp_path: Path) -> None:
    done = subprocess.run(
        ["bash", str(DEV), "tset"], cwd=tmp_path, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "error: unknown command 'tset' (use ./dev run, test, grocery or setup; ./dev help says more)"
    ]
    assert done.stdout == ""
