"""/api/v1/models and /api/v1/benchmarks: what the grid can evaluate; and the OpenAPI document."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify

from api.auth import require

bp = Blueprint("catalog", __name__, url_prefix="/api/v1")


@bp.get("/models")
@require("read")
def list_models():
    from services.models.spec import roster

    specs = roster(current_app.config["MEDGRID_SETTINGS"].models_dir)
    return jsonify({"models": [spec.to_json() for spec in specs.values()]})


@bp.get("/benchmarks")
@require("read")
def list_benchmarks():
    from services.benchmarks import registry

    return jsonify({"benchmarks": [
        {"name": b.name, "title": b.title, "splits": list(b.splits), "default_split": b.default_split,
         "formats": list(b.formats), "options": b.options} for b in map(registry.get, registry.names())]})


@bp.get("/openapi.json")
def openapi():
    from api.openapi import document

    return jsonify(document(current_app))
