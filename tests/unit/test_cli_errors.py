"""Bad input answers with exit status 2 and one clear line naming the problem; never a traceback."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

MEDGRID = str(Path(sys.executable).parent / "medgrid")


def run_cli(*args, home, extra_env=None):
    env = {**os.environ, "MEDGRID_HOME": str(home), "MEDGRID_PROGRESS": "false", **(extra_env or {})}
    return subprocess.run([MEDGRID, *args], capture_output=True, text=True, env=env, timeout=300)


def assert_clean_usage_error(result, *needles):
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    for needle in needles:
        assert needle in result.stderr, result.stderr


def test_unknown_benchmark_lists_valid_names(tmp_path, tiny_checkpoints):
    result = run_cli("eval", "--model", str(tiny_checkpoints["llava"]), "--benchmark", "vqa-rad",
                     "--data", str(tmp_path), home=tmp_path)
    assert_clean_usage_error(result, "unknown benchmark 'vqa-rad'", "demo", "slake", "omnimedvqa")


def test_unknown_model_lists_valid_names(tmp_path, demo_data):
    result = run_cli("eval", "--model", "no_such_model", "--benchmark", "demo", "--data", str(demo_data),
                     home=tmp_path)
    assert_clean_usage_error(result, "unknown model 'no_such_model'", "lingshu_7b", "qwen2_5_vl_7b")


def test_missing_data_folder_is_named(tmp_path, tiny_checkpoints):
    missing = tmp_path / "nowhere"
    result = run_cli("eval", "--model", str(tiny_checkpoints["llava"]), "--benchmark", "slake",
                     "--data", str(missing), home=tmp_path)
    assert_clean_usage_error(result, str(missing))


def test_malformed_record_names_file_record_and_field(tmp_path, tiny_checkpoints, demo_data):
    import shutil

    data = tmp_path / "slake"
    shutil.copytree(demo_data / "slake", data)
    records = json.loads((data / "test.json").read_text())
    del records[3]["answer_type"]
    (data / "test.json").write_text(json.dumps(records))
    result = run_cli("eval", "--model", str(tiny_checkpoints["llava"]), "--benchmark", "slake",
                     "--data", str(data), home=tmp_path)
    assert_clean_usage_error(result, str(data / "test.json"), "record 3", "'answer_type'")


def test_data_outside_the_allowed_roots_is_refused(tmp_path, tiny_checkpoints, demo_data):
    result = run_cli("eval", "--model", str(tiny_checkpoints["llava"]), "--benchmark", "demo",
                     "--data", str(demo_data), home=tmp_path, extra_env={"MEDGRID_DATA_ROOTS": str(tmp_path / "x")})
    assert_clean_usage_error(result, "outside the allowed data roots")


@pytest.mark.parametrize("args, needle", [
    (("checkpoints", "make-tiny", "--family", "gpt2", "--out", "x"), "valid families: qwen2_5_vl"),
    (("eval", "--model", "m", "--benchmark", "demo", "--data", ".", "--limit", "0"), "--limit"),
])
def test_bad_options(tmp_path, args, needle):
    assert_clean_usage_error(run_cli(*args, home=tmp_path), needle)


def test_bad_setting_names_the_variable(tmp_path):
    result = run_cli("db", "upgrade", home=tmp_path, extra_env={"MEDGRID_SHARD_SIZE": "lots"})
    assert_clean_usage_error(result, "MEDGRID_SHARD_SIZE")
