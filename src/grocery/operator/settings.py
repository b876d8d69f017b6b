"""The operator's settings: one object read once, at start, from `GROCERY_*` environment variables.

    GROCERY_AIRFLOW_URL                 Airflow's API server, e.g. http://airflow-api-server.airflow:8080 (required)
    GROCERY_AIRFLOW_SECRET              Secret with `username` and `password` for Airflow's /auth/token;
                                        empty: no Authorization header (an Airflow with auth turned off)
    GROCERY_NAMESPACE                   the operator's own namespace, where that Secret lives
                                        (default: the pod's namespace, else "default")
    GROCERY_CONFIG_NAMESPACE            where pipeline ConfigMaps go; empty (default): the pipeline's namespace
    GROCERY_STATUS_INTERVAL             seconds between status refreshes from Airflow, and between checks that
                                        each pipeline's ConfigMap is as rendered (default 30)
    GROCERY_RETRY_DELAY                 first retry delay when Airflow or Kubernetes fail; doubles up to 10x (default 15)
    GROCERY_AIRFLOW_TIMEOUT             seconds for one Airflow request (default 10)
    GROCERY_DELETE_TIMEOUT              give up waiting for Airflow to pause a deleted pipeline's DAG (and,
                                        with spec.onDelete: Delete, to delete it once the data is gone)
                                        after this many seconds; the deletion then proceeds (default 600). The
                                        data-deletion Job of spec.onDelete: Delete is waited for without limit
    GROCERY_WATCH_TIMEOUT               server-side timeout of Kubernetes watches, seconds (default 300)
    GROCERY_KUBE_API_URL                talk to this Kubernetes API instead of the in-cluster/kubeconfig one,
                                        e.g. `kubectl proxy` at http://127.0.0.1:8001 (default: empty)
    GROCERY_PIPELINE_IMAGE              the image of a pipeline's stage pods when its spec names none
                                        (spec.execution.image); the chart sets the release's. Empty
                                        (default): the spec's own default, grocery-pipeline:latest
    GROCERY_SPARK_IMAGE                 likewise, the Spark image (spec.spark.image)

A bad or missing value fails at start with the variable's name: `GROCERY_STATUS_INTERVAL: expected a
number of seconds, got 'soon'`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from grocery.errors import ConfigError

PREFIX = "GROCERY_"
POD_NAMESPACE_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


@dataclass(frozen=True)
class Settings:
    """Everything the operator is told by its environment."""

    airflow_url: str
    airflow_secret: str = ""
    namespace: str = "default"
    config_namespace: str = ""
    status_interval: float = 30.0
    retry_delay: float = 15.0
    airflow_timeout: float = 10.0
    delete_timeout: float = 600.0
    watch_timeout: float = 300.0
    kube_api_url: str = ""
    pipeline_image: str = ""
    spark_image: str = ""

    @property
    def max_retry_delay(self) -> float:
        return self.retry_delay * 10

    def backoff(self, retry: int) -> float:
        """Delay before retry number `retry` (0-based): doubling from retry_delay, capped."""
        return min(self.retry_delay * 2 ** max(retry, 0), self.max_retry_delay)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read the settings; a missing or bad variable raises ConfigError naming it."""
        env = os.environ if environ is None else environ
        return cls(
            airflow_url=_url(env, "AIRFLOW_URL", required=True),
            airflow_secret=_text(env, "AIRFLOW_SECRET", ""),
            namespace=_text(env, "NAMESPACE", "") or _pod_namespace(),
            config_namespace=_text(env, "CONFIG_NAMESPACE", ""),
            status_interval=_seconds(env, "STATUS_INTERVAL", 30.0),
            retry_delay=_seconds(env, "RETRY_DELAY", 15.0),
            airflow_timeout=_seconds(env, "AIRFLOW_TIMEOUT", 10.0),
            delete_timeout=_seconds(env, "DELETE_TIMEOUT", 600.0),
            watch_timeout=_seconds(env, "WATCH_TIMEOUT", 300.0),
            kube_api_url=_url(env, "KUBE_API_URL", required=False),
            pipeline_image=_text(env, "PIPELINE_IMAGE", ""),
            spark_image=_text(env, "SPARK_IMAGE", ""),
        )


def _text(env: Mapping[str, str], name: str, default: str) -> str:
    return env.get(PREFIX + name, default).strip()


def _url(env: Mapping[str, str], name: str, required: bool) -> str:
    value = _text(env, name, "")
    if not value:
        if required:
            raise ConfigError(
                f"{PREFIX}{name} is not set", hint="set it to the service's URL, e.g. http://host:8080"
            )
        return ""
    if not value.startswith(("http://", "https://")):
        raise ConfigError(f"{PREFIX}{name}: expected an http:// or https:// URL, got {value!r}")
    return value.rstrip("/")


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    raw = _text(env, name, "")
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{PREFIX}{name}: expected a number of seconds, got {raw!r}") from None
    if value <= 0:
        raise ConfigError(f"{PREFIX}{name}: expected a positive number of seconds, got {raw!r}")
    return value


def _pod_namespace() -> str:
    try:
        return POD_NAMESPACE_FILE.read_text().strip() or "default"
    except OSError:
        return "default"
