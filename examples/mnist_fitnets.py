"""FitNets (Romero et al. 2014) on MNIST: hint training of the student's first hidden layer against the teacher's,
then KD on the whole student, compared with KD alone from the same random start and the same total budget.

    python examples/mnist_fitnets.py [--quick]

Writes results/mnist_fitnets.json. The teacher is the one of examples/mnist_adv_kd.py (its checkpoint is reused).
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _cli import common, config  # noqa: E402

from tinykd import MLP, Adam  # noqa: E402
from tinykd.backend import resolve  # noqa: E402
from tinykd.distill import KD, HintLoss, HintNet, teacher_hidden  # noqa: E402
from tinykd.experiment import prepare  # noqa: E402
from tinykd.train import cosine_lr, errors, fit  # noqa: E402


def main():
    p = common(__doc__.splitlines()[0])
    p.add_argument("--hint-epochs", type=int, default=None)
    p.add_argument("--kd-epochs", type=int, default=None)
    p.add_argument("--hint-layer", type=int, default=1, help="teacher hidden layer giving the hint")
    p.add_argument("--guided-layer", type=int, default=1, help="student hidden layer it guides")
    args = p.parse_args()
    cfg = config(args)
    hint_epochs = args.hint_epochs if args.hint_epochs is not None else (1 if args.quick else 5)
    kd_epochs = args.kd_epochs if args.kd_epochs is not None else (3 if args.quick else 20)
    xp = resolve(cfg.backend)
    _, (x, y, xt, yt), teacher, _ = prepare(cfg)
    hint_width = teacher.sizes[args.hint_layer]
    results = {"teacher_errors": errors(teacher, xt, yt), "hint_layer": args.hint_layer,
               "guided_layer": args.guided_layer, "hint_epochs": hint_epochs, "kd_epochs": kd_epochs}
    kd = KD(temperature=4.0, weight=0.9, form="hinton")
    for name, hinted in (("KD only", False), ("FitNets: hints, then KD", True)):
        student = MLP(cfg.student_sizes, seed=1, backend=xp)
        t0 = time.perf_counter()
        if hinted:
            net = HintNet(student, args.guided_layer, hint_width, seed=2)
            fit(net, HintLoss(), Adam(net, lr=1e-3), x, y, hint_epochs, cfg.batch_size,
                teacher=teacher_hidden(teacher, args.hint_layer), label="hints")
        # the same total budget: KD alone gets the hint epochs too
        epochs = kd_epochs + (0 if hinted else hint_epochs)
        fit(student, kd, Adam(student, lr=1e-3), x, y, epochs, cfg.batch_size, teacher=teacher.logits,
            lr_schedule=cosine_lr(1e-3, epochs), x_eval=xt, y_eval=yt, label=name)
        results[name] = {"errors": errors(student, xt, yt), "seconds": time.perf_counter() - t0}
        print(f"{name}: {results[name]['errors']} errors out of {xt.shape[0]}", flush=True)
    os.makedirs(cfg.out_dir, exist_ok=True)
    with open(os.path.join(cfg.out_dir, f"mnist_fitnets{'_quick' if args.quick else ''}.json"), "w") as f:
        json.dump(results, f, indent=1)


if __name__ == "__main__":
    sys.exit(main())
