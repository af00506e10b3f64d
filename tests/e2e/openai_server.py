"""A small OpenAI-compatible chat-completions server for tests, serving a checkpoint through HFAdapter.

Why not ``transformers serve``: it runs offline here only with fastapi, uvicorn, openai and
accelerate installed (none is a medgrid dependency), and it cannot be told to fail. This script is
standard library plus medgrid's own hf adapter, and it injects the failures real servers produce.

    python tests/e2e/openai_server.py --checkpoint PATH [--port 0] [--model NAME]
        [--api-key-env VAR] [--max-prompt-chars N]

Prints ``listening on http://127.0.0.1:PORT/v1`` once the model is loaded. Endpoints:
``GET /v1/models``, ``POST /v1/chat/completions`` (text and base64 data-URL images),
``POST /_faults`` with ``{"plan": [429, 500, "drop", ...]}``: the next chat requests answer those
statuses in turn ("drop" closes the connection without a reply), ``GET /_stats``.
A prompt longer than ``--max-prompt-chars`` is a 400, as an over-long context is on vLLM.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import os
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run from any folder

from services.benchmarks.images import ImageRef  # noqa: E402
from services.models.base import GenerationRequest  # noqa: E402
from services.models.hf import HFAdapter  # noqa: E402
from services.models.spec import ModelSpec  # noqa: E402


class BadRequest(ValueError):
    pass


class State:
    def __init__(self, adapter: HFAdapter, model: str, api_key: str | None, max_prompt_chars: int):
        self.adapter, self.model, self.api_key, self.max_prompt_chars = adapter, model, api_key, max_prompt_chars
        self.lock = threading.Lock()  # one generation at a time: the adapter is not thread-safe
        self.books = threading.Lock()  # faults and stats, touched by every request thread
        self.faults: list = []
        self.stats = {"chat_requests": 0, "answered": 0, "injected": 0, "rejected": 0}


def parse_messages(body: dict, state: State) -> GenerationRequest:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BadRequest("'messages' must be a non-empty list")
    content = messages[-1].get("content")
    parts = [{"type": "text", "text": content}] if isinstance(content, str) else content
    texts, images = [], []
    for part in parts or []:
        if part.get("type") == "text":
            texts.append(part.get("text", ""))
        elif part.get("type") == "image_url":
            url = (part.get("image_url") or {}).get("url", "")
            if not url.startswith("data:") or ";base64," not in url:
                raise BadRequest("only base64 data URLs are served here")
            try:
                images.append(ImageRef.inline(base64.b64decode(url.split(";base64,", 1)[1], validate=True),
                                              source="request"))
            except binascii.Error as exc:
                raise BadRequest(f"invalid base64 image: {exc}") from None
        else:
            raise BadRequest(f"unsupported content part type {part.get('type')!r}")
    prompt = "\n".join(texts)
    if len(prompt) > state.max_prompt_chars:
        raise BadRequest(f"This model's maximum context length is {state.max_prompt_chars} characters; "
                         f"the prompt has {len(prompt)}")
    max_tokens = body.get("max_tokens") or body.get("max_completion_tokens") or 16
    return GenerationRequest(id=uuid.uuid4().hex, prompt=prompt, images=images, max_new_tokens=int(max_tokens))


def make_handler(state: State):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # quiet: tests read stdout for the ready line only
            pass

        def reply(self, status: int, payload: dict, headers: dict | None = None) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def error(self, status: int, message: str, headers: dict | None = None) -> None:
            self.reply(status, {"error": {"message": message, "type": "invalid_request_error", "code": status}},
                       headers)

        def count(self, what: str) -> None:
            with state.books:
                state.stats[what] += 1

        def authorised(self) -> bool:
            if state.api_key and self.headers.get("Authorization") != f"Bearer {state.api_key}":
                self.error(401, "invalid API key")
                return False
            return True

        def read_json(self) -> dict:
            length = int(self.headers.get("Content-Length") or 0)
            return json.loads(self.rfile.read(length) or b"{}")

        def do_GET(self):
            if self.path == "/_stats":
                with state.books:
                    return self.reply(200, dict(state.stats))
            if not self.authorised():
                return
            if self.path == "/v1/models":
                return self.reply(200, {"object": "list", "data": [{"id": state.model, "object": "model"}]})
            self.error(404, f"no route {self.path}")

        def do_POST(self):
            if self.path == "/_faults":
                plan = list(self.read_json().get("plan", []))
                with state.books:
                    state.faults = plan
                return self.reply(200, {"plan": plan})
            if self.path != "/v1/chat/completions":
                return self.error(404, f"no route {self.path}")
            body = self.read_json()  # read before failing: the client must not see a reset mid-upload
            with state.books:
                state.stats["chat_requests"] += 1
                fault = state.faults.pop(0) if state.faults else None
                if fault is not None:
                    state.stats["injected"] += 1
            if not self.authorised():
                return
            if fault is not None:
                if fault == "drop":
                    self.close_connection = True
                    self.connection.shutdown(2)  # no status line at all: a crashed upstream
                    return
                return self.error(int(fault), f"injected {fault}", {"Retry-After": "0"} if fault == 429 else None)
            if body.get("model") != state.model:
                return self.error(404, f"The model `{body.get('model')}` does not exist.")
            try:
                request = parse_messages(body, state)
            except BadRequest as exc:
                self.count("rejected")
                return self.error(400, str(exc))
            with state.lock:
                output = state.adapter.generate([request])[0]
            if output.error:
                self.count("rejected")
                return self.error(400, output.error)
            self.count("answered")
            self.reply(200, {
                "id": f"chatcmpl-{request.id}", "object": "chat.completion", "created": int(time.time()),
                "model": state.model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": output.text},
                             "finish_reason": "stop"}],
                "usage": {"prompt_tokens": output.input_tokens, "completion_tokens": output.output_tokens,
                          "total_tokens": (output.input_tokens or 0) + (output.output_tokens or 0)},
            })

    return Handler


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--model", default="tiny")
    parser.add_argument("--api-key-env", default=None, help="require the key held by this environment variable")
    parser.add_argument("--max-prompt-chars", type=int, default=4000)
    args = parser.parse_args(argv)
    adapter = HFAdapter(ModelSpec(id=args.model, path=args.checkpoint, batch_size=1, device="cpu"))
    adapter.load()
    api_key = os.environ[args.api_key_env] if args.api_key_env else None
    state = State(adapter, args.model, api_key, args.max_prompt_chars)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(state))
    print(f"listening on http://127.0.0.1:{server.server_address[1]}/v1", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
