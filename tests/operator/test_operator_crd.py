"""The GroceryPipeline CRD agrees with PipelineSpec: it is generated from it, it is committed as
generated, it accepts what the model accepts (the example manifests) and refuses what it refuses,
its defaults are the model's, and it is a structural schema Kubernetes takes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from crdcheck import apply_defaults, crd_schema, spec_errors
from typer.testing import CliRunner

from grocery.cli import app
from grocery.config import API_GROUP, API_VERSION, KIND, PipelineSpec, parse_spec, read_pipeline
from grocery.errors import ConfigError
from grocery.operator.crd import CRD_FILE, OPERATOR_DEFAULTS, build_crd, render_crd

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "operator" / "examples").glob("*.yaml"))
SPEC_SCHEMA = crd_schema()["properties"]["spec"]


def _strip_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_strip_none(v) for v in value]
    return value


def test_the_committed_crd_is_the_generated_one() -> None:
    committed = (ROOT / CRD_FILE).read_text()
    assert committed == render_crd(), f"regenerate it: grocery crd -o {CRD_FILE}"


def test_grocery_crd_prints_the_crd() -> None:
    result = CliRunner().invoke(app, ["crd"])
    assert result.exit_code == 0, result.output
    assert result.output == render_crd()


def test_the_crd_is_a_valid_kubernetes_object() -> None:
    kubernetes_validate.validate(build_crd(), kubernetes_validate.latest_version(), strict=True)


def test_names_subresource_and_printer_columns() -> None:
    crd = build_crd()["spec"]
    assert (crd["group"], crd["scope"], crd["names"]["kind"], crd["names"]["shortNames"]) == (
        API_GROUP,
        "Namespaced",
        KIND,
        ["gp"],
    )
    (version,) = crd["versions"]
    assert (version["name"], version["served"], version["storage"]) == (API_VERSION, True, True)
    assert version["subresources"] == {"status": {}}
    columns = {c["name"]: c["jsonPath"] for c in version["additionalPrinterColumns"]}
    assert columns == {
        "Phase": ".status.phase", "Ready": '.status.conditions[?(@.type=="Ready")].reason',
        "Schedule": ".spec.schedule", "Last Run": ".status.lastRun.start",
        "Last Success": ".status.lastSuccessfulRun.end", "Age": ".metadata.creationTimestamp",
    }  # fmt: skip


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_example_manifest_is_accepted_by_the_crd_and_the_model(path: Path) -> None:
    manifest = yaml.safe_load(path.read_text())
    assert (manifest["apiVersion"], manifest["kind"]) == (f"{API_GROUP}/{API_VERSION}", KIND)
    assert spec_errors(manifest.get("spec") or {}) == []
    read_pipeline(path.read_text(), origin=path.name)  # raises when the model refuses it


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_example_of_pods_per_stage_reaches_its_source_from_a_pod(path: Path) -> None:
    """A stage pod mounts no volume, and reads Kaggle's credentials only from `secretEnv` Secrets."""
    spec = parse_spec(yaml.safe_load(path.read_text()).get("spec") or {})
    if spec.execution.mode != "kubernetes":
        return
    if spec.source.kind == "path":
        assert spec.source.path.startswith("gs://"), "a pod has no folder of deliveries"
    if spec.source.kind == "kaggle":
        assert spec.execution.secret_env, "the extract pod would have no Kaggle credentials"


def test_there_are_examples() -> None:
    assert len(EXAMPLES) >= 3


def _model_defaults(spec: dict) -> dict:
    """The spec as the model fills it in, but for the images a spec leaves out: the operator fills
    those (`OPERATOR_DEFAULTS`), the API server leaves them out."""
    dump = _strip_none(parse_spec(spec).model_dump(mode="json", by_alias=True))
    for section in ("execution", "spark"):
        if not (spec.get(section) or {}).get("image"):
            del dump[section]["image"]
    return dump


@pytest.mark.parametrize("spec", [{}, *(yaml.safe_load(p.read_text()).get("spec") or {} for p in EXAMPLES)])
def test_the_api_servers_defaults_are_the_models(spec: dict) -> None:
    defaulted = apply_defaults(SPEC_SCHEMA, spec)
    assert parse_spec(defaulted) == parse_spec(spec)
    if (spec.get("warehouse") or {}).get("kind", "duckdb") == "duckdb":
        # Outside the warehouse union, the API server fills in every default the model has, but the images.
        assert _strip_none(defaulted) == _model_defaults(spec)


def test_an_empty_spec_becomes_the_default_pipeline() -> None:
    defaulted = apply_defaults(SPEC_SCHEMA, {})
    assert _strip_none(defaulted) == _model_defaults({})
    assert parse_spec(defaulted) == PipelineSpec()


def test_the_images_are_left_to_the_operator() -> None:
    assert {(model.__name__, name) for model, name in OPERATOR_DEFAULTS} == {
        ("ExecutionSpec", "image"),
        ("SparkSpec", "image"),
    }
    for section in ("execution", "spark"):
        assert "default" not in SPEC_SCHEMA["properties"][section]["properties"]["image"]


BAD_SPECS = {
    "unknown field": {"scheduel": "@daily"},
    "unknown nested field": {"source": {"kind": "generator", "size": 1}},
    "source kind": {"source": {"kind": "ftp"}},
    "scale zero": {"source": {"scale": 0}},
    "scale too big": {"source": {"scale": 101}},
    "negative seed": {"source": {"seed": -1}},
    "path source without a path": {"source": {"kind": "path"}},
    "lake scheme": {"lake": "s3://bucket/lake"},
    "bigquery without project": {"warehouse": {"kind": "bigquery"}},
    "bigquery with an empty project": {"warehouse": {"kind": "bigquery", "project": ""}},
    "bigquery without kind": {"warehouse": {"project": "p"}},
    "duckdb with a bigquery field": {"warehouse": {"kind": "duckdb", "location": "EU"}},
    "bigquery with a duckdb field": {"warehouse": {"kind": "bigquery", "project": "p", "path": "/x.duckdb"}},
    "warehouse kind": {"warehouse": {"kind": "snowflake"}},
    "dataset prefix": {"warehouse": {"kind": "bigquery", "project": "p", "datasetPrefix": "dev-"}},
    "start date": {"startDate": "2018/01/01"},
    "freshness zero": {"freshnessHours": 0},
    "on delete": {"onDelete": "Purge"},
    "suspend as text": {"suspend": "maybe"},  # pydantic (lax) takes "yes" as true; the CRD takes no strings
    "schedule as number": {"schedule": 5},
    "currency": {"dashboard": {"currency": "usd"}},
    "memory": {"spark": {"executor": {"memory": "4 GB"}}},
    "cores": {"spark": {"driver": {"cores": 0}}},
    "submitter": {"spark": {"submitter": "yarn"}},
    "execution namespace": {"execution": {"namespace": "Bad_NS"}},
    "pull policy": {"execution": {"imagePullPolicy": "Sometimes"}},
    "secretEnv not a list": {"execution": {"secretEnv": "grocery-kaggle"}},
    "rfm bins": {"models": {"rfm": {"bins": 11}}},
    "als alpha": {"models": {"als": {"alpha": 0}}},
}


@pytest.mark.parametrize("spec", BAD_SPECS.values(), ids=BAD_SPECS.keys())
def test_a_bad_spec_is_refused_by_both_the_crd_and_the_model(spec: dict) -> None:
    assert spec_errors(spec), "the CRD schema accepted it"
    with pytest.raises(ConfigError):
        parse_spec(spec)


def _walk(node: dict, path: str = "") -> list[tuple[str, dict]]:
    found = [(path, node)]
    for name, sub in (node.get("properties") or {}).items():
        found += _walk(sub, f"{path}.{name}")
    if "items" in node:
        found += _walk(node["items"], f"{path}[]")
    return found


def test_every_field_has_a_description() -> None:
    schema = crd_schema()
    nodes = _walk(schema["properties"]["spec"], "spec") + _walk(schema["properties"]["status"], "status")
    fields = [
        (p, node) for p, node in nodes if not (p.endswith("[]") and node["type"] != "object")
    ]  # list items aren't fields
    assert [p for p, node in fields if not node.get("description")] == []


JUNCTOR_KEYS = {"properties", "required", "enum", "not", "anyOf", "allOf", "oneOf", "items"}


def _junctor_problems(junctor: dict, outer: dict, path: str) -> list[str]:
    problems = [f"{path}: {k} not allowed in a junctor" for k in junctor if k not in JUNCTOR_KEYS]
    for name, sub in (junctor.get("properties") or {}).items():
        if name not in (outer.get("properties") or {}):
            problems.append(f"{path}: junctor property {name} is not in the structural schema")
        problems += _junctor_problems(sub, (outer.get("properties") or {}).get(name, {}), f"{path}.{name}")
    for key in ("anyOf", "allOf", "oneOf"):
        for branch in junctor.get(key) or []:
            problems += _junctor_problems(branch, outer, path)
    if "not" in junctor:
        problems += _junctor_problems(junctor["not"], outer, path)
    return problems


def test_the_schema_is_structural() -> None:
    """What Kubernetes requires of a CRD schema: types everywhere, no $ref, no additionalProperties
    next to properties, and junctors (oneOf/anyOf/allOf/not) that only restrict declared fields."""
    problems = []
    for path, node in _walk(crd_schema()):
        if "type" not in node:
            problems.append(f"{path}: no type")
        if "$ref" in node or "const" in node or "title" in node:
            problems.append(f"{path}: $ref/const/title")
        if "properties" in node and "additionalProperties" in node:
            problems.append(f"{path}: properties and additionalProperties")
        for key in ("anyOf", "allOf", "oneOf"):
            for branch in node.get(key) or []:
                problems += _junctor_problems(branch, node, path)
    assert problems == []
