"""Binary students distilled from the float MNIST teacher: BWN (binary weights) and XNOR (binary weights and
activations), each trained with and without KD, then packed 64 signs to a word for XNOR-popcount inference.

    python examples/mnist_xnor_kd.py [--quick] [--seeds 2]

The student is 784-1200-1200-10, the teacher's own shape: binarisation is the only difference, and its weights
take 2,392,800 bits (299 KB) against the float teacher's 9.6 MB. The teacher is examples/mnist_adv_kd.py's (its
checkpoint is reused when data and settings match, else trained). Validation errors are recorded per epoch; test
errors are counted once per final model. Writes results/mnist_xnor_kd.json and .md (mnist_xnor_kd_quick.* with
--quick; a run that differs from its preset writes mnist_xnor_kd[_quick]_custom-<hash>.*; with --data, named after
your data: <name>_xnor_kd[_quick]_custom-<hash>.*).
"""
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _cli import count, deviations, main, rate  # noqa: E402

from tinykd import MLP, Adam, plots, report  # noqa: E402
from tinykd.backend import resolve, to_host  # noqa: E402
from tinykd.binary import BinaryMLP  # noqa: E402
from tinykd.config import ConfigError, data_label  # noqa: E402
from tinykd.distill import KD, Supervised  # noqa: E402
from tinykd.packed import PackedBinaryMLP  # noqa: E402
from tinykd.prepare import prepare  # noqa: E402
from tinykd.train import cosine_lr, errors, fit  # noqa: E402


def images_per_second(fn, x, repeats=3):
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(x)
        best = min(best, time.perf_counter() - t0)
    return x.shape[0] / best


PRESET = {False: {"seeds": 2, "epochs": 15, "sizes": [784, 1200, 1200, 10], "lr": 3e-3},
          True: {"seeds": 1, "epochs": 2, "sizes": [784, 1200, 1200, 10], "lr": 3e-3}}


def options(p):
    p.add_argument("--seeds", type=count(1), metavar="N", help="seeds per student (default 2; 1 with --quick)")
    p.add_argument("--epochs", type=count(1), metavar="N", help="epochs per student (default 15; 2 with --quick)")
    p.add_argument("--sizes", type=count(1), nargs="+", default=[784, 1200, 1200, 10], metavar="N",
                   help="the students' layer sizes")
    p.add_argument("--lr", type=rate, default=3e-3, help="the students' Adam learning rate (cosine decay)")


def body(cfg, args):
    preset = PRESET[args.quick]
    if args.sizes[0] != 784 or args.sizes[-1] != 10:
        raise ConfigError(f"--sizes must start with 784 and end with 10 for MNIST, got {args.sizes}")
    args.seeds = preset["seeds"] if args.seeds is None else args.seeds
    args.epochs = preset["epochs"] if args.epochs is None else args.epochs
    seeds, epochs = args.seeds, args.epochs
    xp = resolve(cfg.backend)
    ds, (x, y, xv, yv, xt, yt), teacher, d, t_rec = prepare(cfg)
    dev = deviations(cfg, args, preset, ds)
    out = report.stem(cfg.out_dir, f"{data_label(cfg, d['name'])}_xnor_kd{'_quick' if args.quick else ''}", dev,
                      d["fingerprint"])
    record = {"data": d, "machine": report.machine(), "deviations": dev, "sizes": args.sizes, "epochs": epochs,
              "lr": args.lr, "seeds": seeds,
              "teacher_errors": t_rec["errors"], "teacher": t_rec, "runs": {}, "complete": False}
    xt_host = to_host(xt)
    preset_name = "quick" if args.quick else "full"
    for mode in ("float", "bwn", "xnor"):
        for use_kd in (False, True):
            name = f"{mode.upper()} {'with KD' if use_kd else 'without KD'}"
            runs = []
            for seed in range(seeds):
                model = MLP(args.sizes, seed=seed, backend=xp) if mode == "float" else \
                    BinaryMLP(args.sizes, mode=mode, seed=seed, backend=xp)
                objective = KD(4.0, 0.9, "hinton") if use_kd else Supervised()
                t0 = time.perf_counter()
                history = fit(model, objective, Adam(model, lr=args.lr), x, y, epochs, cfg.batch_size,
                              teacher=teacher.logits, x_val=xv, y_val=yv, lr_schedule=cosine_lr(args.lr, epochs),
                              seed=seed, label=f"{name} seed {seed}", progress=False)
                run = {"seed": seed, "errors": errors(model, xt, yt), "seconds": time.perf_counter() - t0,
                       "validation_errors": history[-1].get("val_errors") if history else None, "history": history}
                if mode != "float":
                    packed = PackedBinaryMLP(model)
                    run["packed_matches_emulation"] = bool(np.array_equal(packed.predict(xt_host),
                                                                          to_host(model.predict(xt))))
                runs.append(run)
                record["runs"][name] = {"runs": runs, **report.mean_std([r["errors"] for r in runs])}
                report.write(out, record, table(record, preset_name))
                print(f"{name:20s} seed {seed}: {run['errors']} errors out of {xt.shape[0]} ({run['seconds']:.0f} s"
                      f"{'' if mode == 'float' else '; packed inference identical: '}"
                      f"{run.get('packed_matches_emulation', '')})", flush=True)
        if mode == "float":
            continue
        record[f"{mode}_bytes"] = {"float32_model": 4 * model.count_params(), "packed_model": packed.nbytes(),
                                   "packed_weight_words": packed.sign_bytes()}
        record[f"{mode}_images_per_s"] = {"packed": images_per_second(packed.predict, xt_host),
                                          "float_emulation": images_per_second(lambda a: to_host(model.predict(a)),
                                                                               xt)}
    record["teacher_images_per_s"] = images_per_second(lambda a: to_host(teacher.predict(a)), xt)
    record["teacher_bytes"] = 4 * teacher.count_params()
    record["complete"] = True
    md = table(record, preset_name)
    report.write(out, record, md)
    print(md)
    plots.draw_if_possible(out + ".json")


def table(r, preset):
    """The results table (a partial record gives the rows that finished)."""
    fmt = report.fmt
    lines = [f"Students {'-'.join(map(str, r['sizes']))}, {r['epochs']} epochs, {r['seeds']} seed(s); float "
             f"teacher: {r['teacher_errors']} errors out of {r['data']['n_test']:,}; test errors, mean ± std "
             "(validation errors per epoch in the JSON).", ""] + \
        report.data_lines(r["data"], preset, r["deviations"], r.get("machine"))
    if not r.get("complete"):
        lines += ["", "**Incomplete: the run is still going or stopped early; the rows below are what finished.**"]
    lines += ["", "| student | without KD | with KD | packed bytes (float32 bytes) | images/s packed | images/s float "
                  "emulation |", "|---|---|---|---|---|---|"]
    for mode in ("float", "bwn", "xnor"):
        cells = [fmt(r["runs"][k]) if k in r["runs"] else "–" for k in (f"{mode.upper()} without KD",
                                                                         f"{mode.upper()} with KD")]
        b, s = r.get(f"{mode}_bytes"), r.get(f"{mode}_images_per_s")
        size = f"{b['packed_model']:,} ({b['float32_model']:,})" if b else "–"
        speed = [f"{s['packed']:,.0f}", f"{s['float_emulation']:,.0f}"] if s else ["–", "–"]
        lines.append(f"| {mode.upper()} | {' | '.join(cells)} | {size} | {' | '.join(speed)} |")
    if "teacher_bytes" in r:
        lines.append(f"\nFloat32 teacher: {r['teacher_bytes']:,} bytes, {r['teacher_images_per_s']:,.0f} images/s.")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main(__doc__, body, extra=options)
