"""Fixtures shared by every test: loopback-only settings and small generated datasets."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

# Loopback only: Spark binds 127.0.0.1, Google clients never probe the metadata server, dbt phones nowhere.
os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
os.environ.setdefault("NO_GCE_CHECK", "True")
os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")

REAL_DIMS = Path(__file__).resolve().parents[2] / "shared" / "data" / "kaggle-grocery-dims"


@pytest.fixture(scope="session")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The seven files at scale 0.005 (about 34,000 sales), seed 7; shared, never modify it."""
    from grocery.sources.generator import generate

    folder = tmp_path_factory.mktemp("generated")
    generate(folder, scale=0.005, seed=7)
    return folder


@pytest.fixture
def delivery(generated: Path, tmp_path: Path) -> Path:
    """A private copy of the generated files that a test may break."""
    folder = tmp_path / "delivery"
    shutil.copytree(generated, folder)
    return folder


@pytest.fixture(scope="session")
def real_dims() -> Path:
    """The five real dimension files of the Kaggle dataset, from ../shared (skipped when absent)."""
    if not (REAL_DIMS / "products.csv").exists():
        pytest.skip(f"real Kaggle dimension files not found in {REAL_DIMS}")
    return REAL_DIMS


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Collect garbage before pytest's summary, so clients closed by their finalizers (py4j, aiohttp)
    say so now rather than after the summary line; quiet what could only come after it."""
    import gc
    import logging

    logging.getLogger("py4j").setLevel(logging.WARNING)
    # asyncio's "Unclosed client session" about aiohttp sessions of finished tests (gcsfs, kopf)
    # says nothing about the results, whether the collection below or the interpreter's exit finds
    # them (a handler Airflow's logging set up in-process may print it after the summary anyway).
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)
    # After the summary, the exit handler that saves Spark's class archive (a fresh clone records
    # one) lets the JVM go; py4j's thread then logs at INFO, on the root logger itself, each object
    # it can no longer release there, with a traceback. The Airflow tests leave the root logger at
    # INFO, with a handler of Airflow's: that traceback says nothing about the results.
    logging.getLogger().setLevel(logging.WARNING)
    gc.collect()
