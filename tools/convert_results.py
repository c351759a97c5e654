"""Convert the committed results files of full runs into records, once (issue 19, item 7):

    python tools/convert_results.py [--records records]

One function per kind of results file (``KINDS``). Each record's identity is what the current code builds for the
same run (``tinykd.experiments.studies``, ``tinykd.experiments.dark_knowledge``), its result what the file holds, and it is marked
``"converted": {"from": <file>, "commit": <the commit that last wrote the file>}``, with that commit's date and
the command its message names as provenance (the machine was not recorded then). The teacher those runs started
from is converted too, under the identity its file recorded: it was trained by earlier code, so a rerun with the
current code links its students to another teacher and never mistakes these records for its own.
"""
import argparse
import json
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from tinykd.experiments import dark_knowledge, studies

from tinykd.runs import records  # noqa: E402
from tinykd.experiments.settings import Config  # noqa: E402


def git(*args):
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True,
                          env={**os.environ, "TZ": "UTC"}).stdout.strip()


def read(path):
    """The results file as last committed (results/ itself is retired: its files live in git's history)."""
    return json.loads(git("show", f"{git('log', '-1', '--diff-filter=AM', '--format=%H', '--', path)}:{path}"))


def origin(path):
    """(converted mark, provenance) of a results file: the commit that last wrote it, its date, the command its
    message names."""
    commit = git("log", "-1", "--diff-filter=AM", "--format=%H", "--", path)   # not the commit that retired it
    if not commit:
        raise SystemExit(f"{path} was never committed: nothing to convert it from")
    message = git("log", "-1", "--format=%B", commit)
    command = re.search(r"\((python [^)]*?)\)", message)
    date = git("log", "-1", "--format=%cd", "--date=format-local:%Y-%m-%d %H:%M UTC", commit)
    return {"from": path, "commit": commit}, {"commit": commit, "machine": None, "date": date,
                                              "command": command.group(1) if command else None}


def put(store, identity, result, mark, table=None, links=None, data=None):
    """Write one converted record (as ``Store.put`` would, with the results file's provenance)."""
    converted, provenance = mark
    rec = {"format": records.FORMAT, "key": records.key(identity), "identity": identity, "table": table,
           "links": links or {}, "result": result, "provenance": provenance, "data": data, "converted": converted}
    records.write(store.path(identity), rec)
    return rec


def study(store, kind, experiment, values, old, teacher_key, **kw):
    """A ``Study`` of the full preset whose students link to the converted teacher and whose table carries the
    file's deviations; it loads the data to compute the identities, and checks the fingerprint is the file's."""
    cfg = Config(records_dir=store.folder, out_dir=os.path.join(store.folder, ".unused"), backend="numpy")
    s = studies.Study(cfg, experiment, values, values, kind, **kw)
    if s.setup.data["fingerprint"] != old["data"]["fingerprint"]:
        raise SystemExit(f"the data here is not the data of {experiment}'s results file; nothing converted")
    s.links = {"teacher": teacher_key}
    s.table["deviations"] = old["deviations"] if "deviations" in old else {}
    return s


def teacher(store, old, mark):
    """The teacher a results file started from, under the identity it recorded (converted once: a second file
    that started from it finds it); returns its record key."""
    t = dict(old["teacher"])
    identity = t.pop("identity")
    t.pop("loaded", None)
    found = store.find(identity)
    return (found or put(store, identity, t, mark, data=old["data"]))["key"]


def fitnets(store, path="results/mnist_fitnets.json"):
    old, mark = read(path), origin(path)
    values = {k: old[k] for k in ("hint_epochs", "kd_epochs", "hint_layer", "guided_layer")}
    s = study(store, studies, "fitnets", values, old, teacher(store, old, mark))
    for ident, _ in studies.fitnets_plan(s, values):
        put(store, ident, {**old["runs"][ident["name"]], "name": ident["name"], "seed": 0}, mark, s.table, s.links,
            old["data"])


def dark_knowledge(store, path="results/dark_knowledge.json"):
    old, mark = read(path), origin(path)
    e = old["distilled_from_scratch"]
    values = {"epochs": e["epochs"], "seeds": e["seeds"], "sweep_epochs": old["temperature_sweep"]["epochs"],
              "few_epochs": old["few_labels"]["epochs"], "transfer_size": 0}
    s = study(store, hinton, "dark_knowledge", values, old, teacher(store, old, mark), name="dark_knowledge")
    soft = dark_knowledge.soft_identity(old["data"]["fingerprint"], s.links["teacher"])
    assert old["soft_targets"]["temperatures"] == soft["temperatures"]
    put(store, soft, old["soft_targets"], mark, links=s.links, data=old["data"])
    sweep = {(str(i["model"]["sizes"][1]), i["objective"]["temperature"]) for i, _ in dark_knowledge.plan(s, values)
             if i["experiment"] == "sweep"}
    for ident, _ in dark_knowledge.plan(s, values):
        x = ident["experiment"]
        if x in ("alone", "distilled"):
            result = e["student_alone" if x == "alone" else "distilled"]["runs"][ident["seed"]]
        elif x in ("omit-3", "only-7-8"):
            o = old[x.replace("-", "_")]
            result = {**o["run"], **{k: v for k, v in o.items() if k != "run"}}
        elif x == "sweep":
            width = str(ident["model"]["sizes"][1])
            (result,) = [r for r in old["temperature_sweep"]["widths"][width]
                         if r["temperature"] == ident["objective"]["temperature"]]
            result = {k: v for k, v in result.items() if k != "temperature"}
        else:
            (row,) = [r for r in old["few_labels"]["rows"] if r["fraction"] == ident["labelled"]]
            name = "labels_only" if ident["objective"]["method"] == "supervised" else "with_soft_targets"
            result = {**row[name], "labelled_rows": row["labelled"]}
        put(store, ident, result, mark, s.table, s.links, old["data"])
    assert len(sweep) == 2 * len(dark_knowledge.TEMPERATURES)


# one function per kind of results file; Table 1's conversion joins them here
KINDS = {"fitnets": fitnets, "dark_knowledge": dark_knowledge}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--records", default=os.path.join(ROOT, "records"), help="where the records go")
    p.add_argument("kinds", nargs="*", help=f"which to convert, of {', '.join(KINDS)} (default: all)")
    args = p.parse_args(argv)
    unknown = [k for k in args.kinds if k not in KINDS]
    if unknown:
        p.error(f"unknown kind {', '.join(unknown)}: expected one of {', '.join(KINDS)}")
    store = records.Store(args.records)
    for kind in args.kinds or KINDS:
        KINDS[kind](store)
        print(f"converted {kind} into {args.records}")


if __name__ == "__main__":
    main()
