#!/usr/bin/env bash
# Prepare the GPU check (issue #16) here, where PyPI is reachable: the wheels the GPU machine
# lacks (its image has numpy 2.5, scipy, numba, cupy-cuda13x, pandas, pyyaml, cython, pytest;
# .library/device/KINDS.md) and sfft's source distribution, into .whl/ (git-ignored, ~20 MB).
# Then, with a device lent to the session:
#   run(command="bash bench/gpu_check.sh $OUT", carry=[".whl"], timeout_s=540)
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .whl
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
PIP="${PYTHON:-.venv/bin/python} -m pip"
$PIP download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 -d .whl \
  astropy==7.2.3 pyerfa==2.0.1.5 astropy-iers-data==0.2026.11.2.0.34.55 pyfftw==0.15.1 sep==1.4.1 \
  photutils==3.0.0 fastremap
# sfft 1.7.3 ships only a source distribution (two Cython extensions): built on the device
${PYTHON:-.venv/bin/python} - <<'PY'
import hashlib, pathlib, re, requests
page = requests.get("https://pypi.org/simple/sfft/", timeout=60).text
url = re.search(r'href="([^"]*sfft-1\.7\.3\.tar\.gz[^"]*)"', page).group(1)
base, _, sha = url.partition("#sha256=")
data = requests.get(base if base.startswith("http") else "https://pypi.org" + base, timeout=120).content
assert hashlib.sha256(data).hexdigest() == sha, "sfft sdist: checksum mismatch"
pathlib.Path(".whl/sfft-1.7.3.tar.gz").write_bytes(data)
PY
ls -la .whl
du -sh .whl
