"""Guards for the hot path: no float64 anywhere in a float32 training step, and the benchmark's own arithmetic."""
import importlib.util
import os

import numpy as np
import pytest

from tinykd import MLP, Adam
from tinykd.binary import BinaryMLP
from tinykd.discriminator import Discriminator
from tinykd.distill import KD, AdversarialKD, Supervised
from tinykd.train import train_step

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def watch_dtypes(model, seen):
    """Wrap every layer's forward and backward to record the dtype of everything they return."""
    for layer in model.layers:
        for name in ("forward", "backward"):
            original = getattr(layer, name)

            def wrapped(*args, _original=original, _name=f"{type(layer).__name__}.{name}", **kwargs):
                out = _original(*args, **kwargs)
                if out is not None:
                    seen.append((_name, out.dtype))
                return out
            setattr(layer, name, wrapped)


@pytest.mark.parametrize("kind", ["supervised", "kd", "adversarial_minimax", "adversarial_alternating_kd",
                                  "binary_xnor"])
def test_no_float64_in_a_float32_step(kind, xp):
    r = np.random.default_rng(0)
    x = xp.asarray(r.random((32, 20), dtype=np.float32))
    y = xp.asarray(r.integers(0, 5, 32))
    target = xp.asarray(r.standard_normal((32, 5)).astype(np.float32))
    model = BinaryMLP([20, 16, 5], mode="xnor", backend=xp) if kind == "binary_xnor" else \
        MLP([20, 16, 16, 5], dropout=0.3, input_dropout=0.1, backend=xp)
    d = Discriminator(5, hidden=8, features="logprob", backend=xp)
    objective = {"supervised": Supervised(), "kd": KD(4.0, 0.9, "hinton"), "binary_xnor": KD(),
                 "adversarial_minimax": AdversarialKD(d, beta=0.1),
                 "adversarial_alternating_kd": AdversarialKD(d, form="nonsaturating", updates="alternating",
                                                             kd_weight=2.0)}[kind]
    seen = []
    watch_dtypes(model, seen)
    watch_dtypes(d.net, seen)
    opt = Adam(model)
    for _ in range(2):
        loss = train_step(model, objective, opt, x, y, target)
        assert loss.dtype == np.float32
    assert seen and all(dt == np.float32 for _, dt in seen), [s for s in seen if s[1] != np.float32]
    for _, p, g in model.named_parameters():
        assert p.dtype == np.float32 and g.dtype == np.float32
    assert all(a.dtype == np.float32 for block in opt._blocks for a in block[1:])


def load_bench():
    spec = importlib.util.spec_from_file_location("bench", os.path.join(ROOT, "benchmarks", "bench_matmul.py"))
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return bench


def test_gemm_bound_counts_the_products_of_a_step():
    bench = load_bench()
    run, flops = bench.gemm_products([784, 1200, 1200, 10], 128, np, np.random.default_rng(0))
    # 8 products: 3 forward, 3 weight gradients, 2 input gradients (none for the first layer)
    assert flops == 2 * 128 * (784 * 1200 * 2 + 1200 * 1200 * 3 + 1200 * 10 * 3)
    run()
    step = bench.tinykd_step([20, 16, 5], 8, np, np.random.default_rng(0), "adversarial_kd")
    assert np.isfinite(float(step()))


@pytest.mark.parametrize("script", ["bench_gpu.py", "bench_packed.py"])
def test_benchmarks_run_in_dry_mode(script, tmp_path):
    """The GPU benchmark cannot run here, but its code can: --dry-run takes the same path on NumPy, tiny shapes."""
    import json
    import subprocess
    import sys
    out = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", script), "--dry-run", "--out-dir",
                          str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    (result,) = tmp_path.glob("*.json")
    assert json.loads(result.read_text())["info"]
