"""Table 1 as a view of the records (``tinykd.runs.records``): which records form a table (``tag``, ``view``,
``views``), its Markdown (``markdown``), the methods set against KD (``comparison``) and what the run shows in
plain statements (``what_it_shows``). Every function here is a pure function of the records it is given.
"""
from dataclasses import asdict

import numpy as np

from . import plots, registry, shared
from .settings import WHERE, Table1


def tag(cfg, deviations, data_name, stats_on):
    """What a student run's record says of the table it belongs to: the experiment, the table's name (e.g.
    ``mnist_table``), the settings its rows share (``cfg`` without ``Table1.ROWS`` and ``WHERE``), what they change
    from the preset's reference run, and where the logit statistics were measured; as a record holds it (keys
    sorted), so a view of it reads the same before and after it is written."""
    return shared.as_stored({"experiment": "table1", "name": cfg.results_name(data_name),
            "config": {k: v for k, v in asdict(cfg).items() if k not in Table1.ROWS + WHERE},
            "deviations": {k: v for k, v in deviations.items() if k not in Table1.ROWS}, "logit_stats_on": stats_on})


def teacher_check(t, s, variants):
    """``shared.teacher_check`` of the teacher against S (initial); a teacher that does not beat it is told to train
    when it trained no epoch, else which variants distil an ensemble of teachers instead (registry ``teachers`` >
    1), unless ``variants`` run one."""
    flag, line = shared.teacher_check(t, s)
    ensembles = [k for k, v in registry.BY_ID.items() if v.teachers > 1]
    if flag and not t.get("history"):
        line += "; it trained no epoch (--teacher-epochs 0): give it epochs"
    elif flag and ensembles and not set(ensembles) & set(variants):
        line += f"; an ensemble of teachers may beat S (initial) where one does not: --variants {' '.join(ensembles)}"
    return flag, line


def view(records, table, links, keys, asked=None, data=None):
    """The Table 1 record of the student runs in ``records`` whose keys its plan names (``keys``, ``Store.plan``),
    from the teacher and S (initial) ``links`` names: every variant present with its runs in seed order (registered
    variants in registry order), mean ± std, the teacher check, the verdicts, where the records came from, and the
    training time they hold. A run's own table passes what it asks for (``asked``: (variant, seed) pairs) and the
    data it was given (``data``: the file it named, where two files hold one content)."""
    by_key = {r["key"]: r for r in records}
    rows = shared.rows_of(records, keys)
    t, s = by_key[links["teacher"]], by_key[links["start"]]
    ids = sorted({r["identity"]["variant"] for r in rows}, key=_order)
    variants = {}
    for vid in ids:
        runs = sorted((r for r in rows if r["identity"]["variant"] == vid), key=lambda r: r["result"]["seed"])
        variants[vid] = {"name": runs[0]["result"].get("name", vid), "objective": runs[0]["identity"].get("objective"),
                         "runs": [r["result"] for r in runs], **shared.mean_std([r["result"]["errors"] for r in runs])}
    flag, line = teacher_check(t["result"], s["result"], ids)
    # an ensemble teacher of a variant (registry ``teachers`` > 1): its record, and its members beyond the teacher
    teachers = sorted({r["identity"].get("teacher") for r in rows} - {t["key"], None})   # none: on the labels alone
    ensembles = shared.linked(by_key, teachers, table["name"])
    extra = shared.linked(by_key, [m for e in ensembles for m in e["result"]["members"] if m != t["key"]],
                          table["name"])
    trained = [t, s] + extra + rows
    # what this run asks for (``asked``, with ``keys``), or what the runs that wrote these records asked for, and
    # is not here (a run stopped early, or still going)
    asked = {tuple(a) for a in asked} if asked is not None else \
        {(vid, seed) for r in rows for vid, seed in r.get("asked", [])}
    present = {(r["identity"]["variant"], r["result"]["seed"]) for r in rows}
    missing = sorted(asked - present, key=lambda p: (_order(p[0]), p[1]))
    seeds = max((v["n"] for v in variants.values()), default=0)
    record = {"config": {**table["config"], "variants": ids, "seeds": seeds}, "deviations": table["deviations"],
              "data": data or (rows or [t])[0]["data"], "logit_stats_on": table["logit_stats_on"],
              "teacher": t["result"], "student_initial": s["result"], "teacher_not_better": flag,
              "teacher_check": line, "variants": variants, "complete": not missing,
              "missing": [f"{vid} seed {seed}" for vid, seed in missing], "sources": shared.sources(trained),
              "seconds_total": sum(r["result"].get("seconds", 0.0) for r in trained)}
    record["ensembles"] = [{"errors": e["result"]["errors"], "members": len(e["result"]["members"]),
                            "average": e["result"]["average"],
                            "variants": sorted({r["identity"]["variant"] for r in rows
                                                if r["identity"].get("teacher") == e["key"]}),
                            "minutes": sum(m["result"].get("seconds", 0.0) for m in extra) / 60} for e in ensembles]
    record.update(n_test=record["data"]["n_test"], name=table["name"], preset=table["config"]["preset"])
    record["what_it_shows"] = what_it_shows(record)
    return record


def _order(vid):
    """Registered variants in registry order, then any other by id."""
    return list(registry.BY_ID).index(vid) if vid in registry.BY_ID else len(registry.BY_ID), vid


ORDER = ("mnist_table", "mnist_quick_table", "mnist_labels5_table", "notmnist_split0.5_table")


def views(records):
    """Every Table 1 the records hold: one per table tag and pair of starting networks, the presets' tables first
    (``ORDER``), then by name, the newest first."""
    rank = {name: i for i, name in enumerate(ORDER)}
    out = shared.views(records, "table1", view)
    return sorted(out, key=lambda v: (rank.get(v["name"], len(rank)), v["name"]))   # stable: newest first within


def markdown(record):
    """The Markdown table of a Table-1 record (a ``view``; complete or not)."""
    v, cfg = record["variants"], record["config"]
    n = record["n_test"]
    on = {"validation": "val.", "training": "training"}[record["logit_stats_on"]]   # where the statistics were measured
    main_cols = registry.headline()
    head = ["T", "S (initial)"] + [c for c, k in main_cols if k in v]
    t, s = record["teacher"], record["student_initial"]
    row = [str(t["errors"]), str(s["errors"])] + [shared.fmt(v[k]) for _, k in main_cols if k in v]
    lines = [f"Test misclassifications out of {n:,} ({cfg['dataset']} recipe; students: mean ± std over seeds; every "
             "model's last weights, counted once on the test set).", ""]
    transfer = [f"Transfer set: the students train on the first {cfg['transfer_size']:,} training images only; the "
                "teacher on all of them (its knowledge reaches the students through its soft targets)."]
    lines += shared.header(record, transfer if cfg["transfer_size"] else ()) + shared.teacher_banner(record)
    lines += ["", "| " + " | ".join(head) + " |", "|" + "---|" * len(head), "| " + " | ".join(row) + " |", "",
              f"Validation errors (out of {record['data']['n_val']:,}): T {t['validation_errors']}, S (initial) "
              f"{s['validation_errors']}." if t["validation_errors"] is not None else
              "No validation split: no validation errors, and the logit statistics below are measured on the "
              "students' training images.", "",
              "| student variant (from S initial, same budget) | id | test errors | validation errors | seeds | "
              f"mean logit ({on}) | max abs logit ({on}) | D held-out acc. | s per run |",
              "|---|---|---|---|---|---|---|---|---|"]
    for vid, rec in v.items():
        runs = rec["runs"]
        acc = [r["d_heldout_accuracy"] for r in runs             # only a discriminator that was pre-trained
               if "d_heldout_accuracy" in r and r["d_pretrain_epochs"] > 0]
        val = [r["validation_errors"] for r in runs if r["validation_errors"] is not None]
        lines.append(f"| {rec['name']} | `{vid}` | {shared.fmt(rec)} | "
                     f"{shared.fmt(shared.mean_std(val)) if val else '–'} | {rec['n']} | "
                     f"{np.mean([r['mean_logit'] for r in runs]):.3g} | "
                     f"{np.max([r['max_abs_logit'] for r in runs]):.3g} | "
                     f"{f'{np.mean(acc):.3f}' if acc else '–'} | {np.mean([r['seconds'] for r in runs]):.0f} |")
    timing = {k: f"trained in {m['seconds'] / 60:.1f} min" +
              (f" over two runs, resumed after epoch {m['resumed_after_epoch']}" if m.get("resumed_after_epoch")
               else "") for k, m in (("teacher", t), ("S (initial)", s))}
    lines += ["", f"Parameters (weights only, as the report counts): teacher {t['params']:,}, student "
                  f"{s['params']:,}. Training time of these networks: {record['seconds_total'] / 60:.1f} min (teacher "
                  f"{timing['teacher']}; S (initial) {timing['S (initial)']})."]
    for e in record.get("ensembles", []):
        lines += ["", f"Ensemble teacher of {', '.join(f'`{vid}`' for vid in e['variants'])}: the mean of the "
                      f"{e['average']} of {e['members']} networks of the teacher's recipe (the teacher and the next "
                      f"seeds), {e['errors']} test errors against the teacher's {t['errors']}; its other members "
                      f"trained in {e['minutes']:.1f} min (counted above)."]
    lines += comparison(record)
    kd, wo = registry.BASELINE.id, registry.LABELS_ONLY.id
    if kd in v and wo in v:
        gap = shared.pooled_gap(v[kd], v[wo])
        if gap is not None:
            diff, sd, ratio = gap     # KD − w/o KD: negative when KD makes fewer errors, shown as a gain
            lines.append(f"KD vs w/o KD: {abs(diff):.1f} {'fewer' if diff <= 0 else 'more'} errors with KD; pooled "
                         f"std {sd:.1f} ({0.0 - ratio:+.1f} std).")
    lines += ["", "What this run shows:"] + [f"- {line}" for line in record["what_it_shows"]]
    return "\n".join(lines) + "\n"


def comparison(record):
    """The methods beside KD, each against KD on the same run: errors, the difference to KD in errors and in pooled
    standard deviations (negative: fewer errors than KD) and seconds per epoch relative to KD's."""
    v = record["variants"]
    kd, compared = registry.BASELINE.id, registry.compared()
    others = [k for k in [registry.LABELS_ONLY.id] + compared if k in v]
    if kd not in v or not any(k in v for k in compared):
        return []

    def per_epoch(rec):
        return np.mean([r["seconds"] / max(len(r["history"]), 1) for r in rec["runs"]])
    kd_epoch = per_epoch(v[kd])
    lines = ["", "Against KD, from the same S (initial) with the same budget (test errors; method − KD in errors "
                 "and, in brackets, in pooled standard deviations: negative means fewer errors than KD):", "",
             "| method | id | paper | student matches | test errors | − KD (pooled std) | s/epoch vs KD |",
             "|---|---|---|---|---|---|---|"]
    for k in [kd] + others:
        rec, var = v[k], registry.BY_ID[k]
        gap = shared.pooled_gap(rec, v[kd]) if k != kd else None
        vs = "–" if gap is None else f"{gap[0]:+.1f} ({gap[2]:+.1f})"
        lines.append(f"| {rec['name']} | `{k}` | {var.paper} | {var.matches} | {shared.fmt(rec)} | "
                     f"{vs} | {per_epoch(rec) / kd_epoch:.2f} |")
    return lines + [""]


def shorter_budget(record):
    """How this run's budget falls short of the full run's, as phrases (empty when it does not): fewer epochs for
    any network, a subset, a smaller transfer set."""
    c = record["config"]
    full = Table1(dataset=c["dataset"], backend="numpy")
    out = [f"{k} {c[k]} (full run: {getattr(full, k)})" for k in ("teacher_epochs", "student_epochs", "finetune_epochs")
           if c[k] < getattr(full, k)]
    if c.get("subset"):
        out.append(f"subset {c['subset']:,} (full run: every training image)")
    if c.get("transfer_size"):
        out.append(f"the students' transfer set of {c['transfer_size']:,} images (full run: every training image)")
    return out


def matches_teacher(record):
    """The phrase saying that the student on the labels alone already matches (or beats) the teacher on the test set
    (w/o KD, mean over its seeds, else S (initial): at most one std of its seeds above the teacher's errors), or None:
    such a student leaves KD little to add."""
    t, wo = record["teacher"]["errors"], record["variants"].get(registry.LABELS_ONLY.id)
    name, mean, std = (wo["name"], wo["mean"], wo["std"] or 0.0) if wo else \
        ("S (initial)", record["student_initial"]["errors"], 0.0)
    if mean - std > t:
        return None
    return (f"the student on the labels alone already matches (or beats) the teacher on the test set: {name} "
            f"{shared.count(mean)} vs the teacher's {t} test errors" + (f" (std {std:.1f})" if std else ""))


def what_it_shows(record):
    """Plain statements of whether this run shows what the full run shows: a teacher better than its student (and,
    when the student alone already matches it on the test set, that too), KD better than the labels alone by more
    than the seeds' spread, the report's adversarial recipe drifting. Where KD does not beat the labels alone, the
    causes this run itself shows are named (a student alone that matches the teacher, a teacher flagged or not
    checked, a budget shorter than the full run's), and no other is claimed."""
    v, s0 = record["variants"], record["student_initial"]
    flag, matched, short = record["teacher_not_better"], matches_teacher(record), shorter_budget(record)
    causes = [matched] if matched else []
    if flag:
        causes.append("the teacher was flagged as NOT better than S (initial) on validation")
    elif flag is None:
        causes.append("the teacher was not compared with S (initial) (no validation split)")
    if short:
        causes.append("the budget is shorter than the full run's: " + ", ".join(short))
    because = "; what this run shows that can cause it: " + "; ".join(causes) if causes else \
        "; this run shows no cause (the teacher beats S (initial) and the budget is the full run's)"
    out = ["the teacher beats S (initial) on validation" if flag is False else
           "NOT that the teacher beats S (initial): " + ("it does not, on validation" if flag else
                                                        "there is no validation split to compare them on")]
    kd_id, wo_id, recipe = registry.BASELINE.id, registry.LABELS_ONLY.id, registry.REPORT_RECIPE.id
    if kd_id in v and wo_id in v:
        kd, wo = v[kd_id], v[wo_id]
        gain = wo["mean"] - kd["mean"]
        if kd["std"] is None or wo["std"] is None:
            out.append(f"NOT whether KD beats w/o KD: one seed each ({kd['mean']:.0f} vs {wo['mean']:.0f} test "
                       "errors) cannot separate a gain from seed noise")
        elif gain > max(kd["std"], wo["std"]):
            out.append(f"KD beats w/o KD by {gain:.1f} test errors, more than the spread of either's seeds "
                       f"(std {kd['std']:.1f} and {wo['std']:.1f})")
        elif -gain > max(kd["std"], wo["std"]):
            out.append(f"NOT that KD beats w/o KD: KD makes {-gain:.1f} MORE test errors, beyond the spread of the "
                       f"seeds (std {kd['std']:.1f} and {wo['std']:.1f})" + because)
        else:
            out.append(f"NOT that KD beats w/o KD: {gain:+.1f} test errors, within the spread of the seeds (std "
                       f"{kd['std']:.1f} and {wo['std']:.1f})" + because)
    if matched and not any(matched in line for line in out):   # said on its own where no line names it as a cause
        out.insert(1, matched)
    for k in registry.compared():
        if k not in v or kd_id not in v:
            continue
        gap = shared.pooled_gap(v[k], v[kd_id])
        name = v[k]["name"]
        if gap is None:
            out.append(f"NOT whether {name} differs from KD: one seed cannot separate a difference from seed noise")
        elif gap[2] <= -2:
            out.append(f"{name} beats KD by {-gap[0]:.1f} test errors, {-gap[2]:.1f} pooled std")
        elif gap[2] >= 2:
            out.append(f"{name} is WORSE than KD by {gap[0]:.1f} test errors, {gap[2]:.1f} pooled std")
        else:
            out.append(f"NOT that {name} differs from KD: {gap[0]:+.1f} test errors, {gap[2]:+.1f} pooled std "
                       "(under 2)")
    if recipe in v:
        peak = max(r["max_abs_logit"] for r in v[recipe]["runs"])
        if peak > 10 * s0["max_abs_logit"]:
            out.append(f"the report's adversarial recipe drifting: its largest |logit| reaches {peak:.3g}, against "
                       f"{s0['max_abs_logit']:.3g} for S (initial)")
        else:
            out.append(f"NOT the report's adversarial recipe drifting: its largest |logit| is {peak:.3g}, against "
                       f"{s0['max_abs_logit']:.3g} for S (initial)" +
                       ("; the budget is shorter than the full run's: " + ", ".join(short) if short else ""))
    return out


def title(record):
    """A Table 1 view's heading: the data, the preset, and whether it differs from the preset's reference run."""
    return shared.title("Table 1", record)


figures = plots.figures_for


def headline(records):
    """The README's headline table: the newest full MNIST Table 1 in ``records``, each method's test errors (mean ±
    std over its seeds) and its difference to KD in pooled standard deviations; lines of Markdown (none without
    such a table)."""
    full = [v for v in views(records) if v["name"] == "mnist_table" and not v["deviations"]]
    if not full:
        return []
    v = full[0]
    kd = v["variants"].get(registry.BASELINE.id)
    lines = [f"Test errors out of {v['n_test']:,} on MNIST (the full preset, `python examples/mnist_adv_kd.py`; "
             "mean ± std over seeds;", "every table, with its commit and machine, is in "
             "[docs/results.md](docs/results.md)):", "",
             "| network | test errors | − KD (pooled std) |", "|---|---|---|",
             f"| teacher 784-1200-1200-10 | {v['teacher']['errors']} | |",
             f"| student 784-800-800-10 on the labels: S (initial) | {v['student_initial']['errors']} | |"]
    for vid, rec in v["variants"].items():
        if rec["n"] < 2:           # the single-seed ablations are in docs/results.md
            continue
        gap = shared.pooled_gap(rec, kd) if kd is not None and vid != registry.BASELINE.id else None
        vs = "–" if gap is None else f"{gap[0]:+.1f} ({gap[2]:+.1f})"
        lines.append(f"| … then {rec['name']} | {shared.fmt(rec)} | {vs} |")
    return lines
