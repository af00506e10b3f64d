"""The connection pool on a real Postgres: a pooled connection that died while idle is replaced
before use, without pinging connections that were used a moment ago."""

import pytest
from sqlalchemy import exc, text

import db.session
from db.session import make_engine

pytestmark = pytest.mark.integration


def _kill_pooled_connection(engine) -> None:
    """Terminate the backend of the (only) pooled connection, as a Postgres restart would."""
    with engine.connect() as connection:
        pid = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
    admin = make_engine(engine.url.render_as_string(hide_password=False))
    try:
        with admin.connect() as connection:
            connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    finally:
        admin.dispose()


@pytest.mark.parametrize("idle_enough", [True, False])
def test_a_connection_dead_while_idle_is_replaced_before_use(pg_url, monkeypatch, idle_enough):
    engine = make_engine(pg_url)
    try:
        _kill_pooled_connection(engine)
        # idle longer than the threshold (0 s) -> pinged and replaced; used "just now" -> not pinged
        monkeypatch.setattr(db.session, "PING_AFTER_IDLE_S", 0.0 if idle_enough else 3600.0)
        if idle_enough:
            with engine.connect() as connection:
                assert connection.execute(text("SELECT 1")).scalar_one() == 1
        else:
            with pytest.raises(exc.OperationalError), engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            with engine.connect() as connection:  # the failure invalidated it: the next use reconnects
                assert connection.execute(text("SELECT 1")).scalar_one() == 1
    finally:
        engine.dispose()
