"""Thin task shells: the logic lives in services/. Tasks carry ids, ack late and are idempotent."""

from __future__ import annotations

import logging
import traceback

from celery import Celery, shared_task
from flask import current_app

from services import continuous, dispatch, runs

log = logging.getLogger("medgrid.worker")


def _ctx():
    return current_app.extensions["medgrid"]


@shared_task(name=dispatch.SHARD_TASK, bind=True, acks_late=True)
def run_shard(self, shard_id: int) -> None:
    ctx = _ctx()
    if ctx.pinned_model is None:
        raise RuntimeError("this worker has no loaded model; start it with `medgrid serve worker --model ID`")
    settings, factory = ctx.settings, ctx.factory
    try:
        outcome = runs.execute_shard(factory, shard_id,
                                     lambda model_id: continuous.ensure_loaded(ctx, model_id, ctx.pinned_model),
                                     ctx.sample_lookup, seed=settings.seed, lease_seconds=settings.lease_seconds,
                                     model_lock=ctx.model_lock)
    except Exception as exc:  # a shard-level failure: count the attempt, retry later or give up
        status = dispatch.record_shard_failure(factory, shard_id, "".join(traceback.format_exception(exc)),
                                               settings.max_attempts)
        log.exception("shard %s failed (now %s)", shard_id, status)
        if status == "pending":
            countdown = min(300, 5 * 2 ** max(0, self.request.retries))
            enqueue_later(ctx.celery, ctx.pinned_model, shard_id, countdown)
        else:  # failed for good: this may have been the run's last open shard
            run_id = dispatch.run_of_shard(factory, shard_id)
            if run_id:
                dispatch.finish_if_complete(factory, run_id, ctx.enqueue)
        return
    log.info("shard %s: %s", shard_id, outcome)
    if outcome.run_complete:
        ctx.enqueue(dispatch.SCORING_QUEUE, dispatch.SCORE_TASK, [outcome.run_id])


def enqueue_later(celery: Celery, model_id: str, shard_id: int, countdown: float) -> None:
    celery.send_task(dispatch.SHARD_TASK, args=[shard_id], queue=dispatch.model_queue(model_id), countdown=countdown)


@shared_task(name=dispatch.PREPARE_TASK, acks_late=True)
def prepare_run(run_id: str) -> None:
    ctx = _ctx()
    dispatch.prepare_run(ctx.factory, ctx.settings, run_id, ctx.enqueue)


@shared_task(name=dispatch.SCORE_TASK, acks_late=True)
def score_run(run_id: str) -> None:
    ctx = _ctx()
    runs.score_run(ctx.factory, run_id, seed=ctx.settings.seed, resamples=ctx.settings.bootstrap_resamples)
