"""The openai adapter against a real OpenAI-compatible HTTP server process serving a tiny checkpoint.

The server is tests/e2e/openai_server.py in a subprocess (see its docstring for why not
`transformers serve`); one process serves the whole module and is told which failures to inject.
"""

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from services.benchmarks.images import ImageRef
from services.models.base import GenerationRequest, create_adapter
from services.models.spec import ModelSpec

pytestmark = pytest.mark.e2e

SERVER = Path(__file__).with_name("openai_server.py")
KEY_ENV = "MEDGRID_TEST_OPENAI_KEY"


@pytest.fixture(scope="module")
def server(tiny_checkpoints):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", KEY_ENV: "test-key-0123456789", "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen([sys.executable, str(SERVER), "--checkpoint", str(tiny_checkpoints["qwen2_5_vl"]),
                                "--model", "tiny-qwen", "--api-key-env", KEY_ENV, "--max-prompt-chars", "600"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = process.stdout.readline()  # blocks until the model is loaded and the port is bound
        assert line.startswith("listening on "), (line, process.stderr.read() if process.poll() is not None else "")
        yield line.split()[-1]
    finally:
        process.terminate()
        process.wait(timeout=30)


def _control(base_url: str, path: str, body: dict | None = None) -> dict:
    root = base_url.rsplit("/v1", 1)[0]
    request = urllib.request.Request(root + path, data=json.dumps(body).encode() if body is not None else None,
                                     method="POST" if body is not None else "GET")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def _adapter(base_url: str, monkeypatch, **extra):
    monkeypatch.setenv(KEY_ENV, "test-key-0123456789")
    spec = ModelSpec.from_mapping({
        "id": "served", "kind": "openai", "base_url": base_url, "hub_id": "tiny-qwen", "max_new_tokens": 6,
        "extra": {"api_key_env": KEY_ENV, "concurrency": 4, "backoff_s": 0.01, "max_backoff_s": 0.05, **extra}},
        "test spec")
    adapter = create_adapter(spec)
    adapter.load()
    return adapter


def _requests(demo_data, n=8):
    from services.benchmarks.registry import load_samples
    from services.prompts import build_prompt

    samples = load_samples("demo", demo_data)[:n]
    return [GenerationRequest(id=s.id, prompt=build_prompt(s.record(), "direct"), images=s.images) for s in samples]


def test_answers_through_the_server_exactly_as_the_local_model(server, tiny_checkpoints, demo_data, monkeypatch):
    requests = _requests(demo_data, 6)
    requests[1] = GenerationRequest(id="two-images", prompt="Which image is CT?",
                                    images=requests[0].images + requests[2].images)
    served = _adapter(server, monkeypatch).generate(requests)
    local = create_adapter(ModelSpec(id="local", path=str(tiny_checkpoints["qwen2_5_vl"]), max_new_tokens=6))
    local.load()
    expected = local.generate(requests)
    assert [o.id for o in served] == [r.id for r in requests]
    assert all(o.error is None for o in served), [o.error for o in served]
    assert [o.text for o in served] == [o.text for o in expected]  # greedy: the same words over HTTP
    assert [o.input_tokens for o in served] == [o.input_tokens for o in expected]


def test_survives_429_500_and_dropped_connections_without_losing_a_sample(server, demo_data, monkeypatch):
    adapter = _adapter(server, monkeypatch)
    before = _control(server, "/_stats")
    _control(server, "/_faults", {"plan": [429, 500, 429, 503, "drop", 502, 429, 500]})
    requests = _requests(demo_data, 8)
    outputs = adapter.generate(requests)
    stats = _control(server, "/_stats")
    assert [o.id for o in outputs] == [r.id for r in requests]
    assert all(o.error is None and o.text is not None for o in outputs), [o.error for o in outputs]
    assert stats["injected"] - before["injected"] == 8  # every fault was really served
    assert stats["answered"] - before["answered"] == 8


def test_a_400_is_that_samples_error_and_retries_give_up(server, demo_data, monkeypatch, tmp_path):
    adapter = _adapter(server, monkeypatch, max_retries=2)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n but not an image")  # PNG magic: sent as is, rejected by the server
    requests = _requests(demo_data, 3) + [
        GenerationRequest(id="too-long", prompt="Is this a CT image? " * 100),
        GenerationRequest(id="undecodable", prompt="Is this CT?", images=[ImageRef.file(broken)]),
    ]
    outputs = adapter.generate(requests)
    assert [o.id for o in outputs] == [r.id for r in requests]
    assert all(o.error is None for o in outputs[:3])
    assert outputs[3].text is None and "HTTP 400" in outputs[3].error and "maximum context length" in outputs[3].error
    assert outputs[4].text is None and "HTTP 400" in outputs[4].error
    _control(server, "/_faults", {"plan": [500, 500, 500]})  # one sample, three 500s, max_retries=2
    [gave_up] = adapter.generate(requests[:1])
    assert gave_up.text is None and "HTTP 500" in gave_up.error and "gave up after 3 attempts" in gave_up.error


def test_a_wrong_api_key_fails_at_load_and_a_dead_server_is_named(server, monkeypatch):
    monkeypatch.setenv(KEY_ENV, "wrong-key-0123456789")
    spec = ModelSpec(id="served", kind="openai", base_url=server, hub_id="tiny-qwen",
                     extra={"api_key_env": KEY_ENV, "max_retries": 0})
    with pytest.raises(ValueError, match="refused the API key"):
        create_adapter(spec).load()
    dead = ModelSpec(id="dead", kind="openai", base_url="http://127.0.0.1:9/v1", hub_id="x",
                     extra={"max_retries": 1, "backoff_s": 0.01})
    with pytest.raises(ConnectionError, match="127.0.0.1:9"):
        create_adapter(dead).load()
