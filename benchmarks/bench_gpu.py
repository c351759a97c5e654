"""tinykd on CuPy against PyTorch CUDA: training-step time, kernel launches per step, inference throughput.

    python benchmarks/bench_gpu.py --out-dir DIR     # on a GPU machine (benchmarks/gpu_check.sh runs it)
    python benchmarks/bench_gpu.py --dry-run         # the same code on NumPy, tiny shapes, no CuPy or PyTorch

Step time: a CUDA event is recorded after every step on the stream the framework launches on, with no host
synchronisation between steps (the launch queue stays full, as in training), and one at the end; the median of
the per-step intervals is reported, with the wall-clock mean over the same steps as a cross-check.
Launches: PyTorch's profiler (CUPTI) records every kernel and memory operation the GPU runs for this process, CuPy's
included; counted over a few steps and divided. A calibration first profiles a known number of CuPy kernels; if
the count is wrong, or PyTorch is missing, launch counts are null with the reason. ``memcpy_dtoh`` counts device-to-host
copies (a tinykd step should have none). Writes DIR/bench_gpu.json and .md.
"""
import argparse
import collections
import json
import os
import platform
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_matmul import tinykd_step, torch_step  # noqa: E402  (puts the repository on sys.path too)

from tinykd import MLP  # noqa: E402
from tinykd.backend import resolve  # noqa: E402
from tinykd.binary import BinaryMLP  # noqa: E402
from tinykd.packed import PackedBinaryMLP  # noqa: E402

NETS = {"784-1200-1200-10": [784, 1200, 1200, 10], "784-800-800-10": [784, 800, 800, 10]}
BARS = {128: 2.0, 1024: 1.3}  # issue 10: CuPy step / PyTorch CUDA step, 784-1200-1200-10, at most


class Clock:
    """Marks between steps and the ms between two marks: CUDA events for ``cupy``/``torch``, else perf_counter."""

    def __init__(self, kind):
        self.kind = kind
        if kind == "cupy":
            import cupy
            self._cp = cupy
        elif kind == "torch":
            import torch
            self._torch = torch

    def mark(self):
        if self.kind == "cupy":
            e = self._cp.cuda.Event()
            e.record()
            return e
        if self.kind == "torch":
            e = self._torch.cuda.Event(enable_timing=True)
            e.record()
            return e
        return time.perf_counter()

    def ms(self, a, b):
        if self.kind == "cupy":
            return self._cp.cuda.get_elapsed_time(a, b)
        if self.kind == "torch":
            return a.elapsed_time(b)
        return 1e3 * (b - a)

    def sync(self):
        if self.kind == "cupy":
            self._cp.cuda.Device().synchronize()
        elif self.kind == "torch":
            self._torch.cuda.synchronize()


def step_ms(step, clock, steps=50, warmup=5):
    """(median ms per step from marks between steps, wall-clock mean ms over the same steps)."""
    for _ in range(warmup):
        step()
    clock.sync()
    marks, t0 = [clock.mark()], time.perf_counter()
    for _ in range(steps):
        step()
        marks.append(clock.mark())
    clock.sync()
    wall = 1e3 * (time.perf_counter() - t0) / steps
    return statistics.median(clock.ms(a, b) for a, b in zip(marks, marks[1:])), wall


class LaunchCounter:
    """GPU operations per call of a function, from PyTorch's profiler; ``reason`` says why counts are unavailable."""

    def __init__(self, xp, dry_run):
        self.reason, self.calibration = None, None
        if dry_run:
            self.reason = "dry run: no GPU"
            return
        try:
            import torch  # noqa: F401
            from torch.profiler import ProfilerActivity, profile  # noqa: F401
        except ImportError as e:
            self.reason = f"PyTorch's profiler is not importable ({e})"
            return
        a = xp.ones(1 << 16, dtype=np.float32)
        got = self.count(lambda: xp.add(a, a, out=a), calls=10, calibrating=True)
        self.calibration = got
        if got["kernels"] != 1 or got["memops"] != 0:
            self.reason = f"calibration failed: 10 CuPy additions profiled as {got} per call, expected 1 kernel"

    def count(self, fn, calls=5, calibrating=False):
        if self.reason and not calibrating:
            return {"kernels": None, "memops": None, "memcpy_dtoh": None, "why_null": self.reason}
        try:
            return self._count(fn, calls)
        except Exception as e:  # a profiler that cannot start must not cost the timings
            self.reason = f"the profiler failed: {e!r}"
            return self.count(fn, calls)

    @staticmethod
    def _count(fn, calls):
        import torch
        from torch.autograd import DeviceType
        from torch.profiler import ProfilerActivity, profile
        fn()
        torch.cuda.synchronize()
        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            for _ in range(calls):
                fn()
            torch.cuda.synchronize()
        names = [e.name for e in prof.events() if e.device_type == DeviceType.CUDA]
        mem = [n for n in names if n.startswith(("Memcpy", "Memset"))]
        kernels = collections.Counter(n for n in names if not n.startswith(("Memcpy", "Memset")))
        return {"kernels": sum(kernels.values()) / calls, "memops": len(mem) / calls,
                "memcpy_dtoh": sum("DtoH" in n for n in mem) / calls,
                "top_kernels": [[n[:80], c / calls] for n, c in kernels.most_common(12)]}


def inference_rows(xp, sizes, batches, torch_device, clock, rng):
    """Images/s: float32 MLP and XNOR float emulation on ``xp``, packed XNOR (NumPy on the host CPU), and PyTorch."""
    float_model = MLP(sizes, seed=0, backend=xp)
    binary = BinaryMLP(sizes, mode="xnor", seed=0, backend=xp)
    packed = PackedBinaryMLP(binary)
    rows = []
    for batch in batches:
        x_host = rng.random((batch, sizes[0]), dtype=np.float32)
        x = xp.asarray(x_host)
        row = {"batch": batch}
        for name, fn, ck in (("float32", lambda: float_model.forward(x), clock),
                             ("xnor_emulation", lambda: binary.forward(x), clock),
                             ("packed_xnor_host_cpu", lambda: packed.forward(x_host), Clock("host"))):
            ms, _ = step_ms(fn, ck, steps=20, warmup=2)
            row[f"{name}_images_per_s"] = 1e3 * batch / ms
        if torch_device:
            import torch
            net = torch_mlp(sizes, torch_device)
            xt = torch.as_tensor(x_host, device=torch_device)
            with torch.no_grad():
                ms, _ = step_ms(lambda: net(xt), Clock("torch"), steps=20, warmup=2)
            row["torch_float32_images_per_s"] = 1e3 * batch / ms
        rows.append(row)
    return rows


def torch_mlp(sizes, device):
    import torch
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(torch.nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers).to(device).eval()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dry-run", action="store_true", help="NumPy, tiny shapes, no CuPy or PyTorch: checks it runs")
    p.add_argument("--out-dir", default=os.environ.get("OUT") or os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "results", "gpu"))
    args = p.parse_args()
    if args.dry_run:
        xp, nets, batches, inference_batches = np, {"20-16-16-5": [20, 16, 16, 5]}, [8, 16], [1, 8]
    else:
        try:
            xp = resolve("cupy")
        except RuntimeError as e:
            sys.exit(f"error: {e}; bench_gpu.py needs CuPy and a GPU (--dry-run checks the code on NumPy)")
        nets, batches, inference_batches = NETS, [128, 1024], [1, 128, 1024]
    torch_device, torch_version, why_no_torch = None, None, "dry run"
    if not args.dry_run:
        try:
            import torch
            torch_version = torch.__version__
            torch_device = "cuda" if torch.cuda.is_available() else None
            why_no_torch = None if torch_device else "torch.cuda.is_available() is False"
        except ImportError as e:
            why_no_torch = f"PyTorch is not importable ({e})"
    clock = Clock("cupy" if xp is not np else "host")
    counter = LaunchCounter(xp, args.dry_run)
    info = {"dry_run": args.dry_run, "python": platform.python_version(), "numpy": np.__version__,
            "cupy": getattr(xp, "__version__", None) if xp is not np else None, "torch": torch_version,
            "torch_cuda": torch_device is not None, "why_no_torch": why_no_torch, "gpu": gpu_name(xp),
            "launch_count_method": "torch.profiler (CUPTI) GPU events per step", "launch_calibration":
            counter.calibration, "launch_count_unavailable": counter.reason}
    print(json.dumps(info), flush=True)
    rng = np.random.default_rng(0)
    rows = []
    for net, sizes in nets.items():
        for batch in batches:
            row = {"net": net, "batch": batch}
            for method in ("supervised", "kd", "adversarial_kd"):
                step = tinykd_step(sizes, batch, xp, rng, method)
                row[f"tinykd_{method}_ms"], row[f"tinykd_{method}_wall_ms"] = step_ms(step, clock)
                row[f"tinykd_{method}_launches"] = counter.count(step)
            if torch_device:
                step = torch_step(sizes, batch, rng, device=torch_device, sync=False)
                row["torch_ms"], row["torch_wall_ms"] = step_ms(step, Clock("torch"))
                row["torch_launches"] = counter.count(step)
                row["tinykd_over_torch"] = row["tinykd_supervised_ms"] / row["torch_ms"]
                if net == "784-1200-1200-10" and batch in BARS:
                    row["bar"] = BARS[batch]
                    row["bar_met"] = row["tinykd_over_torch"] <= BARS[batch]
            rows.append(row)
            print(json.dumps(row), flush=True)
    inference = inference_rows(xp, list(nets.values())[0], inference_batches, torch_device, clock, rng)
    for r in inference:
        print(json.dumps(r), flush=True)
    os.makedirs(args.out_dir, exist_ok=True)
    stem = os.path.join(args.out_dir, "bench_gpu" + ("_dry" if args.dry_run else ""))
    with open(stem + ".json", "w") as f:
        json.dump({"info": info, "steps": rows, "inference": inference}, f, indent=1)
    md = summary(info, rows, inference, list(nets)[0])
    with open(stem + ".md", "w") as f:
        f.write(md)
    print(md)


def gpu_name(xp):
    if xp is np:
        return None
    props = xp.cuda.runtime.getDeviceProperties(xp.cuda.Device().id)
    name = props["name"]
    return name.decode() if isinstance(name, bytes) else name


def summary(info, rows, inference, inference_net):
    def launches(d):
        if d.get("kernels") is None:
            return "–"
        return f"{d['kernels']:.0f} (+{d['memops']:.0f} mem, {d['memcpy_dtoh']:.0f} DtoH)"

    torch = f"PyTorch {info['torch']}" + ("" if info["torch_cuda"] else f" (no CUDA: {info['why_no_torch']})")
    unavailable = info["launch_count_unavailable"]
    lines = [f"GPU {info['gpu']}; CuPy {info['cupy']}; {torch}; launches counted by {info['launch_count_method']}"
             + (f" – unavailable: {unavailable}" if unavailable else "") + ".", "",
             "| network | batch | tinykd CuPy step ms (wall) | PyTorch CUDA step ms (wall) | ratio (bar) | "
             "launches tinykd | launches PyTorch | KD ms | adv. KD ms |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if "torch_ms" in r:
            bar = f" (≤ {r['bar']:.1f}: {'met' if r['bar_met'] else 'NOT met'})" if "bar" in r else ""
            torch_cols = f"{r['torch_ms']:.3f} ({r['torch_wall_ms']:.3f}) | {r['tinykd_over_torch']:.2f}{bar}"
        else:
            torch_cols = "– | –"
        lines.append(f"| {r['net']} | {r['batch']} | {r['tinykd_supervised_ms']:.3f} "
                     f"({r['tinykd_supervised_wall_ms']:.3f}) | {torch_cols} | "
                     f"{launches(r['tinykd_supervised_launches'])} | {launches(r.get('torch_launches', {}))} | "
                     f"{r['tinykd_kd_ms']:.3f} | {r['tinykd_adversarial_kd_ms']:.3f} |")
    lines += ["", f"Inference, {inference_net}, images/s (packed XNOR runs on the host CPU: there is no GPU "
                  "popcount kernel yet):", "",
              "| batch | float32 | XNOR float emulation | packed XNOR (host) | PyTorch float32 |",
              "|---|---|---|---|---|"]
    for r in inference:
        t = r.get("torch_float32_images_per_s")
        lines.append(f"| {r['batch']} | {r['float32_images_per_s']:,.0f} | {r['xnor_emulation_images_per_s']:,.0f} "
                     f"| {r['packed_xnor_host_cpu_images_per_s']:,.0f} | {'–' if t is None else f'{t:,.0f}'} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
