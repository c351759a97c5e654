"""Figures of a table's view, so of records, drawn by one path (``draw``): an example draws its table's beside it
after its run, and ``python -m tinykd.report`` draws every table's (redrawing needs no training).

matplotlib is optional (``pip install "tinykd[plot]"``) and imported only here, with the Agg backend (no screen).
"""
import os
import shlex

from . import registry

WIDTH = 7.0   # inches: readable at README width


def pyplot():
    try:
        import matplotlib
    except ImportError:
        raise ImportError("figures need matplotlib: pip install 'tinykd[plot]' (or pip install matplotlib)") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _save(fig, path):
    for ax in fig.axes:          # a curve of one epoch is a point: a line alone would draw nothing
        for line in ax.get_lines():
            if len(line.get_xdata()) == 1 and line.get_marker() in (None, "None", "", " "):
                line.set_marker("o")
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")   # legends placed below a plot stay in the picture
    pyplot().close(fig)
    return path


def finish(fig, ax, path, xlabel, ylabel, title, log_grid=True, legend_size=8, **legend):
    """Label, title, grid and legend of a one-panel figure, then save it."""
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.grid(True, which="both" if log_grid else "major", alpha=0.3)
    ax.legend(fontsize=legend_size, **legend)
    return _save(fig, path)


def line_style(i):
    """The i-th variant's line: matplotlib's ten colours, then the same colours dashed."""
    return {"color": f"C{i % 10}", "ls": "-" if i < 10 else "--"}


def _mean_curve(runs, key):
    """Per-epoch mean over runs of ``history[key]`` (epochs every run reached)."""
    curves = [[h[key] for h in r.get("history", []) if key in h] for r in runs]
    n = min((len(c) for c in curves), default=0)
    return [sum(c[i] for c in curves) / len(curves) for i in range(n)]


def val_curves(record, path, lines, xlabel, title, size=(WIDTH, 4.0), **legend):
    """Validation errors per epoch on a log scale, labelled as plain counts, whole epochs on the x axis; ``lines``:
    [(first epoch, curve, line style)]."""
    from matplotlib.ticker import LogFormatter, MaxNLocator
    fig, ax = pyplot().subplots(figsize=size)
    for first, curve, style in lines:
        ax.plot(range(first, first + len(curve)), curve, **style)
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(LogFormatter(labelOnlyBase=False))     # 40, not 4×10^1
    ax.yaxis.set_minor_formatter(LogFormatter(labelOnlyBase=False, minor_thresholds=(2, 0.5)))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    return finish(fig, ax, path, xlabel, f"validation errors (out of {record['data']['n_val']:,})", title, **legend)


# ------------------------------------------------------------------------------------------------ Table 1
def learning_curves(record, path):
    """Validation errors per epoch of the teacher, S (initial) and every student variant (mean over seeds), the
    variants continuing S (initial)'s epochs."""
    t, s = (_mean_curve([record[k]], "val_errors") for k in ("teacher", "student_initial"))
    lines = [(1, t, dict(color="black", lw=2, label="teacher")),
             (1, s, dict(color="black", ls=":", lw=2, label="S (initial)"))]
    lines += [(len(s) + 1, _mean_curve(v["runs"], "val_errors"), dict(label=v.get("name", vid), **line_style(i)))
              for i, (vid, v) in enumerate(record["variants"].items())]
    return val_curves(record, path, lines, "epoch (variants continue from S (initial))",
                       f"Learning curves, {record['data']['name']} (mean over seeds)", size=(WIDTH, 4.2),
                       legend_size=7, ncol=2, loc="upper center", bbox_to_anchor=(0.5, -0.2))


def adversarial_drift(record, path):
    """Mean logit, largest |logit| and the discriminator's accuracy per epoch, for each variant with a discriminator
    against KD: the picture of why a fixed linear discriminator on raw logits fails."""
    fig, axes = pyplot().subplots(1, 3, figsize=(WIDTH * 1.5, 3.8))
    s0 = record["student_initial"]
    shown = [(i, vid, v) for i, (vid, v) in enumerate(record["variants"].items())
             if vid == registry.BASELINE.id or registry.adversarial(vid)]    # colours as in the learning curves
    for i, vid, v in shown:
        style = dict(label=v.get("name", vid), **line_style(i))
        for ax, key in zip(axes, ("mean_logit", "max_abs_logit")):   # epoch 0: S (initial)'s
            curve = [s0.get(key, float("nan"))] + _mean_curve(v["runs"], key)
            ax.plot(range(len(curve)), [abs(m) for m in curve], **style)
        acc = _mean_curve(v["runs"], "d_accuracy")
        if acc:   # epoch 0: the pre-trained discriminator's held-out accuracy
            start = sum(r.get("d_heldout_accuracy", float("nan")) for r in v["runs"]) / len(v["runs"])
            axes[2].plot(range(len(acc) + 1), [start] + acc, **style)
    from matplotlib.ticker import MaxNLocator
    for ax, (ylabel, title, scale) in zip(axes, (("|mean logit| (validation)", "logit drift: mean", "log"),
                                                 ("max |logit| (validation)", "logit drift: largest", "log"),
                                                 ("D balanced accuracy", "discriminator accuracy", "linear"))):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set(xlabel="epoch from S (initial)", ylabel=ylabel, title=title, yscale=scale)
        ax.grid(True, which="both", alpha=0.3)
    axes[2].set_ylim(0, 1)
    axes[2].axhline(0.5, color="grey", ls=":", lw=1)
    axes[1].legend(fontsize=6)
    return _save(fig, path)


def compared_shown(variants):
    """The ids the methods-vs-KD figure draws from a record's ``variants``: KD, then those the registry compares."""
    return [k for k in [registry.BASELINE.id] + registry.compared() if k in variants]


def methods_vs_kd(record, path):
    """Test errors of KD and each method compared with it: every seed as a dot, mean ± std as a bar, KD's mean
    and spread as a band across the plot (w/o KD, far off, is given in the title)."""
    v = record["variants"]
    shown, kd_id, wo_id = compared_shown(v), registry.BASELINE.id, registry.LABELS_ONLY.id
    fig, ax = pyplot().subplots(figsize=(WIDTH, 0.55 * len(shown) + 1.3))
    kd = v[kd_id]
    ax.axvspan(kd["mean"] - (kd.get("std") or 0), kd["mean"] + (kd.get("std") or 0), color="C0", alpha=0.12)
    ax.axvline(kd["mean"], color="C0", ls="--", lw=1)
    for row, k in enumerate(shown):
        errs = [r["errors"] for r in v[k]["runs"]]
        ax.plot(errs, [row] * len(errs), "o", color="grey", alpha=0.6, ms=4)
        ax.errorbar([v[k]["mean"]], [row], xerr=[v[k].get("std") or 0], fmt="D", color="C0" if k == kd_id else "C3",
                    capsize=4, ms=6)
    ax.set_yticks(range(len(shown)), [v[k].get("name", k) for k in shown], fontsize=8)
    ax.invert_yaxis()
    wo = f"; {registry.LABELS_ONLY.name} {v[wo_id]['mean']:.1f}" if wo_id in v else ""
    ax.set_xlabel(f"test errors (out of {record.get('n_test', 10000):,}); dots: seeds, diamonds: mean ± std")
    ax.set_title(f"Against KD (band: its mean ± std){wo}", fontsize=10)
    ax.grid(True, axis="x", alpha=0.3)
    return _save(fig, path)


# ------------------------------------------------------------------------------------------- dark knowledge
def soft_targets(record, path):
    """The teacher's P^τ for a few test digits at several temperatures: the dark knowledge made visible."""
    st = record["soft_targets"]
    temps, digits = st["temperatures"], st["digits"]
    fig, axes = pyplot().subplots(len(digits), 1 + len(temps), figsize=(WIDTH, 1.35 * len(digits) + 0.6),
                             squeeze=False)
    classes = st.get("classes", [str(i) for i in range(10)])
    for row, d in zip(axes, digits):
        row[0].imshow([d["image"][i:i + 28] for i in range(0, 784, 28)], cmap="gray_r")
        row[0].set(xticks=[], yticks=[])
        row[0].set_ylabel(f"label {d['label']}", fontsize=8)
        for ax, tau in zip(row[1:], temps):
            probs = d["probs"][str(tau)]
            ax.bar(range(len(probs)), probs, color=["C3" if i == d["label"] else "C0" for i in range(len(probs))])
            ax.set_ylim(0, 1)
            ax.set_xticks(range(len(probs)), classes, fontsize=6)
            ax.tick_params(axis="y", labelsize=6)
    for ax, tau in zip(axes[0][1:], temps):
        ax.set_title(f"$P^{{\\tau}}$, τ = {tau}", fontsize=9)
    fig.suptitle("The teacher's soft targets (probability per class; the label in red)", fontsize=10)
    return _save(fig, path)


def temperature_sweep(record, path):
    """Test errors against the temperature for students of two widths."""
    sweep = record["temperature_sweep"]
    fig, ax = pyplot().subplots(figsize=(WIDTH * 0.75, 3.8))
    for width, rows in sweep["widths"].items():
        ax.plot([r["temperature"] for r in rows], [r["errors"] for r in rows], marker="o",
                label=f"{width} units per layer")
    ax.set_xscale("log")
    ax.set_xticks(sweep["temperatures"], [f"{t:g}" for t in sweep["temperatures"]])
    return finish(fig, ax, path, "temperature τ", f"test errors (out of {record['n_test']:,})",
                   "Distilled students against temperature")


def bias_shift(record, path):
    """The mythical-digit experiment's search: validation errors in total and on 3s against the 3's bias shift,
    the chosen shift marked."""
    o = record["omit_3"]
    fig, ax = pyplot().subplots(figsize=(WIDTH * 0.75, 3.8))
    shifts = [c["shift"] for c in o["search"]]
    ax.plot(shifts, [c["val_errors"] for c in o["search"]], label="all digits")
    ax.plot(shifts, [c["val_errors_on_3"] for c in o["search"]], label="3s only")
    ax.axvline(o["bias_shift"], color="grey", ls="--", lw=1, label=f"chosen: +{o['bias_shift']:g}")
    return finish(fig, ax, path, "shift added to the 3's output bias", f"validation errors (out of {o['n_val']:,})",
                   "A digit never seen in the transfer set (3s omitted)", log_grid=False)


# ------------------------------------------------------------------------------------------- binary students
def binary_curves(record, path):
    """Validation errors per epoch of binary (and float) students, with and without KD (mean over seeds)."""
    lines = [(1, _mean_curve(v["runs"], "val_errors"), dict(color=f"C{i // 2}", label=name,
                                                          ls="-" if "with KD" in name else "--"))
             for i, (name, v) in enumerate(record["runs"].items())]
    return val_curves(record, path, lines, "epoch", "Binary students: validation errors (solid: with KD)")


# ------------------------------------------------------------------------------------------------- FitNets
def fitnets_curves(record, path):
    """Validation errors per epoch of KD alone and of FitNets' KD stage, which starts after the hint epochs (the
    two students have the same total budget)."""
    lines = [(1 + (record["hint_epochs"] if name.startswith("FitNets") else 0), _mean_curve([run], "val_errors"),
              dict(marker="o", ms=3, label=name)) for name, run in record["runs"].items()]
    return val_curves(record, path, lines, "epoch (FitNets' KD stage follows its hint epochs)",
                       "FitNets against KD alone", size=(WIDTH * 0.75, 3.8))


# --------------------------------------------------------------------------------------------------- drawing
def figures_for(record):
    """The figures a record's kind gives: [(name, function)] (``why_not`` says when one has nothing to show)."""
    out = []
    if "student_initial" in record:
        out.append(("learning_curves", learning_curves))
        if any(registry.adversarial(k) for k in record["variants"]):
            out.append(("adversarial_drift", adversarial_drift))
        if registry.BASELINE.id in record["variants"] and any(k in record["variants"] for k in registry.compared()):
            out.append(("methods_vs_kd", methods_vs_kd))
    if "soft_targets" in record:
        out.append(("soft_targets", soft_targets))
    if "temperature_sweep" in record:
        out.append(("temperature_sweep", temperature_sweep))
    if "omit_3" in record and "search" in record["omit_3"]:
        out.append(("bias_shift", bias_shift))
    if _binary_runs(record):
        out.append(("binary_curves", binary_curves))
    if "hint_epochs" in record:
        out.append(("fitnets_curves", fitnets_curves))
    return out


def _binary_runs(record):
    runs = record.get("runs")
    return [v for k, v in runs.items() if k.startswith(("BWN", "XNOR"))] if isinstance(runs, dict) else []


def _has(runs, key):
    """Whether any of ``runs`` recorded ``key`` in its history."""
    return any(key in h for r in runs for h in (r.get("history") or []))


def why_not(record, name):
    """Why the figure ``name``, which this kind of record gives, has nothing to show in this record (None when it
    has): a run without a validation split has no validation errors per epoch, nor the logit statistics of each."""
    no_val = f"no validation errors per epoch to draw (validation images: {record.get('data', {}).get('n_val')})"
    if name == "learning_curves":
        runs = [record["teacher"], record["student_initial"]] + [r for v in record["variants"].values()
                                                                  for r in v["runs"]]
        return None if _has(runs, "val_errors") else no_val
    if name == "adversarial_drift":
        runs = [r for k, v in record["variants"].items() if registry.adversarial(k) for r in v["runs"]]
        return None if _has(runs, "mean_logit") else ("no per-epoch logit statistics to draw (they are measured on "
                                                      "the validation split; validation images: "
                                                      f"{record['data'].get('n_val')})")
    if name == "binary_curves":
        return None if _has([r for v in _binary_runs(record) for r in v["runs"]], "val_errors") else no_val
    if name == "fitnets_curves":
        return None if _has(record["runs"].values(), "val_errors") else no_val
    return None


FIGURES = ("learning_curves", "adversarial_drift", "methods_vs_kd", "soft_targets", "temperature_sweep", "bias_shift",
           "binary_curves", "fitnets_curves", "curves")   # every figure a view can give (curves: the paper preset's)


def drawable(view, figures):
    """Those of ``figures`` (a view's [(name, function of (view, path))]) that have something to show."""
    return [(name, fn) for name, fn in figures if not why_not(view, name)]


def draw(view, figures, folder, stem, say=None):
    """Draw the ``figures`` of ``view`` that have something to show as ``<folder>/<stem>_<name>.png``, first removing
    every figure an earlier table of ``stem`` left; ``say`` (a function of one line) is told why each other one is not
    drawn. Returns the paths; a PNG that cannot be written is an ``OSError`` naming it; without matplotlib, an
    ``ImportError`` saying how to install it."""
    for name, _ in figures:
        why = why_not(view, name)
        if why and say is not None:
            say(f"no {name} figure: {why}")
    drawn = drawable(view, figures)
    for name in FIGURES:   # even one this view cannot draw: none outlives its table
        if os.path.isfile(os.path.join(folder, f"{stem}_{name}.png")):
            os.remove(os.path.join(folder, f"{stem}_{name}.png"))
    if drawn:
        pyplot()
        os.makedirs(folder, exist_ok=True)
    paths = []
    for name, fn in drawn:
        try:
            paths.append(fn(view, os.path.join(folder, f"{stem}_{name}.png")))
        finally:
            pyplot().close("all")   # a figure left open by a failure would pile up over many tables
    return paths


def after_run(view, figures, stem_path, records_dir):
    """What an example calls after writing its table ``<stem_path>.md``: draw its figures beside it, or say in one
    line why not (the results are written: a figure that fails costs only the figure)."""
    folder, stem = os.path.split(os.fspath(stem_path))
    try:
        paths = draw(view, figures, folder, stem, say=lambda line: print(f"figures: {line}", flush=True))
    except ImportError as e:
        print(f"figures: {e}; then python -m tinykd.report --records {shlex.quote(os.fspath(records_dir))} --out "
              "FILE.md draws them", flush=True)
        return []
    except OSError as e:
        print(f"figures: cannot write {e.filename or folder}: {e.strerror or e}", flush=True)
        return []
    if paths:
        print("figures: " + ", ".join(paths), flush=True)
    return paths
