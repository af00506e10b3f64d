#!/usr/bin/env bash
# Makes sure Postgres (127.0.0.1:5432, database "test") and Redis (127.0.0.1:6379) answer, for the
# integration and end-to-end tests. Starts them if they are installed but stopped, installs them
# from Debian's packages if they are missing (needs root), and leaves running ones alone.
set -euo pipefail

PG_HOST=127.0.0.1 PG_PORT=5432 REDIS_PORT=6379
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "services.sh: need root to run: $*" >&2; exit 1; fi; }

pg_up() { pg_isready -q -h "$PG_HOST" -p "$PG_PORT" 2>/dev/null; }
redis_up() { [ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]; }

if ! command -v pg_ctlcluster >/dev/null || ! command -v redis-server >/dev/null; then
    if ! { command -v pg_isready >/dev/null && pg_up && command -v redis-cli >/dev/null && redis_up; }; then
        as_root apt-get update -qq
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql postgresql-client redis-server >/dev/null
    fi
fi

if ! pg_up; then
    version=$(ls /etc/postgresql | sort -V | tail -n 1)
    as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start
    for _ in $(seq 1 30); do pg_up && break; sleep 1; done
fi
pg_up || { echo "services.sh: Postgres does not answer on $PG_HOST:$PG_PORT" >&2; exit 1; }

# The tests connect as postgres/postgres: that works with trust auth and with password auth alike.
psql_admin() { if psql -h "$PG_HOST" -U postgres -d postgres -tAc "select 1" >/dev/null 2>&1; then
    psql -h "$PG_HOST" -U postgres -d postgres "$@"; else as_root su postgres -c "psql -d postgres $(printf '%q ' "$@")"; fi; }
psql_admin -qc "ALTER USER postgres PASSWORD 'postgres'" >/dev/null
if [ "$(psql_admin -tAc "SELECT 1 FROM pg_database WHERE datname='test'")" != "1" ]; then
    psql_admin -qc "CREATE DATABASE test" >/dev/null
fi

if ! redis_up; then
    as_root mkdir -p /var/lib/redis /var/log/redis
    as_root redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$REDIS_PORT" --save "" --appendonly no \
        --dir /var/lib/redis --logfile /var/log/redis/ci.log
    for _ in $(seq 1 30); do redis_up && break; sleep 1; done
fi
redis_up || { echo "services.sh: Redis does not answer on 127.0.0.1:$REDIS_PORT" >&2; exit 1; }
echo "Postgres and Redis are up"
