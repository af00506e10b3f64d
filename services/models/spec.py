"""Model specs (one YAML file per model, or ad hoc from a local checkpoint path) and weights identity."""

from __future__ import annotations

import hashlib
import json
import re
import struct
from dataclasses import asdict, dataclass, field
from pathlib import Path

KINDS = ("hf", "openai", "echo", "random", "majority", "always_yes")
PROMPT_STYLES = ("reasoning", "direct")
DTYPES = ("auto", "float32", "float16", "bfloat16")


class SpecError(ValueError):
    """A model spec is malformed; the message names the file and the field."""


class UnknownModel(KeyError):
    def __init__(self, name: str, valid: list[str]):
        self.name, self.valid = name, valid
        super().__init__(name)

    def __str__(self) -> str:
        return (f"unknown model {self.name!r}: not a model id in the models folder nor a checkpoint folder; "
                f"valid ids: {', '.join(self.valid) or '(none)'}")


@dataclass(frozen=True)
class ModelSpec:
    id: str
    kind: str = "hf"
    family: str | None = None
    path: str | None = None
    hub_id: str | None = None
    revision: str | None = None
    dtype: str = "auto"
    device: str = "auto"
    gpus: int = 1
    batch_size: int = 8
    prompt_style: str = "reasoning"
    max_new_tokens: int = 1024
    trust_remote_code: bool = False
    base_url: str | None = None  # openai kind
    extra: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_mapping(cls, data: dict, source: str) -> "ModelSpec":
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(data) - known
        if unknown:
            raise SpecError(f"{source}: unknown field(s) {sorted(unknown)}; valid: {sorted(known)}")
        if not isinstance(data.get("id"), str) or not re.fullmatch(r"[A-Za-z0-9_.\-]{1,100}", data["id"]):
            raise SpecError(f"{source}: field 'id' must be 1-100 letters, digits, '_', '.', '-'")
        checks = {"kind": KINDS, "prompt_style": PROMPT_STYLES, "dtype": DTYPES}
        for name, valid in checks.items():
            if name in data and data[name] not in valid:
                raise SpecError(f"{source}: field {name!r} is {data[name]!r}; valid: {', '.join(valid)}")
        for name in ("gpus", "batch_size", "max_new_tokens"):
            if name in data and (not isinstance(data[name], int) or isinstance(data[name], bool)
                                 or data[name] < (0 if name == "gpus" else 1)):
                raise SpecError(f"{source}: field {name!r} must be a positive integer, got {data[name]!r}")
        if "trust_remote_code" in data and not isinstance(data["trust_remote_code"], bool):
            raise SpecError(f"{source}: field 'trust_remote_code' must be true or false")
        _check_extra(data, source)
        if data.get("kind") == "openai":
            if not isinstance(data.get("base_url"), str) or not re.match(r"https?://", data["base_url"]):
                raise SpecError(f"{source}: an openai model needs 'base_url', e.g. http://127.0.0.1:8000/v1")
            if not (data.get("hub_id") or (data.get("extra") or {}).get("model")):
                raise SpecError(f"{source}: an openai model needs 'hub_id' (or extra.model): the model name the "
                                f"server serves")
        return cls(**data)


def _positive_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _positive_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0


def _text(value) -> bool:
    return isinstance(value, str) and bool(value.strip())


# Keys of ``extra`` each kind understands, with their check and meaning (documented in models/README.md).
EXTRA_KEYS: dict[str, dict[str, tuple]] = {
    "hf": {
        "max_batch_pixels": (_positive_int, "at most this many decoded image pixels (width x height) in one batch"),
        "max_batch_tokens": (_positive_int, "at most rows x (longest prompt + max_new_tokens) tokens in one batch"),
        "attn_implementation": (_text, "transformers attention kernel, e.g. sdpa or flash_attention_2"),
    },
    "openai": {
        "model": (_text, "model name the server serves (default: hub_id)"),
        "api_key_env": (_text, "name of the environment variable holding the API key"),
        "concurrency": (_positive_int, "requests in flight at once (default: batch_size)"),
        "timeout_s": (_positive_number, "socket timeout of one HTTP request in seconds (default 120)"),
        "max_retries": (lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0,
                        "retries after a 429, a 5xx, a timeout or a dropped connection (default 6)"),
        "backoff_s": (_positive_number, "first retry delay in seconds, doubled each retry, with jitter (default 1)"),
        "max_backoff_s": (_positive_number, "longest retry delay in seconds (default 60)"),
        "request_params": (lambda v: isinstance(v, dict), "extra JSON fields sent with every request"),
    },
    "echo": {"reply": (lambda v: isinstance(v, str), "the fixed reply")},
    "always_yes": {"reply": (lambda v: isinstance(v, str), "the fixed reply (default \\boxed{yes})")},
    "random": {"phrase": (lambda v: isinstance(v, str), "reply to open and non-yes/no closed questions")},
    "majority": {
        "benchmark": (_text, "benchmark whose answer prior is used"),
        "data": (_text, "folder holding that benchmark's files"),
        "split": (_text, "split whose answers are counted (default: the benchmark's default split)"),
        "options": (lambda v: isinstance(v, dict), "benchmark options, e.g. {language: en}"),
    },
}
SECRET_KEYS = {"api_key", "key", "token", "password", "secret", "authorization"}


def _check_extra(data: dict, source: str) -> None:
    extra = data.get("extra", {})
    if not isinstance(extra, dict):
        raise SpecError(f"{source}: field 'extra' must be a mapping")
    secrets = sorted(k for k in extra if str(k).lower() in SECRET_KEYS)
    if secrets:
        raise SpecError(f"{source}: extra.{secrets[0]} looks like a secret; never put keys in a spec: set "
                        f"extra.api_key_env to the NAME of an environment variable that holds it")
    known = EXTRA_KEYS.get(data.get("kind", "hf"), {})
    for key, value in extra.items():
        if key not in known:
            raise SpecError(f"{source}: unknown key extra.{key} for kind {data.get('kind', 'hf')!r}; "
                            f"valid: {', '.join(sorted(known)) or '(none)'}")
        check, meaning = known[key]
        if not check(value):
            raise SpecError(f"{source}: extra.{key} is {value!r}; expected {meaning}")
    if data.get("kind") == "majority" and not all(k in extra for k in ("benchmark", "data")):
        raise SpecError(f"{source}: a majority baseline needs extra.benchmark and extra.data "
                        f"(and usually extra.split): the split whose answer prior it replays")


def load_spec_file(path: Path) -> ModelSpec:
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise SpecError(f"{path}: invalid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise SpecError(f"{path}: expected a mapping of fields")
    return ModelSpec.from_mapping(data, str(path))


def roster(models_dir: Path) -> dict[str, ModelSpec]:
    specs = {}
    for path in sorted(Path(models_dir).glob("*.yaml")):
        spec = load_spec_file(path)
        specs[spec.id] = spec
    return specs


def detect_family(path: Path) -> str | None:
    config = path / "config.json"
    if not config.is_file():
        return None
    try:
        return json.loads(config.read_text()).get("model_type")
    except (OSError, json.JSONDecodeError):
        return None


def resolve_spec(name: str, models_dir: Path, **overrides) -> ModelSpec:
    """A roster id, a spec YAML path, or a local checkpoint folder (an ad-hoc ``hf`` spec)."""
    specs = roster(models_dir) if Path(models_dir).is_dir() else {}
    if name in specs:
        spec = specs[name]
    elif name.endswith((".yaml", ".yml")) and Path(name).is_file():
        spec = load_spec_file(Path(name))
    elif Path(name).is_dir() and (Path(name) / "config.json").is_file():
        folder = Path(name).resolve()
        model_id = re.sub(r"[^A-Za-z0-9_.\-]", "_", folder.name)[:100] or "model"
        spec = ModelSpec(id=model_id, kind="hf", family=detect_family(folder), path=str(folder))
    else:
        raise UnknownModel(name, sorted(specs))
    values = {k: v for k, v in overrides.items() if v is not None}
    return ModelSpec.from_mapping({**spec.to_json(), **values}, f"model {name}") if values else spec


def weights_fingerprint(path: str | Path) -> str:
    """Hash of config.json and every safetensors header (names, shapes, dtypes, offsets).

    Reading headers, not tensors, makes this cheap for a 72B checkpoint, yet any retrained or
    re-sharded weights change it. Falls back to file sizes and names for other weight formats.
    """
    folder = Path(path)
    digest = hashlib.sha256()
    config = folder / "config.json"
    if config.is_file():
        digest.update(config.read_bytes())
    weight_files = sorted(folder.glob("*.safetensors"))
    for file in weight_files:
        with open(file, "rb") as handle:
            (length,) = struct.unpack("<Q", handle.read(8))
            digest.update(file.name.encode())
            digest.update(handle.read(length))
        # Headers hold offsets, not values: fold in a sample of the bytes so a fine-tune with the
        # same shapes still changes the fingerprint.
        digest.update(_sampled_bytes(file))
    if not weight_files:
        for file in sorted(folder.glob("*.bin")) + sorted(folder.glob("*.pt")):
            digest.update(f"{file.name}:{file.stat().st_size}".encode())
            digest.update(_sampled_bytes(file))
    return digest.hexdigest()


def _sampled_bytes(file: Path, chunks: int = 16, chunk_size: int = 4096) -> bytes:
    size = file.stat().st_size
    out = bytearray()
    with open(file, "rb") as handle:
        for i in range(chunks):
            handle.seek((size * i) // chunks)
            out += handle.read(chunk_size)
    return bytes(out)
