"""The matmul hot path against the GEMM bound (and PyTorch when installed).

A dense network's training step is three matrix products per layer (forward, weight gradient, input gradient;
no input gradient for the first layer). Their time, measured alone in this process with preallocated outputs,
is the GEMM bound; everything else in a step is overhead on top of it.

    python benchmarks/bench_matmul.py                 # all shapes (a few minutes on 2 cores)
    python benchmarks/bench_matmul.py --quick         # batch 128, the two report networks only

Writes benchmarks/results/bench_<backend>_<BLAS kernel>.json and .md. Times are medians over repeated runs;
compare ratios measured in one run, never absolute seconds across runs or machines.
"""
import argparse
import json
import os
import platform
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tinykd import MLP, Adam  # noqa: E402
from tinykd.backend import resolve  # noqa: E402
from tinykd.binary import BinaryMLP  # noqa: E402
from tinykd.discriminator import Discriminator  # noqa: E402
from tinykd.distill import KD, AdversarialKD, Supervised  # noqa: E402
from tinykd.packed import PackedBinaryMLP  # noqa: E402
from tinykd.train import train_step  # noqa: E402

NETS = {"teacher 784-1200-1200-10": [784, 1200, 1200, 10], "student 784-800-800-10": [784, 800, 800, 10],
        "svhn teacher 784-4096-4096-10": [784, 4096, 4096, 10]}


class Timer:
    """Median wall time of ``fn`` (synchronising the GPU before reading the clock)."""

    def __init__(self, xp, budget=1.5, min_reps=5, max_reps=50, warmup=3):
        self.xp, self.budget, self.min_reps, self.max_reps, self.warmup = xp, budget, min_reps, max_reps, warmup

    def sync(self):
        if self.xp is not np:
            self.xp.cuda.Stream.null.synchronize()

    def __call__(self, fn):
        for _ in range(self.warmup):
            fn()
        self.sync()
        times, start = [], time.perf_counter()
        while len(times) < self.min_reps or (len(times) < self.max_reps and time.perf_counter() - start < self.budget):
            t0 = time.perf_counter()
            fn()
            self.sync()
            times.append(time.perf_counter() - t0)
        return statistics.median(times)


def gemm_products(sizes, batch, xp, rng):
    """The 3L−1 products of one step, with preallocated outputs: (callable, flop count)."""
    f32 = np.float32
    acts = [xp.asarray(rng.standard_normal((batch, n)), dtype=f32) for n in sizes]
    ws = [xp.asarray(rng.standard_normal((a, b)) * 0.01, dtype=f32) for a, b in zip(sizes[:-1], sizes[1:])]
    outs_f = [xp.empty((batch, b), f32) for b in sizes[1:]]
    outs_w = [xp.empty_like(w) for w in ws]
    outs_x = [xp.empty((batch, a), f32) for a in sizes[:-1]]
    flops = 0
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        flops += 2 * batch * a * b * (3 if i > 0 else 2)

    def run():
        for i, w in enumerate(ws):
            xp.matmul(acts[i], w, out=outs_f[i])
        for i in reversed(range(len(ws))):
            xp.matmul(acts[i].T, acts[i + 1], out=outs_w[i])
            if i > 0:
                xp.matmul(acts[i + 1], ws[i].T, out=outs_x[i])
    return run, flops


def tinykd_step(sizes, batch, xp, rng, method="supervised", dropout=0.0):
    model = MLP(sizes, dropout=dropout, input_dropout=0.2 if dropout else 0.0, seed=0, backend=xp)
    opt = Adam(model, lr=1e-4)
    x = xp.asarray(rng.random((batch, sizes[0])), dtype=np.float32)
    y = xp.asarray(rng.integers(0, sizes[-1], batch))
    target = xp.asarray(rng.standard_normal((batch, sizes[-1])), dtype=np.float32)  # cached teacher logits
    if method == "supervised":
        objective = Supervised()
    elif method == "kd":
        objective = KD(4.0, 0.9, "hinton")
    else:
        objective = AdversarialKD(Discriminator(sizes[-1], seed=0, backend=xp), beta=0.1)
    return lambda: train_step(model, objective, opt, x, y, target)


def evaluation(sizes, xp, rng, n=10000):
    model = MLP(sizes, seed=0, backend=xp)
    x = xp.asarray(rng.random((n, sizes[0])), dtype=np.float32)
    return lambda: model.predict(x, batch_size=n), n


def torch_step(sizes, batch, rng, dropout=0.0, device="cpu", sync=True):
    """One PyTorch training step of the same MLP (Adam, cross-entropy); on CUDA it waits for its queue unless
    ``sync=False`` (``bench_gpu.py`` times with CUDA events instead)."""
    import torch

    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        if dropout and i == 0:
            layers.append(torch.nn.Dropout(0.2))
        layers.append(torch.nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(torch.nn.ReLU())
            if dropout:
                layers.append(torch.nn.Dropout(dropout))
    net = torch.nn.Sequential(*layers).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=1e-4)
    x = torch.tensor(rng.random((batch, sizes[0])), dtype=torch.float32, device=device)
    y = torch.tensor(rng.integers(0, sizes[-1], batch), device=device)
    loss_fn = torch.nn.CrossEntropyLoss()

    def step():
        opt.zero_grad(set_to_none=False)
        loss_fn(net(x), y).backward()
        opt.step()
        if device == "cuda" and sync:
            torch.cuda.synchronize()  # PyTorch's own queue, before the clock is read
    return step


def binary_rows(timer, rng, sizes=(784, 1200, 1200, 10), n=2000):
    """Packed (XNOR-popcount) inference against the float emulation and a float32 MLP of the same shape."""
    x = rng.random((n, sizes[0]), dtype=np.float32)
    float_model = MLP(list(sizes), seed=0)
    t_float = timer(lambda: float_model.forward(x))
    rows = []
    for mode in ("bwn", "xnor"):
        model = BinaryMLP(list(sizes), mode=mode, seed=0)
        packed = PackedBinaryMLP(model)
        rows.append({"binary": mode, "sizes": list(sizes), "images": n,
                     "packed_images_per_s": n / timer(lambda: packed.forward(x)),
                     "emulation_images_per_s": n / timer(lambda: model.forward(x)),
                     "float32_images_per_s": n / t_float,
                     "packed_bytes": packed.nbytes(), "float32_bytes": 4 * float_model.count_params(),
                     "weight_bytes_ratio": 4 * float_model.count_params(biases=False)
                     / packed.sign_bytes()})
    return rows


def blas_info():
    try:
        from threadpoolctl import threadpool_info
        return [{k: d.get(k) for k in ("internal_api", "version", "architecture", "num_threads", "filepath")}
                for d in threadpool_info() if d.get("user_api") == "blas"]
    except ImportError:
        return [{"note": "threadpoolctl not installed (pip install threadpoolctl)"}]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backend", choices=["numpy", "cupy"], default="numpy")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--out-dir", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results"))
    args = p.parse_args()
    xp = resolve(args.backend)
    rng = np.random.default_rng(0)
    timer = Timer(xp)
    nets = dict(list(NETS.items())[:2]) if args.quick else NETS
    batches = [128] if args.quick else [128, 1024]
    try:
        import torch
        device = "cuda" if xp is not np else "cpu"
        threads = next((b.get("num_threads") for b in blas_info() if b.get("num_threads")), os.cpu_count())
        if device == "cpu":
            torch.set_num_threads(threads)
        torch_version = torch.__version__
    except ImportError:
        torch, torch_version = None, None
    info = {"backend": args.backend, "numpy": np.__version__, "python": platform.python_version(),
            "machine": platform.machine(), "cpus": os.cpu_count(), "blas": blas_info(), "torch": torch_version,
            "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE")}
    print(json.dumps(info, indent=1), flush=True)
    rows = []
    for net_name, sizes in nets.items():
        for batch in batches:
            gemm, flops = gemm_products(sizes, batch, xp, rng)
            t_gemm = timer(gemm)
            row = {"net": net_name, "batch": batch, "gemm_ms": 1e3 * t_gemm, "gemm_gflops": flops / t_gemm / 1e9}
            for method in ("supervised", "kd", "adversarial_kd"):
                for dropout in (0.0, 0.5):
                    if method != "supervised" and dropout:
                        continue
                    t = timer(tinykd_step(sizes, batch, xp, rng, method, dropout))
                    key = f"{method}{'_dropout' if dropout else ''}"
                    row[f"{key}_ms"] = 1e3 * t
                    row[f"{key}_over_gemm"] = t / t_gemm
            if torch is not None:
                for dropout in (0.0, 0.5):
                    key = f"torch{'_dropout' if dropout else ''}"
                    t = timer(torch_step(sizes, batch, rng, dropout, device=device))
                    row[f"{key}_ms"] = 1e3 * t
                row["tinykd_over_torch"] = row["supervised_ms"] / row["torch_ms"]
                row["tinykd_over_torch_dropout"] = row["supervised_dropout_ms"] / row["torch_dropout_ms"]
            row["kd_over_supervised"] = row["kd_ms"] / row["supervised_ms"]
            rows.append(row)
            print(json.dumps(row), flush=True)
        fn, n = evaluation(sizes, xp, rng)
        t = timer(fn)
        rows.append({"net": net_name, "eval_images_per_s": n / t})
        print(json.dumps(rows[-1]), flush=True)
    if xp is np:
        rows += binary_rows(timer, rng)
        for r in rows[-2:]:
            print(json.dumps(r), flush=True)
    os.makedirs(args.out_dir, exist_ok=True)
    kernel = next((b.get("architecture") for b in info["blas"] if b.get("architecture")), "unknown")
    stem = os.path.join(args.out_dir, f"bench_{args.backend}_{kernel}{'_quick' if args.quick else ''}")
    with open(stem + ".json", "w") as f:
        json.dump({"info": info, "rows": rows}, f, indent=1)
    md = summary(info, rows)
    with open(stem + ".md", "w") as f:
        f.write(md)
    print(md)


def summary(info, rows):
    blas = info["blas"][0] if info["blas"] else {}
    lines = [f"Backend {info['backend']}; BLAS {blas.get('internal_api')} {blas.get('version')} kernel "
             f"{blas.get('architecture')}, {blas.get('num_threads')} threads; NumPy {info['numpy']}; "
             f"PyTorch {info['torch'] or 'not installed'}.", "",
             "| network | batch | GEMM bound ms (GFLOP/s) | supervised step ms (× bound) | with dropout (× bound) | "
             "KD (× supervised) | adv. KD ms | PyTorch ms (tinykd/PyTorch) | PyTorch dropout ms (ratio) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if "batch" not in r:
            continue
        torch_cols = (f"{r['torch_ms']:.2f} ({r['tinykd_over_torch']:.2f}) | "
                      f"{r['torch_dropout_ms']:.2f} ({r['tinykd_over_torch_dropout']:.2f})") if "torch_ms" in r \
            else "– | –"
        lines.append(f"| {r['net']} | {r['batch']} | {r['gemm_ms']:.2f} ({r['gemm_gflops']:.0f}) | "
                     f"{r['supervised_ms']:.2f} ({r['supervised_over_gemm']:.2f}) | "
                     f"{r['supervised_dropout_ms']:.2f} ({r['supervised_dropout_over_gemm']:.2f}) | "
                     f"{r['kd_ms']:.2f} ({r['kd_over_supervised']:.2f}) | {r['adversarial_kd_ms']:.2f} | "
                     f"{torch_cols} |")
    lines.append("")
    lines += [f"Evaluation, {r['net']}: {r['eval_images_per_s']:,.0f} images/s" for r in rows
              if "eval_images_per_s" in r]
    for r in rows:
        if "binary" in r:
            lines.append(f"Binary {r['binary'].upper()} {'-'.join(map(str, r['sizes']))}: packed "
                         f"{r['packed_images_per_s']:,.0f} images/s, float emulation "
                         f"{r['emulation_images_per_s']:,.0f}, float32 MLP {r['float32_images_per_s']:,.0f}; "
                         f"{r['packed_bytes']:,} bytes packed vs {r['float32_bytes']:,} float32 "
                         f"(weights {r['weight_bytes_ratio']:.1f}x smaller)")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
