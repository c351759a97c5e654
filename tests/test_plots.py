"""Every figure renders to a PNG from a small synthetic results record, and the command line redraws from a file."""
import json

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
def test_every_figure_renders_from_a_record(make, names, tmp_path):
    path = tmp_path / "r.json"
    path.write_text(json.dumps(make()))
    assert [name for name, _ in plots.figures_for(make())] == names
    pngs = plots.draw(str(path))
    for png, name in zip(pngs, names):
        assert png.endswith(f"r_{name}.png")
        with open(png, "rb") as f:
            head = f.read()
        assert head.startswith(PNG) and len(head) > 5000


def test_the_command_line_redraws_and_refuses_what_it_cannot_draw(tmp_path, capsys):
    path = tmp_path / "t.json"
    path.write_text(json.dumps(table_record()))
    assert plots.main([str(path), "--out-dir", str(tmp_path / "figs")]) == 0
    assert sorted(p.name for p in (tmp_path / "figs").iterdir()) == ["t_adversarial_drift.png",
                                                                      "t_learning_curves.png",
                                                                      "t_methods_vs_kd.png"]
    (tmp_path / "other.json").write_text("{}")
    assert plots.main([str(tmp_path / "other.json")]) == 1
    assert "no figure to draw" in capsys.readouterr().err


def test_every_file_is_drawn_and_each_one_that_cannot_be_says_why(tmp_path, capsys):
    """Issue 18, item 16: the command line used to stop at the first file it could not draw (11 of 13 committed
    files were never drawn), and an old binary-students record (no per-epoch history) failed with the bare
    message 'history'. Now every file is drawn that can be, each other one gets a line saying why, and the exit
    status says that some failed."""
    old_binary = binary_record()
    for v in old_binary["runs"].values():
        for r in v["runs"]:
            del r["history"]
    files = {"a_bad.json": "{not json", "b_binary_old.json": json.dumps(old_binary),
             "c_table.json": json.dumps(table_record()), "d_empty.json": "{}", "e_fitnets.json": json.dumps(
                 fitnets_record()), "f_dark.json": json.dumps(dark_record())}
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    paths = [str(tmp_path / n) for n in files] + [str(tmp_path / "missing.json")]
    assert plots.main(paths + ["--out-dir", str(tmp_path / "figs")]) == 1
    out, err = capsys.readouterr()
    drawn = sorted(p.name for p in (tmp_path / "figs").iterdir())
    assert drawn == sorted(["c_table_learning_curves.png", "c_table_adversarial_drift.png", "c_table_methods_vs_kd.png",
                            "e_fitnets_fitnets_curves.png", "f_dark_soft_targets.png",
                            "f_dark_temperature_sweep.png", "f_dark_bias_shift.png"])
    lines = err.strip().splitlines()
    assert len(lines) == 5 and lines[-1].endswith("4 of 7 files not drawn")
    why = {line.split("cannot draw ")[1].split(":")[0].rsplit("/", 1)[-1]: line for line in lines[:-1]}
    assert set(why) == {"a_bad.json", "b_binary_old.json", "d_empty.json", "missing.json"}
    assert "not valid JSON" in why["a_bad.json"] and "No such file" in why["missing.json"]
    assert "no figure to draw from this record" in why["b_binary_old.json"]   # results from before the records
    assert "Traceback" not in err and "'history'" not in err


def test_a_malformed_record_is_one_line_per_file(tmp_path, capsys):
    """Issue 18 trial, items 6 and 13: a record whose `variants` is a string was an AttributeError traceback, an
    .npz given as input a raw UTF-8 decode error. Each malformed file is one line saying why; the rest are drawn."""
    bad = {"variants_str.json": dict(table_record(), variants="kd"),
           "no_teacher.json": {k: v for k, v in table_record().items() if k != "teacher"},
           "runs_int.json": dict(table_record(), variants={"kd": {"name": "KD", "runs": 5, "mean": 1.0}}),
           "runs_list.json": dict(fitnets_record(), runs=[1, 2])}
    for name, record in bad.items():
        (tmp_path / name).write_text(json.dumps(record))
    np.savez(tmp_path / "arrays.npz", x=np.arange(3))
    (tmp_path / "good.json").write_text(json.dumps(table_record()))
    files = [str(tmp_path / n) for n in [*bad, "arrays.npz", "good.json"]]
    assert plots.main(files + ["--out-dir", str(tmp_path / "figs")]) == 1
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == len(bad) + 2 and lines[-1].endswith(f"{len(bad) + 1} of {len(files)} files not drawn")
    assert all("cannot draw " in line for line in lines[:-1])
    assert "Traceback" not in err and "codec" not in err and "UnicodeDecodeError" not in err
    assert "no field 'teacher'" in err and "arrays.npz: not a text file" in err
    assert sorted(p.name for p in (tmp_path / "figs").iterdir()) == ["good_adversarial_drift.png",
                                                                      "good_learning_curves.png",
                                                                      "good_methods_vs_kd.png"]


def test_a_file_that_cannot_be_written_is_named(tmp_path, capsys):
    """Issue 18 trial, item 13: write errors said only "Operation not permitted" or "File exists"."""
    (tmp_path / "t.json").write_text(json.dumps(table_record()))
    (tmp_path / "a_file").write_text("")
    assert plots.main([str(tmp_path / "t.json"), "--out-dir", str(tmp_path / "a_file")]) == 1
    assert f"cannot make the folder {tmp_path / 'a_file'}: File exists" in capsys.readouterr().err
    (tmp_path / "figs" / "t_learning_curves.png").mkdir(parents=True)   # unwritable, even for root
    assert plots.main([str(tmp_path / "t.json"), "--out-dir", str(tmp_path / "figs")]) == 1
    err = capsys.readouterr().err
    assert f"cannot write {tmp_path / 'figs' / 't_learning_curves.png'}: Is a directory" in err
    assert "Traceback" not in err


def test_a_run_without_validation_draws_no_empty_learning_curves(tmp_path, capsys):
    """Issue 18 trial, item 3: with no validation split an empty learning-curve figure titled "out of 0" was
    written. It is left out, with one line saying why; the figures that have something to show are drawn."""
    record = table_record()
    record["data"]["n_val"] = 0
    for run in [record["teacher"], record["student_initial"]] + [r for v in record["variants"].values()
                                                                  for r in v["runs"]]:
        run["history"] = [{"epoch": e + 1, "loss": 1.0} for e in range(3)]
    (tmp_path / "t.json").write_text(json.dumps(record))
    assert plots.main([str(tmp_path / "t.json"), "--out-dir", str(tmp_path / "figs")]) == 0
    out = capsys.readouterr().out
    assert "no learning_curves figure: no validation errors per epoch to draw (validation images: 0)" in out
    assert sorted(p.name for p in (tmp_path / "figs").iterdir()) == ["t_methods_vs_kd.png"]


def test_a_figure_the_new_record_does_not_give_is_removed_not_left_standing(tmp_path):
    """Trial finding 21: a later run of the same name without adversarial variants left the earlier run's drift
    figure beside its table."""
    (tmp_path / "t_adversarial_drift.png").write_bytes(b"an earlier run's figure")
    record = table_record()
    del record["variants"]["adv-report"]
    (tmp_path / "t.json").write_text(json.dumps(record))
    drawn = plots.draw(str(tmp_path / "t.json"))
    assert drawn and not (tmp_path / "t_adversarial_drift.png").exists()
