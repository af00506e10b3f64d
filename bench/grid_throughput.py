"""Samples per second through the whole grid (echo model), against a bare Celery upsert task.

Issue 8's measure: one REST run of the ``echo`` model over N OmniMedVQA-style samples, through
every real process of the grid (the API under gunicorn, Redis, one worker pinned to the model,
Postgres, the scoring worker), timed from the POST to the run's status ``done``; and, in the same
invocation against the same Postgres and Redis, a bare Celery task (defined here, with the grid's
Celery settings: JSON, late acks, prefetch 1, the solo pool) that upserts the same N prediction
rows, 64 per task, with the grid's own ``db.session.upsert``. Target: >= 5,000 samples/s through
the grid on 2 cores; the ratio to the bare task is recorded. Two more bare variants put the bare
number in context: the same upsert sent as one batched, cached statement, and a task that does
no database work at all (Celery + Redis alone).

    .venv/bin/python bench/grid_throughput.py                  # -> bench/results/grid_throughput.json
    .venv/bin/python bench/grid_throughput.py --n 3200 --out /tmp/quick.json
    .venv/bin/python bench/grid_throughput.py --profile        # + where the time goes (see bench/README.md)

``--profile`` adds, after the measured runs: in-process breakdowns of the POST's work, of one
shard (every SQL statement counted and timed, and cProfile) and of scoring; an EXPLAIN of the
worker's per-shard prediction lookups before and after ANALYZE; a bench-only prototype of the
suggested shard path timed against the current one; and a second grid run sampled by py-spy.

Everything it starts lives in a fresh Postgres database (dropped at the end unless --keep), an
empty Redis database index (flushed at the end) and a temporary folder; every process it starts
runs in its own process group and is stopped on exit, with bounded waits.
"""

from __future__ import annotations

import argparse
import atexit
import collections
import dataclasses
import hashlib
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import synthetic_omnimedvqa  # noqa: E402  (after ROOT is importable)

BIN = Path(sys.executable).parent
MEDGRID = str(BIN / "medgrid")
BARE_TASK = "bench.upsert_predictions"
UPDATED = ["cache_key", "response", "error", "latency_s", "input_tokens", "output_tokens", "cached"]
TOKEN_W, TOKEN_R = "bench-write-" + uuid.uuid4().hex, "bench-read-" + uuid.uuid4().hex


# -- data ------------------------------------------------------------------------------------

def write_omnimedvqa(root: Path, n: int) -> Path:
    """32,000 records by default in 8 source files, five questions per real PNG as in the release."""
    return synthetic_omnimedvqa.write_omnimedvqa(root, n, n_files=8, per_image=5, images=True)


# -- services: a fresh database, an empty Redis index ----------------------------------------

class Postgres:
    def __init__(self, admin_url: str):
        from sqlalchemy.engine import make_url

        self.admin = make_url(admin_url)
        self.name = f"medgrid_bench_{uuid.uuid4().hex[:10]}"
        self.url = self.admin.set(database=self.name).render_as_string(hide_password=False)
        self.created = False

    def _admin(self, statement: str):
        import psycopg2

        connection = psycopg2.connect(host=self.admin.host, port=self.admin.port or 5432, user=self.admin.username,
                                      password=self.admin.password, dbname=self.admin.database)
        connection.autocommit = True
        try:
            with connection.cursor() as cursor:
                cursor.execute(statement)
                return cursor.fetchall() if cursor.description else None
        finally:
            connection.close()

    def create(self) -> None:
        self._admin(f'CREATE DATABASE "{self.name}"')
        self.created = True

    def drop(self) -> None:
        if self.created:
            self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
            self.created = False

    def server_version(self) -> str:
        return self._admin("SHOW server_version")[0][0]

    def stats(self) -> dict:
        row = self._admin("SELECT xact_commit, xact_rollback, tup_returned, tup_fetched, tup_inserted, tup_updated, "
                          f"tup_deleted, blks_hit, blks_read FROM pg_stat_database WHERE datname = '{self.name}'")[0]
        keys = ("xact_commit", "xact_rollback", "tup_returned", "tup_fetched", "tup_inserted", "tup_updated",
                "tup_deleted", "blks_hit", "blks_read")
        return dict(zip(keys, row))

    def table_stats(self) -> dict:
        """Scans per table: a sequential scan of predictions per shard is the planner without statistics."""
        import psycopg2

        connection = psycopg2.connect(host=self.admin.host, port=self.admin.port or 5432, user=self.admin.username,
                                      password=self.admin.password, dbname=self.name)
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT relname, seq_scan, seq_tup_read, coalesce(idx_scan, 0), "
                               "coalesce(idx_tup_fetch, 0), n_live_tup, autoanalyze_count + analyze_count "
                               "FROM pg_stat_user_tables WHERE relname IN ('predictions', 'samples', 'shards', 'runs')")
                keys = ("seq_scan", "seq_tup_read", "idx_scan", "idx_tup_fetch", "n_live_tup", "analyze_count")
                return {row[0]: dict(zip(keys, row[1:])) for row in cursor.fetchall()}
        finally:
            connection.close()

    def backend_pids(self) -> list[int]:
        return [r[0] for r in self._admin(f"SELECT pid FROM pg_stat_activity WHERE datname = '{self.name}'")]


def empty_redis_db(base_url: str) -> tuple[str, int]:
    """An empty Redis database index, so other sessions' workers never take this run's messages."""
    import redis

    base = base_url.rsplit("/", 1)[0] if re.search(r"/\d+$", base_url) else base_url.rstrip("/")
    for index in range(15, 0, -1):
        client = redis.Redis.from_url(f"{base}/{index}")
        try:
            # claim it with a marker so a concurrent bench does not pick the same index
            if client.dbsize() == 0 and client.set("medgrid-bench-lock", str(os.getpid()), nx=True):
                return f"{base}/{index}", index
        finally:
            client.close()
    raise RuntimeError(f"no empty Redis database index on {base}")


# -- processes ---------------------------------------------------------------------------------

class Processes:
    """Processes this script starts, each in its own session; stopped by process group, bounded."""

    def __init__(self, logs: Path):
        self.logs, self.procs = logs, {}
        logs.mkdir(parents=True, exist_ok=True)

    def start(self, name: str, argv: list[str], env: dict) -> subprocess.Popen:
        log = open(self.logs / f"{name}.log", "ab")
        proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                cwd=ROOT)
        log.close()
        self.procs[name] = proc
        return proc

    def wait_for(self, predicate, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            dead = [n for n, p in self.procs.items() if p.poll() is not None]
            if dead:
                raise RuntimeError(f"{dead} exited while waiting for {what}:\n{self.tail(dead[0])}")
            time.sleep(0.1)
        raise RuntimeError(f"timed out waiting for {what}:\n" + "\n".join(self.tail(n) for n in self.procs))

    def tail(self, name: str, chars: int = 3000) -> str:
        path = self.logs / f"{name}.log"
        return f"--- {name}\n" + (path.read_text(errors="replace")[-chars:] if path.exists() else "")

    def stop(self, *names: str, timeout: float = 20) -> None:
        names = names or tuple(self.procs)
        for name in names:
            proc = self.procs.get(name)
            if proc is not None and proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)  # the group we created (start_new_session)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + timeout
        for name in names:
            proc = self.procs.pop(name, None)
            if proc is None:
                continue
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            try:  # children (gunicorn workers) may outlive their leader: finish the group
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass


def group_pids(pgid: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid:
                pids.append(int(entry.name))
    return pids


def cpu_seconds(pids) -> float:
    """utime + stime of these processes (children that already exited count via cutime/cstime)."""
    tick, total = os.sysconf("SC_CLK_TCK"), 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(v) for v in fields[11:15])
    return total / tick


def pids_by_name(name: str) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == name:
                    out.append(int(entry.name))
            except OSError:
                continue
    return out


class CpuMeter:
    """CPU seconds per part of the grid between start() and stop()."""

    def __init__(self, procs: Processes, pg: Postgres, names: list[str]):
        self.procs, self.pg, self.names = procs, pg, names

    def _sample(self) -> dict:
        sample = {name: cpu_seconds(group_pids(self.procs.procs[name].pid)) for name in self.names}
        self._pg_pids = set(self.pg.backend_pids()) | getattr(self, "_pg_pids", set())
        sample["postgres (this database's backends)"] = {pid: cpu_seconds([pid]) for pid in self._pg_pids}
        sample["redis-server (whole server)"] = cpu_seconds(pids_by_name("redis-server"))
        sample["this script (client, polling)"] = cpu_seconds([os.getpid()])
        return sample

    def start(self):
        self.before, self.t0 = self._sample(), time.perf_counter()

    def stop(self) -> dict:
        after, wall = self._sample(), time.perf_counter() - self.t0
        out = {}
        for key, value in after.items():
            if isinstance(value, dict):  # per backend: those that appeared since start had 0 before
                out[key] = round(sum(v - self.before[key].get(pid, 0.0) for pid, v in value.items()), 2)
            else:
                out[key] = round(value - self.before[key], 2)
        out["wall_s"] = round(wall, 2)
        return out


# -- REST client ---------------------------------------------------------------------------

def call(method: str, url: str, body=None, token: str | None = None, timeout: float = 600):
    import urllib.error
    import urllib.request

    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- the grid run ------------------------------------------------------------------------------

TASK_LINE = re.compile(r"Task (medgrid\.run_shard|medgrid\.score_run|bench\.upsert_predictions)\[[^\]]+\] "
                       r"succeeded in ([0-9.eE+-]+)s")


def task_times(log: Path, task: str) -> list[float]:
    if not log.exists():
        return []
    return [float(m.group(2)) for m in TASK_LINE.finditer(log.read_text(errors="replace")) if m.group(1) == task]


def summarise_times(values: list[float]) -> dict:
    if not values:
        return {"n": 0}
    ordered = sorted(values)
    return {"n": len(values), "sum_s": round(sum(values), 3), "mean_ms": round(1000 * statistics.fmean(values), 2),
            "median_ms": round(1000 * statistics.median(values), 2),
            "p95_ms": round(1000 * ordered[int(0.95 * (len(ordered) - 1))], 2), "max_ms": round(1000 * ordered[-1], 2)}


def grid_env(base: dict, pg: Postgres, redis_url: str, models_dir: Path, data_root: Path, home: Path,
             shard_size: int) -> dict:
    return {**base, "MEDGRID_DATABASE_URL": pg.url, "MEDGRID_REDIS_URL": redis_url,
            "MEDGRID_MODELS_DIR": str(models_dir), "MEDGRID_DATA_ROOTS": str(data_root),
            "MEDGRID_API_WRITE_TOKENS": TOKEN_W, "MEDGRID_API_READ_TOKENS": TOKEN_R,
            "MEDGRID_SHARD_SIZE": str(shard_size), "MEDGRID_HOME": str(home), "MEDGRID_PROGRESS": "false",
            "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}


def start_worker(procs: Processes, env: dict, model_id: str) -> None:
    ready = procs.logs / f"ready-{model_id}"
    procs.start(f"worker-{model_id}", [MEDGRID, "serve", "worker", "--model", model_id],
                {**env, "MEDGRID_READY_FILE": str(ready)})
    procs.wait_for(ready.exists, 120, f"worker {model_id} to load its model")
    # the ready file is written before Celery connects: wait for the consumer to be up too
    log = procs.logs / f"worker-{model_id}.log"
    procs.wait_for(lambda: "ready." in log.read_text(errors="replace"), 60, f"worker {model_id} to consume")


def start_scoring(procs: Processes, env: dict) -> None:
    procs.start("scoring", [MEDGRID, "serve", "scoring"], env)
    log = procs.logs / "scoring.log"
    procs.wait_for(lambda: log.exists() and "ready." in log.read_text(errors="replace"), 60,
                   "the scoring worker to consume")


def grid_run(url: str, pg: Postgres, model_id: str, data: Path, n: int, poll_s: float, procs: Processes,
             meter: CpuMeter | None, timeout: float) -> dict:
    """POST one run, follow it through the API until done; timings from the client and the ledger."""
    from sqlalchemy import create_engine, text

    body = {"model": model_id, "benchmarks": [{"name": "omnimedvqa", "data": str(data), "limit": n}]}
    stats_before, tables_before = pg.stats(), pg.table_stats()
    if meter:
        meter.start()
    t0_wall, t0 = time.time(), time.perf_counter()
    status, answer = call("POST", f"{url}/api/v1/runs", body, token=TOKEN_W)
    t_submitted = time.perf_counter()
    if status != 202:
        raise RuntimeError(f"POST /api/v1/runs answered {status}: {answer}\n{procs.tail('api')}")
    run_id, polls = answer["id"], 0
    deadline = t0 + timeout
    while True:
        status, run = call("GET", f"{url}/api/v1/runs/{run_id}", token=TOKEN_R)
        polls += 1
        if status != 200:
            raise RuntimeError(f"GET run answered {status}: {run}")
        if run["status"] in ("done", "partial", "failed", "cancelled"):
            break
        if time.perf_counter() > deadline:
            raise RuntimeError(f"run {run_id} not done after {timeout} s: {run}\n" +
                               "\n".join(procs.tail(name) for name in procs.procs))
        time.sleep(poll_s)
    t_seen = time.perf_counter()
    cpu = meter.stop() if meter else None
    stats_after, tables_after = pg.stats(), pg.table_stats()
    engine = create_engine(pg.url.replace("postgresql://", "postgresql+psycopg2://", 1))
    try:
        with engine.connect() as connection:
            first, last, count, generated = connection.execute(text(
                "SELECT min(created_at), max(created_at), count(*), count(*) FILTER (WHERE NOT cached) "
                "FROM predictions WHERE run_id = :r"), {"r": run_id}).one()
            started_at, finished_at, n_samples = connection.execute(text(
                "SELECT started_at, finished_at, n_samples FROM runs WHERE id = :r"), {"r": run_id}).one()
            n_shards = connection.execute(text("SELECT count(*) FROM shards WHERE run_id = :r"), {"r": run_id}).scalar()
            n_scores = connection.execute(text("SELECT count(*) FROM scores WHERE run_id = :r"), {"r": run_id}).scalar()
            n_scored = connection.execute(text("SELECT count(*) FROM predictions WHERE run_id = :r "
                                               "AND correct IS NOT NULL"), {"r": run_id}).scalar()
    finally:
        engine.dispose()
    if run["status"] != "done" or count != n or n_samples != n:
        raise RuntimeError(f"run {run_id} ended {run['status']} with {count} predictions of {n}")
    ledger_wall = finished_at.timestamp() - t0_wall  # POST to status done, by the ledger's own clock
    delta = {k: stats_after[k] - stats_before[k] for k in stats_after}
    return {
        "run_id": run_id, "status": run["status"], "n_samples": n_samples, "predictions": count,
        "generated": generated, "shards": n_shards, "score_rows": n_scores, "predictions_judged": n_scored,
        "wall_s": round(ledger_wall, 3),
        "samples_per_s": round(n / ledger_wall, 1),
        "client_observed_wall_s": round(t_seen - t0, 3),
        "submit_s": round(t_submitted - t0, 3),
        "submit_to_first_prediction_s": round(first.timestamp() - t0_wall - (t_submitted - t0), 3),
        "first_to_last_prediction_s": round((last - first).total_seconds(), 3),
        "prediction_phase_samples_per_s": round(n / max(1e-9, (last - first).total_seconds()), 1),
        "last_prediction_to_done_s": round((finished_at - last).total_seconds(), 3),
        "polls": polls, "poll_interval_s": poll_s,
        "postgres_delta": {**delta, "commits_per_shard": round(delta["xact_commit"] / n_shards, 1)},
        "postgres_table_scans_delta": {
            table: {k: v - tables_before.get(table, {}).get(k, 0) if k != "n_live_tup" else v
                    for k, v in row.items()} for table, row in tables_after.items()},
        "cpu_s": cpu,
    }


# -- the bare Celery task ----------------------------------------------------------------------

BARE_MODES = {
    "helper": "db.session.upsert: one multi-VALUES INSERT ... ON CONFLICT, compiled afresh on every call "
              "(the issue's bare task)",
    "batched": "the same upsert as one cached statement executed with the rows as parameters and RETURNING id, "
               "so SQLAlchemy sends one batched INSERT (insertmanyvalues): what db.session.upsert could do",
    "noop": "no database: the task only counts itself in Redis (Celery + Redis + JSON alone, the floor)",
}


def bare_celery(redis_url: str, database_url: str | None):
    """A plain Celery app with the grid's settings (worker/celery_app.py) and one task."""
    from celery import Celery

    app = Celery("medgrid_bench_bare")
    app.conf.update(broker_url=redis_url, result_backend=None, task_ignore_result=True, task_serializer="json",
                    accept_content=["json"], event_serializer="json", task_acks_late=True,
                    task_reject_on_worker_lost=True, worker_prefetch_multiplier=1,
                    broker_connection_retry_on_startup=True, broker_transport_options={"visibility_timeout": 1800},
                    task_default_queue="default", worker_hijack_root_logger=False)
    state = {}

    @app.task(name=BARE_TASK, acks_late=True)
    def upsert_predictions(run_id: str, sample_ids: list[int], mode: str = "helper") -> None:
        """The rows of one shard (64 prediction-like rows) upserted in one transaction; see BARE_MODES."""
        from db import models as m
        from db.session import make_engine, make_sessionmaker, transaction, upsert

        if mode == "noop":
            if "redis" not in state:
                import redis

                state["redis"] = redis.Redis.from_url(redis_url)
            state["redis"].pipeline().incrby(f"bench:{run_id}:n", len(sample_ids)).set(
                f"bench:{run_id}:last", repr(time.time())).execute()
            return
        table = m.Prediction.__table__
        if "factory" not in state:
            from sqlalchemy.dialects.postgresql import insert

            state["factory"] = make_sessionmaker(make_engine(database_url))
            statement = insert(table)
            state["batched"] = statement.on_conflict_do_update(
                index_elements=["run_id", "sample_id"],
                set_={c: statement.excluded[c] for c in UPDATED}).returning(table.c.id)
        now = datetime.now(timezone.utc)
        rows = [{"run_id": run_id, "sample_id": pk, "cache_key": hashlib.sha256(f"{run_id}|{pk}".encode()).hexdigest(),
                 "response": "\\boxed{A}", "error": None, "latency_s": 0.0, "input_tokens": 0, "output_tokens": 0,
                 "cached": False, "created_at": now} for pk in sample_ids]
        with transaction(state["factory"]) as session:
            if mode == "batched":
                session.execute(state["batched"], rows).all()
            else:
                upsert(session, table, rows, ["run_id", "sample_id"], UPDATED)

    return app


def bare_worker_main(redis_url: str, database_url: str, queue: str) -> None:
    app = bare_celery(redis_url, database_url)
    app.worker_main(["worker", "--queues", queue, "--pool", "solo", "--concurrency", "1", "--hostname",
                     f"bare-{uuid.uuid4().hex[:6]}@%h", "--loglevel", "INFO", "--without-gossip", "--without-mingle"])


def bare_run(pg: Postgres, redis_url: str, procs: Processes, env: dict, model_id: str, shard_size: int,
             sample_ids: list[int], timeout: float, poll_s: float, mode: str = "helper") -> dict:
    """Enqueue N/64 bare tasks carrying 64 sample ids each; time until every row is in Postgres
    (or, for ``noop``, until every task has counted itself)."""
    import redis
    from sqlalchemy import create_engine, text

    queue, name = f"bench.bare.{uuid.uuid4().hex[:8]}", f"bare-{mode}"
    procs.start(name, [sys.executable, str(Path(__file__).resolve()), "--bare-worker", "--redis-url", redis_url,
                       "--database-url", pg.url, "--queue", queue], env)
    log = procs.logs / f"{name}.log"
    procs.wait_for(lambda: log.exists() and "ready." in log.read_text(errors="replace"), 60,
                   f"the bare Celery worker ({mode}) to consume")
    run_id = str(uuid.uuid4())
    engine = create_engine(pg.url.replace("postgresql://", "postgresql+psycopg2://", 1))
    client = redis.Redis.from_url(redis_url)
    app = bare_celery(redis_url, None)
    meter = CpuMeter(procs, pg, [name])
    n, tasks = len(sample_ids), -(-len(sample_ids) // shard_size)
    try:
        with engine.begin() as connection:  # a run row for the foreign key; nothing else of the grid
            connection.execute(text("INSERT INTO runs (id, model_id, status, options, n_samples, created_at) "
                                    "VALUES (:r, :m, 'running', '{}', :n, now())"),
                               {"r": run_id, "m": model_id, "n": n})
        stats_before = pg.stats()
        meter.start()
        t0_wall, t0 = time.time(), time.perf_counter()
        with app.producer_or_acquire() as producer:
            for start in range(0, n, shard_size):
                app.send_task(BARE_TASK, args=[run_id, sample_ids[start:start + shard_size], mode], queue=queue,
                              producer=producer)
        t_enqueued = time.perf_counter()
        deadline = t0 + timeout
        with engine.connect() as connection:
            while True:
                if mode == "noop":
                    count = int(client.get(f"bench:{run_id}:n") or 0)
                else:
                    count = connection.execute(text("SELECT count(*) FROM predictions WHERE run_id = :r"),
                                               {"r": run_id}).scalar()
                    connection.commit()
                if count >= n:
                    break
                if time.perf_counter() > deadline:
                    raise RuntimeError(f"bare task ({mode}): {count} of {n} rows after {timeout} s\n"
                                       + procs.tail(name))
                time.sleep(poll_s)
            t_seen = time.perf_counter()
            cpu = meter.stop()
            stats_after = pg.stats()
            first, last = connection.execute(text("SELECT min(created_at), max(created_at) FROM predictions "
                                                  "WHERE run_id = :r"), {"r": run_id}).one()
    finally:
        engine.dispose()
        procs.stop(name)
    times = task_times(log, BARE_TASK)
    if mode == "noop":
        wall = float(client.get(f"bench:{run_id}:last")) - t0_wall
        span = None
    else:  # the last row's created_at is stamped just before its upsert: add that task's own duration
        wall = last.timestamp() - t0_wall + (times[-1] if times else 0.0)
        span = (last - first).total_seconds()
    client.close()
    delta = {k: stats_after[k] - stats_before[k] for k in stats_after}
    out = {
        "mode": mode, "what": BARE_MODES[mode],
        "run_id": run_id, "tasks": tasks, "rows": n, "wall_s": round(wall, 3), "samples_per_s": round(n / wall, 1),
        "tasks_per_s": round(tasks / wall, 1),
        "client_observed_wall_s": round(t_seen - t0, 3), "enqueue_s": round(t_enqueued - t0, 3),
        "task_time": summarise_times(times),
        "cpu_s": cpu,
    }
    if span is not None:
        out["first_to_last_row_s"] = round(span, 3)
        # rows are stamped as a task starts; the first task also connects (not in the span): count a median one
        out["celery_overhead_per_task_ms (span - task time) / tasks"] = round(
            1000 * (span - sum(times[1:-1]) - statistics.median(times)) / max(1, len(times) - 1), 2) \
            if len(times) > 2 else None
        out["postgres_delta"] = {**delta, "commits_per_task": round(delta["xact_commit"] / tasks, 1)}
    return out


# -- profiling -----------------------------------------------------------------------------------

def pyspy_start(procs: Processes, name: str, pid: int, out: Path, rate: int) -> None:
    procs.start(f"py-spy-{name}", [str(BIN / "py-spy"), "record", "--pid", str(pid), "--subprocesses",
                                   "--idle", "--nonblocking", "--rate", str(rate), "--format", "raw",
                                   "--output", str(out)], dict(os.environ))


IDLE_LEAVES = ("_epoll.poll", "EpollSelector.select", "SyncWorker.wait", "Arbiter.wait_for_signals", "select.select",
               "Event.wait", "Condition.wait", "time.sleep",
               "_worker (concurrent/futures/thread.py")  # a worker's shard threads waiting for a task
CATEGORIES = (  # (name, test on the leaf frame's "function (package/file.py:line)"), first match wins
    ("database round trips (psycopg2 execute/commit/ping)",
     lambda f: any(k in f for k in ("do_execute", "do_executemany", "do_commit", "do_ping", "do_rollback",
                                    "psycopg2", "_psycopg"))),
    ("SQLAlchemy statement building and compiling (sqlalchemy/sql)", lambda f: "(sqlalchemy/sql/" in f),
    ("SQLAlchemy ORM, engine, pool", lambda f: "(sqlalchemy/" in f),
    ("Celery, kombu, Redis client", lambda f: any(f"({k}/" in f for k in ("celery", "kombu", "redis", "billiard",
                                                                          "vine", "amqp"))),
    ("JSON encode/decode", lambda f: "(json/" in f),
    ("Flask, werkzeug, gunicorn", lambda f: any(f"({k}/" in f for k in ("flask", "werkzeug", "gunicorn"))),
    ("medgrid code (services, api, worker, db, medgrid)",
     lambda f: any(f"({k}/" in f for k in ("services", "api", "worker", "db", "medgrid"))),
    ("logging", lambda f: "(logging/" in f),
    ("imports", lambda f: "importlib" in f or "<frozen" in f),
)


def collapse(raw: Path, top: int = 15) -> dict:
    """py-spy's collapsed stacks -> where the busy (non-idle) samples go: by category of the leaf frame,
    by leaf function (self), and by medgrid function on the stack (inclusive)."""
    if not raw.exists():
        return {"samples": 0}
    categories, leaf, medgrid = collections.Counter(), collections.Counter(), collections.Counter()
    total = busy = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        count = int(count)
        total += count
        frames = [f for f in stack.split(";") if not f.startswith("process ")]
        if not frames or any(frames[-1].startswith((idle + " ", idle + ":")) for idle in IDLE_LEAVES):
            continue
        busy += count
        name = re.sub(r":\d+\)$", ")", frames[-1])
        leaf[name] += count
        categories[next((c for c, test in CATEGORIES if test(frames[-1])), "other")] += count
        for frame in {re.sub(r":\d+\)$", ")", f) for f in frames}:
            if re.search(r"\((services|api|worker|db)/", frame):
                medgrid[frame] += count
    pct = lambda c: round(100 * c / max(1, busy), 1)  # noqa: E731
    return {"samples": total, "busy_samples": busy, "busy_pct": round(100 * busy / max(1, total), 1),
            "busy_by_category_pct": {c: pct(n) for c, n in categories.most_common()},
            "busy_by_medgrid_function_inclusive_pct": {f: pct(n) for f, n in medgrid.most_common(top)},
            "busy_by_leaf_function_pct": {f: pct(n) for f, n in leaf.most_common(top)}}


def describe_statement(statement: str) -> str:
    """A short name for a SQL statement: verb, table, and the shape that matters."""
    flat = " ".join(statement.split())
    verb = flat.split(" ", 1)[0].upper()
    table = re.search(r"(?:FROM|INTO|UPDATE) \"?(\w+)", flat)
    name = f"{verb} {table.group(1) if table else ''}".strip()
    if verb == "SELECT":
        columns = flat[7:flat.find(" FROM ")] if " FROM " in flat else flat[7:]
        name += " [" + ", ".join(c.split(".")[-1].split(" ")[0] for c in columns.split(", ")[:3]) + \
            (", ..." if columns.count(",") > 2 else "") + "]"
        where = re.search(r" WHERE (.*?)(?: ORDER BY| GROUP BY| LIMIT| FOR UPDATE|$)", flat)
        if where:
            name += " WHERE " + re.sub(r"%\(\w+\)s|__\[POSTCOMPILE_\w+\]", "?", where.group(1))[:80]
        if "FOR UPDATE" in flat:
            name += " FOR UPDATE"
    if verb == "INSERT" and "ON CONFLICT" in flat:
        name += " ... ON CONFLICT (upsert)"
    return name


def top_self(listing, per: int = 1, top: int = 15) -> dict:
    by_self = sorted(listing.stats.items(), key=lambda kv: kv[1][2], reverse=True)[:top]
    return {f"{Path(f).name}:{line}({fn})": round(1000 * v[2] / per, 3) for (f, line, fn), v in by_self}


def in_process_breakdown(pg: Postgres, env: dict, model_id: str, data: Path, n: int) -> dict:
    """The grid's three phases run one after the other in this process, with the grid's own
    functions: preparing the run (dispatch.prepare_run), every shard (runs.execute_shard, as a
    worker runs it) and scoring (runs.score_run). For each: wall and CPU seconds, every SQL
    statement counted and timed by kind, and the functions with the most self time (cProfile,
    a separate pass, so its overhead is not in the timings)."""
    import cProfile
    import pstats

    from sqlalchemy import event

    from db.session import make_engine, make_sessionmaker
    from medgrid.settings import Settings
    from services import dispatch, runs
    from services.models.base import create_adapter
    from services.models.spec import resolve_spec

    settings = Settings.from_env({k: v for k, v in env.items() if k.startswith("MEDGRID_")})
    engine = make_engine(pg.url)
    factory = make_sessionmaker(engine)
    spec = resolve_spec(model_id, settings.models_dir)
    adapter = create_adapter(spec, seed=settings.seed)
    adapter.load()
    statements: dict = collections.defaultdict(lambda: [0, 0.0])

    def before(conn, cursor, statement, parameters, context, executemany):
        conn.info["bench_t"] = time.perf_counter()

    def after(conn, cursor, statement, parameters, context, executemany):
        entry = statements[describe_statement(statement)]
        entry[0] += 1
        entry[1] += time.perf_counter() - conn.info.pop("bench_t")

    def run_once(spec, profiled: set) -> dict:
        queued = []
        enqueue = lambda queue, task, args: queued.append((task, args))  # noqa: E731
        run_id = dispatch.submit_run(factory, settings, spec, [{"name": "omnimedvqa", "data": str(data), "limit": n}],
                                     enqueue)
        lookup = dispatch.ImageCache(settings)
        phases = {
            "prepare_run": lambda: dispatch.prepare_run(factory, settings, run_id, enqueue),
            "execute_shard (every shard)": lambda: [
                runs.execute_shard(factory, args[0], adapter, lookup, seed=settings.seed,
                                   lease_seconds=settings.lease_seconds)
                for task, args in list(queued) if task == dispatch.SHARD_TASK],
            "score_run": lambda: runs.score_run(factory, run_id, seed=settings.seed,
                                                resamples=settings.bootstrap_resamples),
        }
        out = {}
        for name, phase in phases.items():
            statements.clear()
            profile = cProfile.Profile() if name in profiled else None
            wall, cpu = time.perf_counter(), time.process_time()
            if profile:
                profile.enable()
            phase()
            if profile:
                profile.disable()
                out[name] = {"top_self_ms (cProfile pass)": top_self(pstats.Stats(profile))}
                continue
            out[name] = {"wall_s": round(time.perf_counter() - wall, 3),
                         "cpu_s (this process)": round(time.process_time() - cpu, 3),
                         "sql (count, seconds) by statement": {
                             kind: [count, round(seconds, 3)]
                             for kind, (count, seconds) in sorted(statements.items(), key=lambda kv: -kv[1][1])}}
        return out

    import db.session

    # upserts (execute_values) and new predictions (COPY) go to psycopg2 directly, past SQLAlchemy's events
    raw, copy = db.session._execute_values, runs.insert_new

    def timed_raw(session, sql, values, **kwargs):
        start = time.perf_counter()
        try:
            return raw(session, sql, values, **kwargs)
        finally:
            entry = statements[describe_statement(sql) + " (execute_values)"]
            entry[0] += 1
            entry[1] += time.perf_counter() - start

    def timed_copy(session, table, rows):
        start = time.perf_counter()
        try:
            return copy(session, table, rows)
        finally:
            entry = statements[f"COPY {table.name} (insert_new)"]
            entry[0] += 1
            entry[1] += time.perf_counter() - start

    db.session._execute_values, runs.insert_new = timed_raw, timed_copy
    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    try:
        timed = run_once(spec, set())
        # another model id: the second pass must not reuse the first pass's predictions
        profiled = run_once(dataclasses.replace(spec, id=f"{spec.id}_cprofile"),
                            {"prepare_run", "execute_shard (every shard)", "score_run"})
    finally:
        db.session._execute_values, runs.insert_new = raw, copy
        engine.dispose()
    return {"n": n, **{name: {**timed[name], **profiled[name]} for name in timed}}


# -- main ------------------------------------------------------------------------------------------

def versions() -> dict:
    from importlib import metadata

    out = {"python": platform.python_version()}
    for package in ("celery", "kombu", "redis", "sqlalchemy", "psycopg2-binary", "psycopg2", "flask", "gunicorn",
                    "alembic"):
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    return out


def code_state() -> dict:
    """The commit, and the grid's files that differ from it: others edit the tree while this runs."""
    def git(*args):
        result = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=30)
        return result.stdout.rstrip("\n") if result.returncode == 0 else None

    changed = git("status", "--porcelain", "--", "services", "api", "worker", "db", "medgrid")
    return {"commit": git("rev-parse", "HEAD"),
            "uncommitted_grid_files": [line[3:] for line in (changed or "").splitlines()]}


def machine(pg: Postgres, redis_url: str) -> dict:
    import redis

    model = ""
    try:
        model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                      if line.startswith("model name")), "")
    except OSError:
        pass
    client = redis.Redis.from_url(redis_url)
    try:
        redis_version = client.info("server").get("redis_version")
    finally:
        client.close()
    return {"nproc": len(os.sched_getaffinity(0)), "cpu_count": os.cpu_count(), "cpu_model": model,
            "load_average_at_start": [round(v, 2) for v in os.getloadavg()],
            "platform": platform.platform(), "postgres": pg.server_version(), "redis": redis_version,
            **versions()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=32_000, help="samples in the run (default 32,000 = 500 shards)")
    parser.add_argument("--shard-size", type=int, default=None,
                        help="MEDGRID_SHARD_SIZE for the grid (default: the grid's own default)")
    parser.add_argument("--bare-task-size", type=int, default=64,
                        help="rows per bare Celery task (the issue's figure is for 64)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "grid_throughput.json")
    parser.add_argument("--admin-url", default=os.environ.get("MEDGRID_TEST_DATABASE_URL",
                                                              "postgresql://postgres:postgres@127.0.0.1:5432/test"))
    parser.add_argument("--redis-url", default=os.environ.get("MEDGRID_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"),
                        help="Redis server; an empty database index on it is used and flushed afterwards")
    parser.add_argument("--api-workers", type=int, default=2)
    parser.add_argument("--poll", type=float, default=0.25, help="seconds between the client's status polls")
    parser.add_argument("--timeout", type=float, default=900, help="seconds a run may take before giving up")
    parser.add_argument("--profile", action="store_true",
                        help="after the measured runs: a py-spy-profiled grid run (second model id, so no "
                             "prediction is reused) and in-process breakdowns of submit, one shard and scoring")
    parser.add_argument("--pyspy-rate", type=int, default=100)
    parser.add_argument("--logs", type=Path, default=None, help="keep process logs and profiles here")
    parser.add_argument("--keep", action="store_true", help="keep the database (its name is printed)")
    parser.add_argument("--bare-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--database-url", help=argparse.SUPPRESS)
    parser.add_argument("--queue", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_worker:
        bare_worker_main(args.redis_url, args.database_url, args.queue)
        return 0

    from medgrid.settings import Settings

    if args.shard_size is None:
        args.shard_size = Settings().shard_size
    command = "python bench/grid_throughput.py " + " ".join(sys.argv[1:])
    tmp = Path(tempfile.mkdtemp(prefix="medgrid-bench-"))
    logs = args.logs or tmp / "logs"
    procs = Processes(logs)
    pg = Postgres(args.admin_url)
    redis_index = None

    def cleanup(*_):
        procs.stop()
        if redis_index is not None:
            import redis

            client = redis.Redis.from_url(redis_url)
            try:
                client.flushdb()  # only the index this script claimed empty
            finally:
                client.close()
        if not args.keep:
            pg.drop()
        shutil.rmtree(tmp, ignore_errors=True)  # the data, the model specs (and the logs unless --logs)

    def on_signal(signum, _frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    atexit.register(lambda: procs.stop())
    try:
        redis_url, redis_index = empty_redis_db(args.redis_url)
        t = time.perf_counter()
        data = write_omnimedvqa(tmp / "data", args.n)
        write_s = time.perf_counter() - t
        info, code = machine(pg, redis_url), code_state()  # the code as it was when the run started
        pg.create()
        from db.session import upgrade

        upgrade(pg.url)
        suffix = uuid.uuid4().hex[:6]
        model_id, profile_model = f"echo_bench_{suffix}", f"echo_bench_{suffix}_profiled"
        models_dir = tmp / "models"
        models_dir.mkdir()
        for mid in (model_id, profile_model):
            (models_dir / f"{mid}.yaml").write_text(f"id: {mid}\nkind: echo\n")
        env = grid_env(dict(os.environ), pg, redis_url, models_dir, tmp / "data", tmp / "home", args.shard_size)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        print(f"data: {args.n} records in {write_s:.1f} s; database {pg.name}; redis index {redis_index}; "
              f"logs {logs}", file=sys.stderr)

        procs.start("api", [MEDGRID, "serve", "api", "--bind", f"127.0.0.1:{port}", "--workers",
                            str(args.api_workers)], env)
        procs.wait_for(lambda: _healthy(url), 60, "the API to answer /healthz")
        start_worker(procs, env, model_id)
        start_scoring(procs, env)
        meter = CpuMeter(procs, pg, ["api", f"worker-{model_id}", "scoring"])
        print("grid up; submitting", file=sys.stderr)
        grid = grid_run(url, pg, model_id, data, args.n, args.poll, procs, meter, args.timeout)
        shard_times = task_times(logs / f"worker-{model_id}.log", "medgrid.run_shard")
        grid["shard_task_time (worker log)"] = summarise_times(shard_times)
        grid["celery_overhead_per_shard_ms (span - task time) / shards"] = round(
            1000 * (grid["first_to_last_prediction_s"] - sum(shard_times[1:])) / max(1, len(shard_times) - 1), 2)
        deadline = time.monotonic() + 15  # Celery logs the task's success just after the run is marked done
        while not task_times(logs / "scoring.log", "medgrid.score_run") and time.monotonic() < deadline:
            time.sleep(0.2)
        scoring_times = task_times(logs / "scoring.log", "medgrid.score_run")
        grid["scoring_task_s (scoring log)"] = round(scoring_times[-1], 3) if scoring_times else None
        print(f"grid: {grid['samples_per_s']} samples/s ({grid['wall_s']} s)", file=sys.stderr)

        # the grid's processes are idle now, but stop them so the bare task has the machine alone
        procs.stop("api", f"worker-{model_id}", "scoring")
        from sqlalchemy import create_engine, text

        engine = create_engine(pg.url.replace("postgresql://", "postgresql+psycopg2://", 1))
        try:
            with engine.connect() as connection:
                sample_ids = list(connection.execute(text(
                    "SELECT sample_id FROM predictions WHERE run_id = :r ORDER BY sample_id"),
                    {"r": grid["run_id"]}).scalars())
        finally:
            engine.dispose()
        bare = {}
        for mode in BARE_MODES:
            bare[mode] = bare_run(pg, redis_url, procs, env, model_id, args.bare_task_size, sample_ids, args.timeout,
                                  args.poll, mode=mode)
            print(f"bare ({mode}): {bare[mode]['samples_per_s']} samples/s ({bare[mode]['wall_s']} s)",
                  file=sys.stderr)

        result = {
            "benchmark": "samples/s through the whole grid (echo model) vs a bare Celery task upserting the same rows",
            "command": command,
            "n_samples": args.n, "shard_size": args.shard_size, "bare_task_size": args.bare_task_size,
            "worker_shards_in_flight": int(env.get("MEDGRID_WORKER_SHARDS_IN_FLIGHT")
                                           or Settings().worker_shards_in_flight),
            "api_workers": args.api_workers,
            "data": {"kind": "OmniMedVQA-style tree (8 source files, 5 questions per 16x16 PNG)",
                     "write_s": round(write_s, 2)},
            "grid_samples_per_s": grid["samples_per_s"],
            "bare_celery_samples_per_s": bare["helper"]["samples_per_s"],
            "ratio_grid_to_bare": round(grid["samples_per_s"] / bare["helper"]["samples_per_s"], 3),
            "ratio_grid_prediction_phase_to_bare": round(grid["prediction_phase_samples_per_s"]
                                                         / bare["helper"]["samples_per_s"], 3),
            "target_samples_per_s": 5000,
            "met": grid["samples_per_s"] >= 5000,
            # the numbers (25,000/s bare, >= 5,000/s grid) imply a ratio of at least 0.2
            "target_ratio_implied_by_issue": 0.2,
            "bare_celery_batched_upsert_samples_per_s": bare["batched"]["samples_per_s"],
            "ratio_grid_to_bare_batched": round(grid["samples_per_s"] / bare["batched"]["samples_per_s"], 3),
            "bare_celery_noop_samples_per_s": bare["noop"]["samples_per_s"],
            "grid": grid, "bare": bare,
            "machine": {**info, "load_average_at_end": [round(v, 2) for v in os.getloadavg()]},
            "code": code,
            "recorded_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }

        if args.profile:
            print("profiling: in-process breakdowns", file=sys.stderr)
            result["profile"] = {"in-process (prepare, every shard, scoring; one after the other)":
                                 in_process_breakdown(pg, env, profile_model, data, args.n)}
            print("profiling: py-spy on a second grid run", file=sys.stderr)
            profiled_model = f"{profile_model}2"
            (models_dir / f"{profiled_model}.yaml").write_text(f"id: {profiled_model}\nkind: echo\n")
            procs.start("api", [MEDGRID, "serve", "api", "--bind", f"127.0.0.1:{port}", "--workers",
                                str(args.api_workers)], env)
            procs.wait_for(lambda: _healthy(url), 60, "the API to answer /healthz")
            start_worker(procs, env, profiled_model)
            start_scoring(procs, env)
            spy = {}
            for name in ("api", f"worker-{profiled_model}", "scoring"):
                spy[name] = logs / f"py-spy-{name}.txt"
                pyspy_start(procs, name, procs.procs[name].pid, spy[name], args.pyspy_rate)
            time.sleep(2)
            profiled = grid_run(url, pg, profiled_model, data, args.n, args.poll, procs, None, args.timeout)
            for name in spy:  # py-spy writes its file when its target's group gets SIGINT... stop it first
                proc = procs.procs.get(f"py-spy-{name}")
                if proc is not None:
                    os.killpg(proc.pid, signal.SIGINT)
            for name in spy:
                proc = procs.procs.pop(f"py-spy-{name}", None)
                if proc is not None:
                    try:
                        proc.wait(timeout=30)
                    except subprocess.TimeoutExpired:
                        procs.procs[f"py-spy-{name}"] = proc
            procs.stop()
            result["profile"]["py-spy (second grid run, sampled at "
                              f"{args.pyspy_rate} Hz, idle included)"] = {
                "grid_samples_per_s_while_profiled": profiled["samples_per_s"],
                "wall_s": profiled["wall_s"],
                **{name: collapse(path) for name, path in spy.items()},
            }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
        print(json.dumps({k: result[k] for k in ("grid_samples_per_s", "bare_celery_samples_per_s",
                                                  "ratio_grid_to_bare", "met")}), file=sys.stderr)
        print(f"wrote {args.out}", file=sys.stderr)
        return 0
    finally:
        cleanup()


def _healthy(url: str) -> bool:
    try:
        return call("GET", url + "/healthz", timeout=5)[0] == 200
    except OSError:
        return False


if __name__ == "__main__":
    sys.exit(main())
