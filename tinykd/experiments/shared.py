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


class OutputError(ValueError):
    """The results folder cannot be written."""


# a record's file name (``records.Store.path``): <variant or role>-<16 hex digits>.json
RECORD_NAME = re.compile(r"^[^.].*-[0-9a-f]{16}\.json$")


def check_writable(folder, what="--out-dir", records=None):
    """Prove, before any training or drawing, that files can be written in ``folder``, leaving nothing behind.

    An existing folder is tried with an anonymous temporary file; a missing one is not created here (a run refused
    later would leave it behind, empty): its nearest existing ancestor is tried instead, since that is where the
    folder will be made when the first file is written (``write``). With ``records`` (the records folder of the
    command), a folder where records are read is refused: ``records`` itself, or any folder holding a file named
    like a record. A table, a partial table or a report written there would sit among the records, and be read as
    a damaged one (or replace one)."""
    given = os.fspath(folder)
    if records is not None:
        _not_a_records_folder(given, what, os.fspath(records))
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


def _not_a_records_folder(folder, what, records):
    """``OutputError`` when ``folder`` is ``records`` or holds a record (``RECORD_NAME``)."""
    here = os.path.realpath(folder)
    if here == os.path.realpath(records):
        raise OutputError(f"{what} {folder} is the records folder ({records}): what is written there would be read "
                          "as a damaged record; give the records and the tables different folders")
    held = sorted(n for n in os.listdir(here) if RECORD_NAME.match(n)) if os.path.isdir(here) else []
    if held:
        raise OutputError(f"{what} {folder} holds records ({held[0]}, {len(held)} in all): what is written there "
                          "would sit among them and be read as a damaged record; choose a folder without records")


def write(path_stem, record, markdown):
    """Write ``<stem>.json`` and ``<stem>.md`` atomically (temp file, then rename), 0666 less the umask, making
    the folder if needed.

    While ``record["complete"]`` is False the files are ``<stem>.partial.*``: an unfinished or interrupted run never
    replaces the finished results of an earlier one; the complete record replaces them and removes the partial."""
    complete = record.get("complete", True)
    stem = path_stem if complete else path_stem + ".partial"
    # checkpoint.atomic_open: the one atomic write (temporary file, rename, the umask's mode, the folder made)
    with atomic_open(stem + ".json", "w") as f:
        f.write(json.dumps(record, indent=1, default=_plain) + "\n")
    with atomic_open(stem + ".md", "w") as f:
        f.write(markdown)
    if complete:
        for ext in (".json", ".md"):
            if os.path.exists(path_stem + ".partial" + ext):
                os.remove(path_stem + ".partial" + ext)


def _plain(v):
    if isinstance(v, np.generic):
        return v.item()
    raise TypeError(f"cannot write {type(v).__name__} as JSON")


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


def pooled_gap(a, b):
    """(b − a in means, pooled std, gap in pooled stds) of two ``mean_std`` records, or None without two stds."""
    if a.get("std") is None or b.get("std") is None:
        return None
    diff = b["mean"] - a["mean"]
    sd = math.sqrt((a["std"] ** 2 + b["std"] ** 2) / 2)
    return diff, sd, (diff / sd if sd else math.copysign(math.inf, diff) if diff else 0.0)


def sources(records):
    """Where ``records`` came from, one entry per distinct source (converted file, or commit, command and machine),
    in order of first appearance: {"commit", "command", "machine", "converted", "date" (the latest), "n"}."""
    out = {}
    for r in records:
        p, conv = r.get("provenance") or {}, r.get("converted")
        m = p.get("machine") or {}
        entry = {"commit": (conv or p).get("commit"), "command": p.get("command"),
                 "converted": conv.get("from") if conv else None,
                 "machine": f"{m.get('cpu', m.get('processor'))}, {m.get('cpus')} CPUs; {m.get('blas', 'BLAS not known')}"
                            f", kernel {m.get('blas_kernel', 'not known')}, {m.get('blas_threads', 'not known')} "
                            f"threads; NumPy {m.get('numpy')}" if m else "not recorded"}
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


def data_lines(d, preset, deviations, machine=None):
    """The Markdown lines saying what a run trained on, which preset it is and (``machine`` given) where it ran."""
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
    if machine:
        lines.append(f"Machine: {machine.get('cpu', machine.get('processor'))}, {machine.get('cpus')} CPUs; "
                     f"{machine.get('blas', 'BLAS not known')}, kernel {machine.get('blas_kernel', 'not known')}, "
                     f"{machine.get('blas_threads', 'not known')} threads; NumPy {machine.get('numpy')}.")
    return lines
