"""/api/v1/checkpoints (continuous evaluation of new checkpoints) and /api/v1/leaderboard."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request

from api.auth import require
from api.errors import ApiError, known_model, read_body, submission_errors
from api.schemas import CREATE_CHECKPOINT

bp = Blueprint("checkpoints", __name__, url_prefix="/api/v1")
DEFAULT_THRESHOLD = 0.01


def _ctx():
    return current_app.extensions["medgrid"]


@bp.post("/checkpoints")
@require("write")
def register_checkpoint():
    """Evaluate a new checkpoint of a registered model; the run says later whether it regressed."""
    from services.continuous import CheckpointError, submit_checkpoint
    from services.models.spec import roster

    body = read_body(CREATE_CHECKPOINT)
    ctx = _ctx()
    base = known_model(roster(ctx.settings.models_dir), body["model"], "model")
    threshold = float(body.get("regression_threshold", DEFAULT_THRESHOLD))
    with submission_errors(path_field="path"):
        try:
            run_id, baseline = submit_checkpoint(ctx.factory, ctx.settings, base, body["path"], body["name"],
                                                 body["benchmarks"], ctx.enqueue, threshold)
        except CheckpointError as exc:
            raise ApiError(400, "invalid_checkpoint", str(exc), field="path") from None
    return jsonify({"id": run_id, "status": "preparing", "baseline_run": baseline,
                    "links": {"self": f"/api/v1/runs/{run_id}"}}), 202


@bp.get("/leaderboard")
@require("read")
def get_leaderboard():
    """Each model's newest finished run: score per benchmark and the mean across them."""
    from services.continuous import leaderboard

    metric = request.args.get("metric", "accuracy")
    return jsonify({"metric": metric, "models": leaderboard(_ctx().factory, metric)})
