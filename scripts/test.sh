#!/usr/bin/env bash
# Sets everything up and runs every test: each package alone, all together, lint and the docs build.
# Usage: ./scripts/test.sh [nox arguments, e.g. -s physics]
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv-nox
.venv-nox/bin/python -m pip install -q --upgrade pip "nox>=2024.3"
exec .venv-nox/bin/nox "$@"
