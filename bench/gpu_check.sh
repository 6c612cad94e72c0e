#!/usr/bin/env bash
# The GPU check of issue #16, one command on the GPU machine (prepared by bench/gpu_prepare.sh):
#   bash bench/gpu_check.sh OUT
# installs the carried wheels and builds sfft from its sdist into /tmp/site, then runs the
# `gpu`-marked tests and bench/gpu_check.py (parity + benchmark), writing OUT/gpu_check.json,
# OUT/pytest_gpu.txt and OUT/gpu_check.log.  Budget: <= 8 minutes on an H100.
set -uo pipefail
OUT="${1:?usage: bench/gpu_check.sh OUT}"
mkdir -p "$OUT"
cd "$(dirname "$0")/.."
exec > >(tee "$OUT/gpu_check.log") 2>&1
echo "== $(date -u +%FT%TZ) $(hostname)"; nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv || true
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 3
export PYTHONPATH=/tmp/site:$PWD/src
# sfft: its Cython extensions (hough utilities) are imported by sfft.utils, so it is built here
python3 -m pip install -q --no-index --no-deps --no-build-isolation --no-cache-dir --target /tmp/site .whl/sfft-1.7.3.tar.gz || exit 4
python3 -c "import numpy, cupy, sfft, astropy; print('numpy', numpy.__version__, 'cupy', cupy.__version__, 'astropy', astropy.__version__)" || exit 5
export NUMBA_CACHE_DIR=/tmp/numba_cache CUPY_CACHE_DIR=/tmp/cupy_cache NUMBA_NUM_THREADS=$(nproc)
echo "== pytest -m gpu"
timeout 150 python3 -m pytest -q -p no:cacheprovider -m gpu tests/test_gpu.py tests/test_convolve.py 2>&1 | tee "$OUT/pytest_gpu.txt" | tail -15
echo "== bench/gpu_check.py"
timeout 330 python3 bench/gpu_check.py "$OUT" --sizes 1024 2048 4088 --cpu-budget 120
echo "== done $(date -u +%FT%TZ)"
