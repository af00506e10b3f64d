"""`medgrid demo` in a real subprocess: it prints a score table and the rows it stored are complete."""

import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

MEDGRID = str(Path(sys.executable).parent / "medgrid")


def test_demo_runs_end_to_end_and_stores_every_row(tmp_path):
    env = {**os.environ, "MEDGRID_HOME": str(tmp_path / "home"), "HF_HUB_OFFLINE": "1"}
    env.pop("MEDGRID_DATABASE_URL", None)
    result = subprocess.run([MEDGRID, "demo"], capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert "answer kind" in out and "accuracy" in out
    for kind in ("all", "closed yes/no", "closed choice", "open", "multiple choice"):
        assert re.search(rf"demo\s+test\s+{re.escape(kind)}\s+\d+\s+\d\.\d{{4}}", out), (kind, out)
    assert "evaluating" in result.stderr  # the progress bar
    run_id = re.search(r"run ([0-9a-f-]{36})", out).group(1)
    baseline = out.split("always-yes baseline")[1]
    assert re.search(r"closed yes/no\s+14\s+0\.5000", baseline), baseline

    database = sqlite3.connect(tmp_path / "home" / "medgrid.sqlite3")
    status, n_samples, model_id, weights = database.execute(
        "select status, n_samples, model_id, model_weights_hash from runs where id=?", (run_id,)).fetchone()
    assert (status, n_samples, model_id) == ("done", 35, "tiny-qwen2_5_vl") and len(weights) == 64
    shards = database.execute("select status, attempts from shards where run_id=?", (run_id,)).fetchall()
    assert shards and all(row == ("done", 1) for row in shards)
    predictions = database.execute(
        "select count(*), count(distinct sample_id), sum(response is not null), sum(extraction_method is not null) "
        "from predictions where run_id=?", (run_id,)).fetchone()
    assert predictions == (35, 35, 35, 35)
    (n_all, value), = database.execute(
        "select n, value from scores where run_id=? and facet='all' and metric='accuracy'", (run_id,)).fetchall()
    correct = database.execute("select sum(correct) from predictions where run_id=?", (run_id,)).fetchone()[0]
    assert n_all == 35 and value == pytest.approx(correct / 35)

    # The same checkpoint again: every prediction comes from the cache, the scores are identical.
    again = subprocess.run([MEDGRID, "demo"], capture_output=True, text=True, env=env, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    second = re.search(r"run ([0-9a-f-]{36})", again.stdout).group(1)
    assert database.execute("select sum(cached) from predictions where run_id=?", (second,)).fetchone()[0] == 35
    table = lambda text: [line for line in text.split("always-yes")[0].splitlines() if line.startswith("demo")]
    assert table(again.stdout) == table(out)
