"""One local[1] SparkSession for every Spark test (loopback only, small memory, quiet)."""

from __future__ import annotations

import pytest

pytest.importorskip("pyspark", reason="pyspark is not installed (pip install -e '.[spark]')")


@pytest.fixture(scope="session")
def spark():
    from grocery.spark.session import get_session

    session = get_session("grocery-tests", local=True, cores=1, memory_mb=1024)
    session.conf.set("spark.sql.shuffle.partitions", "2")
    yield session
    session.stop()
