"""The examples' one scaffold: options declared once (``Option``), their defaults taken from presets keyed by name
(``--quick`` chooses ``"quick"``), each option's help built from those presets, and a user's mistake said in one
line with exit code 2.

An example passes its experiment's settings class (``tinykd.experiments.settings.Settings``'s subclass, whose
``PRESETS`` give every option's default) and its own options to ``main``; without options it is a Table 1 example.
``main`` calls ``run(settings)``, every option left out filled from the chosen preset.
"""
import argparse
import dataclasses
import os
import re
import sys
import textwrap

from tinykd.backend import debug
from tinykd.experiments import registry
from tinykd.runs.checkpoints import CheckpointError
from tinykd.experiments.settings import ConfigError, Table1
from tinykd.data import DataError
from tinykd.runs.records import RecordError
from tinykd.experiments.shared import OutputError, check_writable
from tinykd.train import TrainingError

# What a user can get wrong (arguments, data, folders, checkpoints): said in one line, never a traceback.
USER_ERRORS = (ConfigError, DataError, CheckpointError, OutputError, RecordError)
PRESET_OPTIONS = {"full": "the full run", "quick": "--quick", "labels5": "--few-labels"}   # how each is chosen
PRESET_HELP = {"quick": "the quick preset: a few epochs of everything",
               "labels5": "the few-labels preset: 5%% of the students' rows keep their labels, S (initial) learns "
                          "from them alone, every variant sees all rows (the table <dataset>_labels5_table)"}


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """--help shows the example's whole docstring as written, and every option's default."""

    def _split_lines(self, text, width):
        # never break a variant's id (a hyphenated word) at its hyphen
        return textwrap.wrap(" ".join(text.split()), width, break_on_hyphens=False)

    def _get_help_string(self, action):
        text = action.help or ""
        if "default" not in text and action.default not in (None, False, argparse.SUPPRESS):
            text += f" (default: {action.default})"
        return text.strip()


def count(low):
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


def decay(text):
    """An argparse type: a learning rate's factor per epoch, a number in (0, 1] (1: a constant rate)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"must be a number in (0, 1] (the rate is multiplied by it after every "
                                         f"epoch), got {text}")
    return value


def path(text):
    """An argparse type: a path, a leading ``~`` expanded to the home folder as a shell would (``--out-dir=~/x``
    reaches the program unexpanded, and would otherwise make a folder named ``~``)."""
    return os.path.expanduser(text)


@dataclasses.dataclass(frozen=True)
class Option:
    """One option, a field of the experiment's settings, whose default is its preset's. A help that names its
    default itself keeps it; any other gets each preset's value added."""
    flag: str
    help: str
    type: object = None
    metavar: str = "N"
    nargs: object = None
    choices: object = None
    zero: str = None         # how a value of 0 reads in the help, e.g. "all"

    @property
    def dest(self):
        return self.flag[2:].replace("-", "_")


# the options every example shares (``Settings`` fields): the teacher and the data
COMMON = [Option("--val", "training images held out for validation, stratified (default: 1/12 of the training set, "
                 "5,000 for MNIST; 0: none)", count(0)),
          Option("--teacher-epochs", "teacher epochs", count(0)),
          Option("--jitter", "the teacher's augmentation: each training image shifted by up to N pixels each way "
                 "(0: none, as flat rows of pixels need)", count(0)),
          Option("--subset", "train on the first N training images only", count(1), zero="all")]


def table1_options(dataset_choice=False):
    """The Table 1 examples' own options (``Table1`` fields), their help read from the registry now."""
    ablations = [k for k, v in registry.BY_ID.items() if v.ablation]
    return [Option("--seeds", "student seeds per main variant" + (f" (the ablations {', '.join(ablations)} run "
                                                                  f"{Table1.ablation_seeds})" if ablations else ""),
                   count(1))] + \
        ([Option("--split-test", "notMNIST without its training split: split its test file, this fraction (in (0, 1)) "
                 "for testing (default: off)", float, "FRACTION")] if dataset_choice else []) + \
        [Option("--student-epochs", "S (initial) epochs", count(0)),
         Option("--finetune-epochs", "each student variant's epochs from S (initial)", count(1)),
         Option("--transfer-size", "the students train on the first N training images, the teacher on all (0: all)",
                count(0)),
         Option("--labelled", "fraction of the students' rows that keep their labels, in (0, 1]", float, "FRACTION"),
         Option("--variants", f"student variants to run, by id (default: the preset's: {_preset_variants()}): " +
                "; ".join(f"{k} = {v.name}" for k, v in registry.BY_ID.items()), nargs="+",
                choices=list(registry.BY_ID), metavar="ID")]


def presets_of(settings):
    """Every preset of the settings class ``settings`` as the full set of values it runs with."""
    return {name: dataclasses.asdict(settings.of_preset(name, backend="numpy")) for name in settings.PRESETS}


def _preset_variants():
    """Each preset's variants, as the registry lists them, and those that run only on request."""
    out = [f"{PRESET_OPTIONS[name]}: " + ", ".join(registry.in_preset(name)) for name in Table1.PRESETS]
    return "; ".join(out + ["on request only: " + (", ".join(registry.on_request()) or "none")])


def _show(value):
    return " ".join(map(str, value)) if isinstance(value, (list, tuple)) else f"{value:g}" \
        if isinstance(value, float) else str(value)


def help_text(option, presets):
    """``option``'s help with its default in each preset: ``(default: 15; 2 with --quick)``."""
    values = {name: s[option.dest] for name, s in presets.items() if option.dest in s}
    if "default" in option.help or not values:
        return option.help
    def show(v):
        return option.zero if option.zero and v == 0 else _show(v)
    full = values.get("full")
    others = [f"{show(v)} with {PRESET_OPTIONS[name]}" for name, v in values.items() if name != "full" and v != full]
    return f"{option.help} (default: {'; '.join([show(full)] + others)})"


class _Parser(argparse.ArgumentParser):
    """A mistake on the command line is one line, as every other mistake is (argparse prints its usage first)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


class _Preset(argparse.Action):
    """A preset's flag: sets ``preset`` to its name; a second preset's flag is refused."""

    def __call__(self, parser, namespace, values, option_string=None):
        if namespace.preset not in ("full", self.const):
            parser.error("choose one preset: " + " or ".join(PRESET_OPTIONS[n] for n in parser.presets
                                                              if n != "full"))
        namespace.preset = self.const


def parser(doc, settings=Table1, options=None, dataset_choice=False):
    """The parser of an example: the shared options, then ``options`` (default: Table 1's), each with its default in
    every preset of the settings class ``settings``. The parser keeps both (``p.options``, ``p.presets``)."""
    presets = presets_of(settings)
    options = table1_options(dataset_choice) if options is None else options
    p = _Parser(description=doc, formatter_class=_Formatter)
    p.options, p.presets = COMMON + options, presets
    p.set_defaults(preset="full")
    for name in presets:
        if name != "full":
            p.add_argument(PRESET_OPTIONS[name], action=_Preset, nargs=0, const=name, help=PRESET_HELP[name])
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
                        "order in docs/guide.md, 'Named data sets')")
    for o in p.options:
        p.add_argument(o.flag, type=o.type, nargs=o.nargs, choices=o.choices, metavar=o.metavar,
                       help=help_text(o, presets))
    p.add_argument("--checkpoint-dir", type=path, default="checkpoints", metavar="DIR",
                   help="trained networks, reused when data and settings match")
    p.add_argument("--records-dir", type=path, default="runs", metavar="DIR",
                   help="one record per trained network; a rerun trains only the networks whose records are missing")
    p.add_argument("--out-dir", type=path, default="results", metavar="DIR", help="its table, JSON and Markdown")
    return p


def fill(p, args):
    """Give every option left out its chosen preset's value (in ``args``); returns {option: value}."""
    chosen = p.presets[args.preset]
    for o in p.options:
        if getattr(args, o.dest) is None and o.dest in chosen:
            setattr(args, o.dest, chosen[o.dest])
    return {o.dest: getattr(args, o.dest) for o in p.options}


def settings_of(p, args, settings):
    """The experiment's settings from parsed options (the chosen preset's values, explicit options over them); a
    bad setting ends the program with one ``error:`` line and exit code 2."""
    values = fill(p, args)
    s = guarded(p, lambda: settings(dataset=args.dataset, data=args.data, data_dir=args.data_dir,
                                    backend=args.backend, checkpoint_dir=args.checkpoint_dir,
                                    records_dir=args.records_dir, out_dir=args.out_dir, preset=args.preset, **values))
    # the tables never go where records are read: one folder for both failed after training, on a partial table
    guarded(p, lambda: check_writable(s.out_dir, "--out-dir", records=s.records_dir))
    return s


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
        p.exit(130, f"\n{p.prog}: interrupted; run the same command again to resume: every network whose record is "
                    "in --records-dir is kept, a teacher or S (initial) that was training continues from its run "
                    "checkpoint in --checkpoint-dir, and only the networks without a record train\n")


def option_names(p, message):
    """A setting's mistake as a command-line user can act on it: the library names its settings as Python does
    (``transfer_size``), the user typed options (``--transfer-size``), so each setting of ``p``'s options is
    renamed; one already followed by its option (``val (--val)``) is left as it is. Names with an underscore are
    renamed anywhere, one-word names (``val``, ``subset``) only where they open the message, as a setting's mistake
    does: elsewhere they may be plain words."""
    for action in p._actions:
        if not action.option_strings or action.dest in ("help", "backend", "preset"):   # backend: maybe from $ENV
            continue
        option = max(action.option_strings, key=len)
        where = r"(?<![\w-])" if "_" in action.dest else r"^"
        message = re.sub(where + re.escape(action.dest) + r"(?![\w-])(?! \(--)", option, message)
    return message


def _one_line(e):
    return " ".join(str(e).split())


def main(doc, run, settings=Table1, options=None, dataset_choice=False, argv=None):
    """Parse the options (the experiment's ``settings`` class and its own ``options``; without them the Table 1
    ones), make the settings, and ``run`` them."""
    try:   # read first: building the parser makes each preset's settings, which read it (even for --help)
        debug()
    except ValueError as e:
        print(f"{os.path.basename(sys.argv[0])}: error: {_one_line(e)}", file=sys.stderr)
        sys.exit(2)
    p = parser(doc, settings, options, dataset_choice)
    s = settings_of(p, p.parse_args(argv), settings)
    return guarded(p, lambda: run(s))


if __name__ == "__main__":
    sys.exit("this module holds the examples' shared options; run an example instead")
