#!/usr/bin/env bash
# The GPU checks, as one script for a machine with a CUDA GPU (run from the repository root; results in $OUT):
# the CuPy test suite, then the benchmark on CuPy (against PyTorch CUDA when it is installed).
set -euo pipefail
OUT=${OUT:-benchmarks/results}
python3 -m venv .venv-gpu && . .venv-gpu/bin/activate
pip install -q -e ".[test,gpu]" threadpoolctl
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$OUT/gpu.txt"
pytest -q -rs tests/test_gpu.py tests/test_backend.py 2>&1 | tee "$OUT/gpu_tests.txt"
python benchmarks/bench_matmul.py --backend cupy --out-dir "$OUT" 2>&1 | tee "$OUT/gpu_bench.txt"
