"""`medgrid score --predictions` scores another toolkit's outputs; `medgrid score --run` and `report` use stored rows."""

import json
import os
import subprocess
import sys
from pathlib import Path

MEDGRID = str(Path(sys.executable).parent / "medgrid")


def run_cli(*args, home):
    env = {**os.environ, "MEDGRID_HOME": str(home), "MEDGRID_PROGRESS": "false", "MEDGRID_BOOTSTRAP_RESAMPLES": "50"}
    return subprocess.run([MEDGRID, *args], capture_output=True, text=True, env=env, timeout=300)


def test_scoring_a_predictions_file_counts_right_wrong_and_missing(tmp_path, demo_data):
    from services.benchmarks.registry import load_samples

    samples = load_samples("demo", demo_data)
    lines = []
    for i, s in enumerate(samples[:-1]):  # the last sample has no prediction: unparsed, not dropped
        right = s.answer if s.answer_type == "mcq" else s.answer_text
        lines.append({"id": s.id, "response": f"The answer is \\boxed{{{right}}}" if i % 2 == 0 else "I cannot tell from this."})
    lines.append({"id": "not-a-sample", "response": "yes"})
    path = tmp_path / "predictions.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines))
    result = run_cli("score", "--benchmark", "demo", "--data", str(demo_data), "--predictions", str(path), "--json",
                     home=tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    overall = next(c for c in report["cells"] if c["facet"] == "all" and c["metric"] == "accuracy")
    expected_right = len(range(0, len(samples) - 1, 2))
    assert overall["n"] == len(samples) and overall["value_mean"] == expected_right / len(samples)
    assert report["missing_ids"] == [samples[-1].id] and report["unknown_ids"] == ["not-a-sample"]


def test_bad_predictions_file_names_the_line(tmp_path, demo_data):
    path = tmp_path / "predictions.jsonl"
    path.write_text('{"id": "slake:1", "response": "yes"}\n{broken\n')
    result = run_cli("score", "--benchmark", "demo", "--data", str(demo_data), "--predictions", str(path),
                     home=tmp_path)
    assert result.returncode == 2 and str(path) in result.stderr and "2" in result.stderr
    assert "Traceback" not in result.stderr


def test_rescore_is_identical_and_report_writes_three_formats(tmp_path, demo_data):
    spec = tmp_path / "always_yes.yaml"
    spec.write_text("id: always_yes_demo\nkind: always_yes\n")
    first = run_cli("eval", "--model", str(spec), "--benchmark", "demo", "--data", str(demo_data), home=tmp_path)
    assert first.returncode == 0, first.stderr
    run_id = first.stdout.split("run ")[-1].split(":")[0]
    table = [line for line in first.stdout.splitlines() if line.startswith("demo")]
    again = run_cli("score", "--run", run_id, home=tmp_path)
    assert again.returncode == 0, again.stderr
    assert [line for line in again.stdout.splitlines() if line.startswith("demo")] == table
    yes_no = next(line for line in table if "closed yes/no" in line)
    assert " 0.5000 " in yes_no  # always "yes" on a balanced yes/no set
    out = tmp_path / "report"
    result = run_cli("report", "--run", run_id, "--out", str(out), home=tmp_path)
    assert result.returncode == 0, result.stderr
    assert {p.name for p in out.iterdir()} == {"report.json", "report.csv", "report.md"}
    assert "always_yes_demo" in (out / "report.md").read_text()


def test_one_eval_run_covers_several_benchmarks(tmp_path, demo_data):
    spec = tmp_path / "always_yes.yaml"
    spec.write_text("id: always_yes_multi\nkind: always_yes\n")
    result = run_cli("eval", "--model", str(spec), "--benchmark", f"demo={demo_data}",
                     "--benchmark", f"slake={demo_data / 'slake'}", "--limit", "10", home=tmp_path)
    assert result.returncode == 0, result.stderr
    assert any(line.startswith("demo") and " all " in line and " 10 " in line for line in result.stdout.splitlines())
    assert any(line.startswith("slake") and " all " in line and " 10 " in line for line in result.stdout.splitlines())
    assert "20 samples" in result.stdout
    bare = run_cli("eval", "--model", str(spec), "--benchmark", "slake", home=tmp_path)
    assert bare.returncode == 2 and "needs --data" in bare.stderr
