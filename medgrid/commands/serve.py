"""`medgrid serve api|worker|scoring|sweeper`: the processes of the grid (the same commands the containers run)."""

from __future__ import annotations

import logging
import os
import sys
import time

import click


@click.group()
def serve():
    """Run one process of the grid."""


@serve.command("api")
@click.option("--bind", default="0.0.0.0:8000", show_default=True)
@click.option("--workers", default=2, show_default=True, type=click.IntRange(min=1))
def serve_api(bind, workers):
    """The REST API under gunicorn."""
    os.execv(sys.executable, [sys.executable, "-m", "gunicorn", "--bind", bind, "--workers", str(workers),
                              "--access-logfile", "-", "--timeout", "120", "api.wsgi:app"])


def _celery_worker(app, queue: str, name: str, threads: int = 1) -> None:
    """One process: the solo pool takes one task at a time (the scorer, CPU-bound); a model worker
    takes several in threads of this process, which share its one loaded model."""
    celery = app.extensions["celery"]
    pool = ["--pool", "solo", "--concurrency", "1"] if threads == 1 else ["--pool", "threads", "--concurrency",
                                                                           str(threads)]
    celery.worker_main(["worker", "--queues", queue, *pool, "--hostname", f"{name}@%h", "--loglevel", "INFO",
                        "--without-gossip", "--without-mingle"])


@serve.command("worker")
@click.option("--model", "model_id", default=None, help="model id to pin this worker to (default: MEDGRID_MODEL)")
@click.option("--gpus", default=None, help="comma-separated GPU indices, e.g. 0,1 (sets CUDA_VISIBLE_DEVICES)")
@click.option("--shards-in-flight", type=click.IntRange(min=1), default=None,
              help="shards held at once, a thread each, sharing the one model (default: "
                   "MEDGRID_WORKER_SHARDS_IN_FLIGHT, 2)")
def serve_worker(model_id, gpus, shards_in_flight):
    """A Celery worker pinned to one model: loads it once, then consumes only model.<id>."""
    from medgrid.errors import UserError, load_settings

    if gpus:
        os.environ["CUDA_VISIBLE_DEVICES"] = gpus  # before torch is imported anywhere
    settings = load_settings()
    model_id = model_id or settings.model
    if not model_id:
        raise UserError("no model: pass --model ID or set MEDGRID_MODEL")
    from api import create_app
    from services.dispatch import model_queue
    from services.models.base import create_adapter
    from services.models.spec import UnknownModel, roster

    specs = roster(settings.models_dir)
    if model_id not in specs:
        raise UserError(str(UnknownModel(model_id, sorted(specs))))
    spec = specs[model_id]
    if gpus and len(gpus.split(",")) < spec.gpus:
        raise UserError(f"model {model_id} needs {spec.gpus} GPUs; --gpus gave {gpus}")
    app = create_app(settings)
    adapter = create_adapter(spec, seed=settings.seed, allow_remote_code=settings.trust_remote_code)
    adapter.load()
    app.extensions["medgrid"].adapter = adapter
    app.extensions["medgrid"].pinned_model = model_id
    settings.ready_file.parent.mkdir(parents=True, exist_ok=True)
    settings.ready_file.write_text(model_id)  # readiness: only now is the model loaded
    logging.getLogger("medgrid.worker").info("model %s loaded; consuming %s", model_id, model_queue(model_id))
    try:
        _celery_worker(app, model_queue(model_id), model_id,
                       threads=shards_in_flight or settings.worker_shards_in_flight)
    finally:
        settings.ready_file.unlink(missing_ok=True)


@serve.command("scoring")
def serve_scoring():
    """The scoring service: a Celery worker on queues `scoring` and `prepare` (reading benchmarks into shards)."""
    from api import create_app
    from medgrid.errors import load_settings
    from services.dispatch import PREPARE_QUEUE, SCORING_QUEUE

    _celery_worker(create_app(load_settings()), f"{SCORING_QUEUE},{PREPARE_QUEUE}", "scoring")


@serve.command("sweeper")
@click.option("--interval", default=15.0, show_default=True, type=click.FloatRange(min=0.1))
@click.option("--stale-after", default=60.0, show_default=True, type=click.FloatRange(min=0.1),
              help="seconds a pending shard may wait before it is enqueued again")
@click.option("--once", is_flag=True, help="sweep once and exit")
def serve_sweeper(interval, stale_after, once):
    """Re-enqueue shards whose lease expired or whose message was lost; finish settled runs."""
    from api import create_app
    from medgrid.errors import load_settings
    from services.dispatch import sweep
    from worker.celery_app import make_queue_depth

    app = create_app(load_settings())
    ctx = app.extensions["medgrid"]
    queue_depth = make_queue_depth(ctx.celery)
    while True:
        try:
            counts = sweep(ctx.factory, ctx.settings, ctx.enqueue, stale_after=stale_after, queue_depth=queue_depth)
        except Exception:  # Postgres or Redis briefly away: the next sweep tries again
            logging.getLogger("medgrid.sweeper").exception("sweep failed")
            if once:
                raise
        else:
            if any(counts.values()):
                click.echo(f"sweep: {counts}", err=True)
        if once:
            return
        time.sleep(interval)
