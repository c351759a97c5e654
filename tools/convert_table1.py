"""Convert the Table 1 results files of the last full runs into records, once (issue 19, item 7).

    python tools/convert_table1.py            # writes records/*.json

Each results file (as committed at the commit that last wrote it) becomes one record per network: the teacher and
S (initial) under the identities the file stored, and one record per student run under the identity today's
protocol gives it (``protocol._variant``) when the objective the file recorded at run time is the one today's code
describes (``alike``); otherwise under the recorded description: a run whose objective has changed since (DIST's
guard, for one) gets another identity than a rerun would, so a rerun never mistakes it for its own. Every record says it was converted, from which file and commit.
"""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tinykd.runs import records

from tinykd.experiments import registry, table1_view  # noqa: E402
from tinykd.backend import resolve  # noqa: E402
from tinykd.experiments.settings import Config  # noqa: E402
from tinykd.experiments.table1 import LABELLED_SEED, _variant  # noqa: E402
from tinykd.data.transfer import UNLABELLED  # noqa: E402

SCRIPT = "python examples/mnist_adv_kd.py"
# (file, commit or None for the one that last wrote it, the command that produced it)
SOURCES = [
    ("results/mnist_table.json", None, SCRIPT),
    ("results/mnist_quick_table.json", None, SCRIPT + " --quick"),
    ("results/mnist_table.json", "94895ba", SCRIPT),     # the full run before, whose S (initial) the next three share
    ("results/mnist_table_custom-0ce05053.json", None, SCRIPT + " --variants kd-standardised-sun"),
    ("results/mnist_table_custom-b926bfb3.json", None, SCRIPT + " --variants kd-sun-weights"),
    ("results/mnist_table_custom-3a134706.json", None, SCRIPT + " --variants l1-logits"),
    ("results/mnist_labels5_table.json", None, SCRIPT + " --few-labels"),
    ("results/mnist_labels5_table_custom-0ce05053.json", None, SCRIPT + " --few-labels --variants "
     "kd-standardised-sun"),
    ("results/mnist_labels5_table_custom-b926bfb3.json", None, SCRIPT + " --few-labels --variants kd-sun-weights"),
    ("results/mnist_labels5_table_custom-3a134706.json", None, SCRIPT + " --few-labels --variants l1-logits"),
    ("results/notmnist_split0.5_table.json", None,
     "python examples/reproduce_table.py --dataset notmnist --split-test 0.5"),
]


def git(*args):
    return subprocess.run(["git", *args], capture_output=True, text=True, check=True).stdout.strip()


class _Data:
    def __init__(self, data):
        self.data = data


def convert(path, commit, command, store):
    commit = git("rev-parse", commit) if commit else git("log", "-1", "--diff-filter=AM", "--format=%H", "--", path)
    r = json.loads(git("show", f"{commit}:{path}"))
    date = git("show", "-s", "--format=%ad", "--date=format-local:%Y-%m-%d %H:%M UTC", commit)
    known = {f for f in Config.__dataclass_fields__}
    c = {k: v for k, v in r["config"].items() if k in known}
    cfg = Config(**dict(c, backend="numpy", data_dir=None))
    prov = {"commit": commit, "machine": r.get("machine"), "command": command, "date": date}
    mark = {"from": path, "commit": commit}

    def put(identity, result, **extra):
        rec = {"format": records.FORMAT, "key": records.key(identity), "identity": identity, "links": {},
               "table": None, "result": result, "provenance": prov, "converted": mark, "data": r["data"], **extra}
        target = store.path(identity)
        if not os.path.exists(target):       # a teacher shared by several files is converted once
            records.write(target, rec)
        return rec["key"]

    links = {}
    for role, part in (("teacher", r["teacher"]), ("start", r["student_initial"])):
        result = {k: v for k, v in part.items() if k not in ("identity", "loaded")}
        links[role] = put(part["identity"], result)
    labelled = c.get("labelled", 1.0)
    extra = {"transfer_rows": cfg.transfer_size} if cfg.transfer_size else {}
    if labelled < 1:
        extra.update(labelled=labelled, labelled_seed=LABELLED_SEED)
    rows = cfg.transfer_size or r["data"]["n_train"]
    ctx = {"ignore_label": UNLABELLED if labelled < 1 else None, "steps_per_epoch": -(-rows // cfg.batch_size)}
    table = table1_view.tag(cfg, r["deviations"], r["data"]["name"], r.get("logit_stats_on", "validation"))
    same, differ = [], []
    for vid, v in r["variants"].items():
        for run in v["runs"]:
            ident = _variant(cfg, _Data(r["data"]), vid, run["seed"], links, extra, ctx, resolve("numpy"))[0]
            if alike(ident["objective"], v["objective"]):
                same.append(vid)
            else:
                differ.append(vid)
                ident["objective"] = v["objective"]          # what the run itself recorded
            put(ident, {"name": registry.BY_ID[vid].name, **run}, table=table, links=links)
    print(f"{path} @ {commit[:10]}: {len(same)} runs whose objective today's code describes alike, "
          f"{len(differ)} otherwise, which keep the file's ({', '.join(sorted(set(differ))) or 'none'})")


def alike(today, recorded):
    """Whether today's description of an objective (made before its discriminator is pre-trained) is the one the
    file recorded (after the last seed's pre-training), apart from the discriminator's ``fits`` and ``seed``: the
    identity holds those as ``discriminator_pretraining`` and the run's seed."""
    def strip(o):
        o = dict(o)
        if isinstance(o.get("discriminator"), dict):
            o["discriminator"] = {k: v for k, v in o["discriminator"].items() if k not in ("fits", "seed")}
        return o
    return records.key(strip(today)) == records.key(strip(recorded))


if __name__ == "__main__":
    store = records.Store("records")
    for source in SOURCES:
        convert(*source, store)
