"""Database-stored API tokens and /metrics, on a real Postgres and the real Redis.

Each test uses its own model id (hence its own `model.<id>` queue) so parallel runs sharing the
Redis database do not see each other's messages.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import redis
from sqlalchemy import select, text

from api import create_app
from api.auth import TokenError, create_token, list_tokens, revoke_token
from db import models as m
from db.session import transaction, upgrade
from medgrid.settings import Settings
from tests.conftest import REDIS_URL

pytestmark = pytest.mark.integration

MEDGRID = str(Path(sys.executable).parent / "medgrid")
SETTINGS_WRITE_TOKEN = "settings-write-token-" + "x" * 16


class Grid:
    """A Flask test client on a migrated Postgres database, with one echo model in its roster."""

    def __init__(self, app, model_id: str):
        self.app, self.model_id = app, model_id
        self.client = app.test_client()
        self.factory = app.extensions["medgrid"].factory

    def get(self, path: str, token: str | None = None):
        return self.client.get(path, headers=_bearer(token))

    def post(self, path: str, token: str | None = None, body: dict | None = None):
        return self.client.post(path, headers=_bearer(token), json=body if body is not None else {})

    def metrics(self) -> dict[str, float]:
        response = self.client.get("/metrics")
        assert response.status_code == 200
        assert response.content_type.startswith("text/plain; version=0.0.4")
        return parse_exposition(response.get_data(as_text=True))


def _bearer(token: str | None) -> dict:
    return {"Authorization": f"Bearer {token}"} if token else {}


def parse_exposition(body: str) -> dict[str, float]:
    """'name{labels}' -> value for every sample line; also checks each family is declared before use."""
    declared, samples = set(), {}
    for line in body.splitlines():
        if line.startswith("# TYPE "):
            declared.add(line.split()[2])
            continue
        if not line or line.startswith("#"):
            continue
        match = re.fullmatch(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)", line)
        assert match, f"not a Prometheus sample line: {line!r}"
        name, labels, value = match.groups()
        assert any(name == family or name.startswith(family + "_") for family in declared), line
        samples[name + (labels or "")] = float(value)
    return samples


def _write_models_dir(folder: Path, model_id: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "m1.yaml").write_text(f"id: {model_id}\nkind: echo\n")
    return folder


@pytest.fixture
def make_grid(pg_url, tmp_path):
    upgrade(pg_url)
    apps = []

    def make(**extra_env) -> Grid:
        model_id = f"m1-{uuid.uuid4().hex[:10]}"
        env = {"MEDGRID_DATABASE_URL": pg_url, "MEDGRID_REDIS_URL": REDIS_URL, "MEDGRID_HOME": str(tmp_path / "home"),
               "MEDGRID_MODELS_DIR": str(_write_models_dir(tmp_path / model_id, model_id)), **extra_env}
        # No test here enqueues; a no-op keeps Celery from publishing if one ever did.
        app = create_app(Settings.from_env(env), enqueue=lambda queue, task, args: None)
        apps.append(app)
        return Grid(app, model_id)

    yield make
    for app in apps:  # close pooled connections so the test database can be dropped at once
        app.extensions["medgrid"].factory.kw["bind"].dispose()


@pytest.fixture
def grid(make_grid) -> Grid:
    return make_grid()


# -- tokens ------------------------------------------------------------------------------------

def test_created_tokens_authenticate_with_their_scope(grid):
    read = create_token(grid.factory, "dashboard", "read")
    write = create_token(grid.factory, "training-hook", "write")
    missing_run = f"/api/v1/runs/{uuid.uuid4()}/cancel"

    assert grid.get("/api/v1/models", read).status_code == 200
    assert grid.get("/api/v1/models", write).status_code == 200
    refused = grid.post("/api/v1/runs", read, {"model": grid.model_id, "benchmarks": []})
    assert refused.status_code == 403 and refused.get_json()["error"] == "forbidden"
    assert grid.post(missing_run, read).status_code == 403
    # Past authentication: the write token reaches the handler, which does not know the run.
    passed = grid.post(missing_run, write)
    assert passed.status_code == 404 and passed.get_json()["error"] == "run_not_found"

    assert grid.get("/api/v1/models").status_code == 401
    assert grid.get("/api/v1/models", "not-a-token-of-this-grid-at-all").status_code == 401
    assert grid.get("/api/v1/models", read + "x").status_code == 401
    used = {row["name"]: row["last_used_at"] for row in list_tokens(grid.factory)}
    assert used["dashboard"] is not None and used["training-hook"] is not None


def test_a_revoked_token_gets_401(grid):
    token = create_token(grid.factory, "ci", "write")
    assert grid.get("/api/v1/models", token).status_code == 200
    assert revoke_token(grid.factory, "ci") is True
    refused = grid.get("/api/v1/models", token)
    assert refused.status_code == 401 and refused.get_json()["error"] == "unauthorized"
    assert grid.post(f"/api/v1/runs/{uuid.uuid4()}/cancel", token).status_code == 401
    assert revoke_token(grid.factory, "ci") is False  # revoking twice changes nothing
    with pytest.raises(TokenError, match="no token named"):
        revoke_token(grid.factory, "never-created")


def test_the_database_holds_only_the_digest(grid):
    token = create_token(grid.factory, "scraper", "read")
    assert len(token) >= 40  # secrets.token_urlsafe(32)
    with transaction(grid.factory) as session:
        row = session.scalar(select(m.ApiToken).where(m.ApiToken.name == "scraper"))
        assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
        # Every column of every row, as text: the token appears nowhere.
        dumped = session.execute(text("SELECT string_agg(t::text, '|') FROM api_tokens AS t")).scalar_one()
    assert token not in dumped and row.token_hash in dumped
    listed = json.dumps(list_tokens(grid.factory), default=str)
    assert token not in listed and row.token_hash not in listed


def test_token_names_are_unique_and_scopes_checked(grid):
    create_token(grid.factory, "nightly", "read")
    with pytest.raises(TokenError, match="already exists"):
        create_token(grid.factory, "nightly", "write")
    with pytest.raises(TokenError, match="invalid scope"):
        create_token(grid.factory, "admin", "admin")
    with pytest.raises(TokenError, match="invalid token name"):
        create_token(grid.factory, "has spaces", "read")


def test_settings_tokens_still_authenticate(make_grid):
    grid = make_grid(MEDGRID_API_WRITE_TOKENS=SETTINGS_WRITE_TOKEN)
    assert grid.post(f"/api/v1/runs/{uuid.uuid4()}/cancel", SETTINGS_WRITE_TOKEN).status_code == 404


# -- /metrics ----------------------------------------------------------------------------------

def test_metrics_shows_the_queue_depth_of_each_roster_model(grid):
    broker = redis.Redis.from_url(REDIS_URL)
    queue = f"model.{grid.model_id}"
    try:
        broker.rpush(queue, *[json.dumps({"shard": i}) for i in range(3)])
        broker.rpush(f"{queue}\x06\x169", "a message sent with priority 9")  # kombu's priority list
        samples = grid.metrics()
    finally:
        broker.delete(queue, f"{queue}\x06\x169")
    assert samples[f'medgrid_queue_depth{{queue="{queue}"}}'] == 4
    assert 'medgrid_queue_depth{queue="scoring"}' in samples
    assert samples["medgrid_broker_up"] == 1 and samples["medgrid_database_up"] == 1
    assert grid.metrics()[f'medgrid_queue_depth{{queue="{queue}"}}'] == 0


def _insert_ledger(factory, model_id: str, now: datetime) -> None:
    """Two runs, four shards (two done, one failed, one pending) and six predictions of known latency."""
    with transaction(factory) as session:
        session.add(m.Model(id=model_id, kind="echo", spec={}))
        session.add(m.Benchmark(name="metrics-bench", title=""))
        samples = [m.Sample(benchmark="metrics-bench", split="test", key=f"s{i}", content_hash=f"h{i}",
                            answer_type="closed", record={}) for i in range(6)]
        session.add_all(samples)
        session.add_all([m.Run(id="run-running", model_id=model_id, status="running", options={}, n_samples=6),
                         m.Run(id="run-done", model_id=model_id, status="done", options={}, n_samples=2)])
        session.flush()
        ids = [s.id for s in samples]
        session.add_all([
            m.Shard(run_id="run-running", benchmark="metrics-bench", index=0, sample_ids=ids[0:2], status="done",
                    attempts=1, leased_at=now - timedelta(seconds=10.5), updated_at=now - timedelta(seconds=10)),
            m.Shard(run_id="run-running", benchmark="metrics-bench", index=1, sample_ids=ids[2:4], status="done",
                    attempts=1, leased_at=now - timedelta(seconds=21.5), updated_at=now - timedelta(seconds=20)),
            m.Shard(run_id="run-running", benchmark="metrics-bench", index=2, sample_ids=ids[4:6], status="failed",
                    attempts=3, last_error="CUDA out of memory", updated_at=now),
            m.Shard(run_id="run-done", benchmark="metrics-bench", index=0, sample_ids=ids[0:2], status="pending",
                    attempts=0, updated_at=now),
        ])

        def prediction(run_id, sample_id, latency, *, error=None, cached=False, age_s=5):
            return m.Prediction(run_id=run_id, sample_id=sample_id, cache_key=f"k{run_id}{sample_id}",
                                response=None if error else "yes", error=error, latency_s=latency, cached=cached,
                                created_at=now - timedelta(seconds=age_s))

        session.add_all([
            prediction("run-running", ids[0], 0.2), prediction("run-running", ids[1], 0.3),  # shard 0: 0.5 s
            prediction("run-running", ids[2], 1.5),
            prediction("run-running", ids[3], 40.0, cached=True),  # reused: no model time, shard 1: 1.5 s
            prediction("run-running", ids[4], None, error="ImageError: corrupt image"),
            prediction("run-done", ids[0], 0.05, age_s=600),  # outside the samples/s window
        ])


def test_metrics_counts_runs_shards_predictions_and_latency(grid):
    now = datetime.now(timezone.utc)
    _insert_ledger(grid.factory, grid.model_id, now)
    samples = grid.metrics()

    assert samples['medgrid_runs{status="running"}'] == 1 and samples['medgrid_runs{status="done"}'] == 1
    assert samples['medgrid_runs{status="queued"}'] == 0
    assert samples['medgrid_shards{status="done"}'] == 2 and samples['medgrid_shards{status="failed"}'] == 1
    assert samples['medgrid_shards{status="pending"}'] == 1 and samples['medgrid_shards{status="leased"}'] == 0
    assert samples["medgrid_shards_failed"] == 1
    assert samples["medgrid_predictions"] == 6 and samples["medgrid_predictions_failed"] == 1
    assert samples["medgrid_samples_per_second"] == pytest.approx(5 / 60)
    # Generated predictions with a latency: 0.2, 0.3, 1.5 and 0.05 (the cached and the failed one are not).
    assert samples["medgrid_prediction_latency_seconds_count"] == 4
    assert samples["medgrid_prediction_latency_seconds_sum"] == pytest.approx(2.05)
    assert samples['medgrid_prediction_latency_seconds_bucket{le="0.25"}'] == 2
    assert samples['medgrid_prediction_latency_seconds_bucket{le="1.0"}'] == 3
    assert samples['medgrid_prediction_latency_seconds_bucket{le="+Inf"}'] == 4
    assert samples["medgrid_recent_shards_measured"] == 2
    assert samples['medgrid_recent_shard_latency_seconds{quantile="0.5"}'] == pytest.approx(0.5)
    assert samples['medgrid_recent_shard_latency_seconds{quantile="1.0"}'] == pytest.approx(1.5)


def test_metrics_needs_no_token_and_shows_no_secret(make_grid, pg_url):
    grid = make_grid(MEDGRID_API_WRITE_TOKENS=SETTINGS_WRITE_TOKEN)
    stored = create_token(grid.factory, "grafana", "read")
    _insert_ledger(grid.factory, grid.model_id, datetime.now(timezone.utc))
    body = grid.client.get("/metrics").get_data(as_text=True)
    digest = hashlib.sha256(stored.encode()).hexdigest()
    for secret in (SETTINGS_WRITE_TOKEN, stored, digest, pg_url, REDIS_URL, "CUDA out of memory", "corrupt image"):
        assert secret not in body


def test_metrics_answers_when_the_broker_is_down(make_grid):
    grid = make_grid(MEDGRID_REDIS_URL="redis://127.0.0.1:1/0")  # nothing listens on port 1
    samples = grid.metrics()
    assert samples["medgrid_broker_up"] == 0 and samples["medgrid_database_up"] == 1
    assert not any(name.startswith("medgrid_queue_depth") for name in samples)
    assert samples['medgrid_runs{status="running"}'] == 0


# -- the CLI -----------------------------------------------------------------------------------

def _medgrid(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([MEDGRID, *args], capture_output=True, text=True, env=env, timeout=60)


def test_tokens_cli_creates_lists_and_revokes(make_grid, pg_url, tmp_path):
    env = {key: value for key, value in os.environ.items() if not key.startswith("MEDGRID_")}
    env.update(MEDGRID_DATABASE_URL=pg_url, MEDGRID_HOME=str(tmp_path / "cli-home"))
    upgraded = _medgrid(env, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr

    created = _medgrid(env, "tokens", "create", "--name", "ci", "--scope", "write")
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    assert re.fullmatch(r"[A-Za-z0-9_\-]{43}", token), created.stdout  # the token alone on stdout
    assert "cannot be shown again" in created.stderr and token not in created.stderr

    grid = make_grid()
    assert grid.post(f"/api/v1/runs/{uuid.uuid4()}/cancel", token).status_code == 404

    listed = _medgrid(env, "tokens", "list")
    assert listed.returncode == 0 and re.search(r"^ci\s+write\s", listed.stdout, re.M), listed.stdout
    assert token not in listed.stdout and hashlib.sha256(token.encode()).hexdigest() not in listed.stdout

    duplicate = _medgrid(env, "tokens", "create", "--name", "ci", "--scope", "read")
    assert duplicate.returncode == 2 and duplicate.stderr.strip().count("\n") == 0
    assert "already exists" in duplicate.stderr and "Traceback" not in duplicate.stderr

    revoked = _medgrid(env, "tokens", "revoke", "ci")
    assert revoked.returncode == 0 and "revoked" in revoked.stdout
    assert grid.get("/api/v1/models", token).status_code == 401
    (row,) = json.loads(_medgrid(env, "tokens", "list", "--json").stdout)
    assert row["name"] == "ci" and row["revoked_at"] is not None and row["last_used_at"] is not None


def test_database_down_gives_503_to_unknown_tokens_and_a_metrics_page(tmp_path):
    model_id = f"m1-{uuid.uuid4().hex[:10]}"
    env = {"MEDGRID_DATABASE_URL": "postgresql://postgres:postgres@127.0.0.1:1/nothing",  # nothing listens
           "MEDGRID_REDIS_URL": REDIS_URL, "MEDGRID_HOME": str(tmp_path / "home"),
           "MEDGRID_MODELS_DIR": str(_write_models_dir(tmp_path / "models", model_id)),
           "MEDGRID_API_READ_TOKENS": SETTINGS_WRITE_TOKEN.replace("write", "read")}
    grid = Grid(create_app(Settings.from_env(env), enqueue=lambda *args: None), model_id)
    # Settings tokens need no database; a token only the database could know gets 503, not 500.
    assert grid.get("/api/v1/models", env["MEDGRID_API_READ_TOKENS"]).status_code == 200
    unavailable = grid.get("/api/v1/models", "a-token-only-the-database-could-know")
    assert unavailable.status_code == 503 and unavailable.get_json()["error"] == "unavailable"
    samples = grid.metrics()
    assert samples["medgrid_database_up"] == 0 and samples["medgrid_broker_up"] == 1
    assert samples[f'medgrid_queue_depth{{queue="model.{model_id}"}}'] == 0
