"""Command-line options shared by the examples, and how they report a user's mistake: one line, exit code 2."""
import argparse
import os
import re
import sys
import textwrap

from tinykd import registry
from tinykd.checkpoint import CheckpointError
from tinykd.data import DataError
from tinykd.config import PRESETS, Config, ConfigError, data_deviations, preset
from tinykd.report import OutputError
from tinykd.train import TrainingError

# What a user can get wrong (arguments, data, folders, checkpoints): said in one line, never a traceback.
USER_ERRORS = (ConfigError, DataError, CheckpointError, OutputError)


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """--help shows the example's whole docstring as written, and every option's default (options whose default
    depends on the preset say so in their own help)."""

    def _split_lines(self, text, width):
        # never break a variant's id (a hyphenated word) at its hyphen
        return textwrap.wrap(" ".join(text.split()), width, break_on_hyphens=False)

    def _get_help_string(self, action):
        text = action.help or ""
        if "default" not in text and action.default not in (None, False, argparse.SUPPRESS):
            text += f" (default: {action.default})"
        return text.strip()


def _count(low):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be an integer >= {low}, got {value}")
        return value
    return parse


def rate(text):
    """An argparse type: a finite number > 0 (a learning rate)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (value > 0 and value != float("inf")):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return value


count = _count


def path(text):
    """An argparse type: a path, a leading ``~`` expanded to the home folder as a shell would (``--out-dir=~/x``
    reaches the program unexpanded, and would otherwise make a folder named ``~``)."""
    return os.path.expanduser(text)


def common(doc, dataset_choice=False):
    """Options every example shares: preset, backend, data, teacher budget, where checkpoints and results go."""
    p = argparse.ArgumentParser(description=doc, formatter_class=_Formatter)
    p.add_argument("--quick", action="store_true", help="the quick preset: a few epochs of everything")
    p.add_argument("--backend", choices=["numpy", "cupy"], default=None,
                   help="array backend (default: $TINYKD_BACKEND, else numpy)")
    if dataset_choice:
        p.add_argument("--dataset", choices=["mnist", "notmnist", "svhn"], default="mnist",
                       help="the data set, and the recipe (network sizes) it comes with")
    else:
        p.set_defaults(dataset="mnist")
    p.add_argument("--data", type=path, metavar="PATH",
                   help="your own data instead of the named set: a folder of the four MNIST-named IDX files, or an "
                        ".npz with x_train, y_train, x_test, y_test (not checksummed; fingerprinted in the results)")
    p.add_argument("--data-dir", type=path, metavar="DIR",
                   help="the folder holding the named data set's files (only it is searched; default: the search "
                        "order in the README)")
    p.add_argument("--val", type=_count(0), metavar="N",
                   help="training images held out for validation, stratified (default: 1/12 of the training set, "
                        "5,000 for MNIST; 0: none)")
    p.add_argument("--teacher-epochs", type=_count(0), metavar="N", help="teacher epochs (default 60; 10 with --quick)")
    p.add_argument("--jitter", type=_count(0), metavar="N",
                   help=f"the teacher's augmentation: each training image shifted by up to N pixels each way "
                        f"(default {Config.jitter}; 0: none, as flat rows of pixels need)")
    p.add_argument("--subset", type=_count(1), metavar="N",
                   help="train on the first N training images only (default: all)")
    p.add_argument("--checkpoint-dir", type=path, default="checkpoints", metavar="DIR",
                   help="trained networks, reused when data and settings match")
    p.add_argument("--out-dir", type=path, default="results", metavar="DIR", help="results (JSON and Markdown)")
    return p


def parser(doc, dataset_choice=False):
    """The Table 1 examples' options."""
    p = common(doc, dataset_choice)
    ablations = [k for k, v in registry.BY_ID.items() if v.ablation]
    p.add_argument("--seeds", type=_count(1), metavar="N",
                   help="student seeds per main variant (default 5; 3 with --quick" +
                        (f"; the ablations {', '.join(ablations)} run {Config.ablation_seeds}" if ablations else "") +
                        ")")
    if dataset_choice:
        p.add_argument("--split-test", type=float, metavar="FRACTION",
                       help="notMNIST without its training split: split its test file, this fraction (in (0, 1)) "
                            "for testing (default: off)")
    p.add_argument("--student-epochs", type=_count(0), metavar="N",
                   help="S (initial) epochs (default 20; 5 with --quick)")
    p.add_argument("--finetune-epochs", type=_count(1), metavar="N",
                   help="each student variant's epochs from S (initial) (default 15; 10 with --quick)")
    p.add_argument("--transfer-size", type=_count(0), metavar="N",
                   help="the students train on the first N training images, the teacher on all (default and 0: "
                        "all; 5,000 with --quick, whose students therefore see 5,000 images)")
    p.add_argument("--few-labels", action="store_true",
                   help="the few-labels preset: 5%% of the students' rows keep their labels, S (initial) learns from "
                        "them alone, every variant sees all rows (writes <dataset>_labels5_table.*)")
    p.add_argument("--labelled", type=float, metavar="FRACTION",
                   help="fraction of the students' rows that keep their labels, in (0, 1] (default 1; 0.05 with "
                        "--few-labels)")
    p.add_argument("--variants", nargs="+", choices=list(registry.BY_ID), metavar="ID",
                   help=f"student variants to run, by id (default: the preset's: {_preset_variants()}): " +
                        "; ".join(f"{k} = {v.name}" for k, v in registry.BY_ID.items()))
    return p


PRESET_OPTIONS = {"full": "the full run", "quick": "--quick", "labels5": "--few-labels"}   # how each is chosen


def _preset_variants():
    """Each preset's variants, as the registry lists them, and those that run only on request."""
    out = [f"{PRESET_OPTIONS[name]}: " + ", ".join(registry.in_preset(name)) for name in PRESETS]
    return "; ".join(out + ["on request only: " + (", ".join(registry.on_request()) or "none")])


def config(p, args):
    """A ``Config`` from parsed options (the ``--quick`` preset first, explicit options over it); a bad
    combination ends the program with one ``error:`` line and exit code 2."""
    if args.quick and getattr(args, "few_labels", False):
        p.error("choose one preset: --quick or --few-labels")
    kw = preset("quick") if args.quick else preset("labels5") if getattr(args, "few_labels", False) else {}
    if not hasattr(args, "finetune_epochs"):   # an example of its own: only the teacher's part of the Table 1 preset
        kw = {k: v for k, v in kw.items() if k in TEACHER_SETTINGS + ("preset",)}
    for name in ("seeds", "teacher_epochs", "student_epochs", "finetune_epochs", "variants", "val", "split_test",
                 "transfer_size", "labelled", "jitter"):
        if getattr(args, name, None) is not None:
            kw[name] = getattr(args, name)
    return guarded(p, lambda: Config(dataset=args.dataset, data=args.data, data_dir=args.data_dir,
                                     backend=args.backend, subset=args.subset or 0,
                                     checkpoint_dir=args.checkpoint_dir, out_dir=args.out_dir, **kw))


TEACHER_SETTINGS = ("dataset", "data", "val", "val_seed", "subset", "teacher_sizes", "teacher_epochs", "batch_size",
                    "teacher_lr", "teacher_dropout", "teacher_input_dropout", "jitter")


def deviations(cfg, args, defaults, ds):
    """What an example's run changes from its preset: the teacher's settings and data (from ``cfg``), files that
    are not the named data set's canonical ones (``ds``, the data set loaded), and the example's own options that
    differ from ``defaults`` (a dict of option -> preset value)."""
    out = {k: v for k, v in cfg.deviations().items() if k in TEACHER_SETTINGS}
    out.update(data_deviations(cfg, ds))
    out.update({k: getattr(args, k) for k, v in defaults.items() if getattr(args, k) != v})
    return out


def guarded(p, fn):
    """Run ``fn``; a user's mistake becomes ``<prog>: error: <one line>`` and exit code 2, a training failure
    ``<prog>: error: ...`` and exit code 1. Anything else is a bug and keeps its traceback."""
    try:
        return fn()
    except ConfigError as e:
        p.exit(2, f"{p.prog}: error: {option_names(p, _one_line(e))}\n")
    except USER_ERRORS as e:
        p.exit(2, f"{p.prog}: error: {_one_line(e)}\n")
    except TrainingError as e:
        p.exit(1, f"{p.prog}: error: {_one_line(e)}\n")
    except KeyboardInterrupt:
        p.exit(130, f"\n{p.prog}: interrupted; run the same command again to resume: a finished teacher or "
                    "S (initial) is reused from --checkpoint-dir and an interrupted one continues from its run "
                    "checkpoint; every other network trains again (what finished is kept in the results' "
                    ".partial files)\n")


def option_names(p, message):
    """A setting's mistake as a command-line user can act on it: the library names its settings as Python does
    (``transfer_size``), the user typed options (``--transfer-size``), so each setting of ``p``'s options is
    renamed; one already followed by its option (``val (--val)``) is left as it is. Names with an underscore are
    renamed anywhere, one-word names (``val``, ``subset``) only where they open the message, as a setting's mistake
    does: elsewhere they may be plain words."""
    for action in p._actions:
        if not action.option_strings or action.dest in ("help", "backend"):   # a backend may come from the environment
            continue
        option = max(action.option_strings, key=len)
        where = r"(?<![\w-])" if "_" in action.dest else r"^"
        message = re.sub(where + re.escape(action.dest) + r"(?![\w-])(?! \(--)", option, message)
    return message


def _one_line(e):
    return " ".join(str(e).split())


def main(doc, body, dataset_choice=False, extra=None, argv=None):
    """Parse the options (``extra(parser)`` adds an example's own instead of the Table 1 ones), build the config,
    and run ``body(cfg, args)``."""
    p = parser(doc, dataset_choice) if extra is None else common(doc)
    if extra is not None:
        extra(p)
    args = p.parse_args(argv)
    cfg = config(p, args)
    return guarded(p, lambda: body(cfg, args))


if __name__ == "__main__":
    sys.exit("this module holds the examples' shared options; run an example instead")
