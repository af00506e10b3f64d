"""Start the grid's real processes for a test: API under gunicorn, model workers, scoring, sweeper."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

MEDGRID = str(Path(sys.executable).parent / "medgrid")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(method: str, url: str, body=None, token: str | None = None, raw: bytes | None = None,
         headers: dict | None = None):
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(url, data=data, method=method, headers={
        "Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {}), **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


class Grid:
    def __init__(self, env: dict, logs: Path):
        self.env, self.logs, self.processes = env, logs, {}
        logs.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self, name: str, *args: str, extra_env: dict | None = None) -> subprocess.Popen:
        log = open(self.logs / f"{name}.log", "ab")
        process = subprocess.Popen([MEDGRID, *args], env={**self.env, **(extra_env or {})}, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        self.processes[name] = process
        return process

    def run_once(self, name: str, *args: str) -> None:
        """A one-shot command (migrations): must succeed, and is not watched afterwards."""
        result = subprocess.run([MEDGRID, *args], env=self.env, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, f"{name} failed:\n{result.stdout}\n{result.stderr}"

    def start_api(self):
        self.start("api", "serve", "api", "--bind", f"127.0.0.1:{self.port}", "--workers", "2")
        self.wait(lambda: self._healthy(), 60, "the API to answer /healthz")

    def start_worker(self, model_id: str) -> Path:
        ready = self.logs / f"ready-{model_id}"
        self.start(f"worker-{model_id}", "serve", "worker", "--model", model_id,
                   extra_env={"MEDGRID_READY_FILE": str(ready)})
        self.wait(ready.exists, 120, f"worker {model_id} to load its model")
        return ready

    def _healthy(self) -> bool:
        try:
            return call("GET", self.url + "/healthz")[0] == 200
        except OSError:
            return False

    def wait(self, predicate, timeout: float, what: str):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            dead = [n for n, p in self.processes.items() if p.poll() is not None]
            if dead:
                raise AssertionError(f"{dead} exited while waiting for {what}:\n{self.tail(dead[0])}")
            time.sleep(0.3)
        raise AssertionError(f"timed out waiting for {what}; logs:\n" + "\n".join(self.tail(n) for n in self.processes))

    def tail(self, name: str, chars: int = 3000) -> str:
        path = self.logs / f"{name}.log"
        return f"--- {name}\n" + (path.read_text(errors="replace")[-chars:] if path.exists() else "")

    def stop(self):
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
