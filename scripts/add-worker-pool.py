#!/usr/bin/env python3
"""Give models/<id>.yaml its GPU worker pool in k8s/ and docker-compose.yml.

    scripts/add-worker-pool.py                  # every spec of models/
    scripts/add-worker-pool.py qwen2_5_vl_7b    # one model (an id or a path to its spec)
    scripts/add-worker-pool.py --check          # change nothing; exit 1 if anything is missing

For each model it writes the one small file k8s/base/workers/<id>/kustomization.yaml (queue
model.<id>, nvidia.com/gpu = the spec's `gpus`), lists the pools in
k8s/base/workers/kustomization.yaml, and adds a `worker-<id>` service to docker-compose.yml if
there is none. Existing files are rewritten only when their content would change; a compose
service that exists is left alone (tests/unit/test_deploy_manifests.py checks it). Standard
library + PyYAML only.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "models"
WORKERS = ROOT / "k8s" / "base" / "workers"
COMPOSE = ROOT / "docker-compose.yml"
COMPOSE_MARKER = "  # ---- end of worker pools"
ID_RE = re.compile(r"^[a-z0-9]([a-z0-9_.-]{0,61}[a-z0-9])?$")  # a valid label value, lower case

POOL_TEMPLATE = """\
# Worker pool of models/{id}.yaml: queue model.{id}, {gpus} GPU{s} per pod.
# Written by scripts/add-worker-pool.py; the shared shape lives in ../_pool.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../_pool
nameSuffix: -{suffix}
labels:
  - pairs:
      medgrid.io/model: {id}
    includeSelectors: true
patches:
  - target: {{kind: Deployment}}
    patch: |-
      - {{op: replace, path: /spec/template/spec/containers/0/resources/limits/nvidia.com~1gpu, value: {gpus}}}
  - target: {{kind: ScaledObject}}
    patch: |-
      - {{op: replace, path: /spec/triggers/0/metadata/listName, value: model.{id}}}
"""

INDEX_HEADER = """\
# Every GPU worker pool, one folder per models/<id>.yaml (see ../../../docs/deploy.md).
# Written by scripts/add-worker-pool.py.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
"""

COMPOSE_TEMPLATE = """\
  worker-{id}:
    <<: *worker
    profiles: [{id}]
    command: ["medgrid", "serve", "worker", "--model", "{id}"]
    environment: {{<<: *medgrid-env, MEDGRID_MODEL: {id}}}
    deploy: {{resources: {{reservations: {{devices: [{{driver: nvidia, count: {gpus}, capabilities: [gpu]}}]}}}}}}

"""


def load_spec(arg: str) -> dict:
    path = Path(arg) if arg.endswith((".yaml", ".yml")) else MODELS / f"{arg}.yaml"
    spec = yaml.safe_load(path.read_text())
    if not isinstance(spec, dict) or "id" not in spec:
        raise SystemExit(f"{path}: not a model spec (no `id`)")
    model_id, gpus = spec["id"], spec.get("gpus", 1)
    if not isinstance(model_id, str) or not ID_RE.match(model_id):
        raise SystemExit(f"{path}: id {model_id!r} must be lower case letters, digits, '_', '-' or '.' "
                         "(at most 63), since it becomes a label value and a queue name")
    if path.stem != model_id:
        raise SystemExit(f"{path}: file name and id {model_id!r} differ")
    if not isinstance(gpus, int) or gpus < 1:
        raise SystemExit(f"{path}: gpus must be a positive integer for a GPU worker pool, got {gpus!r}")
    return spec


def pool_file(spec: dict) -> str:
    gpus = spec.get("gpus", 1)
    suffix = re.sub(r"[^a-z0-9-]", "-", spec["id"])
    return POOL_TEMPLATE.format(id=spec["id"], gpus=gpus, s="" if gpus == 1 else "s", suffix=suffix)


def index_file() -> str:
    pools = sorted(p.name for p in WORKERS.iterdir() if p.is_dir() and not p.name.startswith("_"))
    return INDEX_HEADER + "".join(f"  - {name}\n" for name in pools)


def compose_service(spec: dict) -> str:
    return COMPOSE_TEMPLATE.format(id=spec["id"], gpus=spec.get("gpus", 1))


def write(path: Path, text: str, check: bool, problems: list[str]) -> None:
    if path.exists() and path.read_text() == text:
        return
    if check:
        problems.append(f"{path.relative_to(ROOT)} is missing or out of date")
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    print(f"wrote {path.relative_to(ROOT)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="*", help="model ids or spec paths (default: all of models/)")
    parser.add_argument("--check", action="store_true", help="change nothing, report what is missing")
    args = parser.parse_args(argv)

    specs = [load_spec(m) for m in (args.models or sorted(str(p) for p in MODELS.glob("*.yaml")))]
    problems: list[str] = []
    for spec in specs:
        write(WORKERS / spec["id"] / "kustomization.yaml", pool_file(spec), args.check, problems)
    write(WORKERS / "kustomization.yaml", index_file(), args.check, problems)

    compose = COMPOSE.read_text()
    declared = set((yaml.safe_load(compose).get("services") or {}).keys())
    missing = [s for s in specs if f"worker-{s['id']}" not in declared]
    if missing and args.check:
        problems += [f"docker-compose.yml has no service worker-{s['id']}" for s in missing]
    elif missing:
        if COMPOSE_MARKER not in compose:
            raise SystemExit(f"docker-compose.yml: marker line {COMPOSE_MARKER.strip()!r} not found")
        block = "".join(compose_service(s) for s in missing)
        COMPOSE.write_text(compose.replace(COMPOSE_MARKER, block + COMPOSE_MARKER, 1))
        for s in missing:
            print(f"added service worker-{s['id']} to docker-compose.yml")

    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
