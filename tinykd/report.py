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


def machine():
    """Where a run ran, as far as it shapes the numbers: Python, NumPy, the processor, and the BLAS library with the
    kernel it chose at run time and its thread count.

    Why the BLAS: a float32 matrix product sums in an order set by the kernel (OpenBLAS picks one per processor) and
    the number of threads, so the same code, seeds and data give bit-identical weights only with the same kernel
    and thread count; elsewhere a run ends a few errors away (see the README's "How exactly the tables reproduce").
    """
    import platform
    blas = dict(np.show_config(mode="dicts").get("Build Dependencies", {}).get("blas", {}))
    record = {"python": platform.python_version(), "numpy": np.__version__, "processor": platform.machine(),
              "cpu": _cpu_model(), "cpus": os.cpu_count(), "blas": f"{blas.get('name')} {blas.get('version')}"}
    record.update(_openblas_runtime())
    return record


def _cpu_model():
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform
    return platform.processor() or "not known"


def _openblas_runtime():
    """{"blas_kernel", "blas_threads"} asked of the OpenBLAS that NumPy loaded (Linux), or saying they are not
    known: a record never guesses them."""
    import ctypes
    unknown = {"blas_kernel": "not known", "blas_threads": "not known"}
    try:
        with open("/proc/self/maps", encoding="utf-8") as f:
            libs = {line.split()[-1] for line in f if "openblas" in line and line.split()[-1].startswith("/")}
    except OSError:
        return unknown
    for path in sorted(libs):
        lib = ctypes.CDLL(path)
        for prefix, suffix in (("scipy_openblas", "64_"), ("openblas", "64_"), ("openblas", "")):
            name, threads = getattr(lib, f"{prefix}_get_corename{suffix}", None), \
                getattr(lib, f"{prefix}_get_num_threads{suffix}", None)
            if name is not None and threads is not None:
                name.restype, threads.restype = ctypes.c_char_p, ctypes.c_int
                return {"blas_kernel": name().decode(), "blas_threads": int(threads())}
    return unknown


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


def stem(out_dir, base, deviations, fingerprint=None):
    """Path (without extension) for a run's results: ``base`` for a preset's own run, else ``base_custom-<hash>``,
    the hash of the deviations.

    A run on your own data (``deviations["data"]``, the path given) is named by the data's ``fingerprint`` (of the
    data as loaded), never by the path string: new content at the same path gets a new name instead of silently
    replacing the earlier results, and the same file by a relative or an absolute path gets the same name. (The
    path stays in the record and the Markdown, for the reader.)"""
    if not deviations:
        return os.path.join(out_dir, base)
    key = dict(deviations)
    if "data" in key:
        if fingerprint is None:
            raise ValueError("results on your own data are named by its fingerprint: pass fingerprint=")
        key["data"] = fingerprint
    tag = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:8]
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
