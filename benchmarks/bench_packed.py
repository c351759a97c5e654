"""Binary inference latency on the CPU: bit-packed XNOR/BWN against their float emulation and a float32 MLP.

For each batch size (1, 8, 128, 1024) every variant is timed in turn, round after round, and the median kept, so a
noisy machine slows all of them alike; compare the ratios of one run, never seconds across runs. Taking turns also
means each call finds its weights evicted by the others' (five models, 40 MB): the memory-bound case, where small
packed weights pay. ``--order blocked`` times each variant in its own loop instead, its weights staying in cache.

    python benchmarks/bench_packed.py                 # 784-1200-1200-10, about a minute
    python benchmarks/bench_packed.py --threads 1     # BLAS limited to one thread (needs threadpoolctl)
    python benchmarks/bench_packed.py --dry-run       # tiny shapes, a few rounds: checks that it runs

Writes benchmarks/results/bench_packed_<BLAS kernel>_<threads>t_<order>.json and .md.
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

from tinykd import MLP  # noqa: E402
from tinykd.binary import BinaryMLP  # noqa: E402
from tinykd.packed import PackedBinaryMLP, PackedDense  # noqa: E402

BATCHES = (1, 8, 128, 1024)


def blas_info():
    """The BLAS libraries NumPy loaded: kernel (architecture), version and thread count (needs threadpoolctl)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return [{"note": "threadpoolctl not installed (pip install threadpoolctl)"}]
    return [{k: d.get(k) for k in ("internal_api", "version", "architecture", "num_threads")}
            for d in threadpool_info() if d.get("user_api") == "blas"]


def variants(sizes):
    """name -> (forward function, bytes stored, bytes held while running)."""
    out = {}
    float_model = MLP(list(sizes), seed=0)
    float_bytes = sum(p.nbytes for _, p, _ in float_model.named_parameters())
    out["float32 MLP"] = (float_model.forward, float_bytes, float_bytes)
    for mode in ("xnor", "bwn"):
        model = BinaryMLP(list(sizes), mode=mode, seed=0)
        packed = PackedBinaryMLP(model)
        held = packed.nbytes() + sum(s.signs.nbytes for s in packed.steps
                                     if isinstance(s, PackedDense) and s.signs is not None)
        out[f"packed {mode.upper()}"] = (packed.forward, packed.nbytes(), held)
        own = sum(p.nbytes for _, p, _ in model.named_parameters()) + sum(b.nbytes for _, b in model.named_buffers())
        out[f"{mode.upper()} float emulation"] = (model.forward, own, own)
    return out


def latencies(fns, x, rounds, budget, interleaved=True):
    """Median seconds per call of each function: round-robin (each round calls every function once), or each
    function in its own loop (``interleaved=False``, a budget share each)."""
    for fn in fns.values():
        fn(x)
    times = {name: [] for name in fns}
    groups = [fns] if interleaved else [{name: fn} for name, fn in fns.items()]
    for group in groups:
        start, share = time.perf_counter(), budget / len(groups)
        for r in range(rounds):
            for name, fn in group.items():
                t0 = time.perf_counter()
                fn(x)
                times[name].append(time.perf_counter() - t0)
            if r >= 4 and time.perf_counter() - start > share:
                break
    return {name: statistics.median(t) for name, t in times.items()}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=None, help="limit BLAS threads (threadpoolctl)")
    p.add_argument("--order", choices=["interleaved", "blocked"], default="interleaved",
                   help="variants take turns (weights evicted: memory-bound) or each runs its own loop (cached)")
    p.add_argument("--dry-run", action="store_true", help="tiny shapes and few rounds: check that it runs")
    p.add_argument("--out-dir", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results"))
    args = p.parse_args()
    if args.threads:
        from threadpoolctl import threadpool_limits
        threadpool_limits(args.threads)
    sizes = [20, 70, 70, 5] if args.dry_run else [784, 1200, 1200, 10]
    batches = (1, 8) if args.dry_run else BATCHES
    blas = blas_info()
    threads = next((b.get("num_threads") for b in blas if b.get("num_threads")), None)
    kernel = next((b.get("architecture") for b in blas if b.get("architecture")), "unknown")
    info = {"sizes": sizes, "order": args.order, "numpy": np.__version__, "python": platform.python_version(),
            "cpus": os.cpu_count(), "blas": blas, "threads": threads,
            "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE")}
    print(json.dumps(info), flush=True)
    fns = variants(sizes)
    rng = np.random.default_rng(0)
    rows = []
    for batch in batches:
        x = rng.random((batch, sizes[0]), dtype=np.float32)
        med = latencies({k: v[0] for k, v in fns.items()}, x, rounds=5 if args.dry_run else 200,
                        budget=0.1 if args.dry_run else (4.0 if batch < 1024 else 15.0),
                        interleaved=args.order == "interleaved")
        for name, seconds in med.items():
            rows.append({"batch": batch, "variant": name, "ms": 1e3 * seconds, "images_per_s": batch / seconds,
                         "over_float32": seconds / med["float32 MLP"], "bytes_stored": fns[name][1],
                         "bytes_held": fns[name][2]})
            print(json.dumps(rows[-1]), flush=True)
    os.makedirs(args.out_dir, exist_ok=True)
    stem = os.path.join(args.out_dir, f"bench_packed_{kernel}_{threads}t_{args.order}{'_dry' if args.dry_run else ''}")
    with open(stem + ".json", "w") as f:
        json.dump({"info": info, "rows": rows}, f, indent=1)
    md = summary(info, rows, batches)
    with open(stem + ".md", "w") as f:
        f.write(md)
    print(md)


def summary(info, rows, batches):
    blas = info["blas"][0] if info["blas"] else {}
    names = list(dict.fromkeys(r["variant"] for r in rows))
    lines = [f"Binary inference latency, {'-'.join(map(str, info['sizes']))}; BLAS {blas.get('internal_api')} "
             f"{blas.get('version')} kernel {blas.get('architecture')}, BLAS threads: {info['threads']}; NumPy "
             f"{info['numpy']}; variants timed {info['order']}. Median ms per call (× the float32 MLP's, same run).",
             "",
             "| variant | " + " | ".join(f"batch {b}" for b in batches) + " | bytes stored | bytes held running |",
             "|---" * (len(batches) + 3) + "|"]
    for name in names:
        cells = [next(r for r in rows if r["variant"] == name and r["batch"] == b) for b in batches]
        lines.append(f"| {name} | " + " | ".join(f"{c['ms']:.3f} ({c['over_float32']:.2f})" for c in cells)
                     + f" | {cells[0]['bytes_stored']:,} | {cells[0]['bytes_held']:,} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
