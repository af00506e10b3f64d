"""/api/v1/runs: create (202 + id), status and progress, scores, predictions, cancel, rescore."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request
from sqlalchemy import func, select

from api.auth import require
from api.errors import ApiError, known_model, read_body, submission_errors
from api.schemas import CREATE_RUN
from db import models as m

bp = Blueprint("runs", __name__, url_prefix="/api/v1/runs")
PAGE_MAX = 1000


def _ctx():
    return current_app.extensions["medgrid"]


@bp.post("")
@require("write")
def create_run():
    from services.dispatch import submit_run
    from services.models.spec import roster

    body = read_body(CREATE_RUN)
    if ("model" in body) == ("models" in body):
        raise ApiError(400, "invalid_request", "give exactly one of 'model' and 'models'", field="model")
    ctx = _ctx()
    specs = roster(ctx.settings.models_dir)
    model_ids = [body["model"]] if "model" in body else list(dict.fromkeys(body["models"]))
    chosen = [known_model(specs, model_id, "model" if "model" in body else "models") for model_id in model_ids]
    created = []
    with submission_errors():
        for spec in chosen:
            run_id = submit_run(ctx.factory, ctx.settings, spec, body["benchmarks"], ctx.enqueue)
            created.append({"id": run_id, "model": spec.id, "links": {"self": f"/api/v1/runs/{run_id}"}})
    body = {"runs": created, "status": "preparing"}
    if len(created) == 1:
        body.update(id=created[0]["id"], links=created[0]["links"])
    return jsonify(body), 202


def _run_or_404(session, run_id: str) -> m.Run:
    run = session.get(m.Run, run_id)
    if run is None:
        raise ApiError(404, "run_not_found", f"no run {run_id}")
    return run


@bp.get("/<run_id>")
@require("read")
def get_run(run_id):
    with _ctx().factory() as session:
        run = _run_or_404(session, run_id)
        shards = dict(session.execute(select(m.Shard.status, func.count()).where(m.Shard.run_id == run_id)
                                      .group_by(m.Shard.status)).all())
        done = session.scalar(select(func.count()).select_from(m.Prediction).where(m.Prediction.run_id == run_id))
        errors = list(session.scalars(select(m.Shard.last_error).where(m.Shard.run_id == run_id,
                                                                        m.Shard.status == "failed").limit(5)))
        comparison = None
        if run.options.get("baseline_run") and run.status == "done":
            from services.continuous import compare

            deltas = compare(_ctx().factory, run.id, run.options["baseline_run"],
                             float(run.options.get("regression_threshold", 0.01)))
            comparison = {"baseline_run": run.options["baseline_run"], "regressed": any(d.regressed for d in deltas),
                          "benchmarks": [d.__dict__ for d in deltas]}
        return jsonify({"id": run.id, "model_id": run.model_id, "model_weights_hash": run.model_weights_hash,
                        "comparison": comparison,
                        "status": run.status, "n_samples": run.n_samples, "error": run.error,
                        "progress": {"predictions": done, "shards": shards},
                        "failed_shard_errors": errors, "options": run.options,
                        "created_at": run.created_at.isoformat(),
                        "finished_at": run.finished_at.isoformat() if run.finished_at else None})


@bp.get("/<run_id>/scores")
@require("read")
def get_scores(run_id):
    with _ctx().factory() as session:
        _run_or_404(session, run_id)
        rows = session.scalars(select(m.Score).where(m.Score.run_id == run_id).order_by(m.Score.id)).all()
        return jsonify({"run_id": run_id, "scores": [
            {"benchmark": s.benchmark, "split": s.split, "facet": s.facet, "value": s.facet_value, "metric": s.metric,
             "scorer": s.scorer, "scorer_version": s.scorer_version, "score": s.value, "ci_low": s.ci_low,
             "ci_high": s.ci_high, "n": s.n, "n_unparsed": s.n_unparsed} for s in rows]})


@bp.get("/<run_id>/predictions")
@require("read")
def get_predictions(run_id):
    try:
        offset = int(request.args.get("offset", 0))
        limit = min(int(request.args.get("limit", 100)), PAGE_MAX)
    except ValueError:
        raise ApiError(400, "invalid_request", "offset and limit must be integers") from None
    if offset < 0 or limit < 1:
        raise ApiError(400, "invalid_request", "offset must be >= 0 and limit >= 1")
    with _ctx().factory() as session:
        _run_or_404(session, run_id)
        rows = session.execute(select(m.Prediction, m.Sample.benchmark, m.Sample.key)
                               .join(m.Sample, m.Sample.id == m.Prediction.sample_id)
                               .where(m.Prediction.run_id == run_id).order_by(m.Prediction.id)
                               .offset(offset).limit(limit)).all()
        total = session.scalar(select(func.count()).select_from(m.Prediction).where(m.Prediction.run_id == run_id))
        return jsonify({"run_id": run_id, "total": total, "offset": offset, "limit": limit, "predictions": [
            {"benchmark": bench, "sample": key, "response": p.response, "error": p.error, "extracted": p.extracted,
             "method": p.extraction_method, "correct": p.correct, "cached": p.cached, "latency_s": p.latency_s}
            for p, bench, key in rows]})


@bp.post("/<run_id>/cancel")
@require("write")
def cancel(run_id):
    from services.dispatch import cancel_run

    try:
        changed = cancel_run(_ctx().factory, run_id)
    except KeyError:
        raise ApiError(404, "run_not_found", f"no run {run_id}") from None
    return jsonify({"id": run_id, "cancelled": changed}), 202 if changed else 200


@bp.post("/<run_id>/rescore")
@require("write")
def rescore(run_id):
    from services.dispatch import SCORE_TASK, SCORING_QUEUE

    with _ctx().factory() as session:
        _run_or_404(session, run_id)
    _ctx().enqueue(SCORING_QUEUE, SCORE_TASK, [run_id])
    return jsonify({"id": run_id, "rescore": "queued"}), 202
