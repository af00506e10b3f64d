"""The runs API on a real Postgres, with the broker replaced by a recorder of what would be enqueued."""

import uuid

import pytest

from db.session import upgrade
from medgrid.settings import Settings

pytestmark = pytest.mark.integration
WRITE, READ = "w" * 20, "r" * 20


@pytest.fixture
def api(pg_url, tmp_path, demo_data):
    from api import create_app

    upgrade(pg_url)
    models = tmp_path / "models"
    models.mkdir()
    (models / "m1.yaml").write_text("id: m1\nkind: echo\n")
    settings = Settings.from_env({"MEDGRID_DATABASE_URL": pg_url, "MEDGRID_MODELS_DIR": str(models),
                                  "MEDGRID_DATA_ROOTS": str(demo_data), "MEDGRID_SHARD_SIZE": "10",
                                  "MEDGRID_API_WRITE_TOKENS": WRITE, "MEDGRID_API_READ_TOKENS": READ})
    sent = []
    app = create_app(settings, enqueue=lambda queue, task, args: sent.append((queue, task, args)))
    client = app.test_client()
    client.sent = sent
    return client


def auth(token):
    return {"Authorization": f"Bearer {token}"}


def test_create_enqueues_every_shard_on_the_model_queue_then_cancel(api, demo_data):
    response = api.post("/api/v1/runs", json={"model": "m1", "benchmarks": [{"name": "demo", "data": str(demo_data)}]},
                        headers=auth(WRITE))
    assert response.status_code == 202, response.json
    run_id = response.json["id"]
    assert api.sent == [("prepare", "medgrid.prepare_run", [run_id])]  # the API reads no benchmark itself
    assert api.get(f"/api/v1/runs/{run_id}", headers=auth(READ)).json["status"] == "preparing"
    from services import dispatch

    ctx = api.application.extensions["medgrid"]
    assert dispatch.prepare_run(ctx.factory, ctx.settings, run_id, ctx.enqueue) == "queued"
    assert dispatch.prepare_run(ctx.factory, ctx.settings, run_id, ctx.enqueue) == "queued"  # a redelivery: no-op
    # 35 samples: at most 10 per shard, and at least 8 shards for a small benchmark -> 7 shards of 5
    assert [(q, t) for q, t, _ in api.sent[1:]] == [("model.m1", "medgrid.run_shard")] * 7
    run = api.get(f"/api/v1/runs/{run_id}", headers=auth(READ)).json
    assert run["status"] == "queued" and run["n_samples"] == 35 and run["progress"]["shards"] == {"pending": 7}
    assert api.post(f"/api/v1/runs/{run_id}/cancel", headers=auth(READ)).status_code == 403
    cancelled = api.post(f"/api/v1/runs/{run_id}/cancel", headers=auth(WRITE))
    assert cancelled.status_code == 202 and cancelled.json["cancelled"] is True
    run = api.get(f"/api/v1/runs/{run_id}", headers=auth(READ)).json
    assert run["status"] == "cancelled" and run["progress"]["shards"] == {"cancelled": 7}
    again = api.post(f"/api/v1/runs/{run_id}/cancel", headers=auth(WRITE))
    assert again.status_code == 200 and again.json["cancelled"] is False


def test_rescore_and_reads_validate_their_input(api):
    missing = str(uuid.uuid4())
    assert api.post(f"/api/v1/runs/{missing}/rescore", headers=auth(WRITE)).status_code == 404
    assert api.post(f"/api/v1/runs/{missing}/cancel", headers=auth(WRITE)).status_code == 404
    assert api.get(f"/api/v1/runs/{missing}/scores", headers=auth(READ)).status_code == 404
    bad_page = api.get(f"/api/v1/runs/{missing}/predictions?limit=abc", headers=auth(READ))
    assert bad_page.status_code == 400 and bad_page.json["error"] == "invalid_request"
    assert api.get("/api/v1/models", headers=auth(READ)).json["models"][0]["id"] == "m1"
    names = {b["name"] for b in api.get("/api/v1/benchmarks", headers=auth(READ)).json["benchmarks"]}
    assert {"vqa_rad", "slake", "pathvqa", "pmc_vqa", "omnimedvqa", "mmmu_med", "medxpertqa_mm", "demo"} <= names
    wrong_type = api.post("/api/v1/runs", json={"model": "m1", "benchmarks": "demo"}, headers=auth(WRITE))
    assert wrong_type.status_code == 400 and wrong_type.json["field"] == "benchmarks"
    extra = api.post("/api/v1/runs", json={"model": "m1", "benchmarks": [], "x": 1}, headers=auth(WRITE))
    assert extra.status_code == 400
    assert api.get("/api/v1/nowhere").status_code == 404 and api.get("/api/v1/nowhere").json["error"] == "not_found"


def test_a_malformed_benchmark_fails_the_run_with_file_record_and_field(api, demo_data, tmp_path):
    import json
    import shutil

    from services import dispatch

    bad = demo_data / "broken-slake-for-api-test"
    shutil.rmtree(bad, ignore_errors=True)
    shutil.copytree(demo_data / "slake", bad)
    records = json.loads((bad / "test.json").read_text())
    records[2]["answer_type"] = 7
    (bad / "test.json").write_text(json.dumps(records))
    try:
        response = api.post("/api/v1/runs", json={"model": "m1", "benchmarks": [{"name": "slake", "data": str(bad)}]},
                            headers=auth(WRITE))
        assert response.status_code == 202
        ctx = api.application.extensions["medgrid"]
        assert dispatch.prepare_run(ctx.factory, ctx.settings, response.json["id"], ctx.enqueue) == "failed"
        run = api.get(f"/api/v1/runs/{response.json['id']}", headers=auth(READ)).json
        assert run["status"] == "failed" and "test.json" in run["error"] and "answer_type" in run["error"]
        missing = api.post("/api/v1/runs", json={"model": "m1", "benchmarks": [{"name": "slake",
                                                                                 "data": str(demo_data / "nope")}]},
                           headers=auth(WRITE))
        assert missing.status_code == 400 and missing.json["error"] == "invalid_data"
    finally:
        shutil.rmtree(bad, ignore_errors=True)
