"""Results as JSON and Markdown, shared by every example: where they go, how numbers are printed, how they are written.

A results file is named after the run it holds. The reference run of a preset writes ``<base>.json``/``.md`` (e.g.
``mnist_table``, ``mnist_quick_table``); a run that differs from its preset in anything that changes the numbers
(a subset, other epochs, seeds or data) writes ``<base>_custom-<hash>`` instead, so it can never overwrite the
reference files, and its Markdown lists what differs. Files are rewritten atomically after every finished piece of a
run, so a late failure loses nothing that was finished.
"""
import hashlib
import json
import math
import os
import tempfile

import numpy as np

from .checkpoint import atomic_open


class OutputError(ValueError):
    """The results folder cannot be written."""


def check_writable(folder, what="--out-dir"):
    """Prove, before any training, that files can be written in ``folder``, leaving nothing behind.

    An existing folder is tried with an anonymous temporary file; a missing one is not created here (a run refused
    later would leave it behind, empty): its nearest existing ancestor is tried instead, since that is where the
    folder will be made when the first file is written (``write``)."""
    given = os.fspath(folder)
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


def stem(out_dir, base, deviations):
    """Path (without extension) for a run's results: ``base`` for a preset's own run, else ``base_custom-<hash>``."""
    if not deviations:
        return os.path.join(out_dir, base)
    tag = hashlib.sha256(json.dumps(deviations, sort_keys=True, default=str).encode()).hexdigest()[:8]
    return os.path.join(out_dir, f"{base}_custom-{tag}")


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
