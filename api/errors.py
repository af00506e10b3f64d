"""JSON errors with a stable ``error`` code and a human ``message``; no request yields an HTML page or a 500 body with a traceback."""

from __future__ import annotations

import logging
from contextlib import contextmanager

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException

log = logging.getLogger("medgrid.api")


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, field: str | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field


@contextmanager
def submission_errors(path_field: str = "benchmarks"):
    """Map what submitting work can refuse (names, data paths, data) to 400s naming the request field."""
    from services.benchmarks.registry import UnknownBenchmark
    from services.benchmarks.sample import DataError

    try:
        yield
    except UnknownBenchmark as exc:
        raise ApiError(400, "unknown_benchmark", str(exc), field="benchmarks") from None
    except PermissionError as exc:
        raise ApiError(400, "data_path_not_allowed", str(exc), field=path_field) from None
    except DataError as exc:
        raise ApiError(400, "invalid_data", str(exc), field="benchmarks") from None


def read_body(schema: dict) -> dict:
    """The request's JSON object, validated against ``schema`` (400 naming the offending field)."""
    from flask import request

    from api.schemas import validate

    body = request.get_json(silent=True)
    if body is None:
        raise ApiError(400, "invalid_json", "the request body must be a JSON object (Content-Type: application/json)")
    validate(body, schema)
    return body


def known_model(specs: dict, model_id: str, field: str):
    """A model of the roster; the API never takes ad-hoc checkpoint paths as models."""
    from services.models.spec import UnknownModel

    if model_id not in specs:
        raise ApiError(400, "unknown_model", str(UnknownModel(model_id, sorted(specs))), field=field)
    return specs[model_id]


def error_body(code: str, message: str, field: str | None = None):
    body = {"error": code, "message": message}
    if field:
        body["field"] = field
    return body


def init_app(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError):
        return jsonify(error_body(exc.code, exc.message, exc.field)), exc.status

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        code = (exc.name or "error").lower().replace(" ", "_")
        return jsonify(error_body(code, exc.description or exc.name)), exc.code

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("unhandled error")
        return jsonify(error_body("internal_error", "an unexpected error occurred; it was logged")), 500
