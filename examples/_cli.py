"""Command-line options shared by the Table 1 examples."""
import argparse

from tinykd.experiment import QUICK, VARIANTS, Config


def common(description):
    """Options every example shares: preset, backend, data, teacher budget, where checkpoints and results go."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true", help="a few epochs of everything (minutes, not an hour)")
    p.add_argument("--backend", choices=["numpy", "cupy"], default="numpy")
    p.add_argument("--data-dir", help="folder holding the data set's files (searched first)")
    p.add_argument("--teacher-epochs", type=int)
    p.add_argument("--subset", type=int, default=0, help="train on the first N training images (smoke tests)")
    p.add_argument("--checkpoint-dir", default="checkpoints")
    p.add_argument("--out-dir", default="results")
    return p


def parser(description, dataset_choice=False):
    """The Table 1 examples' options."""
    p = common(description)
    if dataset_choice:
        p.add_argument("--dataset", choices=["mnist", "notmnist", "svhn"], default="mnist")
    p.add_argument("--seeds", type=int, help="student seeds per main variant (default 3; 1 with --quick)")
    p.add_argument("--split-test", type=float, help="notMNIST without its training split: split the test file")
    p.add_argument("--student-epochs", type=int)
    p.add_argument("--finetune-epochs", type=int)
    p.add_argument("--variants", nargs="+", choices=list(VARIANTS), metavar="VARIANT",
                   help="which student variants to run: " + "; ".join(VARIANTS))
    return p


def config(args, dataset="mnist"):
    """A ``Config`` from parsed options (the ``--quick`` preset first, explicit options over it)."""
    kw = dict(QUICK) if args.quick else {}
    for name in ("seeds", "teacher_epochs", "student_epochs", "finetune_epochs", "variants"):
        if getattr(args, name, None) is not None:
            kw[name] = getattr(args, name)
    try:
        return Config(dataset=getattr(args, "dataset", dataset), backend=args.backend, data_dir=args.data_dir,
                      split_test=getattr(args, "split_test", None), subset=args.subset,
                      checkpoint_dir=args.checkpoint_dir, out_dir=args.out_dir, **kw)
    except (ValueError, TypeError) as e:
        raise SystemExit(f"error: {e}") from None
