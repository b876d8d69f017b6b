"""`kopf run operator/main.py`, as the operator's container runs it, against kmock and the fake Airflow."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import kmock as km
import pytest
from fakes.airflow_api import FakeAirflow
from opbench import (
    AIRFLOW_SECRET,
    OPERATOR_NAMESPACE,
    PIPELINES,
    Kubectl,
    eventually,
    pipeline_manifest,
    wait_for,
)  # fmt: skip
from opfixtures import *  # noqa: F403 (the fixtures airflow, kmock_options, kubectl)

ROOT = Path(__file__).resolve().parents[2]
FACE = "operator/main.py"


def kopf_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GROCERY_")}
    return {**env, "NO_PROXY": "127.0.0.1,localhost", **extra}


def test_kopf_run_without_settings_stops_with_one_line_naming_the_variable() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "kopf", "run", "--standalone", "--all-namespaces", FACE],
        cwd=ROOT, env=kopf_env(), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode != 0
    assert "error: GROCERY_AIRFLOW_URL is not set" in done.stdout + done.stderr


@pytest.mark.asyncio
@pytest.mark.timeout(60)
async def test_kopf_run_loads_the_face_and_reconciles(
    kmock: km.KubernetesEmulator, kubectl: Kubectl, airflow: FakeAirflow
) -> None:
    env = kopf_env(
        GROCERY_AIRFLOW_URL=airflow.url, GROCERY_KUBE_API_URL=str(kmock.url), GROCERY_NAMESPACE=OPERATOR_NAMESPACE,
        GROCERY_AIRFLOW_SECRET=AIRFLOW_SECRET, GROCERY_STATUS_INTERVAL="0.5", GROCERY_RETRY_DELAY="0.5",
    )  # fmt: skip
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "kopf", "run", "--standalone", "--all-namespaces", FACE,
        cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    try:

        async def watching() -> bool:
            assert process.returncode is None, "kopf exited"
            return any(r.action == km.action.WATCH and r.resource == PIPELINES for r in list(kmock))

        await eventually(watching, timeout=30, what="kopf run to watch grocerypipelines")
        airflow.load_dag("grocery__default__face")
        await kubectl.apply(pipeline_manifest("face"))
        ready = await wait_for(kubectl, "face", lambda o: o["status"]["phase"] == "Ready", timeout=20)
        assert ready["status"]["configMap"] == "default/grocerypipeline.default.face"
        assert not airflow.is_paused("grocery__default__face")
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        output, _ = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode == 0, output.decode()[-3000:]
