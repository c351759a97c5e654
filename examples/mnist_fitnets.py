"""FitNets (Romero et al. 2014) on MNIST: hint training of the student's first hidden layer against the teacher's,
then KD on the whole student, compared with KD alone from the same random start and the same total budget.

    python examples/mnist_fitnets.py [--quick]

The teacher is the one of examples/mnist_adv_kd.py (its checkpoint is reused when data and settings match).
Validation errors are recorded per epoch; test errors are counted once per final model.
Writes results/mnist_fitnets.json and .md (mnist_fitnets_quick.* with --quick; other runs _custom-<hash>; with
--data, named after your data: <name>_fitnets_custom-<hash>) and its learning-curve figure beside them.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _cli import count, deviations, main  # noqa: E402

from tinykd import MLP, Adam, plots, report  # noqa: E402
from tinykd.backend import resolve  # noqa: E402
from tinykd.distill import KD  # noqa: E402
from tinykd.fitnets import HintLoss, HintNet, teacher_hidden  # noqa: E402
from tinykd.config import ConfigError, data_label  # noqa: E402
from tinykd.prepare import prepare  # noqa: E402
from tinykd.train import cosine_lr, errors, fit  # noqa: E402

PRESET = {False: {"hint_epochs": 5, "kd_epochs": 20, "hint_layer": 1, "guided_layer": 1},
          True: {"hint_epochs": 1, "kd_epochs": 3, "hint_layer": 1, "guided_layer": 1}}


def options(p):
    p.add_argument("--hint-epochs", type=count(0), metavar="N", help="stage 1 epochs (default 5; 1 with --quick)")
    p.add_argument("--kd-epochs", type=count(1), metavar="N", help="stage 2 epochs (default 20; 3 with --quick)")
    p.add_argument("--hint-layer", type=count(1), default=1, metavar="H", help="teacher hidden layer giving the hint")
    p.add_argument("--guided-layer", type=count(1), default=1, metavar="H", help="student hidden layer it guides")


def body(cfg, args):
    preset = PRESET[args.quick]
    for name, sizes in (("hint_layer", cfg.teacher_sizes), ("guided_layer", cfg.student_sizes)):
        if getattr(args, name) > len(sizes) - 2:
            raise ConfigError(f"--{name.replace('_', '-')} {getattr(args, name)}: the network {sizes} has "
                              f"{len(sizes) - 2} hidden layers")
    for k in ("hint_epochs", "kd_epochs"):
        if getattr(args, k) is None:
            setattr(args, k, preset[k])
    xp = resolve(cfg.backend)
    ds, (x, y, xv, yv, xt, yt), teacher, d, t_rec = prepare(cfg)
    dev = deviations(cfg, args, preset, ds)
    out = report.stem(cfg.out_dir, f"{data_label(cfg, d['name'])}_fitnets{'_quick' if args.quick else ''}", dev,
                      d["fingerprint"])
    hint_width = teacher.sizes[args.hint_layer]
    record = {"data": d, "machine": report.machine(), "deviations": dev, "teacher": t_rec,
              "hint_layer": args.hint_layer,
              "guided_layer": args.guided_layer, "hint_epochs": args.hint_epochs, "kd_epochs": args.kd_epochs,
              "runs": {}, "complete": False}
    kd = KD(temperature=4.0, weight=0.9, form="hinton")
    for name, hinted in (("KD only", False), ("FitNets: hints, then KD", True)):
        student = MLP(cfg.student_sizes, seed=1, backend=xp)
        t0 = time.perf_counter()
        if hinted:
            net = HintNet(student, args.guided_layer, hint_width, seed=2)
            fit(net, HintLoss(), Adam(net, lr=1e-3), x, y, args.hint_epochs, cfg.batch_size,
                teacher=teacher_hidden(teacher, args.hint_layer), label="hints")
        # the same total budget: KD alone gets the hint epochs too
        epochs = args.kd_epochs + (0 if hinted else args.hint_epochs)
        history = fit(student, kd, Adam(student, lr=1e-3), x, y, epochs, cfg.batch_size, teacher=teacher.logits,
                      lr_schedule=cosine_lr(1e-3, epochs), x_val=xv, y_val=yv, label=name)
        record["runs"][name] = {"errors": errors(student, xt, yt), "seconds": time.perf_counter() - t0,
                                "validation_errors": history[-1].get("val_errors") if history else None,
                                "history": history}
        print(f"{name}: {record['runs'][name]['errors']} errors out of {xt.shape[0]}", flush=True)
        report.write(out, record, markdown(record, cfg, dev))
    record["complete"] = True
    report.write(out, record, markdown(record, cfg, dev))
    print(markdown(record, cfg, dev))
    plots.draw_if_possible(out + ".json")


def markdown(r, cfg, dev):
    lines = [f"FitNets on MNIST: hints from teacher layer {r['hint_layer']} to student layer {r['guided_layer']} for "
             f"{r['hint_epochs']} epochs, then KD (τ = 4, a = 0.9) for {r['kd_epochs']}; KD alone for both budgets "
             "together. Test errors out of "
             f"{r['data']['n_test']:,} (one seed each).", ""]
    lines += report.data_lines(r["data"], "quick" if cfg.preset == "quick" else "full", dev,
                              r.get("machine"))
    lines += ["", "| student | test errors | validation errors | seconds |", "|---|---|---|---|"]
    for name, run in r["runs"].items():
        lines.append(f"| {name} | {run['errors']} | {run['validation_errors']} | {run['seconds']:.0f} |")
    lines.append(f"\nTeacher: {r['teacher']['errors']} test errors, {r['teacher']['validation_errors']} on validation.")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main(__doc__, body, extra=options)
