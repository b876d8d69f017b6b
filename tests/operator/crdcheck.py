"""What the Kubernetes API server does with a CRD's schema, for tests: defaulting and validation.

`json_schema` turns the CRD's OpenAPI v3 schema into a JSON Schema that `jsonschema` checks the way
`kubectl apply` (strict field validation) and the API server would: `nullable` admits null,
boolean `exclusiveMinimum` becomes numeric, and an unknown field is an error (`additionalProperties:
false`, as strict field validation reports it). CEL rules (`x-kubernetes-validations`) are not
evaluated here; the `oneOf` branches say the same for the warehouse union.
`apply_defaults` fills in `default`s top-down, as the API server does before validating.
"""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

import jsonschema

from grocery.operator.crd import build_crd


def crd_schema() -> dict:
    return build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def json_schema(node: dict) -> dict:
    """An OpenAPI v3 (Kubernetes dialect) schema as JSON Schema draft 2020-12."""
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key.startswith("x-kubernetes-") or key in ("nullable", "description", "default"):
            continue
        if key == "properties":
            out[key] = {name: json_schema(sub) for name, sub in value.items()}
        elif key == "items":
            out[key] = json_schema(value)
        elif key in ("oneOf", "anyOf", "allOf"):
            out[key] = [json_schema(sub) for sub in value]
        elif key == "not":
            out[key] = json_schema(value)
        elif key in ("exclusiveMinimum", "exclusiveMaximum"):
            if value is True:
                out[key] = node["minimum" if key == "exclusiveMinimum" else "maximum"]
        else:
            out[key] = value
    for bound, plain in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if node.get(bound) is True:
            out.pop(plain, None)
    if node.get("nullable"):
        if "type" in out:
            out["type"] = [out["type"], "null"]
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
    if node.get("type") == "object" and "properties" in node:
        out["additionalProperties"] = False
    return out


def apply_defaults(node: dict, value: Any) -> Any:
    """`value` with the schema's defaults filled in, top-down (a copy)."""
    value = copy.deepcopy(value)
    _default(node, value)
    return value


def _default(node: dict, value: Any) -> None:
    if isinstance(value, dict) and "properties" in node:
        for name, sub in node["properties"].items():
            if name not in value and "default" in sub:
                value[name] = copy.deepcopy(sub["default"])
            if name in value:
                _default(sub, value[name])
    elif isinstance(value, list) and "items" in node:
        for item in value:
            _default(node["items"], item)


@cache
def spec_validator() -> jsonschema.Draft202012Validator:
    spec = crd_schema()["properties"]["spec"]
    return jsonschema.Draft202012Validator(json_schema(spec))


def spec_errors(spec: Any) -> list[str]:
    """Why the API server would refuse this spec (after defaulting); empty when it is accepted."""
    defaulted = apply_defaults(crd_schema()["properties"]["spec"], spec)
    return [
        f"{'.'.join(map(str, e.absolute_path)) or 'spec'}: {e.message}"
        for e in spec_validator().iter_errors(defaulted)
    ]
