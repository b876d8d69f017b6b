"""The SparkSession of the Spark stages.

On a cluster (`spark-submit`, the Spark operator, Livy) the session already exists and is reused as
it is. In local mode (`grocery segment`, `grocery recommend`, tests) it is built here:
- loopback only: the driver binds and advertises 127.0.0.1 (`SPARK_LOCAL_IP` too), no UI;
- sized to the machine: `local[*]`, driver memory a quarter of the available RAM, between 1 and
  3 GiB (the stages hold aggregated pairs, not the raw sales), shuffle partitions = 2 x cores;
- Python workers run this interpreter (`PYSPARK_PYTHON = sys.executable`), so code in a
  `mapInArrow` sees the same packages as the driver, and each uses one BLAS thread (Spark already
  runs one task per core);
- quiet: only errors are logged.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

LOOPBACK = "127.0.0.1"
MIN_DRIVER_MEMORY_MB = 1024
MAX_DRIVER_MEMORY_MB = 3072
_THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def available_memory_mb() -> int:
    """Memory the machine can still give (MemAvailable), in MiB; 4 GiB when it cannot be read."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    return 4096


def driver_memory_mb(available_mb: int | None = None) -> int:
    """A quarter of the available memory, clamped to [1 GiB, 3 GiB]."""
    available = available_memory_mb() if available_mb is None else available_mb
    return max(MIN_DRIVER_MEMORY_MB, min(MAX_DRIVER_MEMORY_MB, available // 4))


def local_conf(cores: int | None = None, memory_mb: int | None = None) -> dict[str, str]:
    """The settings of a local-mode session."""
    cores = cores or os.cpu_count() or 1
    partitions = str(max(2, 2 * cores))
    conf = {
        "spark.master": f"local[{cores}]",
        "spark.driver.memory": f"{memory_mb or driver_memory_mb()}m",
        "spark.driver.host": LOOPBACK,
        "spark.driver.bindAddress": LOOPBACK,
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.shuffle.partitions": partitions,
        "spark.default.parallelism": partitions,
        "spark.sql.adaptive.enabled": "true",
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.sources.partitionOverwriteMode": "static",
        "spark.python.worker.reuse": "true",
        # The raw local filesystem: no .crc checksum files beside the Parquet files in a local lake.
        "spark.hadoop.fs.file.impl": "org.apache.hadoop.fs.RawLocalFileSystem",
        "spark.driver.extraJavaOptions": "-Dlog4j2.level=error",
    }
    for name in _THREAD_VARS:
        conf[f"spark.executorEnv.{name}"] = "1"
    return conf


def _prepare_environment() -> None:
    os.environ.setdefault("SPARK_LOCAL_IP", LOOPBACK)
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)


def get_session(app_name: str = "grocery", local: bool | None = None, cores: int | None = None,
                memory_mb: int | None = None) -> SparkSession:  # fmt: skip
    """The active session, else a new one; `local=None` means local unless spark-submit made a context."""
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    launched_by_submit = "SPARK_SUBMIT_OPTS" in os.environ or os.environ.get("SPARK_ENV_LOADED") == "1"
    if local is None:
        local = not launched_by_submit
    builder = SparkSession.builder.appName(app_name)
    if local:
        _prepare_environment()
        for key, value in local_conf(cores, memory_mb).items():
            builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def stop_session() -> None:
    """Stop the active session (the CLI keeps one session for all the Spark stages of a run)."""
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        active.stop()
