"""/api/v1/checkpoints (continuous evaluation of new checkpoints) and /api/v1/leaderboard."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request

from api.auth import require
from api.errors import ApiError
from api.schemas import CREATE_CHECKPOINT, validate

bp = Blueprint("checkpoints", __name__, url_prefix="/api/v1")
DEFAULT_THRESHOLD = 0.01


def _ctx():
    return current_app.extensions["medgrid"]


@bp.post("/checkpoints")
@require("write")
def register_checkpoint():
    """Evaluate a new checkpoint of a registered model; the run says later whether it regressed."""
    from services.benchmarks.registry import UnknownBenchmark
    from services.benchmarks.sample import DataError
    from services.continuous import submit_checkpoint
    from services.models.spec import UnknownModel, roster

    body = request.get_json(silent=True)
    if body is None:
        raise ApiError(400, "invalid_json", "the request body must be a JSON object")
    validate(body, CREATE_CHECKPOINT)
    ctx = _ctx()
    specs = roster(ctx.settings.models_dir)
    if body["model"] not in specs:
        raise ApiError(400, "unknown_model", str(UnknownModel(body["model"], sorted(specs))), field="model")
    threshold = float(body.get("regression_threshold", DEFAULT_THRESHOLD))
    try:
        run_id, baseline = submit_checkpoint(ctx.factory, ctx.settings, specs[body["model"]], body["path"],
                                             body["name"], body["benchmarks"], ctx.enqueue, threshold)
    except UnknownBenchmark as exc:
        raise ApiError(400, "unknown_benchmark", str(exc), field="benchmarks") from None
    except PermissionError as exc:
        raise ApiError(400, "data_path_not_allowed", str(exc), field="path") from None
    except DataError as exc:
        raise ApiError(400, "invalid_data", str(exc), field="benchmarks") from None
    except (FileNotFoundError, ValueError) as exc:
        raise ApiError(400, "invalid_checkpoint", str(exc), field="path") from None
    return jsonify({"id": run_id, "status": "queued", "baseline_run": baseline,
                    "links": {"self": f"/api/v1/runs/{run_id}"}}), 202


@bp.get("/leaderboard")
@require("read")
def get_leaderboard():
    """Each model's newest finished run: score per benchmark and the mean across them."""
    from services.continuous import leaderboard

    metric = request.args.get("metric", "accuracy")
    return jsonify({"metric": metric, "models": leaderboard(_ctx().factory, metric)})
