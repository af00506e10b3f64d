"""Celery built from the Flask app (Celery's Flask guide): one config, tasks that carry ids only.

JSON only (no pickle), late acks with prefetch 1 (one message per shard thread: a model worker
reserves no more shards than it has in flight) and reject-on-worker-lost so a killed worker's
shard goes back to the queue, no result backend (Postgres holds every result), and a broker
visibility timeout longer than the longest shard so Redis does not redeliver a shard in progress.
"""

from __future__ import annotations

from celery import Celery, Task
from flask import Flask


def celery_init_app(app: Flask) -> Celery:
    settings = app.config["MEDGRID_SETTINGS"]

    class FlaskTask(Task):
        def __call__(self, *args, **kwargs):
            with app.app_context():
                return self.run(*args, **kwargs)

    celery = Celery(app.name, task_cls=FlaskTask)
    celery.conf.update(
        broker_url=settings.redis_url,
        result_backend=None,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        event_serializer="json",
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        broker_connection_retry_on_startup=True,
        broker_transport_options={"visibility_timeout": int(settings.lease_seconds * 2)},
        task_default_queue="default",
        worker_hijack_root_logger=False,
    )
    celery.set_default()
    app.extensions["celery"] = celery
    return celery


def make_enqueue(celery: Celery):
    """The ``enqueue(queue, task, args)`` callable the services expect, backed by Celery."""

    def enqueue(queue: str, task: str, args: list) -> None:
        celery.send_task(task, args=args, queue=queue)

    return enqueue


def make_queue_depth(celery: Celery):
    """``queue_depth(queue) -> int``: messages waiting in a Redis queue (unacked ones excluded)."""

    def queue_depth(queue: str) -> int:
        with celery.connection_for_read() as connection:
            return int(connection.default_channel.client.llen(queue))

    return queue_depth
