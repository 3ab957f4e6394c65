#!/usr/bin/env bash
# The Python client's checks: installs the package with its test tools into a venv (clients/python/.venv,
# or $DEPTHCAST_PY_VENV), then ruff, black --check, mypy --strict and pytest: the shared vectors, then the
# client against live `depthcast demo`, `serve` and `replay` nodes that the tests build and start (Go
# needed; kcat for the records the tests write upstream). Run from anywhere: bash clients/python/test.sh
set -euo pipefail
cd "$(dirname "$0")"
PY="${PYTHON:-python3}"
"$PY" -c 'import sys; sys.exit(sys.version_info < (3, 10))' || { echo "Python >= 3.10 needed" >&2; exit 1; }
VENV="${DEPTHCAST_PY_VENV:-.venv}"
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV" || { apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null && "$PY" -m venv "$VENV"; }
fi
# kcat writes the upstream records of the gap test (without it that test skips, and fails with CI=true).
command -v kcat >/dev/null || { apt-get update -qq && apt-get install -y -qq kcat >/dev/null; } || true
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -e '.[test,pandas]'
"$VENV/bin/ruff" check src tests examples
"$VENV/bin/black" --check -q src tests examples
"$VENV/bin/mypy" --strict src tests examples
"$VENV/bin/pytest" -q -s -p no:cacheprovider tests
