"""Request schemas: one dict per body, used both to validate requests and to write the OpenAPI document.

A small JSON Schema subset (type, required, properties, additionalProperties, minimum, maxLength,
minItems, maxItems, items) is enough here and keeps the validator readable in one sitting.
"""

from __future__ import annotations

from api.errors import ApiError

NAME = {"type": "string", "minLength": 1, "maxLength": 200}

BENCHMARK_SELECTION = {
    "type": "object",
    "required": ["name", "data"],
    "additionalProperties": False,
    "properties": {
        "name": NAME,
        "data": {"type": "string", "minLength": 1, "maxLength": 4096,
                 "description": "folder holding the benchmark's files; must lie under MEDGRID_DATA_ROOTS"},
        "split": NAME,
        "limit": {"type": "integer", "minimum": 1},
        "sample": {"type": "integer", "minimum": 1},
        "options": {"type": "object", "additionalProperties": {"type": "string", "maxLength": 1000}},
    },
}

CREATE_RUN = {
    "type": "object",
    "required": ["benchmarks"],
    "additionalProperties": False,
    "description": "give exactly one of `model` and `models`; one run is created per model",
    "properties": {
        "model": {**NAME, "description": "a model id from GET /api/v1/models"},
        "models": {"type": "array", "minItems": 1, "maxItems": 20, "items": NAME},
        "benchmarks": {"type": "array", "minItems": 1, "maxItems": 20, "items": BENCHMARK_SELECTION},
    },
}

CREATE_CHECKPOINT = {
    "type": "object",
    "required": ["model", "path", "name", "benchmarks"],
    "additionalProperties": False,
    "description": "a new checkpoint of a registered model, evaluated on that model's worker pool",
    "properties": {
        "model": {**NAME, "description": "the base model id (its pool evaluates the checkpoint)"},
        "path": {"type": "string", "minLength": 1, "maxLength": 4096,
                 "description": "checkpoint folder (with config.json); must lie under MEDGRID_DATA_ROOTS"},
        "name": {"type": "string", "minLength": 1, "maxLength": 60, "description": "e.g. step-12000"},
        "benchmarks": CREATE_RUN["properties"]["benchmarks"],
        "regression_threshold": {"type": "number", "minimum": 0,
                                 "description": "accuracy drop that counts as a regression (default 0.01)"},
    },
}

TYPES = {"object": dict, "array": list, "string": str, "integer": int, "number": (int, float), "boolean": bool}


def validate(value, schema: dict, path: str = "") -> None:
    """Raise ApiError(400) naming the first offending request field."""
    where = path or "body"
    expected = TYPES[schema["type"]]
    if not isinstance(value, expected) or (schema["type"] in ("integer", "number") and isinstance(value, bool)):
        raise ApiError(400, "invalid_request", f"{where} must be of type {schema['type']}", field=path or None)
    if schema["type"] == "object":
        for name in schema.get("required", []):
            if name not in value:
                raise ApiError(400, "invalid_request", f"missing field {_join(path, name)}", field=_join(path, name))
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        for name, item in value.items():
            if name in properties:
                validate(item, properties[name], _join(path, name))
            elif extra is False:
                raise ApiError(400, "invalid_request", f"unknown field {_join(path, name)}", field=_join(path, name))
            elif isinstance(extra, dict):
                validate(item, extra, _join(path, name))
    elif schema["type"] == "array":
        if len(value) < schema.get("minItems", 0) or len(value) > schema.get("maxItems", 10**9):
            raise ApiError(400, "invalid_request",
                           f"{where} must have {schema.get('minItems', 0)} to {schema.get('maxItems')} items", field=path)
        for index, item in enumerate(value):
            validate(item, schema["items"], f"{path}[{index}]")
    elif schema["type"] == "string":
        if not schema.get("minLength", 0) <= len(value) <= schema.get("maxLength", 10**9):
            raise ApiError(400, "invalid_request", f"{where} has the wrong length", field=path)
    elif "minimum" in schema and value < schema["minimum"]:
        raise ApiError(400, "invalid_request", f"{where} must be at least {schema['minimum']}", field=path)


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name
