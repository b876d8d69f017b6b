"""The GroceryPipeline CustomResourceDefinition, generated from `PipelineSpec` and `PipelineStatus`.

    grocery crd > charts/grocery-pipeline/crds/grocerypipelines.grocery.io.yaml

pydantic's JSON schema becomes a *structural* OpenAPI v3 schema, as Kubernetes requires: `$ref`s
inlined, `anyOf [X, null]` -> X with `nullable: true`, `const` -> a one-value `enum`, numeric
`exclusiveMinimum: n` -> `minimum: n, exclusiveMinimum: true`, no `additionalProperties: false`
(Kubernetes prunes unknown fields instead), every property described (the field's description, else
its model's docstring, so `kubectl explain` helps). Nested objects default to their model's defaults
(only what differs from the nested fields' own defaults is spelled out), so the API server fills a
whole spec from `spec: {}` exactly as the model does.

The discriminated union `warehouse` (kind: duckdb | bigquery) is one object holding every variant's
fields with a `kind` enum. Which fields go with which kind is said twice: by `oneOf` branches (each:
its kind, its required fields, not the other kinds' fields), which jsonschema can check offline too,
and by CEL `x-kubernetes-validations` rules, which give readable messages at `kubectl apply`.
Variant-specific fields carry no API-server default (a duckdb warehouse must not get bigquery's
`location`); the model fills them in when it parses the spec. Nor do the images (`OPERATOR_DEFAULTS`),
which the operator fills with its release's.
"""

from __future__ import annotations

import types
import typing
from enum import Enum
from typing import Any, Literal

import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from grocery.config import API_GROUP, API_VERSION, KIND, ExecutionSpec, PipelineSpec, SourceSpec, SparkSpec
from grocery.operator.resources import PLURAL, SHORT_NAME, SINGULAR
from grocery.operator.status import PipelineStatus

CRD_NAME = f"{PLURAL}.{API_GROUP}"
CRD_FILE = f"charts/grocery-pipeline/crds/{CRD_NAME}.yaml"
HEADER = "# Generated from grocery.config.PipelineSpec by `grocery crd`; do not edit by hand.\n"

# Cross-field rules the models state in validators, which no field schema carries: each as a structural
# junctor (checked by the API server and by jsonschema) and as a CEL rule (for a readable message).
EXTRA_RULES: dict[type[BaseModel], list[tuple[dict, dict]]] = {
    SourceSpec: [
        (
            {
                "anyOf": [
                    {"not": {"required": ["kind"], "properties": {"kind": {"enum": ["path"]}}}},
                    {"required": ["path"]},
                ]
            },
            {
                "rule": "self.kind != 'path' || has(self.path)",
                "message": "path is required when kind is path",
            },
        )
    ],
}

# Fields the API server leaves out when a resource does, so that the operator can tell: it fills them
# with the images of its release (`grocery.operator.resources.with_images`), else the model's default.
OPERATOR_DEFAULTS: set[tuple[type[BaseModel], str]] = {(ExecutionSpec, "image"), (SparkSpec, "image")}

_SCALAR_KEYS = (
    "type",
    "format",
    "enum",
    "pattern",
    "minLength",
    "maxLength",
    "minimum",
    "maximum",
    "minItems",
    "maxItems",
)


def openapi_schema(model: type[BaseModel]) -> dict:
    """A model as a structural OpenAPI v3 object schema."""
    raw = model.model_json_schema(by_alias=True, mode="validation")
    return _object(model, raw, raw.get("$defs", {}))


def build_crd() -> dict:
    """The whole CustomResourceDefinition manifest."""
    spec = openapi_schema(PipelineSpec)
    spec["description"] = (
        "The pipeline: where data comes from, where it lands, how it is modelled, when it runs. "
        "The same fields as grocery.yaml."
    )
    spec["default"] = {}
    status = openapi_schema(PipelineStatus)
    columns = [
        {"name": "Phase", "type": "string", "jsonPath": ".status.phase", "description": "Where the pipeline is."},
        {"name": "Ready", "type": "string", "jsonPath": '.status.conditions[?(@.type=="Ready")].reason', "description": "Why the pipeline is ready or not (the Ready condition's reason)."},
        {"name": "Schedule", "type": "string", "jsonPath": ".spec.schedule", "description": "Cron or preset."},
        {"name": "Last Run", "type": "date", "jsonPath": ".status.lastRun.start", "description": "Start of the latest run."},
        {"name": "Last Success", "type": "date", "jsonPath": ".status.lastSuccessfulRun.end", "description": "End of the latest successful run."},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    ]  # fmt: skip
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": CRD_NAME, "labels": {"app.kubernetes.io/name": "grocery-pipeline"}},
        "spec": {
            "group": API_GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": KIND,
                "listKind": f"{KIND}List",
                "plural": PLURAL,
                "singular": SINGULAR,
                "shortNames": [SHORT_NAME],
                "categories": ["grocery"],
            },
            "versions": [
                {
                    "name": API_VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": columns,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "description": "A grocery sales pipeline that the operator runs through Airflow.",
                            "properties": {
                                "apiVersion": {"type": "string", "description": "grocery.io/v1alpha1"},
                                "kind": {"type": "string", "description": KIND},
                                "metadata": {"type": "object"},
                                "spec": spec,
                                "status": status,
                            },
                        }
                    },
                }
            ],
        },
    }


def render_crd() -> str:
    """The CRD as the YAML text committed in the chart."""
    return HEADER + yaml.safe_dump(build_crd(), sort_keys=False, width=120)


# -- the conversion ------------------------------------------------------------------------------


def _deref(node: dict, defs: dict) -> dict:
    while "$ref" in node:
        node = defs[node["$ref"].rsplit("/", 1)[-1]]
    return node


def _models(tp: Any) -> list[type[BaseModel]]:
    """The pydantic models inside a type (X, X | None, Annotated[X | Y, ...])."""
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return [tp]
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return _models(typing.get_args(tp)[0])
    if origin in (typing.Union, types.UnionType):
        return [m for arg in typing.get_args(tp) for m in _models(arg)]
    return []


def _item_type(tp: Any) -> Any:
    """The element type of list[X] (through Optional/Annotated)."""
    origin = typing.get_origin(tp)
    if origin is typing.Annotated or origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(tp):
            if arg is not type(None) and (item := _item_type(arg)) is not None:
                return item
        return None
    if origin is list:
        return typing.get_args(tp)[0]
    return None


def _object(model: type[BaseModel], node: dict, defs: dict) -> dict:
    out: dict[str, Any] = {"type": "object"}
    if model.__doc__:
        out["description"] = _doc(model)
    properties = node.get("properties", {})
    out["properties"] = {
        (field.alias or name): _field(
            field, properties[field.alias or name], defs, api_default=(model, name) not in OPERATOR_DEFAULTS
        )
        for name, field in model.model_fields.items()
    }
    if node.get("required"):
        out["required"] = list(node["required"])
    if model in EXTRA_RULES:
        out["allOf"] = [junctor for junctor, _ in EXTRA_RULES[model]]
        out["x-kubernetes-validations"] = [rule for _, rule in EXTRA_RULES[model]]
    return out


def _field(field: FieldInfo, node: dict, defs: dict, api_default: bool = True) -> dict:
    out = _convert(field.annotation, node, defs)
    described = field.description or _deref(node, defs).get("description") or out.get("description")
    default = _default(field) if api_default else None
    # type and description first, default last: the order a reader of the YAML wants
    head = {k: out.pop(k) for k in ("type", "description") if k in out}
    if described:
        head["description"] = described
    return {**head, **out, **({"default": default} if default is not None else {})}


def _default(field: FieldInfo) -> Any:
    if field.is_required():
        return None
    value = field.get_default(call_default_factory=True)
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    if isinstance(value, Enum):
        return value.value
    return value


def _convert(tp: Any, node: dict, defs: dict) -> dict:
    node = _deref(node, defs)
    branches = node.get("anyOf") or node.get("oneOf")
    if branches and any(b.get("type") == "null" for b in branches):
        others = [b for b in branches if b.get("type") != "null"]
        if len(others) != 1:
            raise ValueError(f"cannot express {node} structurally")
        return {**_convert(tp, others[0], defs), "nullable": True}
    models = _models(tp)
    if branches:
        return _union(models, node, defs)
    if node.get("type") == "object" and models:
        return _object(models[0], node, defs)
    if node.get("type") == "array":
        return {
            **{k: node[k] for k in ("type", "minItems", "maxItems") if k in node},
            "items": _convert(_item_type(tp), node["items"], defs),
        }
    return _scalar(node)


def _scalar(node: dict) -> dict:
    out = {k: node[k] for k in _SCALAR_KEYS if k in node}
    if "const" in node:
        out["enum"] = [node["const"]]
    for bound, plain in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if bound in node:
            out[plain] = node[bound]
            out[bound] = True
    if "description" in node:
        out["description"] = node["description"]
    return out


def _union(models: list[type[BaseModel]], node: dict, defs: dict) -> dict:
    """A discriminated union of models as one structural object (see the module docstring)."""
    key = (node.get("discriminator") or {}).get("propertyName", "kind")
    variants = {_literal(m, key): m for m in models}
    properties: dict[str, Any] = {}
    owners: dict[str, list[str]] = {}
    for kind, model in variants.items():
        raw = model.model_json_schema(by_alias=True, mode="validation")
        converted = _object(model, raw, raw.get("$defs", {}) or defs)
        for name, prop in converted["properties"].items():
            owners.setdefault(name, []).append(kind)
            if name != key:
                prop = {k: v for k, v in prop.items() if k != "default"}
            properties.setdefault(name, prop)
    kinds = list(variants)
    properties[key] = {
        "type": "string",
        "description": f"Which {key}: {', '.join(kinds)}; the other fields depend on it.",
        "enum": kinds,
        "default": kinds[0],
    }
    for name, kinds_of in owners.items():
        if name != key and len(kinds_of) < len(kinds):
            properties[name]["description"] = (
                f"{properties[name].get('description', '')} Only with {key}: {', '.join(kinds_of)}.".strip()
            )
    branches, rules = [], []
    for kind, model in variants.items():
        own = {f.alias or n for n, f in model.model_fields.items()}
        required = [f.alias or n for n, f in model.model_fields.items() if f.is_required()]
        foreign = [name for name in properties if name not in own]
        branch: dict[str, Any] = {"properties": {key: {"enum": [kind]}}}
        if required or kind != kinds[0]:  # the default kind may leave the key out
            branch["required"] = [*required, *([key] if kind != kinds[0] else [])]
        if foreign:
            branch["not"] = {"anyOf": [{"required": [name]} for name in foreign]}
        branches.append(branch)
        rules += [
            {
                "rule": f"self.{key} != '{kind}' || has(self.{name})",
                "message": f"{name} is required when {key} is {kind}",
            }
            for name in required
        ]
        rules += [
            {
                "rule": f"self.{key} != '{kind}' || !has(self.{name})",
                "message": f"{name} is not a field of {key} {kind}",
            }
            for name in foreign
        ]
    return {
        "type": "object",
        "properties": properties,
        "oneOf": branches,
        "x-kubernetes-validations": rules,
    }


def _literal(model: type[BaseModel], key: str) -> str:
    annotation = model.model_fields[key].annotation
    if typing.get_origin(annotation) is not Literal:
        raise ValueError(f"{model.__name__}.{key} must be a Literal to discriminate a union")
    return typing.get_args(annotation)[0]


def _doc(model: type[BaseModel]) -> str:
    return " ".join((model.__doc__ or "").split())
