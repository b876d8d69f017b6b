"""Shared fixtures of the deployment tests: the repository's paths, the chart rendered offline, and
the tools that live in their own environment (checkov, terraform; see scripts/setup.d/40-deploy-tools.sh).

Nothing here reaches the network: the chart renders through helm-python-sdk (Helm as a library),
manifests validate against the Kubernetes schemas kubernetes-validate ships, and the tools run offline.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "grocery-pipeline"
CRD = CHART / "crds" / "grocerypipelines.grocery.io.yaml"
# The Kubernetes version objects are validated against (GKE's regular channel).
KUBE_VERSION = "1.34"
# checkov and terraform live beside the main environment (they would pin its packages otherwise).
TOOLS_BIN = Path(os.environ.get("GROCERY_DEPLOY_TOOLS", Path(sys.prefix) / "tools" / "deploy")) / "bin"


def tool(name: str) -> str:
    """Path of a deployment tool: the project's tool environment first, then PATH.

    Missing on a developer's machine: the test is skipped with the setup command. Missing in CI
    (CI=true): the test fails, so a broken setup step can't hide behind skips.
    """
    candidate = TOOLS_BIN / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if found:
        return found
    message = f"{name} not installed: run `bash scripts/setup.d/40-deploy-tools.sh` (or `./dev setup`)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def load_all(text: str) -> list[dict]:
    """Every non-empty YAML document of a text."""
    return [doc for doc in yaml.safe_load_all(text) if doc]


@pytest.fixture(scope="session")
def chart():
    helm_python = pytest.importorskip("helm_python")
    loaded = helm_python.Chart.load(CHART)
    yield loaded
    loaded.close()


def render(chart, values: dict | None = None, namespace: str = "grocery") -> list[dict]:
    """Render the chart like `helm template grocery-pipeline charts/grocery-pipeline -n NAMESPACE`."""
    manifests = chart.render(values or {}, name="grocery-pipeline", namespace=namespace)
    objects: list[dict] = []
    for path, text in sorted(manifests.items()):
        if path.endswith(".txt"):
            continue
        objects.extend(load_all(text))
    return objects
