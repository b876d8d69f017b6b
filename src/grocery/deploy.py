"""`grocery deploy`: install or upgrade the Helm release of `charts/grocery-pipeline` in one environment.

    grocery deploy --env dev --image-tag 1.2.3     helm upgrade --install --atomic --wait, through pyhelm3
    grocery deploy --env dev --dry-run             print the rendered manifests; no cluster, no helm binary

The values are the environment's file (`deploy/<env>/values.yaml`), then any `--values` files, then
`--image-tag`, then `--set key.path=value`, later ones winning. Only environments whose release belongs
to GitHub Actions can be deployed this way: prod belongs to Argo CD (`deploy/argocd/`), and
`grocery deploy --env prod` refuses, so that one environment never has two owners.

Helm installs the chart's CRDs (`crds/`) with the release's first install and never again: an upgrade
leaves a cluster on the first CRD, whose schema then prunes any field a later spec model added. So
before each upgrade the CRDs are applied with `kubectl apply --server-side` (Argo CD needs no such
step: it syncs `crds/` as any other manifest).

The upgrade needs the `helm` executable (pyhelm3 drives it), `kubectl` and a kubeconfig; `--dry-run`
renders with helm-python-sdk (Helm as a library) when it is installed, else with `helm template`.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from grocery.config import not_valid_yaml
from grocery.errors import GroceryError

CHART_NAME = "grocery-pipeline"
RELEASE = "grocery-pipeline"
CHART_DIR_ENV = "GROCERY_CHART_DIR"
CRD_FIELD_MANAGER = "grocery-deploy"


class DeployError(GroceryError):
    """The release could not be rendered or upgraded."""


@dataclass(frozen=True)
class Environment:
    """Where one environment's release goes, and who owns it."""

    name: str
    namespace: str
    values_file: str  # relative to the repository root
    owner: str  # "github-actions" (grocery deploy may upgrade it) or "argocd" (it may not)


ENVIRONMENTS: dict[str, Environment] = {
    "dev": Environment("dev", "grocery", "deploy/dev/values.yaml", "github-actions"),
    "prod": Environment("prod", "grocery", "deploy/argocd/prod/values.yaml", "argocd"),
}


@dataclass(frozen=True)
class Plan:
    """Everything one deployment needs: the chart, the release, the merged values."""

    env: Environment
    chart_dir: Path
    release: str
    namespace: str
    values: dict[str, Any]


def repo_root(start: Path | None = None) -> Path:
    """The repository holding the chart: the current folder or a parent, else beside the source tree."""
    candidates = [start or Path.cwd(), *(start or Path.cwd()).parents, Path(__file__).resolve().parents[2]]
    for folder in candidates:
        if (folder / "charts" / CHART_NAME / "Chart.yaml").exists():
            return folder
    raise DeployError(
        f"no charts/{CHART_NAME} in {Path.cwd()} or its parents",
        hint=f"run from the repository, or pass --chart (or set {CHART_DIR_ENV})",
    )


def find_chart(chart: Path | None = None) -> Path:
    """The chart folder: --chart, else GROCERY_CHART_DIR, else the repository's charts/grocery-pipeline."""
    path = chart or (Path(os.environ[CHART_DIR_ENV]) if os.environ.get(CHART_DIR_ENV) else None)
    path = path or repo_root() / "charts" / CHART_NAME
    if not (path / "Chart.yaml").exists():
        raise DeployError(
            f"{path} is not a Helm chart (no Chart.yaml)", hint="pass the chart folder with --chart"
        )
    return path


def _read_values(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise DeployError(f"values file {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise DeployError(not_valid_yaml(path, exc)) from None
    if not isinstance(data, dict):
        raise DeployError(f"{path}: expected a mapping of values at the top level")
    return data


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Helm's rule for values files: mappings merge key by key, anything else is replaced."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def parse_set(assignment: str) -> dict[str, Any]:
    """`a.b=c` as {"a": {"b": c}}; the value is read as YAML (numbers, booleans, lists)."""
    key, sep, raw = assignment.partition("=")
    if not sep or not key or any(not part for part in key.split(".")):
        raise DeployError(f"--set {assignment!r}: expected key.path=value")
    try:
        value: Any = yaml.safe_load(raw) if raw else ""
    except yaml.YAMLError:
        value = raw
    for part in reversed(key.split(".")):
        value = {part: value}
    return value


def plan(
    env_name: str,
    *,
    image_tag: str | None = None,
    values_files: Iterable[Path] = (),
    sets: Iterable[str] = (),
    chart: Path | None = None,
    namespace: str | None = None,
    release: str = RELEASE,
) -> Plan:
    """Resolve the chart, the release and the values of one deployment (no cluster is touched)."""
    env = ENVIRONMENTS.get(env_name)
    if env is None:
        raise DeployError(f"unknown environment {env_name!r}", hint=f"known: {', '.join(ENVIRONMENTS)}")
    chart_dir = find_chart(chart)
    root = chart_dir.parents[1]
    values = _read_values(root / env.values_file)
    for path in values_files:
        values = merge(values, _read_values(Path(path)))
    if image_tag:
        values = merge(values, {"image": {"tag": image_tag}})
    for assignment in sets:
        values = merge(values, parse_set(assignment))
    return Plan(env, chart_dir, release, namespace or env.namespace, values)


def render(p: Plan) -> str:
    """The manifests the release would apply, as one YAML stream (the values checked by the chart's schema)."""
    try:
        import helm_python
    except ImportError:
        return asyncio.run(_template_with_helm(p))
    try:
        chart = helm_python.Chart.load(p.chart_dir)
        try:
            manifests = chart.render(p.values, name=p.release, namespace=p.namespace)
        finally:
            chart.close()
    except helm_python.HelmError as exc:
        raise DeployError(_one_line(str(exc)), hint="fix the values") from None
    docs = [f"# Source: {path}\n{text.strip()}\n" for path, text in sorted(manifests.items())
            if not path.endswith(".txt") and text.strip()]  # fmt: skip
    return "---\n".join(docs)


def _one_line(message: str) -> str:
    """Helm's multi-line messages as one line: the lines that name a path, else the last line."""
    lines = [line.strip(" -") for line in message.strip().splitlines() if line.strip()]
    located = [line for line in lines if line.startswith("at '")]
    return "; ".join(located) if located else (lines[-1] if lines else "helm failed")


def _client(kubecontext: str | None, timeout: str):
    try:
        from pyhelm3 import Client
    except ImportError:
        raise DeployError("pyhelm3 is not installed", hint="pip install 'grocery-pipeline[deploy]'") from None
    try:
        return Client(kubecontext=kubecontext, default_timeout=timeout)
    except Exception as exc:  # pyhelm3 checks for the executable up front
        raise DeployError(
            f"helm is not usable: {exc}", hint="install helm 3 or 4 and put it on PATH"
        ) from None


async def _template_with_helm(p: Plan) -> str:
    client = _client(None, "5m")
    chart = await client.get_chart(p.chart_dir)
    resources = await client.template_resources(chart, p.values, namespace=p.namespace)
    return yaml.safe_dump_all(list(resources), sort_keys=False)


async def _upgrade(p: Plan, *, wait: bool, timeout: str, kubecontext: str | None) -> dict[str, Any]:
    from pyhelm3 import errors as helm_errors

    client = _client(kubecontext, timeout)
    try:
        chart = await client.get_chart(p.chart_dir)
        revision = await client.install_or_upgrade_release(
            p.release, chart, p.values,
            atomic=True, wait=wait, namespace=p.namespace, create_namespace=True, timeout=timeout,
            description=f"grocery deploy --env {p.env.name}",
        )  # fmt: skip
    except helm_errors.Error as exc:
        stderr = (
            exc.stderr.decode(errors="replace")
            if isinstance(getattr(exc, "stderr", None), bytes)
            else str(exc)
        )
        raise DeployError(
            f"helm upgrade failed: {_one_line(stderr)}", hint="the release was rolled back"
        ) from None
    return {
        "release": p.release,
        "namespace": p.namespace,
        "revision": revision.revision,
        "status": str(getattr(revision.status, "value", revision.status)),
    }


def apply_crds(p: Plan, *, timeout: str = "10m", kubecontext: str | None = None) -> list[str]:
    """`kubectl apply --server-side` of the chart's CRDs; kubectl's lines, one per CRD."""
    crds = p.chart_dir / "crds"
    if not crds.is_dir() or not any(crds.glob("*.yaml")):
        return []
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        raise DeployError(
            "kubectl is not on PATH; it applies the chart's CRDs, which helm upgrade never upgrades",
            hint="install kubectl and put it on PATH; nothing was upgraded",
        )
    context = ["--context", kubecontext] if kubecontext else []
    command = [kubectl, *context, "apply", "--server-side", "--force-conflicts",
               f"--field-manager={CRD_FIELD_MANAGER}", f"--request-timeout={timeout}", "-f", str(crds)]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise DeployError(
            f"kubectl apply of the CRDs in {crds} failed: {_one_line(done.stderr or done.stdout)}",
            hint="nothing was upgraded; fix access to the cluster and deploy again",
        )
    return done.stdout.splitlines()


def upgrade(
    p: Plan, *, wait: bool = True, timeout: str = "10m", kubecontext: str | None = None
) -> dict[str, Any]:
    """The chart's CRDs applied, then `helm upgrade --install --atomic` of the plan (pyhelm3).

    Refuses environments Argo CD owns. A failed upgrade is rolled back; the CRDs stay applied (a
    newer CRD serves the older release too: its versions only add fields).
    """
    if p.env.owner != "github-actions":
        raise DeployError(
            f"the {p.env.name} release is owned by Argo CD, not by grocery deploy",
            hint=f"commit the new version to {p.env.values_file} and let Argo CD sync it (or use --dry-run)",
        )
    _client(kubecontext, timeout)  # helm is there, before the cluster is touched
    crds = apply_crds(p, timeout=timeout, kubecontext=kubecontext)
    return {**asyncio.run(_upgrade(p, wait=wait, timeout=timeout, kubecontext=kubecontext)), "crds": crds}
