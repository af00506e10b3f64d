#!/usr/bin/env python3
"""Container health checks for medgrid images (used by Docker HEALTHCHECK, compose and k8s probes).

    medgrid-healthcheck http [URL]   GET URL (default http://127.0.0.1:$MEDGRID_PORT/healthz) answers 2xx
    medgrid-healthcheck file [PATH]  PATH (default $MEDGRID_READY_FILE or /tmp/medgrid-ready) exists:
                                     a worker touches it once its model is loaded
    medgrid-healthcheck redis        the broker at $MEDGRID_REDIS_URL answers PING
    medgrid-healthcheck db           the database at $MEDGRID_DATABASE_URL answers SELECT 1

Exit status 0 means healthy, 1 unhealthy. Only the standard library and medgrid's base dependencies
(redis, SQLAlchemy) are used, so the same script runs in the slim and the GPU image.
"""

from __future__ import annotations

import os
import sys
import urllib.request

TIMEOUT = float(os.environ.get("MEDGRID_HEALTHCHECK_TIMEOUT", "4"))


def check_http(url: str | None = None) -> None:
    url = url or f"http://127.0.0.1:{os.environ.get('MEDGRID_PORT', '8000')}/healthz"
    with urllib.request.urlopen(url, timeout=TIMEOUT) as response:  # noqa: S310 (local URL)
        if not 200 <= response.status < 300:
            raise RuntimeError(f"{url} answered {response.status}")


def check_file(path: str | None = None) -> None:
    path = path or os.environ.get("MEDGRID_READY_FILE") or "/tmp/medgrid-ready"
    if not os.path.exists(path):
        raise RuntimeError(f"{path} does not exist (model not loaded yet, or the worker stopped)")


def check_redis() -> None:
    import redis

    url = os.environ.get("MEDGRID_REDIS_URL", "redis://127.0.0.1:6379/0")
    client = redis.Redis.from_url(url, socket_timeout=TIMEOUT, socket_connect_timeout=TIMEOUT)
    if not client.ping():
        raise RuntimeError("redis did not answer PING")


def check_db() -> None:
    import sqlalchemy

    url = os.environ.get("MEDGRID_DATABASE_URL", "")
    if not url:
        raise RuntimeError("MEDGRID_DATABASE_URL is not set")
    if url.startswith("postgres:"):
        url = "postgresql:" + url[len("postgres:"):]
    engine = sqlalchemy.create_engine(url, pool_pre_ping=False, connect_args=(
        {"connect_timeout": int(TIMEOUT)} if url.startswith("postgresql") else {}))
    try:
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text("SELECT 1"))
    finally:
        engine.dispose()


CHECKS = {"http": check_http, "file": check_file, "redis": check_redis, "db": check_db}


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in CHECKS:
        print(f"usage: medgrid-healthcheck {{{'|'.join(CHECKS)}}} [ARG]", file=sys.stderr)
        return 2
    try:
        CHECKS[argv[0]](*argv[1:2])
    except Exception as exc:  # any failure is "unhealthy", with the reason on stderr
        print(f"unhealthy ({argv[0]}): {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
