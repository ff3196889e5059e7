#!/usr/bin/env bash
# Installs the five megastep packages on a lent GPU machine (no internet there).
# Source it at the start of every device command:  source scripts/device-setup.sh
# Wheels missing on the machine travel in .whl/ (carry it); see scripts/fetch-device-wheels.sh.
set -e
if compgen -G ".whl/*.whl" > /dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
python3 -m pip install -q --no-deps --no-build-isolation \
  -e ./megastep_core -e ./megastep_physics -e ./megastep_render -e ./megastep_geometry -e ./megastep_envs >/dev/null
export PYTHONUNBUFFERED=1
set +e
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch, cupy; print('torch', torch.__version__, 'cupy', cupy.__version__)"
