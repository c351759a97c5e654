#!/usr/bin/env bash
# The GPU checks, as one script for a machine with a CUDA GPU and no network, from the repository root:
#   1. what the machine is (GPU, driver, CuPy, PyTorch);
#   2. the test suite's CuPy cases (the xp fixture) plus the backend tests, on CuPy;
#   3. benchmarks/bench_gpu.py: tinykd on CuPy against PyTorch CUDA (step ms, launches per step, inference).
# It uses the machine's python3 as it is (CuPy, PyTorch, pytest, Hypothesis, NumPy, SciPy preinstalled) and
# installs nothing: tinykd is found through PYTHONPATH. Logs, a JUnit XML and the benchmark's JSON and Markdown go
# to $OUT (default benchmarks/results/gpu). Every stage has its own time limit: 8 minutes in all.
# Exit status: 0 when every stage passed, else the first failing stage's (124 = its time limit).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-benchmarks/results/gpu}
PY=${PYTHON:-python3}
mkdir -p "$OUT"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" TINYKD_OFFLINE=1 PYTHONDONTWRITEBYTECODE=1
unset TINYKD_BACKEND TINYKD_DEBUG  # the xp fixture chooses the backend per test; debug mode would add syncs
status=0
stage() {  # stage NAME SECONDS COMMAND...: run with a time limit, log to $OUT/NAME.log, remember the first failure
  local name=$1 limit=$2
  shift 2
  echo "== $name (limit ${limit}s): $*" | tee "$OUT/$name.log"
  timeout --kill-after=10 "$limit" "$@" 2>&1 | tee -a "$OUT/$name.log"
  local rc=${PIPESTATUS[0]}
  echo "== $name: exit $rc" | tee -a "$OUT/$name.log"
  if [ "$status" -eq 0 ] && [ "$rc" -ne 0 ]; then status=$rc; fi
}

stage gpu 30 nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
stage env 60 "$PY" - <<'EOF'
import sys, numpy, cupy
print(sys.version)
print("numpy", numpy.__version__, "cupy", cupy.__version__, "CUDA runtime", cupy.cuda.runtime.runtimeGetVersion(),
      "devices", cupy.cuda.runtime.getDeviceCount())
try:
    import torch
    print("torch", torch.__version__, "CUDA", torch.version.cuda, "available", torch.cuda.is_available())
except ImportError as e:
    print("torch missing:", e)
import tinykd.backend
print("tinykd sees CuPy:", tinykd.backend.cupy_available(), "from", tinykd.backend.__file__)
EOF

# -k: every case the xp fixture runs on CuPy (the NumPy ones are the CPU CI's), the GPU data test,
# test_backend and test_sync
stage tests 240 "$PY" -m pytest -q -ra -p no:cacheprovider -k "cupy or gpu or test_backend or test_sync" \
  --junitxml="$OUT/tests.xml" tests

stage bench 190 "$PY" benchmarks/bench_gpu.py --out-dir "$OUT"

echo "gpu_check: exit $status; results in $OUT"
exit "$status"
