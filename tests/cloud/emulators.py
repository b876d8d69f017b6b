"""The cloud data path on local emulators (helpers of tests/cloud): GCS on gcp-storage-emulator, BigQuery on bqemulator.

Each emulator is started once per test session, on free ports of 127.0.0.1, and stopped at the end:
- Cloud Storage: `gcs_emulator.py` beside this file (gcp-storage-emulator from the main environment,
  objects stored on disk), with one bucket, `grocery-lake`;
- BigQuery: `bqemulator start` from `.venv-emulators` (scripts/setup.d/50-emulators.sh), its
  `BQEMU_GCS_LOCAL_ROOT` set to the Cloud Storage emulator's folder, so `gs://` loads and exports
  reach the same bucket (gcs_emulator.py holds the one shim that needs).

Tests talk to them with Google's own client libraries, anonymous credentials and an explicit project,
never `google.auth.default()`. Each test works under its own lake prefix and its own dataset prefix,
so tests sharing the emulators never see each other's data. The endpoints reach the library only
through the environment variables that would point it anywhere else (`grocery.cloud`), set per test.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

# Loopback only, and gcsfs must not look for zonal/HNS buckets (it hangs): before anything imports it.
os.environ.setdefault("NO_GCE_CHECK", "True")
os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")
os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")

ROOT = Path(__file__).resolve().parents[2]
EMULATORS_VENV = Path(os.environ.get("GROCERY_EMULATORS_VENV", ROOT / ".venv-emulators"))
BQEMULATOR = EMULATORS_VENV / "bin" / "bqemulator"
PROJECT = "test-project"
BUCKET = "grocery-lake"
# bqemulator keeps every dataset in one DuckDB catalogue whatever the location; the pipeline's default.
LOCATION = "EU"
START_TIMEOUT = 60.0


def require(condition: bool, why: str) -> None:
    """Skip a test whose tools are missing on a laptop; in CI (CI=true) a missing tool is a failure."""
    if condition:
        return
    if os.environ.get("CI"):
        pytest.fail(why, pytrace=False)
    pytest.skip(why)


REQUIRED_MODULES = (
    "gcp_storage_emulator",
    "gcsfs",
    "google.cloud.bigquery",
    "google.cloud.storage",
    "dbt.adapters.bigquery",
)


def require_modules() -> None:
    """The client libraries and the GCS emulator of the main environment (the gcp and dev extras)."""
    for module in REQUIRED_MODULES:
        try:
            __import__(module)
        except ImportError:
            require(False, f"{module} is not installed: pip install -e '.[dev,gcp]' (./dev setup)")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Emulator:
    """A running emulator process and where to reach it."""

    name: str
    endpoint: str
    process: subprocess.Popen
    log: Path

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)


def _get(url: str) -> bytes | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # loopback only
            return response.read()
    except OSError:
        return None


def start_emulator(name: str, cmd: list[str], health_url: str, log: Path, env: dict[str, str]) -> Emulator:
    """Start a process, wait until its health URL answers, or fail with the end of its log."""
    handle = open(log, "wb")  # noqa: SIM115 - the process writes it for the whole session
    process = subprocess.Popen(
        cmd,
        stdout=handle,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=env,
        start_new_session=True,
    )
    handle.close()
    emulator = Emulator(name, health_url.rsplit("/", 1)[0], process, log)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        if _get(health_url) is not None:
            return emulator
        time.sleep(0.2)
    emulator.stop()
    pytest.fail(f"{name} did not start within {START_TIMEOUT:.0f} s:\n{emulator.log_tail()}", pytrace=False)


@dataclass
class Gcs:
    """The Cloud Storage emulator: endpoint, bucket, and the folder its objects are stored in."""

    emulator: Emulator
    root: Path  # <root>/<bucket>/<object name>

    @property
    def endpoint(self) -> str:
        return self.emulator.endpoint

    def client(self):
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage

        return storage.Client(
            project=PROJECT,
            credentials=AnonymousCredentials(),
            client_options={"api_endpoint": self.endpoint},
        )


@dataclass
class BigQueryEmulator:
    emulator: Emulator

    @property
    def endpoint(self) -> str:
        return self.emulator.endpoint


def base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BQEMU_", "GOOGLE_", "STORAGE_EMULATOR"))}
    env["NO_GCE_CHECK"] = "True"
    env["NO_PROXY"] = "127.0.0.1,localhost"
    return env


def unique_name(request: pytest.FixtureRequest, length: int = 24) -> str:
    """A short name for one test (its own lake prefix and dataset prefix)."""
    base = re.sub(r"[^a-z0-9]+", "_", request.node.name.lower()).strip("_")[:length]
    return f"{base}_{uuid.uuid4().hex[:6]}"


@dataclass
class Cloud:
    """One test's corner of the emulators: a gs:// lake prefix, a dataset prefix, and the settings to reach them."""

    gcs: Gcs
    bigquery: BigQueryEmulator
    lake_uri: str  # gs://grocery-lake/<test>/lake
    dataset_prefix: str

    def env(self) -> dict[str, str]:
        """The environment that points the library at the emulators (grocery.cloud)."""
        return {
            "GROCERY_GCS_ENDPOINT": self.gcs.endpoint,
            "GROCERY_BQ_API_ENDPOINT": self.bigquery.endpoint,
        }

    def spec_data(self, source_folder: Path | None = None) -> dict[str, Any]:
        """A pipeline spec (as a grocery.yaml mapping) with no emulator in it: the environment does that."""
        data: dict[str, Any] = {
            "lake": self.lake_uri,
            "warehouse": {
                "kind": "bigquery",
                "project": PROJECT,
                "location": LOCATION,
                "datasetPrefix": self.dataset_prefix,
            },
        }
        if source_folder is not None:
            data["source"] = {"kind": "path", "path": str(source_folder)}
        return data

    def warehouse(self, **options: Any):
        """A BigQueryWarehouse on the emulator whose failing calls fail at once (no ten-minute retries)."""
        from google.api_core.retry import Retry

        from grocery.config import BigQueryWarehouseSpec
        from grocery.warehouse.bigquery import BigQueryWarehouse

        spec = BigQueryWarehouseSpec(
            project=PROJECT,
            location=LOCATION,
            dataset_prefix=self.dataset_prefix,
            api_endpoint=self.bigquery.endpoint,
        )
        options = {"retry": Retry(timeout=20), "job_retry": None, "timeout": 60} | options
        return BigQueryWarehouse.from_spec(spec, **options)


def short_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every BigQueryWarehouse the pipeline opens fail at once against the emulator, not retry 10 minutes."""
    from google.api_core.retry import Retry

    import grocery.warehouse as warehouse_module
    from grocery.config import BigQueryWarehouseSpec
    from grocery.warehouse.bigquery import BigQueryWarehouse

    original = warehouse_module.open_warehouse

    def open_warehouse(spec, home):
        if isinstance(spec, BigQueryWarehouseSpec):
            return BigQueryWarehouse.from_spec(spec, retry=Retry(timeout=20), job_retry=None, timeout=60)
        return original(spec, home)

    monkeypatch.setattr(warehouse_module, "open_warehouse", open_warehouse)


@contextlib.contextmanager
def cloud_settings(cloud: Cloud) -> Iterator[pytest.MonkeyPatch]:
    """The emulator endpoints in the environment and short BigQuery retries, for the duration of a block."""
    with pytest.MonkeyPatch.context() as mp:
        for name, value in cloud.env().items():
            mp.setenv(name, value)
        short_retries(mp)
        yield mp


def make_cloud(gcs: Gcs, bigquery_emulator: BigQueryEmulator, name: str) -> Cloud:
    return Cloud(gcs, bigquery_emulator, f"gs://{BUCKET}/{name}/lake", f"{name}_")
