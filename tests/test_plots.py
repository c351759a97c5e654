"""Every figure renders to a PNG from a small synthetic view, through the one drawing path (``plots.draw``) that the
examples and ``python -m tinykd.report`` share."""
import os

import numpy as np
import pytest

from tinykd.experiments import plots

PNG = b"\x89PNG\r\n\x1a\n"


def _history(n, start=100, **extra):
    return [{"epoch": e + 1, "loss": 1.0 / (e + 1), "val_errors": start - 5 * e,
             **{k: v * (e + 1) for k, v in extra.items()}} for e in range(n)]


def table_record():
    run = {"errors": 120, "validation_errors": 60}
    variants = {
        "wo-kd": {"name": "w/o KD", "runs": [{**run, "history": _history(3)}]},
        "kd": {"name": "KD", "runs": [{**run, "history": _history(3, mean_logit=-1.0, max_abs_logit=10.0)}] * 2},
        "adv-report": {"name": "adv. KD (report)", "runs": [{**run, "d_heldout_accuracy": 0.55,
                                                             "history": _history(3, mean_logit=1e3, max_abs_logit=1e5,
                                                                                 d_accuracy=0.2)}]},
        "dkd": {"name": "DKD", "runs": [{**run, "history": _history(3)}] * 2},
    }
    for v in variants.values():
        errs = [r["errors"] for r in v["runs"]]
        v.update(mean=float(np.mean(errs)), std=float(np.std(errs, ddof=1)) if len(errs) > 1 else None)
    return {"data": {"name": "mnist", "n_val": 5000}, "teacher": {"history": _history(5, 200)},
            "student_initial": {"history": _history(4, 150), "mean_logit": -2.0, "max_abs_logit": 30.0},
            "variants": variants}


def dark_record():
    rng = np.random.default_rng(0)
    digits = [{"index": i, "label": d, "image": rng.random(784).round(3).tolist(),
               "probs": {str(t): (np.ones(10) / 10).tolist() for t in (1, 4, 20)}} for i, d in enumerate((2, 3))]
    sweep = {w: [{"temperature": t, "errors": 100 + i} for i, t in enumerate([1, 2, 2.5, 4, 8, 20])]
             for w in ("800", "30")}
    return {"n_test": 10000, "soft_targets": {"temperatures": [1, 4, 20], "digits": digits},
            "temperature_sweep": {"temperatures": [1, 2, 2.5, 4, 8, 20], "widths": sweep},
            "omit_3": {"bias_shift": 2.5, "n_val": 5000,
                       "search": [{"shift": s, "val_errors": 100 - s, "val_errors_on_3": 50 - s} for s in range(6)]}}


def binary_record():
    runs = {f"{m} {k}": {"runs": [{"history": _history(4)}]} for m in ("BWN", "XNOR")
            for k in ("without KD", "with KD")}
    return {"data": {"n_val": 5000}, "runs": runs}


def fitnets_record():
    return {"data": {"n_val": 5000}, "hint_epochs": 2,
            "runs": {"KD only": {"errors": 100, "history": _history(4)},
                     "FitNets: hints, then KD": {"errors": 90, "history": _history(2)}}}


@pytest.mark.parametrize("make, names", [
    (table_record, ["learning_curves", "adversarial_drift", "methods_vs_kd"]),
    (dark_record, ["soft_targets", "temperature_sweep", "bias_shift"]),
    (binary_record, ["binary_curves"]),
    (fitnets_record, ["fitnets_curves"]),
])
def test_every_figure_renders_from_a_view(make, names, tmp_path):
    assert [name for name, _ in plots.figures_for(make())] == names
    pngs = plots.draw(make(), plots.figures_for(make()), str(tmp_path), "r")
    assert [os.path.basename(p) for p in pngs] == [f"r_{name}.png" for name in names]
    for png in pngs:
        with open(png, "rb") as f:
            head = f.read()
        assert head.startswith(PNG) and len(head) > 5000


def test_a_run_without_validation_draws_no_empty_learning_curves(tmp_path):
    """Issue 18 trial, item 3: with no validation split an empty learning-curve figure titled "out of 0" was
    written. It is left out, with one line saying why; the figures that have something to show are drawn."""
    record = table_record()
    record["data"]["n_val"] = 0
    for run in [record["teacher"], record["student_initial"]] + [r for v in record["variants"].values()
                                                                  for r in v["runs"]]:
        run["history"] = [{"epoch": e + 1, "loss": 1.0} for e in range(3)]
    said = []
    plots.draw(record, plots.figures_for(record), str(tmp_path / "figs"), "t", say=said.append)
    assert said[0] == "no learning_curves figure: no validation errors per epoch to draw (validation images: 0)"
    assert said[1].startswith("no adversarial_drift figure: no per-epoch logit statistics") and len(said) == 2
    assert sorted(p.name for p in (tmp_path / "figs").iterdir()) == ["t_methods_vs_kd.png"]
    assert [n for n, _ in plots.drawable(record, plots.figures_for(record))] == ["methods_vs_kd"]


def test_a_figure_the_new_view_does_not_give_is_removed_not_left_standing(tmp_path):
    """Trial finding 21: a later run of the same name without adversarial variants left the earlier run's drift
    figure beside its table."""
    (tmp_path / "t_adversarial_drift.png").write_bytes(b"an earlier run's figure")
    record = table_record()
    del record["variants"]["adv-report"]
    drawn = plots.draw(record, plots.figures_for(record), str(tmp_path), "t")
    assert drawn and not (tmp_path / "t_adversarial_drift.png").exists()


def test_after_a_run_a_figure_that_cannot_be_written_is_one_line_and_the_run_goes_on(tmp_path, capsys):
    """Issue 18 trial, item 13: write errors said only "Operation not permitted"; the example's results are
    written before its figures, so a figure that fails costs only the figure, said in one line naming the path."""
    (tmp_path / "t_learning_curves.png").mkdir()                        # unwritable, even for root
    record = table_record()
    assert plots.after_run(record, plots.figures_for(record), str(tmp_path / "t"), "runs") == []
    out = capsys.readouterr().out
    assert f"figures: cannot write {tmp_path / 't_learning_curves.png'}: Is a directory" in out
    assert "Traceback" not in out


def test_without_matplotlib_a_run_says_how_to_get_its_figures(tmp_path, capsys, monkeypatch):
    def missing():
        raise ImportError("matplotlib is not installed: pip install 'tinykd[plot]'")
    monkeypatch.setattr(plots, "pyplot", missing)
    record = table_record()
    assert plots.after_run(record, plots.figures_for(record), str(tmp_path / "t"), "my runs") == []
    out = capsys.readouterr().out
    assert "python -m tinykd.report --records 'my runs' --out" in out and not list(tmp_path.iterdir())


def test_a_curve_of_one_epoch_is_drawn_as_a_point(tmp_path, monkeypatch):
    """Second new-user trial: after a one-epoch run the learning curves were empty axes with a full legend."""
    record = table_record()
    for run in [record["teacher"], record["student_initial"]] + [r for v in record["variants"].values()
                                                                  for r in v["runs"]]:
        run["history"] = run["history"][:1]
    plt = plots.pyplot()
    saved = []
    real = plt.Figure.savefig
    monkeypatch.setattr(plt.Figure, "savefig", lambda fig, *a, **k: saved.append(
        [line.get_marker() for ax in fig.axes for line in ax.get_lines() if len(line.get_xdata()) == 1])
        or real(fig, *a, **k))
    plots.draw(record, [("learning_curves", plots.learning_curves)], str(tmp_path), "t")
    assert saved and saved[0] and all(marker == "o" for marker in saved[0])
