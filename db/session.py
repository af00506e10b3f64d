"""Engines, sessions and the schema upgrade, for SQLite (embedded default) and Postgres (grid)."""

from __future__ import annotations

import io
import json
import time
from datetime import datetime
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import orjson
from sqlalchemy import JSON, create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def _json_dumps(value) -> str:
    """JSON columns hold raw benchmark records: a value JSON has no type for (a numpy number from a
    parquet file, a date) is written as its text instead of failing the whole write.

    orjson encodes a record about ten times faster than the standard library, and every sample
    record is encoded once per run; values it refuses (integers beyond 64 bits) take the slow path.
    """
    try:
        return orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
    except (TypeError, orjson.JSONEncodeError):
        return json.dumps(value, default=str)


def normalise_url(url: str) -> str:
    """Pin the driver we ship (psycopg2): SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3."""
    for scheme in ("postgres://", "postgresql://"):
        if url.startswith(scheme):
            return "postgresql+psycopg2://" + url[len(scheme):]
    return url


def make_engine(url: str) -> Engine:
    url = normalise_url(url)
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30}, json_serializer=_json_dumps,
                               json_deserializer=orjson.loads)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")  # SQLite ignores FKs unless asked
            cursor.execute("PRAGMA journal_mode=WAL")  # readers (the CLI) do not block the writer
            cursor.close()

        return engine
    engine = create_engine(url, pool_size=5, max_overflow=5, json_serializer=_json_dumps,
                           json_deserializer=orjson.loads)
    _ping_when_idle(engine)
    return engine


PING_AFTER_IDLE_S = 10.0


def _ping_when_idle(engine: Engine) -> None:
    """Check a pooled connection before use only when it has sat idle for a while.

    ``pool_pre_ping`` pings on every checkout: a worker checks a connection out twice per shard,
    and the two round trips were 8% of its busy time. A connection used moments ago is almost
    surely alive; one idle longer than PING_AFTER_IDLE_S (Postgres may have restarted, a proxy
    may have dropped it) is pinged, and replaced if the ping fails.
    """
    from sqlalchemy.exc import DisconnectionError

    @event.listens_for(engine, "checkin")
    def _note_idle_since(dbapi_connection, record):
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_connection, record, proxy):
        idle_since = record.info.get("idle_since")
        if idle_since is not None and time.monotonic() - idle_since > PING_AFTER_IDLE_S:
            try:
                engine.dialect.do_ping(dbapi_connection)
            except engine.dialect.loaded_dbapi.Error as exc:
                raise DisconnectionError(f"pooled connection failed its ping: {exc}") from exc


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session that commits on success and rolls back on any error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def alembic_config(url: str):
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    from alembic import command

    make_engine(url).dispose()  # creates the SQLite folder if needed
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    from alembic import command

    command.downgrade(alembic_config(url), revision)


def current_revision(url: str) -> str | None:
    from alembic.runtime.migration import MigrationContext

    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


_UPSERTS: dict[tuple, object] = {}


def upsert(session: Session, table, rows: list[dict], conflict: list[str], update: list[str],
           returning: tuple[str, ...] | None = None) -> list:
    """INSERT ... ON CONFLICT (conflict) DO UPDATE SET update, on SQLite and Postgres; returns the
    ``returning`` columns (default: the primary key) of the rows inserted or updated (with an empty
    ``update``, DO NOTHING: rows that already existed are not returned). Every row must have the
    same keys.

    A worker calls this for every shard, so neither building nor compiling the statement is paid
    per call. On Postgres the rows go straight to psycopg2's ``execute_values`` as one multi-row
    INSERT: SQLAlchemy's per-row parameter processing cost about 28 us a row, a quarter of a
    shard's time with a fast model (measured with ``bench/grid_throughput.py``).
    """
    if not rows:
        return []
    dialect = session.get_bind().dialect.name
    returning = tuple(returning or (c.name for c in table.primary_key.columns))
    columns = tuple(rows[0])
    shape = (dialect, table, columns, tuple(conflict), tuple(update), returning)
    statement = _UPSERTS.get(shape)
    if statement is None:
        statement = _UPSERTS[shape] = _upsert_statement(dialect, table, columns, conflict, update, returning)
    if dialect == "postgresql":
        return _execute_values(session, statement, _plain_values(table, columns, rows), fetch=True)
    return session.execute(statement, rows).all()


class Conflict(Exception):
    """``insert_new`` met a row that already exists; the transaction must be rolled back."""


def insert_new(session: Session, table, rows: list[dict]) -> None:
    """INSERT rows that should not exist yet; raises Conflict if one does (a unique constraint).

    On Postgres the rows go in with COPY: 128 prediction rows take half the time of a multi-row
    INSERT and a third of its client CPU (measured). SQLite takes a plain INSERT.
    """
    if not rows:
        return
    columns = list(rows[0])
    if session.get_bind().dialect.name != "postgresql":
        from sqlalchemy import insert
        from sqlalchemy.exc import IntegrityError

        try:
            session.execute(insert(table), rows)
        except IntegrityError as exc:
            raise Conflict(str(exc.orig)) from exc
        return
    import psycopg2

    lines = ["\t".join(_copy_text(value) for value in values) for values in _plain_values(table, columns, rows)]
    names = ", ".join(f'"{table.c[c].name}"' for c in columns)
    with _raw_cursor(session) as cursor:
        try:
            cursor.copy_expert(f'COPY "{table.name}" ({names}) FROM STDIN', io.StringIO("\n".join(lines) + "\n"))
        except psycopg2.errors.UniqueViolation as exc:
            raise Conflict(str(exc)) from exc


def _plain_values(table, columns, rows: list[dict]) -> list[tuple]:
    """Rows as tuples for psycopg2 itself, JSON columns already encoded (what SQLAlchemy's JSON
    type does on the ORM's path)."""
    encode = [isinstance(table.c[c].type, JSON) for c in columns]
    if not any(encode):
        return [tuple(row[c] for c in columns) for row in rows]
    return [tuple(_json_dumps(row[c]) if json else row[c] for c, json in zip(columns, encode)) for row in rows]


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_text(value) -> str:
    """One value in COPY's text format."""
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value).translate(_COPY_ESCAPES)


def _upsert_statement(dialect: str, table, columns, conflict, update, returning):
    """Postgres: the SQL text for ``execute_values``; SQLite: a Core statement (RETURNING makes
    SQLAlchemy batch the rows into one multi-row INSERT)."""
    if dialect == "postgresql":
        def quoted(names) -> str:
            return ", ".join(f'"{table.c[name].name}"' for name in names)  # table.c[...]: real columns only

        action = ("DO UPDATE SET " + ", ".join(f'"{c}" = EXCLUDED."{c}"' for c in update)) if update else "DO NOTHING"
        return (f'INSERT INTO "{table.name}" ({quoted(columns)}) VALUES %s ON CONFLICT ({quoted(conflict)}) '
                f"{action} RETURNING {quoted(returning)}")
    if dialect != "sqlite":  # pragma: no cover - only the two dialects are supported
        raise RuntimeError(f"unsupported database dialect {dialect}")
    from sqlalchemy.dialects.sqlite import insert

    statement = insert(table)
    if update:
        statement = statement.on_conflict_do_update(index_elements=conflict,
                                                    set_={c: statement.excluded[c] for c in update})
    else:
        statement = statement.on_conflict_do_nothing(index_elements=conflict)
    return statement.returning(*(table.c[c] for c in returning))


@contextmanager
def _raw_cursor(session: Session):
    """A psycopg2 cursor on the session's own connection, so inside its transaction."""
    cursor = session.connection().connection.dbapi_connection.cursor()
    try:
        yield cursor
    finally:
        cursor.close()


def _execute_values(session: Session, sql: str, values: list[tuple], fetch: bool = False, page_size: int = 1000):
    from psycopg2.extras import execute_values

    with _raw_cursor(session) as cursor:
        return execute_values(cursor, sql, values, page_size=page_size, fetch=fetch)


def bulk_update(session: Session, table, rows: list[dict], key: str = "id") -> None:
    """UPDATE many rows by primary key in a few statements.

    On Postgres one ``UPDATE ... FROM (VALUES ...)`` per page of rows: executemany would send a
    statement per row (5 s for 32,000 predictions). Columns are cast to their declared types so
    a page whose first row holds NULL still types correctly. SQLite, in-process, uses executemany.
    """
    if not rows:
        return
    columns = [c for c in rows[0] if c != key]
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        from sqlalchemy import bindparam, update

        statement = update(table).where(table.c[key] == bindparam("_key")).values(
            {c: bindparam(c) for c in columns})
        connection.execute(statement, [{**{c: row[c] for c in columns}, "_key": row[key]} for row in rows])
        return
    dialect = connection.dialect
    casts = {c: table.c[c].type.compile(dialect=dialect) for c in [key, *columns]}
    assignments = ", ".join(f'"{c}" = v."{c}"::{casts[c]}' for c in columns)
    names = ", ".join(f'"{c}"' for c in [key, *columns])
    sql = (f'UPDATE "{table.name}" SET {assignments} FROM (VALUES %s) AS v({names}) '
           f'WHERE "{table.name}"."{key}" = v."{key}"::{casts[key]}')
    _execute_values(session, sql, [tuple(row[c] for c in [key, *columns]) for row in rows], page_size=5000)
