"""Alembic migrations run up and back down on a real Postgres and on SQLite."""

import pytest
from sqlalchemy import inspect

from db.session import current_revision, downgrade, make_engine, upgrade

TABLES = {"models", "benchmarks", "samples", "runs", "shards", "predictions", "scores"}

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("url_fixture", ["pg_url", "sqlite_url"])
def test_migrations_up_down_up(request, url_fixture):
    url = request.getfixturevalue(url_fixture)
    upgrade(url)
    assert current_revision(url) is not None
    engine = make_engine(url)
    assert TABLES <= set(inspect(engine).get_table_names())
    unique = {c["name"] for c in inspect(engine).get_unique_constraints("predictions")}
    assert "uq_predictions_run_sample" in unique
    downgrade(url, "base")
    assert current_revision(url) is None
    assert not TABLES & set(inspect(engine).get_table_names())
    upgrade(url)  # and up again: downgrade left nothing behind that blocks it
    assert TABLES <= set(inspect(engine).get_table_names())
    engine.dispose()
