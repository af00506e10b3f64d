"""OpenAI-compatible chat completions over HTTP: how users run vLLM, SGLang, TGI or `transformers serve`.

Standard library only (urllib + a thread pool): the adapter adds no dependency to the API image.

Spec: ``kind: openai``, ``base_url`` (e.g. ``http://vllm:8000/v1``), ``hub_id`` (or ``extra.model``)
as the served model name. ``extra`` tunes it: ``api_key_env`` (the NAME of an environment variable
holding the key: keys never live in a spec), ``concurrency`` (default ``batch_size``), ``timeout_s``,
``max_retries``, ``backoff_s``, ``max_backoff_s``, ``request_params`` (extra JSON fields).

Each request is independent: images go as base64 data URLs, a 429, a 5xx, a timeout or a
dropped connection is retried with exponential backoff and full jitter (honouring
``Retry-After``), and any other 4xx is recorded as that sample's error: one bad sample never
fails the batch. Decoding is greedy (``temperature: 0``) with the run's seed.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import random
import socket
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from services.benchmarks.images import ImageError, ImageRef
from services.models.base import GenerationOutput, GenerationRequest
from services.models.spec import ModelSpec

RETRIED_STATUS = {408, 409, 425, 429}  # plus every 5xx

_SNIFFED_MIME = ((b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"), (b"GIF87a", "image/gif"),
                 (b"GIF89a", "image/gif"))


class ServerError(RuntimeError):
    """The server answered with an error status or a body that is not a chat completion."""

    def __init__(self, message: str, status: int | None = None, retry_after: float | None = None):
        super().__init__(message)
        self.status, self.retry_after = status, retry_after


def image_data_url(image: ImageRef) -> str:
    """A data URL with the image's own bytes where the server can read them (PNG, JPEG, GIF, WebP);
    anything else (DICOM-derived, TIFF, BMP) is decoded and re-encoded as PNG."""
    data = image.read_bytes()
    mime = next((m for magic, m in _SNIFFED_MIME if data.startswith(magic)), None)
    if mime is None and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        mime = "image/webp"
    if mime is None:
        import io

        buffer = io.BytesIO()
        image.open().save(buffer, format="PNG")
        data, mime = buffer.getvalue(), "image/png"
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


class OpenAIAdapter:
    def __init__(self, spec: ModelSpec, seed: int = 1234, allow_remote_code: bool = False):
        if not spec.base_url:
            raise ValueError(f"model {spec.id}: an openai model needs 'base_url', e.g. http://127.0.0.1:8000/v1")
        extra = spec.extra
        self.spec, self.seed = spec, seed
        self.model_name = extra.get("model") or spec.hub_id or spec.id
        self.base_url = spec.base_url.rstrip("/")
        self.concurrency = int(extra.get("concurrency", spec.batch_size))
        self.timeout_s = float(extra.get("timeout_s", 120))
        self.max_retries = int(extra.get("max_retries", 6))
        self.backoff_s = float(extra.get("backoff_s", 1.0))
        self.max_backoff_s = float(extra.get("max_backoff_s", 60.0))
        self.request_params = dict(extra.get("request_params") or {})
        self._api_key: str | None = None
        self._ready = False
        self._jitter = random.Random()  # jitter spreads retries out; it must not be reproducible

    # -- contract ---------------------------------------------------------------------------
    def load(self) -> None:
        """Read the API key and check that the server answers (it may still be starting: retried)."""
        name = self.spec.extra.get("api_key_env")
        if name:
            self._api_key = os.environ.get(name)
            if not self._api_key:
                raise ValueError(f"model {self.spec.id}: extra.api_key_env names {name}, which is not set "
                                 f"in the environment")
        try:
            self._call("GET", "/models")
        except ServerError as exc:
            if exc.status in (401, 403):
                raise ValueError(f"model {self.spec.id}: {self.base_url} refused the API key: {exc}") from None
            if exc.status is None or exc.status >= 500 or exc.status in RETRIED_STATUS:
                raise ConnectionError(f"model {self.spec.id}: no OpenAI-compatible server answers at "
                                      f"{self.base_url}: {exc}") from None
            # Some servers have no /models listing (404): chat completions may still work.
        self._ready = True

    @property
    def ready(self) -> bool:
        return self._ready

    def generate(self, requests: list[GenerationRequest]) -> list[GenerationOutput]:
        if not self._ready:
            raise RuntimeError(f"model {self.spec.id} is not loaded: call load() first")
        if not requests:
            return []
        with ThreadPoolExecutor(max_workers=max(1, min(self.concurrency, len(requests))),
                                thread_name_prefix=f"openai-{self.spec.id}") as pool:
            return list(pool.map(self._generate_one, requests))  # map keeps input order

    # -- one sample -----------------------------------------------------------------------------
    def _generate_one(self, request: GenerationRequest) -> GenerationOutput:
        begin = time.perf_counter()
        try:
            content = [{"type": "image_url", "image_url": {"url": image_data_url(image)}} for image in request.images]
        except ImageError as exc:
            return GenerationOutput(request.id, None, error=str(exc))
        content.append({"type": "text", "text": request.prompt})
        body = {"model": self.model_name, "messages": [{"role": "user", "content": content}],
                "max_tokens": request.max_new_tokens or self.spec.max_new_tokens,
                "temperature": 0, "seed": self.seed, **self.request_params}
        try:
            reply = self._call("POST", "/chat/completions", body)
            text = _reply_text(reply)
        except (ServerError, ConnectionError) as exc:
            return GenerationOutput(request.id, None, error=str(exc), latency_s=time.perf_counter() - begin)
        usage = reply.get("usage") or {}
        return GenerationOutput(request.id, text, latency_s=time.perf_counter() - begin,
                                input_tokens=usage.get("prompt_tokens"), output_tokens=usage.get("completion_tokens"))

    # -- HTTP -------------------------------------------------------------------------------
    def _call(self, method: str, path: str, body: dict | None = None) -> dict:
        """One API call, retried on 429/5xx/timeouts/dropped connections; raises ServerError otherwise."""
        url = self.base_url + path
        data = json.dumps(body).encode("utf-8") if body is not None else None
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        attempt = 0
        while True:
            try:
                return self._send(method, url, data, headers)
            except ServerError as exc:
                retry = exc.status is None or exc.status >= 500 or exc.status in RETRIED_STATUS
                last, retry_after = exc, exc.retry_after
            except (urllib.error.URLError, http.client.HTTPException, ConnectionError, socket.timeout,
                    TimeoutError) as exc:
                reason = getattr(exc, "reason", None) or exc
                last = ConnectionError(f"{method} {url}: {type(reason).__name__}: {reason}")
                retry, retry_after = True, None
            if not retry:
                raise last
            if attempt >= self.max_retries:
                last.args = (f"{last} (gave up after {attempt + 1} attempts)",)
                raise last
            time.sleep(self._delay(attempt, retry_after))
            attempt += 1

    def _send(self, method: str, url: str, data: bytes | None, headers: dict) -> dict:
        request = urllib.request.Request(url, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            raise ServerError(f"{method} {url}: HTTP {exc.code}: {_error_message(exc)}", exc.code,
                              _retry_after(exc.headers.get("Retry-After") if exc.headers else None)) from None
        try:
            return json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise ServerError(f"{method} {url}: the reply is not JSON: {raw[:200]!r}", status=200) from None

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        # Full jitter (AWS's "exponential backoff and jitter"): clients that failed together spread out.
        delay = self._jitter.uniform(0, min(self.max_backoff_s, self.backoff_s * 2 ** attempt))
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.max_backoff_s))
        return delay


def _reply_text(reply: dict) -> str:
    try:
        message = reply["choices"][0]["message"]
    except (KeyError, IndexError, TypeError):
        raise ServerError(f"the reply has no choices[0].message: {json.dumps(reply)[:200]}", status=200) from None
    content = message.get("content") or ""
    if isinstance(content, list):  # content parts
        content = "".join(part.get("text", "") for part in content if isinstance(part, dict))
    # vLLM/SGLang reasoning parsers move the think block out of `content`; put it back so the raw
    # output is the model's whole reply, as with the hf adapter (the scorer removes it).
    reasoning = message.get("reasoning_content") or message.get("reasoning")
    if isinstance(reasoning, str) and reasoning:
        content = f"<think>{reasoning}</think>{content}"
    return content


def _error_message(exc: urllib.error.HTTPError) -> str:
    try:
        raw = exc.read()
    except Exception:  # the body may be gone with the connection
        return exc.reason or ""
    try:
        payload = json.loads(raw)
        error = payload.get("error", payload) if isinstance(payload, dict) else payload
        if isinstance(error, dict):
            return str(error.get("message") or error)
        return str(error)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return raw[:300].decode("utf-8", "replace")


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:  # an HTTP date: rare from model servers, fall back to our own backoff
        return None
