"""The OpenAPI document, generated from the app's routes and the schemas that validate requests."""

from __future__ import annotations

from flask import Flask

from api.schemas import CREATE_CHECKPOINT, CREATE_RUN

REQUEST_BODIES = {("/api/v1/runs", "post"): CREATE_RUN, ("/api/v1/checkpoints", "post"): CREATE_CHECKPOINT}


def document(app: Flask) -> dict:
    paths: dict = {}
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        path = str(rule).replace("<", "{").replace(">", "}")
        view = app.view_functions[rule.endpoint]
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            operation = {"operationId": rule.endpoint, "summary": (view.__doc__ or "").strip().split("\n")[0],
                         "responses": {"default": {"description": "JSON; errors carry `error` and `message`"}}}
            if getattr(view, "required_scope", None):
                operation["security"] = [{"bearer": []}]
                operation["x-scope"] = view.required_scope
            params = [a for a in rule.arguments]
            if params:
                operation["parameters"] = [{"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
                                           for p in params]
            body = REQUEST_BODIES.get((str(rule), method.lower()))
            if body:
                operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
            paths.setdefault(path, {})[method.lower()] = operation
    return {"openapi": "3.0.3", "info": {"title": "medgrid", "version": "1"}, "paths": paths,
            "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}}}
