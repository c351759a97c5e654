"""Results as JSON and Markdown, shared by every example: where they go, how numbers are printed, how they are written;
and ``python -m tinykd.report``, which regenerates ``docs/results.md`` and the figures from the records:

    python -m tinykd.report                                  # records/ -> docs/results.md, docs/figures/*.png
    python -m tinykd.report --records runs --out results/all.md   # your own runs: every table they hold

The records are the results; a table is a view of them. An example writes the view of its own run to
``<out_dir>/<name>.md`` and ``.json`` (``mnist_table``, ``mnist_quick_table``, ...; a ``.partial`` pair while the
run is going), atomically, after every finished network: a later run of the same name writes its own view there, and
every run's table stays in its records, from which this command regenerates them all.
"""
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
    records folder holds."""
    every = os.path.join(cfg.out_dir, "all.md")
    return (f"results: the records in {cfg.records_dir}; this run's table {out}.md; every table of "
            f"{cfg.records_dir}: python -m tinykd.report --records {cfg.records_dir} --out {every}")


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


# ------------------------------------------------------------------------------------ python -m tinykd.report
HEADER = """# Results

Every table below is generated by `python -m tinykd.report` from the records in `records/` (one small JSON file per
trained network, named by the hash of what shaped it: `tinykd/records.py`); nothing here is typed by hand, and a test
checks that this file is exactly what the generator writes. Each table says the command, the commit and the machine
its networks came from. Rerun an experiment with `--records-dir records` and then `python -m tinykd.report` to
update it.
"""
OWN_HEADER = """# Results

The tables of the records in `{records}/`, generated by `python -m tinykd.report --records {records} --out {out}`
(one small JSON file per trained network: `tinykd/records.py`). Each table says the command, the commit and the
machine its networks came from; run the command again after more runs to update this file.
"""
REFERENCE = "records"   # the committed records, whose tables are docs/results.md and the README's headline


def kinds():
    """The modules that turn records into tables: each has ``views(records)`` (the tables the records hold, each a
    dict with ``name`` and ``title``), ``markdown(view)`` and ``figures(view)`` ([(name, function of (view, path))])."""
    from . import hinton, paper, studies, tables
    return [tables, studies, hinton, paper]


def document(records, header=HEADER, figure_dir=None, link_dir="figures", draw=True):
    """The Markdown of every table ``records`` hold, under ``header``; with ``draw``, every figure drawn into
    ``figure_dir`` and linked as ``link_dir/<file>`` (the figures' folder as seen from the document's)."""
    parts, seen = [header], {}
    for kind in kinds():
        for v in kind.views(records):
            n = seen[v["name"]] = seen.get(v["name"], 0) + 1
            stem = v["name"] if n == 1 else f"{v['name']}_{n}"
            parts += [f"## {kind.title(v)}" + ("" if n == 1 else f" (an earlier run, {n})"), "",
                      kind.markdown(v).rstrip("\n"), ""]
            for fig, fn in kind.figures(v):
                png = f"{stem}_{fig}.png"
                if draw:
                    from .plots import _plt
                    fn(v, os.path.join(figure_dir, png))
                    _plt().close("all")
                parts += [f"![{fig.replace('_', ' ')}]({link_dir}/{png})", ""]
    return "\n".join(parts).rstrip("\n") + "\n"


README_MARKS = ("<!-- headline table: generated by python -m tinykd.report from records/; do not edit -->",
                "<!-- end of headline table -->")


def with_headline(readme, lines):
    """The text of the README ``readme`` with its headline table (between ``README_MARKS``) replaced by
    ``lines``; ``ValueError`` when the README lacks the marks."""
    begin, end = README_MARKS
    if readme.count(begin) != 1 or readme.count(end) != 1 or readme.index(begin) > readme.index(end):
        raise ValueError(f"the README has no headline block: put the lines {begin!r} and {end!r} where it goes")
    head, rest = readme.split(begin + "\n", 1)
    return head + begin + "\n" + "".join(line + "\n" for line in lines) + end + rest.split(end, 1)[1]


def _outputs(args, found):
    """{path: text} of what the command writes; the figures drawn on the way (unless --check or --no-figures)."""
    reference = os.path.normpath(args.records) == REFERENCE
    out = args.out or "docs/results.md"
    figure_dir = args.figures or os.path.join(os.path.dirname(os.path.abspath(out)), "figures")
    draw = not (args.no_figures or args.check)
    for folder, option in [(os.path.dirname(os.path.abspath(out)), "--out")] + ([(figure_dir, "--figures")] if draw
                                                                                else []):
        check_writable(folder, option)
    if draw:
        os.makedirs(figure_dir, exist_ok=True)
    header = HEADER if reference else OWN_HEADER.format(records=args.records.rstrip("/"), out=out)
    link = os.path.relpath(figure_dir, os.path.dirname(os.path.abspath(out)))
    outputs = {out: document(found, header, figure_dir, link.replace(os.sep, "/"), draw)}
    readme = args.readme if args.readme is not None else ("README.md" if reference else None)   # "": none
    if readme:
        from . import paper, tables
        with open(readme, encoding="utf-8") as f:
            try:
                outputs[readme] = with_headline(f.read(), tables.headline(found) + paper.headline(found))
            except ValueError as e:
                raise OutputError(f"{readme}: {e}") from None
    return outputs


def main(argv=None):
    """Regenerate the results document (and the README's headline, from the committed records) and the figures;
    with ``--check``, write nothing and exit 1 when a file on disk is not what the records give."""
    import argparse
    from .records import RecordError, Store
    p = argparse.ArgumentParser(prog="python -m tinykd.report", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--records", default=REFERENCE, type=os.path.expanduser, help="the records folder")
    p.add_argument("--out", type=os.path.expanduser,
                   help="the Markdown written (default: docs/results.md, for the committed records only)")
    p.add_argument("--figures", type=os.path.expanduser, help="where the figures go (default: figures/ beside --out)")
    p.add_argument("--readme", type=os.path.expanduser,
                   help="the README whose headline table is regenerated (default: README.md for the committed "
                        "records; none otherwise)")
    p.add_argument("--no-figures", action="store_true", help="write the Markdown only")
    p.add_argument("--check", action="store_true", help="write nothing; exit 1 when a file is not what the records give")
    args = p.parse_args(argv)

    def fail(line):
        p.exit(2, f"{p.prog}: error: {' '.join(str(line).split())}\n")
    if not os.path.isdir(args.records):
        fail(f"no records folder {args.records}; give one with --records")
    if os.path.normpath(args.records) != REFERENCE and not args.out:
        fail(f"give --out FILE for the tables of {args.records} (docs/results.md holds those of the committed "
             "records/ only)")
    if args.out and os.path.isdir(args.out):
        fail(f"--out {args.out} is a folder; give the Markdown file to write, e.g. {args.out.rstrip('/')}/results.md")
    try:
        found = Store(args.records).all()
        if not found:
            fail(f"no records in {args.records}: run an example with --records-dir {args.records} first")
        outputs = _outputs(args, found)
    except (RecordError, OutputError) as e:
        fail(e)
    except OSError as e:
        fail(f"cannot write {e.filename or 'a file'}: {e.strerror or e}; choose a writable folder (--out, --figures)")
    except ImportError as e:
        fail(f"{e} (or pass --no-figures)")
    status = 0
    for path, text in outputs.items():
        if args.check:
            same = os.path.exists(path) and open(path, encoding="utf-8").read() == text
            print(f"{path} is {'' if same else 'NOT '}what the records in {args.records} give")
            status |= not same
        else:
            try:
                with atomic_open(path, "w") as f:
                    f.write(text)
            except OSError as e:
                fail(f"cannot write {path}: {e.strerror or e}; choose a writable file (--out)")
            print(f"wrote {path} from {args.records}")
    return int(status)


if __name__ == "__main__":
    import sys
    sys.exit(main())
