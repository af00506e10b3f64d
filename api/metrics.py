"""``/metrics``: the grid's state in the Prometheus text format (0.0.4), read from Redis and the ledger.

Everything is read at scrape time and nothing is kept in process memory, so any one of several
gunicorn workers answers for the whole grid. No token is needed (scrapers have none); the page holds
queue names, statuses, counts and timings only: no URL, no token, no error text.

Shard latency comes from the ledger's predictions: a shard's model time is the sum of the
``latency_s`` of its predictions that were generated (not reused from the cache), summarised over
the shards that finished in the last few minutes.
"""

from __future__ import annotations

import logging
import math
from datetime import datetime, timedelta, timezone

from flask import Blueprint, Response, current_app

log = logging.getLogger("medgrid.api")

bp = Blueprint("metrics", __name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
RUN_STATUSES = ("preparing", "queued", "running", "scoring", "done", "partial", "failed", "cancelled")
SHARD_STATUSES = ("pending", "leased", "done", "failed", "cancelled")
SAMPLE_RATE_WINDOW_S = 60
SHARD_LATENCY_WINDOW_S = 300
# Bounds the work of one scrape however fast shards finish.
SHARD_LATENCY_MAX_SHARDS = 500
SHARD_LATENCY_QUANTILES = (0.5, 0.9, 0.99, 1.0)
PREDICTION_LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
# Kombu's Redis transport keeps messages sent with a priority in extra lists named
# "<queue>\x06\x16<step>"; a queue's depth is the sum over all of them.
KOMBU_PRIORITY_SEPARATOR = "\x06\x16"
KOMBU_PRIORITY_STEPS = (3, 6, 9)
REDIS_TIMEOUT_S = 2.0


# -- the text format ---------------------------------------------------------------------------

def _escape_label_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _format_number(value: float) -> str:
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


class Exposition:
    """Metric families in the order they are added, rendered as Prometheus text."""

    def __init__(self):
        self.lines: list[str] = []

    def family(self, name: str, kind: str, help_text: str, samples) -> None:
        """``samples``: (name suffix, labels, value) triples, e.g. ("_bucket", {"le": "0.5"}, 3)."""
        self.lines.append(f"# HELP {name} {_escape_help(help_text)}")
        self.lines.append(f"# TYPE {name} {kind}")
        for suffix, labels, value in samples:
            rendered = ",".join(f'{key}="{_escape_label_value(str(val))}"' for key, val in labels.items())
            self.lines.append(f"{name}{suffix}{{{rendered}}} {_format_number(value)}" if rendered
                              else f"{name}{suffix} {_format_number(value)}")

    def gauge(self, name: str, help_text: str, value: float | None = None, *, by: str | None = None,
              values: dict | None = None) -> None:
        """One unlabelled value, or one sample per key of ``values`` labelled ``by``."""
        if values is None:
            self.family(name, "gauge", help_text, [("", {}, value)])
        else:
            self.family(name, "gauge", help_text, [("", {by: key}, val) for key, val in values.items()])

    def render(self) -> str:
        return "\n".join(self.lines) + "\n"


# -- Redis -------------------------------------------------------------------------------------

def _redis_client(ctx):
    client = ctx.extra.get("metrics_redis")
    if client is None:
        import redis

        client = redis.Redis.from_url(ctx.settings.redis_url, socket_timeout=REDIS_TIMEOUT_S,
                                      socket_connect_timeout=REDIS_TIMEOUT_S)
        ctx.extra["metrics_redis"] = client  # its connection pool is shared by the requests of this process
    return client


def queue_depths(ctx, queues: list[str]) -> dict[str, int] | None:
    """Messages waiting in each queue (not those a worker holds), or None when Redis does not answer."""
    import redis

    keys = {queue: [queue] + [f"{queue}{KOMBU_PRIORITY_SEPARATOR}{step}" for step in KOMBU_PRIORITY_STEPS]
            for queue in queues}
    try:
        pipeline = _redis_client(ctx).pipeline(transaction=False)
        for queue in queues:
            for key in keys[queue]:
                pipeline.llen(key)
        # raise_on_error=False: a key of another type answers an error for that key alone (counted as 0).
        sizes = iter(pipeline.execute(raise_on_error=False))
    except redis.RedisError as exc:
        log.warning("metrics: the broker did not answer (%s)", type(exc).__name__)
        return None
    return {queue: sum(size for size in (next(sizes) for _ in keys[queue]) if isinstance(size, int))
            for queue in queues}


def roster_model_ids(settings) -> set[str]:
    from services.models.spec import SpecError, roster

    try:
        return set(roster(settings.models_dir))
    except (SpecError, OSError) as exc:  # a broken spec must not take the metrics page down
        log.warning("metrics: cannot read the model roster: %s", exc)
        return set()


# -- the ledger --------------------------------------------------------------------------------

def _counts_by(session, column) -> dict[str, int]:
    from sqlalchemy import func, select

    return {key: count for key, count in session.execute(select(column, func.count()).group_by(column))}


def prediction_totals(session, now: datetime) -> dict:
    """Counts, the recent rate and the latency histogram of predictions, in one pass over the table."""
    from sqlalchemy import case, func, select

    from db import models as m

    p = m.Prediction
    measured = (p.cached.is_(False)) & p.latency_s.is_not(None)

    def count_where(condition):
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    columns = [func.count(), count_where(p.error.is_not(None)),
               count_where(p.created_at >= now - timedelta(seconds=SAMPLE_RATE_WINDOW_S)),
               count_where(measured), func.coalesce(func.sum(case((measured, p.latency_s), else_=0.0)), 0.0)]
    columns += [count_where(measured & (p.latency_s <= bound)) for bound in PREDICTION_LATENCY_BUCKETS]
    row = session.execute(select(*columns).select_from(p)).one()
    total, with_error, recent, measured_count, latency_sum = row[:5]
    return {"total": int(total), "with_error": int(with_error), "recent": int(recent),
            "latency_count": int(measured_count), "latency_sum": float(latency_sum),
            "latency_buckets": [int(n) for n in row[5:]]}


def recent_shard_seconds(session, now: datetime) -> list[float]:
    """Wall-clock seconds, lease to done, of each shard finished in the window."""
    from sqlalchemy import select

    from db import models as m

    rows = session.execute(
        select(m.Shard.leased_at, m.Shard.updated_at)
        .where(m.Shard.status == "done", m.Shard.leased_at.is_not(None),
               m.Shard.updated_at >= now - timedelta(seconds=SHARD_LATENCY_WINDOW_S))
        .order_by(m.Shard.updated_at.desc()).limit(SHARD_LATENCY_MAX_SHARDS)).all()
    return sorted((_utc(done) - _utc(leased)).total_seconds() for leased, done in rows)


def _utc(moment: datetime) -> datetime:
    """SQLite hands datetimes back naive; they were stored in UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _quantile(ordered: list[float], q: float) -> float:
    """Nearest-rank quantile of a sorted list."""
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


# -- the page ----------------------------------------------------------------------------------

def collect(ctx, now: datetime | None = None) -> Exposition:
    from sqlalchemy import select
    from sqlalchemy.exc import SQLAlchemyError

    from db import models as m
    from services.dispatch import SCORING_QUEUE, model_queue

    now = now or datetime.now(timezone.utc)
    page = Exposition()
    ledger = None
    try:
        with ctx.factory() as session:
            ledger = {
                "runs": _counts_by(session, m.Run.status),
                "shards": _counts_by(session, m.Shard.status),
                "predictions": prediction_totals(session, now),
                "shard_seconds": recent_shard_seconds(session, now),
                # Ad-hoc models (POST /api/v1/models) have queues too, though not in the roster.
                "active_models": set(session.scalars(select(m.Run.model_id).distinct()
                                                     .where(m.Run.status.in_(("queued", "running"))))),
            }
    except SQLAlchemyError as exc:
        log.warning("metrics: the database did not answer (%s)", type(exc).__name__)
    model_ids = roster_model_ids(ctx.settings) | (ledger["active_models"] if ledger else set())
    queues = [model_queue(model_id) for model_id in sorted(model_ids)] + [SCORING_QUEUE]
    depths = queue_depths(ctx, queues)

    page.gauge("medgrid_broker_up", "1 if Redis answered this scrape, else 0", int(depths is not None))
    page.gauge("medgrid_database_up", "1 if the database answered this scrape, else 0", int(ledger is not None))
    if depths is not None:
        page.gauge("medgrid_queue_depth", "messages waiting in a Redis queue (model.<id> per model, and scoring)",
                   by="queue", values=depths)
    if ledger is None:
        return page
    runs = {status: 0 for status in RUN_STATUSES} | ledger["runs"]
    shards = {status: 0 for status in SHARD_STATUSES} | ledger["shards"]
    page.gauge("medgrid_runs", "runs in the ledger by status", by="status", values=runs)
    page.gauge("medgrid_shards", "shards in the ledger by status (failed: out of attempts)", by="status",
               values=shards)
    page.gauge("medgrid_shards_failed", "shards that failed on every attempt", shards["failed"])
    predictions = ledger["predictions"]
    page.gauge("medgrid_predictions", "prediction rows in the ledger", predictions["total"])
    page.gauge("medgrid_predictions_failed", "predictions recorded with an error (the sample failed, not its shard)",
               predictions["with_error"])
    page.gauge("medgrid_samples_per_second",
               f"predictions stored in the last {SAMPLE_RATE_WINDOW_S} s divided by {SAMPLE_RATE_WINDOW_S}",
               predictions["recent"] / SAMPLE_RATE_WINDOW_S)
    buckets = [("_bucket", {"le": _format_number(bound)}, count)
               for bound, count in zip(PREDICTION_LATENCY_BUCKETS, predictions["latency_buckets"])]
    buckets.append(("_bucket", {"le": "+Inf"}, predictions["latency_count"]))
    page.family("medgrid_prediction_latency_seconds", "histogram",
                "model seconds per generated prediction (cache hits excluded)",
                buckets + [("_sum", {}, predictions["latency_sum"]), ("_count", {}, predictions["latency_count"])])
    shard_seconds = ledger["shard_seconds"]
    page.gauge("medgrid_recent_shards_measured",
               f"shards finished in the last {SHARD_LATENCY_WINDOW_S} s "
               f"(at most {SHARD_LATENCY_MAX_SHARDS})", len(shard_seconds))
    if shard_seconds:
        page.gauge("medgrid_recent_shard_latency_seconds",
                   f"wall-clock seconds per shard (lease to done) over the shards finished in the last "
                   f"{SHARD_LATENCY_WINDOW_S} s, by quantile", by="quantile",
                   values={_format_number(q): _quantile(shard_seconds, q) for q in SHARD_LATENCY_QUANTILES})
    return page


@bp.get("/metrics")
def metrics():
    """The grid's queues, runs, shards, predictions and latencies in the Prometheus text format (no token)."""
    page = collect(current_app.extensions["medgrid"])
    return Response(page.render(), status=200, content_type=CONTENT_TYPE)
