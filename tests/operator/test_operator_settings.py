"""The operator's settings: GROCERY_* variables read once, failing with the variable's name."""

from __future__ import annotations

import pytest

from grocery.errors import ConfigError
from grocery.operator.settings import Settings


def test_defaults_need_only_the_airflow_url() -> None:
    settings = Settings.from_env({"GROCERY_AIRFLOW_URL": "http://airflow:8080/"})
    assert settings.airflow_url == "http://airflow:8080"
    assert (settings.status_interval, settings.retry_delay, settings.watch_timeout) == (30.0, 15.0, 300.0)
    assert (settings.airflow_secret, settings.config_namespace, settings.kube_api_url) == ("", "", "")


def test_every_variable_is_read() -> None:
    settings = Settings.from_env({
        "GROCERY_AIRFLOW_URL": "https://airflow.example", "GROCERY_AIRFLOW_SECRET": "airflow-api",
        "GROCERY_NAMESPACE": "grocery-system", "GROCERY_CONFIG_NAMESPACE": "airflow",
        "GROCERY_STATUS_INTERVAL": "10", "GROCERY_RETRY_DELAY": "2.5", "GROCERY_AIRFLOW_TIMEOUT": "3",
        "GROCERY_DELETE_TIMEOUT": "60", "GROCERY_WATCH_TIMEOUT": "120", "GROCERY_KUBE_API_URL": "http://127.0.0.1:8001",
        "GROCERY_PIPELINE_IMAGE": "r.example/grocery-pipeline:2", "GROCERY_SPARK_IMAGE": "r.example/grocery-pipeline-spark:2",
    })  # fmt: skip
    assert settings == Settings(
        airflow_url="https://airflow.example", airflow_secret="airflow-api", namespace="grocery-system",
        config_namespace="airflow", status_interval=10, retry_delay=2.5, airflow_timeout=3, delete_timeout=60,
        watch_timeout=120, kube_api_url="http://127.0.0.1:8001", pipeline_image="r.example/grocery-pipeline:2",
        spark_image="r.example/grocery-pipeline-spark:2",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "GROCERY_AIRFLOW_URL is not set"),
        ({"GROCERY_AIRFLOW_URL": "airflow:8080"}, "GROCERY_AIRFLOW_URL: expected an http:// or https:// URL"),
        (
            {"GROCERY_AIRFLOW_URL": "http://a", "GROCERY_STATUS_INTERVAL": "soon"},
            "GROCERY_STATUS_INTERVAL: expected a number",
        ),
        (
            {"GROCERY_AIRFLOW_URL": "http://a", "GROCERY_RETRY_DELAY": "0"},
            "GROCERY_RETRY_DELAY: expected a positive",
        ),
        (
            {"GROCERY_AIRFLOW_URL": "http://a", "GROCERY_KUBE_API_URL": "localhost"},
            "GROCERY_KUBE_API_URL: expected",
        ),
    ],
)
def test_a_bad_variable_is_named(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Settings.from_env(env)


def test_retry_delays_double_up_to_ten_times_the_first() -> None:
    settings = Settings(airflow_url="http://a", retry_delay=2)
    assert [settings.backoff(n) for n in range(6)] == [2, 4, 8, 16, 20, 20]
