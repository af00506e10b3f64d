"""The Flask app factory (Flask's tutorial shape): ``create_app(settings)``, one ``init_app`` per subsystem.

The API never imports torch: model adapters are created only by worker processes.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Callable

from flask import Flask

from medgrid.settings import Settings


@dataclass
class GridContext:
    """What requests and tasks share: settings, the session factory, the broker and (in a worker) the model."""

    settings: Settings
    factory: Any
    celery: Any = None
    enqueue: Callable | None = None
    adapter: Any = None
    pinned_model: str | None = None  # a worker's model id (its pool); checkpoints of it may be swapped in
    sample_lookup: Any = None
    # held while a shard uses the model (adapter swap included): a worker's shards share one model
    model_lock: Any = field(default_factory=threading.Lock)
    extra: dict = field(default_factory=dict)


def create_app(settings: Settings | None = None, *, enqueue: Callable | None = None) -> Flask:
    from db.session import make_engine, make_sessionmaker
    from services.dispatch import ImageCache
    from worker.celery_app import celery_init_app, make_enqueue

    settings = settings or Settings.from_env()
    app = Flask("medgrid")
    app.config.update(MEDGRID_SETTINGS=settings, MAX_CONTENT_LENGTH=1 * 1024 * 1024, JSON_SORT_KEYS=False)
    factory = make_sessionmaker(make_engine(settings.resolved_database_url))
    celery = celery_init_app(app)
    app.extensions["medgrid"] = GridContext(settings, factory, celery, enqueue or make_enqueue(celery),
                                            sample_lookup=ImageCache(settings))

    from api import catalog, checkpoints, errors, health, metrics, runs

    errors.init_app(app)
    for blueprint in (health.bp, runs.bp, catalog.bp, checkpoints.bp, metrics.bp):
        app.register_blueprint(blueprint)
    import worker.tasks  # noqa: F401  registers the task names with this app's Celery

    return app
