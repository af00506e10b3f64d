#!/usr/bin/env bash
# The whole test suite: installs medgrid and its test tools, makes sure Postgres and Redis run,
# then runs pytest (unit, integration against the real services, end-to-end with real processes).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
bash scripts/services.sh
# Installs the offline validators (compose, kustomize, kubernetes-validate, KEDA schema, hadolint)
# that tests/unit/test_deploy_manifests.py also runs, and validates every manifest once.
bash scripts/validate-manifests.sh > /dev/null
.venv/bin/ruff check --quiet .
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
export MEDGRID_TEST_DATABASE_URL=${MEDGRID_TEST_DATABASE_URL:-postgresql://postgres:postgres@127.0.0.1:5432/test}
export MEDGRID_TEST_REDIS_URL=${MEDGRID_TEST_REDIS_URL:-redis://127.0.0.1:6379/0}
exec .venv/bin/python -m pytest -p no:cacheprovider "$@"
