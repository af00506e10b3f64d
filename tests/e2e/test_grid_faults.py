"""Faults with real processes: a worker killed with SIGKILL mid-shard, and the broker wiped mid-run.

Each run must still complete with exactly one prediction row per (run, sample): the Postgres
ledger, leases and the sweeper recover what the broker and the dead worker lost.
"""

import os
import signal
import time
import uuid

import pytest
import redis
from sqlalchemy import create_engine, text

from tests.e2e.grid import Grid, call

pytestmark = pytest.mark.e2e
WRITE = "w" * 8 + uuid.uuid4().hex
N_DEMO = 35


@pytest.fixture
def grid(tmp_path, pg_url, tiny_checkpoints, demo_data):
    # A Redis database of its own, so wiping the broker here cannot touch anything else.
    broker = "redis://127.0.0.1:6379/7"
    model_id = f"tiny_slow_{uuid.uuid4().hex[:6]}"
    models_dir = tmp_path / "models"
    models_dir.mkdir()
    # One sample per batch and long generations make a shard last long enough to be interrupted.
    (models_dir / f"{model_id}.yaml").write_text(
        f"id: {model_id}\nkind: hf\nfamily: qwen2_5_vl\npath: {tiny_checkpoints['qwen2_5_vl']}\ndevice: cpu\n"
        f"dtype: float32\ngpus: 0\nbatch_size: 1\nmax_new_tokens: 96\nprompt_style: direct\n")
    env = {**os.environ, "MEDGRID_DATABASE_URL": pg_url, "MEDGRID_REDIS_URL": broker,
           "MEDGRID_MODELS_DIR": str(models_dir), "MEDGRID_DATA_ROOTS": str(demo_data),
           "MEDGRID_API_WRITE_TOKENS": WRITE, "MEDGRID_SHARD_SIZE": "4", "MEDGRID_LEASE_SECONDS": "6",
           "MEDGRID_HOME": str(tmp_path / "home"), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    grid = Grid(env, tmp_path / "logs")
    grid.model_id, grid.pg_url, grid.broker = model_id, pg_url, broker
    try:
        grid.run_once("migrate", "db", "upgrade")
        grid.start_api()
        grid.start("scoring", "serve", "scoring")
        grid.start("sweeper", "serve", "sweeper", "--interval", "1", "--stale-after", "3")
        yield grid
    finally:
        grid.stop()
        redis.Redis.from_url(broker).flushdb()


def submit(grid, demo_data) -> str:
    status, body = call("POST", f"{grid.url}/api/v1/runs",
                        {"model": grid.model_id, "benchmarks": [{"name": "demo", "data": str(demo_data)}]}, token=WRITE)
    assert status == 202, body
    return body["id"]


def poll(grid, query: str, predicate, timeout: float, what: str, **params):
    engine = create_engine(grid.pg_url.replace("postgresql://", "postgresql+psycopg2://"))
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            with engine.connect() as connection:
                rows = connection.execute(text(query), params).all()
            if predicate(rows):
                return rows
            time.sleep(0.05)
    finally:
        engine.dispose()
    raise AssertionError(f"timed out waiting for {what}\n" + "\n".join(grid.tail(n) for n in grid.processes))


def assert_complete_exactly_once(grid, run_id):
    rows = poll(grid, "select status from runs where id=:run", lambda r: r[0][0] in ("done", "partial", "failed"),
                240, "the run to finish", run=run_id)
    assert rows[0][0] == "done"
    (total, distinct, answered), = poll(grid, "select count(*), count(distinct sample_id), "
                                              "count(response) from predictions where run_id=:run",
                                        lambda r: True, 5, "counts", run=run_id)
    assert total == distinct == answered == N_DEMO
    scores = poll(grid, "select n from scores where run_id=:run and facet='all' and metric='accuracy'",
                  lambda r: bool(r), 30, "scores", run=run_id)
    assert scores[0][0] == N_DEMO


def test_worker_killed_mid_shard_loses_nothing(grid, demo_data):
    first = grid.start_worker(grid.model_id)
    run_id = submit(grid, demo_data)
    leased = poll(grid, "select id from shards where run_id=:run and status='leased'", bool, 120,
                  "a shard in progress", run=run_id)
    os.kill(grid.processes[f"worker-{grid.model_id}"].pid, signal.SIGKILL)
    killed_shard = leased[0][0]
    assert first.exists()  # SIGKILL leaves no chance to clean up: the lease, not the process, tells
    first.unlink()
    grid.processes.pop(f"worker-{grid.model_id}")
    grid.start_worker(grid.model_id)
    assert_complete_exactly_once(grid, run_id)
    (attempts,), = poll(grid, "select attempts from shards where id=:id", bool, 5, "attempts", id=killed_shard)
    assert attempts >= 2


def test_broker_wiped_mid_run_loses_nothing(grid, demo_data):
    grid.start_worker(grid.model_id)
    run_id = submit(grid, demo_data)
    poll(grid, "select count(*) from shards where run_id=:run and status='done'", lambda r: r[0][0] >= 1, 120,
         "the first shard to finish", run=run_id)
    pending = poll(grid, "select count(*) from shards where run_id=:run and status='pending'", lambda r: True, 5,
                   "pending shards", run=run_id)[0][0]
    assert pending > 0  # the wipe really happens mid-run
    redis.Redis.from_url(grid.broker).flushdb()  # every queued message is gone
    assert_complete_exactly_once(grid, run_id)
