#!/usr/bin/env bash
# Creates .venv and installs medgrid with everything the demo and the tests need, in one pip step
# so that torch, torchvision and transformers are resolved together (see pyproject.toml).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip setuptools wheel
.venv/bin/python -m pip install --quiet -e ".[models,demo,skills,test]"
echo "medgrid installed in .venv"
