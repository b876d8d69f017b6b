"""Fixtures of the operator tests: kmock extended into an API server (see opbench.py), a fake Airflow
with a user whose credentials sit in the operator's Secret, and a kubectl-like client.

Test modules take them with `from opfixtures import *`. They are not in a conftest.py on purpose:
this folder cannot be a package (it would be the package `operator`, the standard library's name),
so a conftest.py here would be imported as the module `conftest` and hide tests/conftest.py from
the tests that import helpers from it. The kmock fixture comes from kmock's pytest plugin;
`kmock_options` swaps in `ApiServer`.
"""

from __future__ import annotations

__all__ = ["airflow", "kmock_options", "kubectl"]

from collections.abc import AsyncIterator, Iterator
from typing import Any

import kmock as km
import pytest
import pytest_asyncio
from fakes.airflow_api import FakeAirflow
from opbench import (
    AIRFLOW_PASSWORD,
    AIRFLOW_SECRET,
    AIRFLOW_USER,
    OPERATOR_NAMESPACE,
    ApiServer,
    Kubectl,
    declare_resources,
)


@pytest.fixture
def kmock_options(kmock_options: dict[str, Any]) -> dict[str, Any]:
    return {**kmock_options, "cls": ApiServer}


@pytest.fixture
def airflow() -> Iterator[FakeAirflow]:
    with FakeAirflow(users={AIRFLOW_USER: AIRFLOW_PASSWORD}) as fake:
        yield fake


@pytest_asyncio.fixture
async def kubectl(kmock: km.KubernetesEmulator) -> AsyncIterator[Kubectl]:
    declare_resources(kmock)
    client = Kubectl(str(kmock.url))
    await client.create_secret(
        OPERATOR_NAMESPACE, AIRFLOW_SECRET, {"username": AIRFLOW_USER, "password": AIRFLOW_PASSWORD}
    )
    yield client
    await client.close()
