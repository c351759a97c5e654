"""The MNIST experiments of Hinton, Vinyals & Dean (2015), "Distilling the knowledge in a neural network", §3,
on tinykd's engine, each beside the paper's number:

1. soft targets carry generalisation: the 784-800-800-10 student from scratch, distilled at τ = 20 from the
   784-1200-1200-10 teacher on the un-jittered transfer set, against the same student on the labels alone
   (paper: teacher 67, student alone 146, distilled 74 test errors);
2. the mythical digit: no 3 in the transfer set; then the 3's output bias raised by a shift chosen on validation
   (paper: 206 errors, 133 on the 1,010 test 3s; +3.5 gives 109 errors, 14 on 3s; chosen on the test set);
3. only 7s and 8s in the transfer set; then their biases lowered (paper: 47.3% test error, 13.2% after −7.6);
4. temperature and width: τ ∈ {1, 2, 2.5, 4, 8, 20} for students with 800 and 30 units per layer (paper: above
   300 units all τ > 8 alike; at 30 units τ in 2.5–4 best);
5. few labels: hard labels on 1%, 5%, 20% of the training set, with and without soft targets on all of it.

    python examples/dark_knowledge.py            # the full run (about 30-35 min on 2 idle cores)
    python examples/dark_knowledge.py --quick    # every experiment small

The teacher is the Table 1 teacher of examples/mnist_adv_kd.py (its checkpoint is reused when data and settings
match). Students: Adam, lr 10⁻³ with cosine decay, batch 128; KD in Hinton's form (1 − a)·H(y, P_S) + a·τ²·H(P_T^τ,
P_S^τ) with a = 0.9 (mostly soft targets). Validation: 5,000 training images held out (stratified); every choice
(bias shifts) is made on it, and test errors are counted once per final model. A teacher that is not better than
the student alone on validation is flagged, as in Table 1. Before any training the data is checked for what the
experiments need (a test image of 2, 3, 7 and 9; 3s, 7s and 8s in the transfer set and the validation split; at
least one hard label per class at 1%), and a transfer set larger than the training images is refused (--quick's
10,000 with a smaller --subset: give --transfer-size). Writes results/dark_knowledge.json and .md
(dark_knowledge_quick.* with --quick; other runs _custom-<hash>; with --data, <name>_dark_knowledge*), and figures
beside them.
"""
import dataclasses
import math
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _cli import count, deviations, main  # noqa: E402

from tinykd import MLP, Adam, plots, report, transfer  # noqa: E402
from tinykd import functional as F  # noqa: E402
from tinykd.backend import resolve, to_device, to_host  # noqa: E402
from tinykd.config import ConfigError, data_label  # noqa: E402
from tinykd.datafiles import DataError  # noqa: E402
from tinykd.distill import KD, Supervised  # noqa: E402
from tinykd.prepare import prepare  # noqa: E402
from tinykd.protocol import teacher_check  # noqa: E402
from tinykd.train import cosine_lr, errors, fit  # noqa: E402

PRESET = {False: {"epochs": 40, "seeds": 3, "sweep_epochs": 15, "few_epochs": 15, "transfer_size": 0},
          True: {"epochs": 4, "seeds": 1, "sweep_epochs": 2, "few_epochs": 3, "transfer_size": 10000}}
PAPER = {"teacher": 67, "student_alone": 146, "distilled": 74, "omit_3": [206, 133, 3.5, 109, 14],
         "only_7_8": [47.3, -7.6, 13.2]}
TEMPERATURES = [1, 2, 2.5, 4, 8, 20]
WIDTHS = {"800": [784, 800, 800, 10], "30": [784, 30, 30, 10]}
FRACTIONS = [0.01, 0.05, 0.2]
KD_WEIGHT = 0.9
SHOWN_DIGITS = (2, 3, 7, 9)   # the soft-target figure: the first test image of each
OMITTED, KEPT = [3], [7, 8]   # the mythical digit; the only digits of the third experiment


def options(p):
    p.add_argument("--epochs", type=count(1), metavar="N",
                   help="epochs of the headline, omit-3 and 7/8 students (default 40; 4 with --quick)")
    p.add_argument("--seeds", type=count(1), metavar="N", help="seeds of the headline rows (default 3; 1 with --quick)")
    p.add_argument("--sweep-epochs", type=count(1), metavar="N",
                   help="epochs per temperature-sweep student (default 15; 2 with --quick)")
    p.add_argument("--few-epochs", type=count(1), metavar="N",
                   help="epochs per few-labels student (default 15; 3 with --quick)")
    p.add_argument("--transfer-size", type=count(1), metavar="N",
                   help="use the first N training images as the transfer set (default: all; 10,000 with --quick)")


class Lab:
    """The shared set-up of every experiment: data on the device, the teacher's logits, how a student trains."""

    def __init__(self, cfg, args, arrays, teacher):
        self.xp = resolve(cfg.backend)
        x, y, self.xv, self.yv, self.xt, self.yt = arrays
        n = args.transfer_size or x.shape[0]
        self.x, self.y = x[:n], y[:n]
        self.t_logits = teacher.logits(self.x)
        self.y_host, self.yv_host, self.yt_host = to_host(self.y), to_host(self.yv), to_host(self.yt)
        self.batch_size = cfg.batch_size

    def student(self, sizes, objective, epochs, seed, rows=None, labels=None, label=""):
        """Train a fresh student on the transfer set (``rows`` of it; ``labels`` replacing its labels); returns
        (model, record with test and validation errors, seconds and history)."""
        x, y, t = self.x, self.y if labels is None else labels, self.t_logits
        if rows is not None:
            idx = to_device(rows, self.xp)
            x, y, t = x[idx], y[idx], t[idx]
        model = MLP(sizes, seed=seed, backend=self.xp)
        t0 = time.perf_counter()
        history = fit(model, objective, Adam(model, lr=1e-3), x, y, epochs, self.batch_size, teacher=t,
                      x_val=self.xv, y_val=self.yv, lr_schedule=cosine_lr(1e-3, epochs), seed=seed,
                      progress=False, label=label)
        rec = {"seed": seed, "errors": errors(model, self.xt, self.yt), "validation_errors":
               history[-1]["val_errors"] if history else None, "seconds": time.perf_counter() - t0,
               "history": history}
        print(f"  {label} seed {seed}: {rec['errors']} test errors ({rec['seconds']:.0f} s)", flush=True)
        return model, rec


def kd(temperature):
    return KD(temperature=temperature, weight=KD_WEIGHT, form="hinton")


def from_scratch(lab, a):
    """Experiment 1: distilled at τ = 20 vs the labels alone, same student, same budget."""
    out = {}
    for name, objective in (("student_alone", Supervised()), ("distilled", kd(20.0))):
        runs = [lab.student(WIDTHS["800"], objective, a.epochs, seed, label=name)[1] for seed in range(a.seeds)]
        out[name] = {"runs": runs, **report.mean_std([r["errors"] for r in runs])}
    d = out["distilled"]
    return {"errors_mean": d["mean"], "errors_std": d["std"], "temperature": 20.0, "epochs": a.epochs,
            "kd_weight": KD_WEIGHT, "seeds": a.seeds, "student_alone": out["student_alone"], "distilled": d}


def omit_3(lab, a):
    """Experiment 2: no 3 in the transfer set; the 3's bias shift chosen on validation."""
    rows = transfer.without_classes(lab.y_host, OMITTED)
    model, rec = lab.student(WIDTHS["800"], kd(20.0), a.epochs, 0, rows=rows, label="omit-3")
    shift, curve = transfer.bias_shift_search(to_host(model.logits(lab.xv)), lab.yv_host, [3],
                                              np.arange(0, 10.01, 0.25))
    test_logits = to_host(model.logits(lab.xt))
    threes = lab.yt_host == 3
    before = transfer.shifted_predictions(test_logits, [3], 0.0) != lab.yt_host
    after = transfer.shifted_predictions(test_logits, [3], shift) != lab.yt_host
    return {"errors": int(before.sum()), "errors_on_3": int(before[threes].sum()), "n_test_3": int(threes.sum()),
            "bias_shift": shift, "errors_after_shift": int(after.sum()),
            "errors_on_3_after_shift": int(after[threes].sum()), "transfer_rows": int(rows.size),
            "n_val": int(lab.yv_host.size), "search": [{"shift": c["shift"], "val_errors": c["val_errors"],
                                                        "val_errors_on_3": c["val_errors_on_classes"]}
                                                       for c in curve], "run": rec}


def only_7_8(lab, a):
    """Experiment 3: only 7s and 8s in the transfer set; their biases lowered by a shift chosen on validation."""
    rows = transfer.only_classes(lab.y_host, KEPT)
    model, rec = lab.student(WIDTHS["800"], kd(20.0), a.epochs, 0, rows=rows, label="only-7-8")
    shift, curve = transfer.bias_shift_search(to_host(model.logits(lab.xv)), lab.yv_host, [7, 8],
                                              -np.arange(0, 15.01, 0.25))
    test_logits = to_host(model.logits(lab.xt))
    n = lab.yt_host.size
    rate = 100 * float((transfer.shifted_predictions(test_logits, [7, 8], 0.0) != lab.yt_host).sum()) / n
    rate_after = 100 * float((transfer.shifted_predictions(test_logits, [7, 8], shift) != lab.yt_host).sum()) / n
    return {"error_rate": rate, "bias_shift": shift, "error_rate_after_shift": rate_after,
            "transfer_rows": int(rows.size), "search": curve, "run": rec}


def temperature_sweep(lab, a):
    """Experiment 4: test errors against τ for two widths (one seed each)."""
    widths = {}
    for width, sizes in WIDTHS.items():
        widths[width] = []
        for tau in TEMPERATURES:
            _, rec = lab.student(sizes, kd(float(tau)), a.sweep_epochs, 0, label=f"width {width}, τ={tau}")
            widths[width].append({"temperature": tau, **rec})
    return {"temperatures": TEMPERATURES, "epochs": a.sweep_epochs, "widths": widths}


def few_labels(lab, a):
    """Experiment 5: hard labels on a fraction of the transfer set, with and without soft targets on all of it.

    Unlabelled rows carry the label −1, which the cross-entropy skips; both students see the same batches."""
    rows = []
    for fraction in FRACTIONS:
        labels = to_device(transfer.partly_labelled(lab.y_host, fraction, seed=0), lab.xp)
        row = {"fraction": fraction, "labelled": int((to_host(labels) >= 0).sum())}
        for name, objective in (("labels_only", Supervised(ignore_label=transfer.UNLABELLED)),
                                ("with_soft_targets", KD(temperature=20.0, weight=KD_WEIGHT, form="hinton",
                                                         ignore_label=transfer.UNLABELLED))):
            _, row[name] = lab.student(WIDTHS["800"], objective, a.few_epochs, 0, labels=labels,
                                       label=f"{fraction:.0%} labels, {name}")
        rows.append(row)
    return {"fractions": FRACTIONS, "epochs": a.few_epochs, "rows": rows}


def soft_target_examples(teacher, xt, yt, digits=SHOWN_DIGITS, temperatures=(1, 4, 20)):
    """The teacher's P^τ for the first test image of a few digits (the figure's data)."""
    x_host, y_host = to_host(xt), to_host(yt)
    out = []
    for digit in digits:
        i = int(np.flatnonzero(y_host == digit)[0])
        logits = teacher.logits(xt[i:i + 1])
        out.append({"index": i, "label": digit, "image": np.round(x_host[i], 3).tolist(),
                    "probs": {str(t): np.round(to_host(F.softmax(logits, float(t)))[0], 5).tolist()
                              for t in temperatures}})
    return {"temperatures": list(temperatures), "digits": out}


def check_data(ds, transfer_size):
    """What the experiments need of the data set ``ds`` (as loaded: subset and validation split applied), said in
    one line before any training (a missing class used to fail after the teacher and the first students had
    trained): a test image of each digit the soft-target figure shows; 3s, 7s and 8s in the transfer set (its
    first ``transfer_size`` rows, 0: all) and in the validation split, which choose the bias shifts; and, at the
    smallest fraction of hard labels, at least one labelled image per class."""
    def absent(y, classes):
        y = to_host(y)
        return [ds.classes[c] for c in classes if not (y == c).any()]

    rows = transfer_size or ds.x_train.shape[0]
    for what, y, classes, why in (
            ("test split", ds.y_test, SHOWN_DIGITS, "the soft-target figure shows the first test image of each"),
            (f"transfer set (the first {rows:,} training images)", ds.y_train[:rows], OMITTED + KEPT,
             "the mythical-digit experiment leaves out the 3s and the next keeps only the 7s and 8s"),
            ("validation split", ds.y_val, OMITTED + KEPT, "the bias shifts of 3, 7 and 8 are chosen on it")):
        missing = absent(y, classes)
        if missing:
            raise DataError(f"{ds.name}: the {what} has no image of class {', '.join(missing)}; {why}: use more "
                            "images (--subset, --transfer-size, --val) or data that has them")
    fraction, classes = min(FRACTIONS), len(ds.classes)
    kept = int(round(fraction * rows))   # as transfer.partly_labelled keeps them
    if kept < classes:
        need, have = math.ceil(classes / fraction), ds.y_train.shape[0]
        fix = "raise --transfer-size (or --subset)" if need <= have else \
            f"this data has only {have:,} training images after the validation split: use more data"
        raise ConfigError(f"hard labels on {fraction:.0%} of the {rows:,}-image transfer set keep {kept}, fewer than "
                          f"one per class ({classes}): the few-labels students need a transfer set of at least "
                          f"{need:,} images; {fix}")


def body(cfg, args):
    if cfg.val == 0:
        raise ConfigError("--val 0: these experiments choose their bias shifts and report learning curves on a "
                          "validation split; hold out some images (default 1/12)")
    preset = PRESET[args.quick]
    for k, v in preset.items():
        if getattr(args, k) is None:
            setattr(args, k, v)
    # the transfer set is checked where the Table 1 example's is (prepare's data checks): a preset's size larger
    # than the training images there are is refused, never cut silently to them
    cfg = dataclasses.replace(cfg, transfer_size=args.transfer_size)
    t_start = time.perf_counter()
    ds, arrays, teacher, d, t_rec = prepare(cfg, check=lambda ds: check_data(ds, args.transfer_size))
    dev = deviations(cfg, args, preset, ds)
    name = "dark_knowledge" if not cfg.data else f"{data_label(cfg, d['name'])}_dark_knowledge"
    out = report.stem(cfg.out_dir, name + ("_quick" if args.quick else ""), dev, d["fingerprint"])
    lab = Lab(cfg, args, arrays, teacher)
    record = {"data": d, "machine": report.machine(), "deviations": dev, "paper": PAPER, "teacher": t_rec,
              "n_test": d["n_test"],
              "transfer_size": int(lab.x.shape[0]), "kd_weight": KD_WEIGHT, "seconds": {}, "complete": False,
              "soft_targets": soft_target_examples(teacher, lab.xt, lab.yt)}
    for key, experiment in (("distilled_from_scratch", from_scratch), ("omit_3", omit_3), ("only_7_8", only_7_8),
                            ("temperature_sweep", temperature_sweep), ("few_labels", few_labels)):
        print(f"{key}:", flush=True)
        t0 = time.perf_counter()
        record[key] = experiment(lab, args)
        record["seconds"][key] = time.perf_counter() - t0
        if key == "distilled_from_scratch":   # the student alone on the labels is this example's S (initial)
            alone = [r["validation_errors"] for r in record[key]["student_alone"]["runs"]]
            flag, line = teacher_check(t_rec, {"validation_errors": float(np.mean(alone))},
                                       "the student alone (mean over its seeds)")
            record.update(teacher_not_better=flag, teacher_check=line)
            print(line, flush=True)
        report.write(out, record, markdown(record, "quick" if args.quick else "full"))
    record["complete"] = True
    record["seconds"]["total"] = time.perf_counter() - t_start
    md = markdown(record, "quick" if args.quick else "full")
    report.write(out, record, md)
    print(md)
    plots.draw_if_possible(out + ".json")


def markdown(r, preset):
    """The results table, each experiment beside the paper's number."""
    lines = ["Hinton, Vinyals & Dean (2015) §3 on MNIST, tinykd: test errors out of "
             f"{r['n_test']:,} (every model's last weights, counted once; shifts chosen on validation).", ""]
    lines += report.data_lines(r["data"], preset, r["deviations"], r.get("machine"))
    if not r["complete"]:
        lines += ["", "**Incomplete: the run is still going or stopped early.**"]
    secs = r["seconds"]
    if "teacher_check" in r:
        check = r["teacher_check"]
        lines += ["", f"**{check}**" if r["teacher_not_better"] else check[0].upper() + check[1:] + "."]
    lines += ["", "| experiment | paper | tinykd | minutes |", "|---|---|---|---|",
              f"| teacher 784-1200-1200-10 | 67 | {r['teacher']['errors']} | – |"]
    if "distilled_from_scratch" in r:
        e = r["distilled_from_scratch"]
        lines.append(f"| student 784-800-800-10 alone ({e['epochs']} epochs, {e['seeds']} seeds) | 146 | "
                     f"{report.fmt(e['student_alone'])} | {secs['distilled_from_scratch'] / 60:.1f} |")
        lines.append(f"| the same, distilled at τ = 20 | 74 | **{report.fmt(e['distilled'])}** | |")
    if "omit_3" in r:
        o = r["omit_3"]
        lines.append(f"| no 3 in the transfer set: errors (on 3s) | 206 (133) | {o['errors']} ({o['errors_on_3']} of "
                     f"{o['n_test_3']:,}) | {secs['omit_3'] / 60:.1f} |")
        lines.append(f"| … after raising the 3's bias by the shift (paper +3.5 on test; ours +{o['bias_shift']:g} "
                     f"on validation) | 109 (14) | {o['errors_after_shift']} ({o['errors_on_3_after_shift']}) | |")
    if "only_7_8" in r:
        o = r["only_7_8"]
        lines.append(f"| only 7s and 8s in the transfer set: test error | 47.3% | {o['error_rate']:.1f}% | "
                     f"{secs['only_7_8'] / 60:.1f} |")
        lines.append(f"| … after lowering their biases (paper −7.6 on test; ours {o['bias_shift']:g} on validation) "
                     f"| 13.2% | {o['error_rate_after_shift']:.1f}% | |")
    if "temperature_sweep" in r:
        s = r["temperature_sweep"]
        lines += ["", f"Temperature sweep ({s['epochs']} epochs, one seed; test errors; minutes "
                      f"{secs['temperature_sweep'] / 60:.1f}):", "",
                  "| units per layer | " + " | ".join(f"τ = {t:g}" for t in s["temperatures"]) + " |",
                  "|---|" + "---|" * len(s["temperatures"])]
        for width, rows in s["widths"].items():
            lines.append(f"| {width} | " + " | ".join(str(x["errors"]) for x in rows) + " |")
    if "few_labels" in r:
        f = r["few_labels"]
        lines += ["", f"Few labels ({f['epochs']} epochs, one seed; test errors; minutes "
                      f"{secs['few_labels'] / 60:.1f}):",
                  "", "| hard labels on | labelled images | labels only | + soft targets on all images (τ = 20) |",
                  "|---|---|---|---|"]
        for row in f["rows"]:
            lines.append(f"| {row['fraction']:.0%} | {row['labelled']:,} | {row['labels_only']['errors']} | "
                         f"{row['with_soft_targets']['errors']} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main(__doc__, body, extra=options)
