"""What every experiment's views share: how numbers are printed (``mean_std``, ``fmt``, ``pooled_gap``), where a
table's networks came from (``sources``, ``source_lines``, ``data_lines``), and how a table is written
(``check_writable``, ``write``, ``where``)."""
import json
import math
import os
import re
import shlex
import tempfile

import numpy as np

from ..runs.checkpoints import atomic_open
from ..runs.identity import normalise
from ..runs.records import RecordError
from . import plots


class OutputError(ValueError):
    """The results folder cannot be written."""


# a record's file name (``records.Store.path``): <variant or role>-<16 hex digits>.json
RECORD_NAME = re.compile(r"^[^.].*-[0-9a-f]{16}\.json$")


def check_writable(folder, what="--out-dir", records=None):
    """``OutputError`` unless files can be written in ``folder`` (tried with an anonymous temporary file; a missing
    folder through its nearest existing ancestor, creating nothing). With ``records`` (the command's records
    folder), a folder where records are read is refused too: ``records`` itself, or one holding a record."""
    given = os.fspath(folder)
    if records is not None:
        if os.path.realpath(given) == os.path.realpath(records):
            raise OutputError(f"{what} {given} is the records folder ({records}): what is written there would be "
                              "read as a damaged record; give the records and the tables different folders")
        held = sorted(n for n in os.listdir(given) if RECORD_NAME.match(n)) if os.path.isdir(given) else []
        if held:
            raise OutputError(f"{what} {given} holds records ({held[0]}, {len(held)} in all): what is written there "
                              "would sit among them and be read as a damaged record; choose a folder without records")
    probe = os.path.abspath(given)
    while not os.path.lexists(probe):
        probe = os.path.dirname(probe)
    if not os.path.isdir(probe):
        where = "" if probe == os.path.abspath(given) else f" cannot be made: {probe}"
        raise OutputError(f"{what} {given}{where} is a file, not a folder; choose a folder")
    try:
        with tempfile.TemporaryFile(dir=probe):
            pass
    except OSError as e:
        where = "" if probe == os.path.abspath(given) else f" (to be made in {probe})"
        raise OutputError(f"{what} {given}{where} cannot be written ({e.strerror}); choose a writable folder") \
            from None


def write(path_stem, record, markdown):
    """Write ``<stem>.json`` and ``<stem>.md`` atomically (``atomic_open``); ``<stem>.partial.*`` while
    ``record["complete"]`` is False, so an unfinished run never replaces finished results. A complete table that
    replaces one showing networks it does not ask for (``keys``) says so."""
    complete = record.get("complete", True)
    stem = path_stem if complete else path_stem + ".partial"
    if complete and record.get("keys") is not None and os.path.isfile(stem + ".json"):
        try:
            with open(stem + ".json", encoding="utf-8") as f:
                dropped = set(json.load(f).get("keys") or ()) - set(record["keys"])
        except (OSError, ValueError, AttributeError):
            dropped = set()
        if dropped:
            print(f"{stem}.json showed {len(dropped)} network(s) this run does not ask for; it now shows this run's "
                  "networks only (their records stay: python -m tinykd.report shows every table)", flush=True)
    with atomic_open(stem + ".json", "w") as f:
        f.write(json.dumps(normalise(record), indent=1) + "\n")
    with atomic_open(stem + ".md", "w") as f:
        f.write(markdown)
    if complete:
        for ext in (".json", ".md"):
            if os.path.exists(path_stem + ".partial" + ext):
                os.remove(path_stem + ".partial" + ext)


def publish(out, view, markdown, figures, settings):
    """A finished run's table: written as ``<out>.md`` and ``.json`` (``write``), printed with where its records
    are, and its figures drawn beside it; returns the view."""
    text = markdown(view)
    write(out, view, text)
    print(text, flush=True)
    print(where(settings, out), flush=True)
    plots.after_run(view, figures(view), out, settings.records_dir)
    return view


def where(cfg, out):
    """The line a run ends with: where its records and its table are, and the command that shows every table its
    records folder holds, quoted for a shell (a path with a space is one argument)."""
    every = os.path.join(cfg.out_dir, "all.md")
    command = shlex.join(["python", "-m", "tinykd.report", "--records", os.fspath(cfg.records_dir), "--out", every])
    return (f"results: the records in {cfg.records_dir}; this run's table {out}.md; every table of "
            f"{cfg.records_dir}: {command}")


def mean_std(values):
    """``{"mean", "std", "n"}`` of a list of numbers; std is the sample std (ddof 1), None for one value."""
    e = np.asarray(values, dtype=float)
    return {"mean": float(e.mean()), "std": float(e.std(ddof=1)) if len(e) > 1 else None, "n": len(e)}


def fmt(v):
    """``mean ± std`` (one decimal) or the single value."""
    if v.get("std") is None:
        return f"{v['mean']:.0f}"
    return f"{v['mean']:.1f} ± {v['std']:.1f}"


def pooled_gap(method, baseline):
    """(method − baseline in means, pooled std, that difference in pooled stds) of two ``mean_std`` records, or
    None without two stds: negative when the method makes fewer errors than the baseline."""
    if method.get("std") is None or baseline.get("std") is None:
        return None
    diff = method["mean"] - baseline["mean"]
    sd = math.sqrt((method["std"] ** 2 + baseline["std"] ** 2) / 2)
    return diff, sd, (diff / sd if sd else math.copysign(math.inf, diff) if diff else 0.0)


def machine(m):
    """A record's machine (``provenance.machine``) in words: CPU, cores, BLAS, its kernel and threads, NumPy."""
    return (f"{m.get('cpu', m.get('processor'))}, {m.get('cpus')} CPUs; {m.get('blas', 'BLAS not known')}, "
            f"kernel {m.get('blas_kernel', 'not known')}, {m.get('blas_threads', 'not known')} threads; "
            f"NumPy {m.get('numpy')}")


def sources(records):
    """Where ``records`` came from, one entry per distinct source (converted file, or commit, command and machine),
    in order of first appearance: {"commit", "command", "machine", "converted", "date" (the latest), "n"}."""
    out = {}
    for r in records:
        p, conv = r.get("provenance") or {}, r.get("converted")
        m = p.get("machine")
        entry = {"commit": (conv or p).get("commit"), "command": p.get("command"),
                 "converted": conv.get("from") if conv else None, "machine": machine(m) if m else "not recorded"}
        k = json.dumps(entry, sort_keys=True)
        if k not in out:
            out[k] = {**entry, "date": p.get("date", ""), "n": 0}
        out[k]["n"] += 1
        out[k]["date"] = max(out[k]["date"], p.get("date", ""))
    return list(out.values())


def source_lines(entries):
    """The Markdown lines saying where a table's networks were trained: the command, the commit and the machine of
    each source (a record converted from an earlier results file says which, and the commit it came from)."""
    lines = []
    for e in entries:
        conv = f", converted from `{e['converted']}` as committed" if e["converted"] else ""
        commit, _, dirty = (e["commit"] or "not known").partition("+")
        lines.append(f"Trained: {e['n']} network{'s' if e['n'] != 1 else ''} by `{e['command']}` at commit "
                     f"`{commit[:10]}`{' with uncommitted changes' if dirty else ''} ({e['date']}{conv}); machine: "
                     f"{e['machine']}.")
    return lines


def data_lines(d, preset, deviations):
    """The Markdown lines saying what a run trained on and which preset it is."""
    subset = f" (drawn from the first {d['subset']:,} of the training set)" if d.get("subset") else ""
    val = "from the data file" if d.get("val_from_file") else f"held out, stratified, seed {d['val_seed']}"
    lines = [f"Data: {d['name']} from `{d['source']}` (fingerprint `{d['fingerprint'][:16]}`): "
             f"{d['n_train']:,} training images{subset}, {d['n_val']:,} for validation ({val}), "
             f"{d['n_test']:,} test images.",
             f"Preset: {preset}" + (" (the preset's reference run)." if not deviations else
                                    "; this run differs from it in: " +
                                    ", ".join(f"{k} = {v}" for k, v in deviations.items()) + ".")]
    if d.get("note"):
        lines.append(f"Note: {d['note']}.")
    return lines


# ------------------------------------------------------------------------------ which records form a table
def as_stored(value):
    """``value`` as a record holds it (JSON, keys sorted): a table tag compares the same before and after writing."""
    return json.loads(json.dumps(value, sort_keys=True, default=str))


def rows_of(records, keys):
    """The records of ``keys`` (the networks a table's plan names), in the records' order."""
    keys = set(keys)
    return [r for r in records if r["key"] in keys]


def common_view(records_, table, links, rows):
    """What every study's view holds: its name, preset, deviations, data, teacher, where its networks came from."""
    t = {r["key"]: r for r in records_}[links["teacher"]]
    return {"experiment": table["experiment"], "name": table["name"], "preset": table["preset"],
            "deviations": table["deviations"], "data": (rows or [t])[0]["data"], "teacher": t["result"],
            "sources": sources([t] + rows), "complete": True}


def header(v, notes=()):
    """The lines under a view's first: its data and preset, where its networks were trained, ``notes`` and whether
    it is finished."""
    lines = data_lines(v["data"], v["preset"], v["deviations"]) + source_lines(v["sources"]) + list(notes)
    if not v["complete"]:
        lines += ["", "**Incomplete: the run is still going or stopped early; the rows below are what finished" +
                  (f" (not yet trained: {'; '.join(v['missing'])})" if v.get("missing") else "") + ".**"]
    return lines


def teacher_banner(v):
    """A view's teacher check (``teacher_check``) as a paragraph: bold when the teacher is flagged."""
    check = v["teacher_check"]
    return ["", f"**{check}**" if v["teacher_not_better"] else check[0].upper() + check[1:] + "."]


def teacher_check(t, s, student="S (initial)"):
    """``teacher_not_better`` (on validation) and the line that says so, or (None, reason) without validation.
    ``t`` and ``s`` hold ``validation_errors`` of the teacher and of the ``student`` it is compared with (counts,
    or means of counts: a fraction is shown to one decimal)."""
    if t["validation_errors"] is None:
        return None, f"no validation split (val = 0): whether the teacher beats {student} was not checked"
    te, se = (count(x["validation_errors"]) for x in (t, s))
    if t["validation_errors"] >= s["validation_errors"]:
        return True, (f"WARNING: the teacher is NOT better than {student} on validation ({te} vs {se} errors); KD "
                      "from it is still run, but flagged")
    return False, f"the teacher beats {student} on validation ({te} vs {se} errors)"


def count(x):
    """A count of errors as printed: whole, or a mean to one decimal."""
    return f"{x:g}" if float(x).is_integer() else f"{x:.1f}"


def views(records_, experiment, view):
    """Every table of ``experiment`` whose plan (``plan``) the records hold and that shows at least one network
    (``view`` of each), the newest first, then in the order of their networks' records. A table whose teachers (the
    records its ``links`` name) are not all there is a ``RecordError`` (``linked``)."""
    first = {r["key"]: i for i, r in enumerate(records_)}
    by_key = {r["key"]: r for r in records_}
    found = []
    for r in records_:
        ident = r["identity"]
        if ident["role"] != "table" or ident["table"]["experiment"] != experiment:
            continue
        shown = [first[k] for k in r["result"]["keys"] if k in first]
        if shown:
            linked(by_key, [k for v in ident["links"].values() for k in ([v] if isinstance(v, str) else
                                                                          dict(v).values())],
                   f"{ident['table']['name']} ({r['key']})")
            found.append((min(shown), view(records_, ident["table"], ident["links"], r["result"]["keys"])))
    found.sort(key=lambda f: f[0])
    return [v for _, v in sorted(found, key=lambda f: max(s["date"] for s in f[1]["sources"]), reverse=True)]


def linked(by_key, keys, table):
    """The records of ``keys`` (what a table's networks learnt from: its teachers, an ensemble's members) in
    ``by_key``, or a ``RecordError`` naming those not in the folder: a number that leans on a missing record is
    never shown, nor quietly left out."""
    lost = [k for k in dict.fromkeys(keys) if k not in by_key]     # each named once
    if lost:
        raise RecordError(f"the table {table} shows networks that learnt from records not in this folder "
                          f"({', '.join(lost)}): put them back, or remove its table record and its networks' records")
    return [by_key[k] for k in keys]


def title(name, v):
    """A table's heading: what it is (``name``), on which data, which preset of the view ``v``, and whether the run
    differs from it."""
    return f"{name} on {v['data']['name']}, {v['preset']} preset" + \
        ("" if not v["deviations"] else " (a run that differs from it)")
