"""Fixtures of tests/cloud: each emulator once per session, and each test's own corner of them.

See emulators.py for how the two emulators are wired together and reached.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from .emulators import (
    BQEMULATOR,
    BUCKET,
    PROJECT,
    BigQueryEmulator,
    Cloud,
    Gcs,
    base_env,
    cloud_settings,
    free_port,
    make_cloud,
    require,
    require_modules,
    start_emulator,
    unique_name,
)
from .runs import CloudRun, EmbeddedRun, run_embedded, run_on_emulators


@pytest.fixture(scope="session")
def gcs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gcs]:
    """gcp-storage-emulator on a free port, objects on disk, bucket grocery-lake; stopped at the end."""
    require_modules()
    data = tmp_path_factory.mktemp("gcs-emulator")
    port = free_port()
    cmd = [sys.executable, str(Path(__file__).with_name("gcs_emulator.py")), "--port", str(port),
           "--data-dir", str(data), "--bucket", BUCKET]  # fmt: skip
    emulator = start_emulator(
        "gcp-storage-emulator",
        cmd,
        f"http://127.0.0.1:{port}/",
        data / "emulator.log",
        base_env() | {"STORAGE_DIR": ".cloudstorage"},
    )
    try:
        yield Gcs(emulator, data / ".cloudstorage")
    finally:
        emulator.stop()


@pytest.fixture(scope="session")
def bigquery_emulator(gcs: Gcs, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BigQueryEmulator]:
    """bqemulator 1.4.0 from .venv-emulators, in memory, `gs://` resolved in the GCS emulator's folder."""
    require(
        BQEMULATOR.exists(), f"{BQEMULATOR} is missing: run scripts/setup.d/50-emulators.sh (./dev setup)"
    )
    logs = tmp_path_factory.mktemp("bq-emulator")
    rest, grpc = free_port(), free_port()
    env = base_env() | {"BQEMU_GCS_LOCAL_ROOT": str(gcs.root), "BQEMU_LOG_LEVEL": "warning"}
    cmd = [str(BQEMULATOR), "start", "--rest-port", str(rest), "--grpc-port", str(grpc), "--project", PROJECT]
    emulator = start_emulator(
        "bqemulator", cmd, f"http://127.0.0.1:{rest}/healthz", logs / "emulator.log", env
    )
    try:
        yield BigQueryEmulator(emulator)
    finally:
        emulator.stop()


@pytest.fixture
def cloud(gcs: Gcs, bigquery_emulator: BigQueryEmulator, request: pytest.FixtureRequest) -> Iterator[Cloud]:
    """This test's lake prefix and datasets on the emulators, with the endpoints in the environment."""
    c = make_cloud(gcs, bigquery_emulator, unique_name(request))
    with cloud_settings(c):
        yield c


@pytest.fixture(scope="session")
def small_delivery(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The seven generated files at scale 0.002 (about 13,500 sales), seed 11; shared, never modify it."""
    from grocery.sources.generator import generate

    folder = tmp_path_factory.mktemp("cloud-delivery")
    generate(folder, scale=0.002, seed=11)
    return folder


@pytest.fixture(scope="session")
def embedded_run(small_delivery: Path, tmp_path_factory: pytest.TempPathFactory) -> EmbeddedRun:
    """`grocery run` of the small delivery with a local lake and DuckDB: the reference of every comparison."""
    return run_embedded(small_delivery, tmp_path_factory.mktemp("embedded"))


@pytest.fixture(scope="session")
def cloud_run(
    gcs: Gcs,
    bigquery_emulator: BigQueryEmulator,
    small_delivery: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> CloudRun:
    """`grocery run` of the same delivery on the emulators (see runs.py); shared, only the last test changes it."""
    return run_on_emulators(
        make_cloud(gcs, bigquery_emulator, "e2e"), small_delivery, tmp_path_factory.mktemp("cloud")
    )


@pytest.fixture
def cloud_env(cloud_run: CloudRun) -> Iterator[CloudRun]:
    """The cloud run, with its endpoints in the environment for the duration of one test."""
    with cloud_settings(cloud_run.cloud):
        yield cloud_run
