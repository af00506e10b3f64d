"""Shared fixtures: tiny checkpoints built once, the demo benchmark, a fresh Postgres database per test."""

from __future__ import annotations

import os
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
PG_URL = os.environ.get("MEDGRID_TEST_DATABASE_URL", "postgresql://postgres:postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("MEDGRID_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    assert SHARED_DATA.is_dir(), f"the real annotation files are expected at {SHARED_DATA}"
    return SHARED_DATA


@pytest.fixture(scope="session")
def tiny_checkpoints(tmp_path_factory) -> dict[str, Path]:
    import torch

    from services.models.tiny import FAMILIES, make_tiny

    # Tiny models gain nothing from threads and lose a lot to contention on a shared 2-core box.
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("checkpoints")
    return {family: make_tiny(family, root / family) for family in FAMILIES}


@pytest.fixture(scope="session")
def demo_data(tmp_path_factory) -> Path:
    from services.benchmarks.demo import build_demo

    return build_demo(tmp_path_factory.mktemp("demo"))


@contextmanager
def fresh_database():
    """A new, empty Postgres database; dropped (connections and all) on exit."""
    import psycopg2
    from sqlalchemy.engine import make_url

    admin = make_url(PG_URL)
    name = f"medgrid_test_{uuid.uuid4().hex[:12]}"

    def run(statement):
        connection = psycopg2.connect(host=admin.host, port=admin.port or 5432, user=admin.username,
                                      password=admin.password, dbname=admin.database)
        connection.autocommit = True  # CREATE/DROP DATABASE refuse to run inside a transaction block
        try:
            with connection.cursor() as cursor:
                cursor.execute(statement)
        finally:
            connection.close()

    run(f'CREATE DATABASE "{name}"')
    try:
        yield admin.set(database=name).render_as_string(hide_password=False)
    finally:
        run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_url():
    """A fresh, empty Postgres database for one test."""
    with fresh_database() as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'medgrid.sqlite3'}"
