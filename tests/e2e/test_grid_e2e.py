"""The grid with real processes on real Postgres and Redis: a REST call, two model pools, scoring.

Both tiny checkpoint families answer two benchmarks through the API under gunicorn, workers
pinned to their models and the scoring worker; the scores equal those of `medgrid eval`.
"""

import os
import re
import time
import uuid

import pytest

from tests.e2e.grid import Grid, call

pytestmark = pytest.mark.e2e
WRITE, READ = "w" * 8 + uuid.uuid4().hex, "r" * 8 + uuid.uuid4().hex


@pytest.fixture(scope="module")
def grid(tmp_path_factory, tiny_checkpoints, demo_data):
    """One grid for the module: starting gunicorn, two model workers and scoring takes a while."""
    from tests.conftest import REDIS_URL, fresh_database

    tmp_path = tmp_path_factory.mktemp("grid")
    with fresh_database() as pg_url:
        yield from _grid(tmp_path, pg_url, tiny_checkpoints, demo_data, REDIS_URL)


def _grid(tmp_path, pg_url, tiny_checkpoints, demo_data, REDIS_URL):
    suffix = uuid.uuid4().hex[:6]
    models_dir = tmp_path / "models"
    models_dir.mkdir()
    ids = {}
    for family in ("qwen2_5_vl", "llava"):  # the two architecture families of the study's roster
        path = tiny_checkpoints[family]
        model_id = f"tiny_{family}_{suffix}"
        ids[family] = model_id
        (models_dir / f"{model_id}.yaml").write_text(
            f"id: {model_id}\nkind: hf\nfamily: {family}\npath: {path}\ndevice: cpu\ndtype: float32\n"
            f"gpus: 0\nbatch_size: 8\nmax_new_tokens: 8\nprompt_style: reasoning\n")
    env = {**os.environ, "MEDGRID_DATABASE_URL": pg_url, "MEDGRID_REDIS_URL": REDIS_URL,
           "MEDGRID_MODELS_DIR": str(models_dir),
           "MEDGRID_DATA_ROOTS": os.pathsep.join([str(demo_data), str(tmp_path / "checkpoints")]),
           "MEDGRID_API_WRITE_TOKENS": WRITE, "MEDGRID_API_READ_TOKENS": READ, "MEDGRID_SHARD_SIZE": "8",
           "MEDGRID_HOME": str(tmp_path / "home"), "MEDGRID_PROGRESS": "false", "HF_HUB_OFFLINE": "1"}
    grid = Grid(env, tmp_path / "logs")
    try:
        grid.run_once("migrate", "db", "upgrade")
        grid.start_api()
        for model_id in ids.values():
            grid.start_worker(model_id)
        grid.start("scoring", "serve", "scoring")
        grid.start("sweeper", "serve", "sweeper", "--interval", "2", "--stale-after", "30")
        grid.models, grid.tmp = ids, tmp_path
        yield grid
    finally:
        grid.stop()


def wait_for_run(grid, run_id, timeout=240):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, run = call("GET", f"{grid.url}/api/v1/runs/{run_id}", token=READ)
        assert status == 200, run
        if run["status"] in ("done", "partial", "failed"):
            return run
        time.sleep(1)
    raise AssertionError(f"run {run_id} did not finish: {run}\n" + "\n".join(grid.tail(n) for n in grid.processes))


def test_rest_runs_on_two_model_pools_match_the_embedded_eval(grid, demo_data, tmp_path):
    from medgrid.settings import Settings
    from services.embedded import EvalRequest, evaluate
    from services.models.spec import resolve_spec

    benchmarks = [{"name": "demo", "data": str(demo_data)}, {"name": "slake", "data": str(demo_data / "slake")}]
    status, body = call("POST", f"{grid.url}/api/v1/runs", {"models": list(grid.models.values()),
                                                            "benchmarks": benchmarks}, token=WRITE)
    assert status == 202, body  # one REST call, both model pools
    by_model = {run["model"]: run["id"] for run in body["runs"]}
    run_ids = {family: by_model[model_id] for family, model_id in grid.models.items()}
    for family, run_id in run_ids.items():
        run = wait_for_run(grid, run_id)
        assert run["status"] == "done", run
        assert run["progress"]["predictions"] == run["n_samples"] == 35 + 28
        status, scores = call("GET", f"{grid.url}/api/v1/runs/{run_id}/scores", token=READ)
        assert status == 200
        grid_cells = {(s["benchmark"], s["facet"], s["value"], s["metric"]): (s["score"], s["n"])
                      for s in scores["scores"]}
        settings = Settings.from_env({"MEDGRID_HOME": str(tmp_path / f"embedded-{family}"),
                                      "MEDGRID_MODELS_DIR": grid.env["MEDGRID_MODELS_DIR"], "MEDGRID_SHARD_SIZE": "8"})
        spec = resolve_spec(grid.models[family], settings.models_dir)
        result = evaluate(EvalRequest(spec, [(b["name"], b["data"]) for b in benchmarks]), settings)
        embedded = {(c.benchmark, c.facet, c.value, c.metric): (c.value_mean, c.n) for c in result.cells}
        assert set(grid_cells) == set(embedded)
        for key, (value, n) in embedded.items():
            assert grid_cells[key][1] == n and grid_cells[key][0] == pytest.approx(value), key
        assert ("demo", "all", "all", "accuracy") in grid_cells and ("slake", "all", "all", "accuracy") in grid_cells
        status, page = call("GET", f"{grid.url}/api/v1/runs/{run_id}/predictions?limit=10", token=READ)
        assert status == 200 and page["total"] == 63 and len(page["predictions"]) == 10


def test_api_security_and_bad_requests(grid, demo_data, tmp_path):
    url, model = f"{grid.url}/api/v1/runs", next(iter(grid.models.values()))
    good = {"model": model, "benchmarks": [{"name": "demo", "data": str(demo_data)}]}
    assert call("POST", url, good)[0] == 401
    assert call("POST", url, good, token="not-a-token-at-all")[0] == 401
    assert call("POST", url, good, token=READ)[0] == 403
    status, body = call("POST", url, {**good, "benchmarks": [{"name": "demo", "data": str(tmp_path)}]}, token=WRITE)
    assert status == 400 and body["error"] == "data_path_not_allowed"
    status, body = call("POST", url, {**good, "model": "nope"}, token=WRITE)
    assert status == 400 and body["error"] == "unknown_model" and model in body["message"]
    status, body = call("POST", url, {**good, "models": [model]}, token=WRITE)
    assert status == 400 and "exactly one" in body["message"]
    status, body = call("POST", url, {**good, "benchmarks": [{"name": "vqa-rad", "data": str(demo_data)}]}, token=WRITE)
    assert status == 400 and body["error"] == "unknown_benchmark"
    status, body = call("POST", url, {**good, "benchmarks": [{"name": "demo", "data": str(demo_data), "limit": 0}]},
                        token=WRITE)
    assert status == 400 and body["field"] == "benchmarks[0].limit"
    assert call("POST", url, raw=b"{not json", token=WRITE)[0] == 400
    status, body = call("POST", url, raw=b"x" * (2 * 1024 * 1024), token=WRITE)
    assert status == 413 and "error" in body
    assert call("GET", f"{grid.url}/api/v1/runs/{uuid.uuid4()}", token=READ)[0] == 404
    status, spec = call("GET", f"{grid.url}/api/v1/openapi.json")
    assert status == 200 and "/api/v1/runs" in spec["paths"]
    schema = spec["paths"]["/api/v1/runs"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert schema["required"] == ["benchmarks"] and {"model", "models"} <= set(schema["properties"])


def test_a_new_checkpoint_is_evaluated_on_its_base_pool_and_compared(grid, demo_data):
    """Continuous evaluation: the llava pool swaps in a retrained checkpoint and reports against the base."""
    from services.models.tiny import make_tiny

    base = grid.models["llava"]
    benchmarks = [{"name": "demo", "data": str(demo_data)}]
    status, body = call("POST", f"{grid.url}/api/v1/runs", {"model": base, "benchmarks": benchmarks}, token=WRITE)
    assert status == 202, body
    assert wait_for_run(grid, body["id"])["status"] == "done"
    retrained = make_tiny("llava", grid.tmp / "checkpoints" / "step-2", seed=7)  # different weights, same family
    status, body = call("POST", f"{grid.url}/api/v1/checkpoints",
                        {"model": base, "path": str(retrained), "name": "step-2", "benchmarks": benchmarks}, token=WRITE)
    assert status == 202, body
    assert body["baseline_run"]  # the newest finished run of the base model
    run = wait_for_run(grid, body["id"])
    assert run["status"] == "done" and run["model_id"] == f"{base}--step-2"
    comparison = run["comparison"]
    assert comparison["baseline_run"] == body["baseline_run"] and isinstance(comparison["regressed"], bool)
    (delta,) = comparison["benchmarks"]
    assert delta["benchmark"] == "demo" and delta["delta"] == pytest.approx(delta["current"] - delta["baseline"])
    status, outside = call("POST", f"{grid.url}/api/v1/checkpoints",
                           {"model": base, "path": "/etc", "name": "x", "benchmarks": benchmarks}, token=WRITE)
    assert status == 400 and outside["error"] == "data_path_not_allowed"
    status, empty = call("POST", f"{grid.url}/api/v1/checkpoints",
                         {"model": base, "path": str(demo_data), "name": "x", "benchmarks": benchmarks}, token=WRITE)
    assert status == 400 and empty["error"] == "invalid_checkpoint" and "config.json" in empty["message"]
    status, board = call("GET", f"{grid.url}/api/v1/leaderboard", token=READ)
    assert status == 200 and {f"{base}--step-2", base} <= {row["model"] for row in board["models"]}


def test_cli_submits_and_follows_a_run_through_the_api(grid, demo_data):
    import subprocess

    from tests.e2e.grid import MEDGRID

    env = {**grid.env, "MEDGRID_API_URL": grid.url, "MEDGRID_API_TOKEN": WRITE}
    result = subprocess.run([MEDGRID, "submit", "--model", grid.models["qwen2_5_vl"], "--benchmark",
                             f"slake={demo_data / 'slake'}", "--limit", "12"], capture_output=True, text=True,
                            env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "queued" in result.stdout and "done" in result.stdout
    assert re.search(r"slake\s+test\s+all\s+12\s+\d\.\d{4}", result.stdout), result.stdout
    refused = subprocess.run([MEDGRID, "submit", "--model", grid.models["qwen2_5_vl"], "--benchmark",
                              f"slake={demo_data / 'slake'}", "--token", READ], capture_output=True, text=True,
                             env=env, timeout=60)
    assert refused.returncode == 2 and "403" in refused.stderr and "Traceback" not in refused.stderr
