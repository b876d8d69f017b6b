"""The documented local Airflow (scripts/airflow-standalone): it serves the project's DAGs on 127.0.0.1.

Starts the script on a free port with a copy of dags/ plus one broken pipeline file, waits until the
REST API lists the project's DAG and the broken file's import error, checks that nothing listens
beyond loopback, and stops it. About a minute, mostly Airflow starting. How the script stops its
processes on Ctrl-C is checked with a stand-in for the `airflow` command, in a few seconds.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("airflow", reason="the airflow extra is not installed (scripts/setup.d/30-airflow.sh)")

import psutil  # an Airflow dependency

REPO = Path(__file__).resolve().parents[2]
DAG_ID = "grocery__default__grocery"
STARTUP_SECONDS = 240


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


async def _import_error(url: str, file_name: str) -> str | None:
    from grocery.operator.airflow import AirflowClient

    async def no_credentials() -> None:  # the standalone Airflow lets everyone in as admin
        return None

    client = AirflowClient(url, no_credentials)
    try:
        return await client.import_error(file_name)
    finally:
        await client.aclose()


def _listening(pid: int) -> list[tuple[str, int, str]]:
    """(address, port, process) of every listening socket of a process and its children."""
    found = []
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return found
    for process in processes:
        try:
            for conn in process.net_connections(kind="inet"):
                if conn.status == psutil.CONN_LISTEN:
                    found.append((conn.laddr.ip, conn.laddr.port, process.name()))
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


@pytest.mark.slow
def test_the_standalone_command_serves_the_project_dags_on_loopback(tmp_path: Path, write_pipeline):
    dags = tmp_path / "dags"
    shutil.copytree(REPO / "dags", dags)
    write_pipeline(dags, "broken", {"execution": {"mode": "everywhere"}})
    port = _free_port()
    log_path = tmp_path / "airflow.log"
    env = {
        **os.environ,
        "AIRFLOW_PORT": str(port),
        # Relative, as a user would give them: read from the folder the script is called from.
        "GROCERY_DAGS_FOLDER": "dags",
        "GROCERY_HOME": "grocery-home",
        "GROCERY_VENV": str(Path(sys.executable).parents[1]),  # the environment running these tests
    }
    for name in [n for n in env if n.startswith("AIRFLOW__") or n == "AIRFLOW_HOME"]:
        del env[name]  # the script makes its own AIRFLOW_HOME, as it does for a user
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [str(REPO / "scripts" / "airflow-standalone")],
            cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}/api/v2"
    try:
        dag, errors, deadline = None, [], time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline and process.poll() is None:
            try:
                dags_listed = {d["dag_id"]: d for d in _get(f"{base}/dags")["dags"]}
                errors = _get(f"{base}/importErrors")["import_errors"]
            except OSError:
                dags_listed = {}
            dag = dags_listed.get(DAG_ID)
            if dag and errors:
                break
            time.sleep(2)
        log_tail = log_path.read_text(errors="replace")[-4000:]
        assert process.poll() is None, f"airflow-standalone exited early:\n{log_tail}"
        assert dag is not None, f"{DAG_ID} not listed after {STARTUP_SECONDS}s:\n{log_tail}"

        # The project's DAG is there, paused as its spec says, and the broken file beside it does
        # not take it down: its error is its own, naming the pipeline file.
        assert dag["is_paused"] is True
        assert dag["is_stale"] is False and dag["has_import_errors"] is False
        assert [e["filename"] for e in errors] == ["default__broken.py"]
        assert "default__broken.yaml" in errors[0]["stack_trace"]
        assert "execution.mode" in errors[0]["stack_trace"]
        # What the operator reads of it for the pipeline's status: the error, in one line.
        error = asyncio.run(_import_error(f"http://127.0.0.1:{port}", "default__broken.py"))
        assert (
            error is not None
            and error.startswith("grocery.errors.ConfigError: ")
            and "execution.mode" in error
        )
        assert asyncio.run(_import_error(f"http://127.0.0.1:{port}", "default__grocery.py")) is None

        assert f"stage data in {tmp_path / 'grocery-home'}/<namespace>__<name>" in log_path.read_text()

        listeners = _listening(process.pid)
        assert (("127.0.0.1", port)) in {(ip, p) for ip, p, _ in listeners}
        beyond = [entry for entry in listeners if entry[0] not in ("127.0.0.1", "::1")]
        assert beyond == [], f"listening beyond loopback: {beyond}"
    finally:
        process.send_signal(signal.SIGTERM)  # the script stops its three Airflow processes itself
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    homes = [line.split("AIRFLOW_HOME=", 1)[1].split(",", 1)[0] for line in log_path.read_text().splitlines()
             if "AIRFLOW_HOME=" in line]  # fmt: skip
    assert homes and not Path(homes[0]).exists(), "the temporary AIRFLOW_HOME is removed on exit"


# A stand-in for the `airflow` command: each command but `db` writes what it gets to FAKE_AIRFLOW_LOG
# and runs until SIGTERM, as Airflow's processes do (they catch SIGINT as well, though started in
# the background). A stubborn scheduler ignores SIGTERM, as Airflow's does while it waits for its
# running tasks, and has a worker process of its own.
_FAKE_AIRFLOW = """
import os, signal, sys, time
command = sys.argv[1]
if command == "db":
    sys.exit(0)
log = open(os.environ["FAKE_AIRFLOW_LOG"], "a", buffering=1)
stubborn = command == "scheduler" and os.environ.get("FAKE_AIRFLOW_STUBBORN") == "1"
if stubborn and os.fork() == 0:  # its worker
    while True:
        time.sleep(0.05)

def got(signum, frame):
    log.write(f"{command} {signal.Signals(signum).name}\\n")
    if signum == signal.SIGTERM and not stubborn:
        sys.exit(0)

signal.signal(signal.SIGINT, got)
signal.signal(signal.SIGTERM, got)
log.write(f"{command} started {os.getpid()} {os.getsid(0)}\\n")
while True:
    time.sleep(0.05)
"""


@pytest.mark.parametrize("stubborn", [False, True], ids=["stops", "ignores SIGTERM"])
def test_ctrl_c_stops_every_airflow_process_with_one_sigterm_or_kills_it(tmp_path: Path, stubborn: bool):
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").symlink_to(sys.executable)
    (venv / "bin" / "airflow").write_text(f"#!{sys.executable}\n{_FAKE_AIRFLOW}")
    (venv / "bin" / "airflow").chmod(0o755)
    (venv / ".airflow-installed").touch()  # scripts/setup.d/30-airflow.sh: nothing to install
    log = tmp_path / "airflow.log"
    env = {**os.environ, "GROCERY_VENV": str(venv), "FAKE_AIRFLOW_LOG": str(log),
           "FAKE_AIRFLOW_STUBBORN": str(int(stubborn)), "AIRFLOW_STOP_SECONDS": "2"}  # fmt: skip
    # As a terminal runs it: the script leads the foreground process group, which Ctrl-C signals.
    script = subprocess.Popen([str(REPO / "scripts" / "airflow-standalone")], cwd=tmp_path, env=env,
                              stderr=subprocess.PIPE, text=True, start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not log.exists() or log.read_text().count(" started ") < 3:
            assert time.monotonic() < deadline and script.poll() is None, "the stand-ins never started"
            time.sleep(0.05)
        started = {line.split()[0]: line.split()[2:] for line in log.read_text().splitlines()}
        os.killpg(script.pid, signal.SIGINT)
        _, stderr = script.communicate(timeout=30)
    finally:
        if script.poll() is None:
            os.killpg(script.pid, signal.SIGKILL)
    assert script.returncode == 130
    # Each process was in a session of its own, out of the terminal's reach, and got one SIGTERM.
    assert sorted(started) == ["api-server", "dag-processor", "scheduler"]
    assert all(int(sid) != script.pid for _, sid in started.values())
    got = sorted(line for line in log.read_text().splitlines() if " started " not in line)
    assert got == ["api-server SIGTERM", "dag-processor SIGTERM", "scheduler SIGTERM"]
    # Nothing of them runs, a stubborn scheduler and its worker included (an orphan's zombie waits
    # for the init process to reap it).
    sessions = {int(sid) for _, sid in started.values()}
    left = [p.pid for p in psutil.process_iter(["pid", "status"])
            if _session(p.pid) in sessions and p.info["status"] != psutil.STATUS_ZOMBIE]  # fmt: skip
    assert left == []
    assert ("Airflow did not stop within 2s: killing it" in stderr) == stubborn


def _session(pid: int) -> int | None:
    try:
        return os.getsid(pid)
    except OSError:
        return None
