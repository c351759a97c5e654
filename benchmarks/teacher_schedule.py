"""Is the paper preset's teacher held back by its schedule? A test of that cause, on validation only.

The recipe ``examples/hinton_paper.py`` chose on validation (from the committed records in ``records/``), trained
again on the same 55,000 images with the same validation split, its exponential schedule stretched ``--stretch``
times: k times the epochs at decay d^(1/k), so the learning rate falls along the same curve, k times slower, to the
same final rate. Its validation curve is smoothed as the preset smooths its candidates' (``tinykd.experiments.selection``) and
set beside theirs. If the stretched run reaches clearly fewer validation errors, the preset's schedule is what holds
its teacher back; if not, something else is.

    python benchmarks/teacher_schedule.py                  # the chosen recipe, twice as long (about 25 min, 2 cores)
    python benchmarks/teacher_schedule.py --recipe base    # another candidate of the preset, e.g. the paper's dropout

Writes ``benchmarks/results/teacher_schedule.json`` and ``.md``: validation numbers only (the networks' records, in
``benchmarks/results/teacher_schedule/``, hold test errors as every record does; nothing here reads them). An
interrupted run, run again, continues from its last epoch.
"""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tinykd.experiments import hinton_paper, shared
from tinykd.runs import provenance

from tinykd.runs import records  # noqa: E402
from tinykd.experiments.settings import Table1  # noqa: E402
from tinykd.experiments.setup import Setup  # noqa: E402
from tinykd.experiments.selection import WINDOW, choose, smooth  # noqa: E402


HERE = os.path.dirname(os.path.abspath(__file__))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--recipe", help="the preset's candidate to stretch (default: the one it chose)")
    p.add_argument("--stretch", type=int, default=2, help="k: k times the epochs at decay d^(1/k) (default 2)")
    p.add_argument("--records", default="records", help="the records of the preset's run (default: records)")
    p.add_argument("--preset", default="full", choices=["full", "quick"],
                   help="the preset whose run to read (default: full)")
    p.add_argument("--checkpoint-dir", default="checkpoints", help="where the networks' weights go (default: "
                   "checkpoints)")
    p.add_argument("--out", default=os.path.join(HERE, "results", "teacher_schedule"),
                   help="stem of the summary (.json, .md); its networks' records go to the folder of that name "
                        "(default: benchmarks/results/teacher_schedule)")
    a = p.parse_args(argv)
    if a.stretch < 2:
        p.error("--stretch must be a whole number >= 2")
    if not os.path.isdir(a.records):
        p.error(f"no records folder {a.records}; give the one your run of examples/hinton_paper.py wrote "
                "(--records-dir)")
    try:
        held = records.Store(a.records).all()
    except records.RecordError as e:
        p.error(" ".join(str(e).split()))
    found = [v for v in hinton_paper.views(held) if v["preset"] == a.preset]
    found = [v for v in found if not v["deviations"]] or found   # the preset's own run, if there is one
    if not found:
        flag = "" if a.preset == "full" else f" --{a.preset}"
        p.error(f"{a.records} holds no run of the paper's {a.preset} preset: run python examples/hinton_paper.py"
                f"{flag} --records-dir {a.records} first")
    v = found[0]    # the newest
    sel = v["selection"]
    name = a.recipe or sel["winner"]
    if name not in sel["recipes"]:
        p.error(f"no candidate {name!r}: the preset's are {', '.join(sel['recipes'])}")
    recipe = sel["recipes"][name]
    epochs, decay = len(sel["curves"][name]), v["settings"]["teacher_decay"]
    cfg = Table1(records_dir=a.out, checkpoint_dir=a.checkpoint_dir, out_dir=os.path.dirname(a.out) or ".",
                 subset=v["data"].get("subset") or 0)
    setup = Setup(cfg)
    if setup.data["fingerprint"] != v["data"]["fingerprint"]:
        p.error("these data are not the preset's (another fingerprint): the curves would not compare")
    k = a.stretch
    spec = hinton_paper.teacher_spec(setup, recipe, k * epochs, decay ** (1 / k))
    t0 = time.perf_counter()
    setup.model(spec, image_shape=tuple(setup.ds.input_shape))
    rec = setup.record(spec)
    curve = [h["val_errors"] for h in rec["result"]["history"]]
    label = f"{name}, ×{k}"
    curves = {**sel["curves"], label: curve}
    _, _, scores = choose(curves)
    out = {"experiment": "teacher_schedule", "recipe": recipe, "candidate": name, "stretch": k,
           "schedule": {"epochs": k * epochs, "decay": decay ** (1 / k), "from": {"epochs": epochs, "decay": decay}},
           "deviations": v["deviations"], "window": WINDOW, "n_train": v["data"]["n_train"], "n_val": v["data"]["n_val"], "scores": scores,
           "curves": curves, "record": rec["key"],
           "seconds": rec["result"]["seconds"], "wall_seconds_this_call": time.perf_counter() - t0,
           "machine": provenance.machine(), "command": " ".join(["python", "benchmarks/teacher_schedule.py"] + (argv or
                                                                                                       sys.argv[1:]))}
    shared.write(a.out, out, markdown(out))
    print(markdown(out))


def markdown(out):
    s = out["schedule"]
    lines = [f"# The teacher's schedule: `{out['candidate']}` stretched ×{out['stretch']}", "",
             f"`{out['command']}`: the candidate's recipe ({json.dumps(out['recipe'])}) on the preset's "
             f"{out['n_train']:,} training images, {s['epochs']} epochs at decay {s['decay']:.5f} per epoch instead of "
             f"{s['from']['epochs']} at {s['from']['decay']:g} (the same final learning rate)"
             + (f"; the preset's run differs from the preset in {json.dumps(out['deviations'])}"
                if out["deviations"] else "") + ". Validation errors "
             f"out of {out['n_val']:,}, the mean over {out['window']} consecutive epochs, at its lowest:", "",
             "| run | validation errors | at epoch | at the last epoch |", "|---|---|---|---|"]
    for name, (score, at) in out["scores"].items():
        c = out["curves"][name]
        tail = smooth(c, out["window"])[-1]
        lines.append(f"| {name} | {score:.1f} | {at} | {tail:.1f} |")
    m = out["machine"]
    lines += ["", f"Training time of the stretched run: {out['seconds'] / 60:.1f} min ({m['cpu']}, "
                  f"{m['blas']}, kernel {m['blas_kernel']}, {m['blas_threads']} threads)."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
