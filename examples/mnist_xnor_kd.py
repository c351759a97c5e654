"""Binary students distilled from the float MNIST teacher: BWN (binary weights) and XNOR (binary weights and
activations), each trained with and without KD, then packed 64 signs to a word for XNOR-popcount inference.

    python examples/mnist_xnor_kd.py [--quick] [--seeds 2]

The student is 784-1200-1200-10, the teacher's own shape: binarisation is the only difference, and its weights
take 2,392,800 bits (299 KB) against the float teacher's 9.6 MB. The teacher is examples/mnist_adv_kd.py's (its
checkpoint is reused or trained). Writes results/mnist_xnor_kd.json and .md.
"""
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _cli import common, config  # noqa: E402

from tinykd import Adam  # noqa: E402
from tinykd.backend import resolve, to_host  # noqa: E402
from tinykd.binary import BinaryMLP, PackedBinaryMLP  # noqa: E402
from tinykd.distill import KD, Supervised  # noqa: E402
from tinykd.experiment import prepare  # noqa: E402
from tinykd.train import cosine_lr, errors, fit  # noqa: E402


def images_per_second(fn, x, repeats=3):
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(x)
        best = min(best, time.perf_counter() - t0)
    return x.shape[0] / best


def main():
    p = common(__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=None)
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--sizes", type=int, nargs="+", default=[784, 1200, 1200, 10])
    p.add_argument("--lr", type=float, default=3e-3)
    args = p.parse_args()
    if args.sizes[0] != 784 or args.sizes[-1] != 10:
        raise SystemExit("error: --sizes must start with 784 and end with 10 for MNIST")
    cfg = config(args)
    seeds = args.seeds or (1 if args.quick else 2)
    epochs = args.epochs or (2 if args.quick else 15)
    xp = resolve(cfg.backend)
    _, (x, y, xt, yt), teacher, _ = prepare(cfg)
    record = {"sizes": args.sizes, "epochs": epochs, "lr": args.lr, "seeds": seeds,
              "teacher_errors": errors(teacher, xt, yt), "runs": {}}
    xt_host = to_host(xt)
    for mode in ("bwn", "xnor"):
        for use_kd in (False, True):
            name = f"{mode.upper()} {'with KD' if use_kd else 'without KD'}"
            runs = []
            for seed in range(seeds):
                model = BinaryMLP(args.sizes, mode=mode, seed=seed, backend=xp)
                objective = KD(4.0, 0.9, "hinton") if use_kd else Supervised()
                t0 = time.perf_counter()
                fit(model, objective, Adam(model, lr=args.lr), x, y, epochs, cfg.batch_size, teacher=teacher.logits,
                    lr_schedule=cosine_lr(args.lr, epochs), seed=seed, label=f"{name} seed {seed}", progress=False)
                packed = PackedBinaryMLP(model)
                n_err = errors(model, xt, yt)
                exact = bool(np.array_equal(packed.predict(xt_host), to_host(model.predict(xt))))
                runs.append({"seed": seed, "errors": n_err, "seconds": time.perf_counter() - t0,
                             "packed_matches_emulation": exact})
                print(f"{name:20s} seed {seed}: {n_err} errors out of {xt.shape[0]} "
                      f"({runs[-1]['seconds']:.0f} s; packed inference identical: {exact})", flush=True)
            e = np.array([r["errors"] for r in runs], float)
            record["runs"][name] = {"runs": runs, "mean": float(e.mean()),
                                    "std": float(e.std(ddof=1)) if len(e) > 1 else None}
        float_bytes = 4 * model.count_params()
        record[f"{mode}_bytes"] = {"float32_model": float_bytes, "packed_model": packed.nbytes(),
                                   "packed_weight_words": int(sum(s[2].nbytes for s in packed.steps
                                                                  if s[0] == "dense"))}
        record[f"{mode}_images_per_s"] = {"packed": images_per_second(packed.predict, xt_host),
                                          "float_emulation": images_per_second(lambda a: to_host(model.predict(a)),
                                                                               xt)}
    record["teacher_images_per_s"] = images_per_second(lambda a: to_host(teacher.predict(a)), xt)
    record["teacher_bytes"] = 4 * teacher.count_params()
    os.makedirs(cfg.out_dir, exist_ok=True)
    stem = os.path.join(cfg.out_dir, f"mnist_xnor_kd{'_quick' if args.quick else ''}")
    with open(stem + ".json", "w") as f:
        json.dump(record, f, indent=1)
    md = table(record)
    with open(stem + ".md", "w") as f:
        f.write(md)
    print(md)


def table(r):
    def fmt(v):
        return f"{v['mean']:.0f}" if v["std"] is None else f"{v['mean']:.1f} ± {v['std']:.1f}"
    lines = [f"Binary students {'-'.join(map(str, r['sizes']))}, {r['epochs']} epochs, {r['seeds']} seed(s); "
             f"float teacher: {r['teacher_errors']} errors out of 10,000.", "",
             "| student | without KD | with KD | packed bytes (float32 bytes) | images/s packed | images/s float "
             "emulation |", "|---|---|---|---|---|---|"]
    for mode in ("bwn", "xnor"):
        b, s = r[f"{mode}_bytes"], r[f"{mode}_images_per_s"]
        lines.append(f"| {mode.upper()} | {fmt(r['runs'][f'{mode.upper()} without KD'])} | "
                     f"{fmt(r['runs'][f'{mode.upper()} with KD'])} | {b['packed_model']:,} ({b['float32_model']:,}) | "
                     f"{s['packed']:,.0f} | {s['float_emulation']:,.0f} |")
    lines.append(f"\nFloat32 teacher: {r['teacher_bytes']:,} bytes, {r['teacher_images_per_s']:,.0f} images/s.")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
