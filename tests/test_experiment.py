"""The Table 1 protocol's bookkeeping, in process: what a checkpoint's identity covers, which results file a run
writes, and that a late failure keeps what was finished."""
import dataclasses
import json
import os

import numpy as np
import pytest

from tinykd.runs import checkpoints, identity, provenance, records

from tinykd.experiments import settings, setup, table1, registry, shared, table1_view
from tinykd.experiments.settings import ConfigError, Table1
from tinykd.experiments.registry import Variant
from tinykd.runs.run import Runner
from tinykd.distill import Supervised
from tinykd.layers import MLP


def _teacher_path(cfg, fingerprint="f" * 64):
    spec = setup.teacher_spec(cfg, fingerprint)
    ident = spec.identity(spec.build())
    runner = Runner(records.Store(cfg.records_dir), cfg.checkpoint_dir, setup.checkpoint_label(cfg), {})
    return runner.path(ident), ident


@pytest.mark.parametrize("change", [dict(teacher_lr=0.05), dict(batch_size=32), dict(teacher_input_dropout=0.0),
                                    dict(teacher_dropout=0.3), dict(teacher_epochs=59), dict(jitter=1),
                                    dict(teacher_sizes=[784, 1000, 10])])
def test_every_setting_that_shapes_the_teacher_changes_its_checkpoint(change, tmp_path):
    """Table1(teacher_lr=0.05, ...) must not load a teacher trained at lr 1e-3 (it used to, keeping the new value
    in its record)."""
    base = Table1(checkpoint_dir=str(tmp_path))
    path, ident = _teacher_path(base)
    other_path, other = _teacher_path(dataclasses.replace(base, **change))
    assert other_path != path and identity.differences(ident, other)


def test_other_data_changes_the_checkpoint_and_a_renamed_file_is_refused(tmp_path):
    cfg = Table1(checkpoint_dir=str(tmp_path))
    path_a, ident_a = _teacher_path(cfg, "a" * 64)
    path_b, ident_b = _teacher_path(cfg, "b" * 64)
    assert path_a != path_b
    checkpoints.save_model(path_a, MLP(cfg.teacher_sizes), ident_a)
    os.rename(path_a, path_b)  # a file under the other run's name still says what produced it
    with pytest.raises(checkpoints.CheckpointError, match=r"produced by another run \(differs in: data\)"):
        checkpoints.read_network(path_b, identity=ident_b)


def test_results_names_never_overwrite_a_preset(tmp_path):
    quick = Table1.of_preset("quick")
    assert quick.deviations() == {}
    assert Table1().deviations() == {}
    assert Table1.of_preset("quick", subset=2000).deviations() == {"subset": 2000}
    assert set(Table1(seeds=1, data="/x").deviations()) == {"seeds", "data"}
    # where the data was found, the backend and the folders do not change the numbers' meaning
    assert Table1(data_dir="/elsewhere", out_dir="o", checkpoint_dir="c").deviations() == {}


def test_bad_settings_are_refused():
    for kw, message in ((dict(split_test=0.5), "only for the named notMNIST"), (dict(variants=["gan"]), "unknown"),
                        (dict(teacher_lr=-1.0), "teacher_lr"), (dict(subset=-3), "subset"),
                        (dict(data="a", data_dir="b"), "not both"), (dict(backend="jax"), "backend must be"),
                        (dict(teacher_dropout=1.0), "teacher_dropout"), (dict(labelled=0.0), "labelled must be"),
                        (dict(labelled=True), "labelled must be"), (dict(variants=["kd", "KD"]), "more than once"),
                        (dict(labelled=0.1, variants=["kd", "adv-logprob-kd"]), "adv-logprob-kd cannot train")):
        with pytest.raises(ConfigError, match=message):
            Table1(**kw)
    assert Table1(variants=["KD", "adv-report"]).variants == ["kd", "adv-report"]  # names or ids


def test_a_late_failure_keeps_the_finished_variants(tmp_path, monkeypatch):
    class Broken(Supervised):
        def __call__(self, *args, **kwargs):
            raise RuntimeError("the last variant breaks")

    monkeypatch.setitem(registry.BY_ID, "broken", Variant("broken", "broken", lambda d, ctx: Broken()))
    cfg = Table1(subset=600, teacher_epochs=1, student_epochs=1, finetune_epochs=1, seeds=1,
                 variants=["wo-kd", "kd", "broken"], out_dir=str(tmp_path / "r"),
                 checkpoint_dir=str(tmp_path / "ck"), records_dir=str(tmp_path / "rec"))
    with pytest.raises(RuntimeError, match="the last variant breaks"):
        table1.run(cfg)
    # the records of what finished are there, and the broken variant, planned before anything trained, has none
    assert sorted(p.split("-")[0] for p in os.listdir(tmp_path / "rec")) == ["kd", "student", "table", "teacher",
                                                                           "wo"]
    (name,) = [p for p in os.listdir(tmp_path / "r") if p.endswith(".json")]
    record = json.loads((tmp_path / "r" / name).read_text())
    assert name.endswith(".partial.json")  # an unfinished run never takes the finished results' name
    assert record["complete"] is False and set(record["variants"]) == {"wo-kd", "kd"}
    assert all(np.isfinite(v["mean"]) for v in record["variants"].values())
    assert "**Incomplete" in (tmp_path / "r" / name.replace(".json", ".md")).read_text()
    assert not [p for p in os.listdir(tmp_path / "r") if p.startswith(".tmp")]  # nothing half-written


def test_the_presets_compare_every_new_method_with_kd_on_five_seeds():
    """Issue 12's protocol: the full run and the few-labels run both hold KD and each new method, with 5 seeds."""
    full, few = Table1(), Table1.of_preset("labels5")
    for cfg in (full, few):
        assert {"kd", "dkd", "kd-standardised", "dist", "adv-conditional"} <= set(cfg.variants)
        assert cfg.seeds == 5 and all(registry.n_seeds(v, cfg.seeds, cfg.ablation_seeds) == 5     # all seeds
                                      for v in ["kd"] + registry.compared())
    assert few.labelled == 0.05 and few.results_name("mnist") == "mnist_labels5_table" and few.deviations() == {}
    assert all(registry.BY_ID[v].unlabelled for v in few.variants)
    assert "l1-logits" not in full.variants and "l1-logits" not in few.variants   # the ablation runs on request


def test_the_comparison_table_reads_the_gap_to_kd():
    runs = lambda errs, secs: [{"errors": e, "seconds": secs, "history": [{}] * 10} for e in errs]  # noqa: E731
    from tinykd.experiments import shared
    record = {"variants": {k: {"name": registry.BY_ID[k].name, "runs": runs(e, s), **shared.mean_std(e)}
                           for k, e, s in (("kd", [100, 102, 104], 20.0), ("dkd", [96, 98, 100], 30.0))}}
    lines = table1_view.comparison(record)
    (dkd,) = [line for line in lines if "`dkd`" in line]
    assert "| 98.0 ± 2.0 | -4.0 (-2.0) | 1.50 |" in dkd    # 4 fewer errors than KD, 2 pooled std, 1.5× the time
    assert table1_view.comparison({"variants": {"kd": record["variants"]["kd"]}}) == []


def test_a_gap_without_spread_keeps_its_sign():
    """Two methods with identical seeds (std 0): the gap in pooled std is ±inf with the errors' sign, never a
    verdict the wrong way round."""
    from tinykd.experiments import shared
    kd, worse = shared.mean_std([100, 100]), shared.mean_std([103, 103])
    assert shared.pooled_gap(worse, kd)[2] == np.inf and shared.pooled_gap(kd, worse)[2] == -np.inf   # method − base
    assert shared.pooled_gap(kd, kd)[2] == 0.0
    record = {"config": dataclasses.asdict(Table1()), "teacher_not_better": False,
              "student_initial": {"max_abs_logit": 1.0, "errors": 150},
              "teacher": {"errors": 90}, "variants": {"kd": {"name": "KD", **kd}, "dkd": {"name": "DKD", **worse}}}
    assert "DKD is WORSE than KD by 3.0 test errors" in " ".join(table1_view.what_it_shows(record))


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_results_are_written_with_the_users_umask(umask, mode, tmp_path):
    """Issue 18, item 9: results were written 0600 (mkstemp's mode) whatever the umask; now 0666 less the umask,
    like any other file the user writes, for the partial files and the finished ones alike."""
    from tinykd.experiments import shared
    old = os.umask(umask)
    try:
        shared.write(str(tmp_path / "r" / "x"), {"complete": False}, "partial\n")
        assert os.stat(tmp_path / "r" / "x.partial.json").st_mode & 0o777 == mode
        shared.write(str(tmp_path / "r" / "x"), {"complete": True}, "τ ± done\n")
    finally:
        os.umask(old)
    for ext in (".json", ".md"):
        assert os.stat(tmp_path / "r" / f"x{ext}").st_mode & 0o777 == mode
    assert (tmp_path / "r" / "x.md").read_text(encoding="utf-8") == "τ ± done\n"
    assert sorted(os.listdir(tmp_path / "r")) == ["x.json", "x.md"]


def test_checking_a_folder_leaves_nothing_behind(tmp_path):
    """Issue 18, item 18: proving an output folder writable used to create it, so a run refused later left empty
    folders behind. A missing folder is now checked through its nearest existing ancestor and made only when a
    file is written; a path through a file or an unwritable ancestor is still refused."""
    from tinykd.experiments import shared
    shared.check_writable(tmp_path / "a" / "b" / "c")
    shared.check_writable(tmp_path)
    assert os.listdir(tmp_path) == []
    (tmp_path / "file").write_text("x")
    with pytest.raises(shared.OutputError, match=r"cannot be made: .*file is a file, not a folder"):
        shared.check_writable(tmp_path / "file" / "sub")
    with pytest.raises(shared.OutputError, match=r"file is a file, not a folder"):
        shared.check_writable(tmp_path / "file")
    if os.geteuid() != 0:   # root writes anywhere
        (tmp_path / "ro").mkdir(mode=0o500)
        with pytest.raises(shared.OutputError, match=r"to be made in .*ro\) cannot be written"):
            shared.check_writable(tmp_path / "ro" / "new")
    shared.write(str(tmp_path / "made" / "here" / "x"), {}, "")   # the folder appears with the first file
    assert sorted(os.listdir(tmp_path / "made" / "here")) == ["x.json", "x.md"]


def _kd_record(settings, flag, kd=(110, 112, 114), wo=(100, 101, 102), teacher=90):
    from tinykd.experiments import shared
    return {"config": settings, "teacher_not_better": flag, "student_initial": {"max_abs_logit": 1.0, "errors": 150},
            "teacher": {"errors": teacher},
            "variants": {"kd": {"name": "KD", **shared.mean_std(kd)},
                         "wo-kd": {"name": "w/o KD", **shared.mean_std(wo)}}}


def test_a_kd_that_loses_is_explained_by_what_the_run_shows_only():
    """Issue 18, item 20: a KD that lost to the labels alone was explained by "the full run's gain needs its
    budget" even in a full run whose teacher was flagged as worse than S (initial). The verdict names the causes
    the run shows (a flagged teacher, a budget shorter than the full run's) and claims nothing else."""
    full, quick = dataclasses.asdict(Table1()), dataclasses.asdict(Table1.of_preset("quick"))
    flagged = " ".join(table1_view.what_it_shows(_kd_record(full, True)))
    assert "KD makes 11.0 MORE test errors" in flagged and "flagged as NOT better than S (initial)" in flagged
    assert "budget" not in flagged
    short = " ".join(table1_view.what_it_shows(_kd_record(quick, False)))
    assert "the budget is shorter than the full run's: teacher_epochs 10 (full run: 60), student_epochs 5 (full " \
           "run: 20), finetune_epochs 10 (full run: 15), the students' transfer set of 5,000 images" in short
    assert "flagged" not in short
    neither = " ".join(table1_view.what_it_shows(_kd_record(full, False, kd=(101, 102, 103))))
    assert "within the spread of the seeds" in neither and "this run shows no cause" in neither
    assert "budget is" not in neither.replace("the budget is the full run's", "")
    for text in (flagged, short, neither):
        assert "needs its budget" not in text and "too short" not in text
    tiny = dict(full, subset=1200)
    assert "subset 1,200 (full run: every training image)" in " ".join(table1_view.what_it_shows(_kd_record(tiny,
                                                                                                             None)))


def test_a_student_that_already_matches_its_teacher_is_named_as_what_the_run_shows():
    """Issue 28, item 9: on data where the student alone matches the teacher (w/o KD 1484 vs the teacher's 1491
    test errors), a KD within the seeds' spread of w/o KD was put down to the short budget alone, and what the run
    shows was left out."""
    quick = dataclasses.asdict(Table1.of_preset("quick"))
    lines = table1_view.what_it_shows(_kd_record(quick, False, kd=(1483, 1485, 1487), wo=(1482, 1484, 1486),
                                                 teacher=1491))
    (verdict,) = [line for line in lines if "KD beats w/o KD" in line]
    matched = ("the student on the labels alone already matches (or beats) the teacher on the test set: w/o KD 1484 "
               "vs the teacher's 1491 test errors (std 2.0)")
    assert verdict.startswith("NOT that KD beats w/o KD: -1.0 test errors, within the spread")
    assert f"what this run shows that can cause it: {matched}; the budget is shorter" in verdict
    assert sum(matched in line for line in lines) == 1
    # KD beating w/o KD while w/o KD already matches the teacher: said on its own line
    lines = table1_view.what_it_shows(_kd_record(quick, False, kd=(1470, 1471, 1472), wo=(1482, 1484, 1486),
                                                 teacher=1491))
    assert lines[1] == matched and "KD beats w/o KD by 13.0" in lines[2]
    # within one std above the teacher still matches it; beyond, it does not
    assert matched.replace("1491", "1483") in " ".join(table1_view.what_it_shows(_kd_record(
        quick, False, kd=(1483, 1485, 1487), wo=(1482, 1484, 1486), teacher=1483)))
    assert "already matches" not in " ".join(table1_view.what_it_shows(_kd_record(
        quick, False, kd=(1483, 1485, 1487), wo=(1482, 1484, 1486), teacher=1481)))


def test_results_on_your_own_data_are_named_after_it():
    """Issue 18, item 20: a run on --data digits/ wrote mnist_table_custom-...; it is named after the data now
    (still _custom-<hash>: other data is always a deviation)."""
    assert Table1(data="/x/digits").results_name("digits") == "digits_table"
    assert Table1.of_preset("quick", data="/x/my data!.npz").results_name("my data!") == \
        "my-data_quick_table"
    assert Table1().results_name("whatever") == "mnist_table"              # a named set keeps its own name
    assert Table1(dataset="notmnist", split_test=0.5).results_name("notmnist") == "notmnist_split0.5_table"


def test_files_that_are_not_the_canonical_ones_make_a_custom_run(tmp_path, monkeypatch):
    """Issue 18, item 7: a named data set loaded from files that are not its canonical ones (a --data-dir holding
    other data) is a deviation from the preset, named by its fingerprint, never the reference results."""
    from tinykd import data
    mnist = data.load("mnist")
    assert mnist.canonical is True and settings.data_deviations(Table1(), mnist) == {}
    small = dataclasses.replace(mnist, x_train=mnist.x_train[:600], y_train=mnist.y_train[:600],
                                x_test=mnist.x_test[:200], y_test=mnist.y_test[:200], canonical=False)
    (dev,) = settings.data_deviations(Table1(), small).items()
    assert dev == ("data_files",
                   f"mnist files not verified by a published checksum (fingerprint {small.fingerprint()[:16]})")
    assert settings.data_deviations(Table1(data="/mine"), small) == {}    # your own data: "data" says so
    monkeypatch.setattr(data, "load", lambda *a, **k: small)
    cfg = Table1(data_dir=str(tmp_path), teacher_epochs=1, student_epochs=1, finetune_epochs=1, seeds=1,
                 variants=["kd"], out_dir=str(tmp_path / "r"), checkpoint_dir=str(tmp_path / "ck"),
                 records_dir=str(tmp_path / "rec"))
    record = table1.run(cfg)
    assert record["deviations"]["data_files"] == \
        f"mnist files not verified by a published checksum (fingerprint {record['data']['fingerprint'][:16]})"
    text = (tmp_path / "r" / "mnist_table.md").read_text()
    assert "this run differs from it in: " in text
    assert "data_files = mnist files not verified by a published checksum" in text
    assert "(the preset's reference run)" not in text
    recs = records.Store(tmp_path / "rec").all()
    (kd,) = [r for r in recs if r["identity"]["role"] == "variant"]
    (table,) = [r for r in recs if r["identity"]["role"] == "table"]
    assert table["identity"]["table"]["deviations"] == record["deviations"] and table["result"]["keys"] == [kd["key"]]
    assert kd["identity"]["data"] == record["data"]["fingerprint"]


def test_the_machine_record_names_the_blas_kernel_and_threads_that_ran():
    """Bit-for-bit reproduction needs the same BLAS kernel and thread count: a record names the ones it ran with,
    asked of the library NumPy loaded, and a Markdown table prints them."""
    m = provenance.machine()
    assert {"python", "numpy", "cpu", "cpus", "blas", "blas_kernel", "blas_threads"} <= set(m)
    with open("/proc/self/maps", encoding="utf-8") as f:
        openblas = any("openblas" in line for line in f)
    if openblas:      # NumPy's wheels bundle OpenBLAS: then the kernel and threads are known, never guessed
        assert m["blas_kernel"] not in ("", "not known") and isinstance(m["blas_threads"], int)
        assert m["blas_threads"] >= 1
    line = shared.machine(m)
    assert f"kernel {m['blas_kernel']}" in line and f"{m['blas_threads']} threads" in line


def _tiny_npz(path, seed=0, n_train=600, n_test=200):
    """Small own data: MNIST images (28x28 uint8), pixels permuted by ``seed`` (other seeds: other content)."""
    from tinykd import data
    mnist = data.load("mnist")
    perm = np.random.default_rng(seed).permutation(784)
    images = {s: (getattr(mnist, f"x_{s}")[:n, perm] * 255).round().astype(np.uint8).reshape(-1, 28, 28)
              for s, n in (("train", n_train), ("test", n_test))}
    np.savez(path, x_train=images["train"], y_train=mnist.y_train[:n_train], x_test=images["test"],
             y_test=mnist.y_test[:n_test])


def _tiny_cfg(tmp_path, data, **kw):
    return Table1(data=str(data), teacher_sizes=[784, 32, 10], student_sizes=[784, 16, 10], teacher_epochs=1,
                  student_epochs=1, finetune_epochs=1, seeds=1, variants=["kd"], out_dir=str(tmp_path / "r"),
                  checkpoint_dir=str(tmp_path / "ck"), records_dir=str(tmp_path / "rec"), **kw)


def test_without_validation_the_logit_statistics_say_what_they_were_measured_on(tmp_path):
    """Issue 18 trial, item 3: with no validation split the columns "mean logit (val.)" came from the training set
    and the Markdown said "Validation errors (out of 0): T None, S (initial) None"."""
    _tiny_npz(tmp_path / "own.npz")
    record = table1.run(_tiny_cfg(tmp_path, tmp_path / "own.npz", val=0))
    assert record["logit_stats_on"] == "training" and record["data"]["n_val"] == 0
    (md,) = [p for p in os.listdir(tmp_path / "r") if p.endswith(".md")]
    text = (tmp_path / "r" / md).read_text()
    assert "No validation split" in text and "mean logit (training) | max abs logit (training)" in text
    assert "(val.)" not in text and "out of 0" not in text and "None" not in text
    assert not [p for p in os.listdir(tmp_path / "r") if p.endswith(".png")]   # no empty learning curves
    with_val = table1.run(_tiny_cfg(tmp_path, tmp_path / "own.npz", val=100))
    assert with_val["logit_stats_on"] == "validation"
    assert "mean logit (val.)" in (tmp_path / "r" / md).read_text()   # the table of the latest run


def test_results_on_your_own_data_are_named_by_its_content_not_its_path(tmp_path, monkeypatch):
    """Issue 18 trial, item 4: results on --data were named from the path string, so new content at the same
    path silently replaced the earlier results, and one file by a relative and an absolute path got two names.
    Records are named by identities that hold the data's fingerprint: the same data by either path finds the same
    records (the second run trains nothing), new content at the same path makes new ones."""
    _tiny_npz(tmp_path / "own.npz", seed=0)
    monkeypatch.chdir(tmp_path)
    names, views = [], []
    for data_path in ("own.npz", str(tmp_path / "own.npz")):
        views.append(table1.run(_tiny_cfg(tmp_path, data_path)))
        names.append(sorted(p for p in os.listdir(tmp_path / "rec") if not p.startswith("table-")))
    assert names[0] == names[1] and len(names[0]) == 3   # teacher, S (initial), one KD run: found, not retrained
    # each command's table is recorded (the path is part of its settings) and shows the same networks
    shown = [v for v in table1_view.views(records.Store(tmp_path / "rec").all())]
    assert len(shown) == 2 and all(v["variants"] == views[0]["variants"] for v in shown)
    _tiny_npz(tmp_path / "own.npz", seed=1)                 # new content at the same path: new records
    table1.run(_tiny_cfg(tmp_path, "own.npz"))
    assert len([p for p in os.listdir(tmp_path / "rec") if not p.startswith("table-")]) == 6


def test_a_run_without_finetune_epochs_is_refused_before_training():
    """Issue 18 trial, item 5: finetune_epochs=0 trained the teacher and S (initial), then failed in the
    variants' schedule; every variant needs at least one epoch."""
    with pytest.raises(ConfigError, match="finetune_epochs must be an integer >= 1, got 0"):
        Table1(finetune_epochs=0)
    assert Table1(teacher_epochs=0, student_epochs=0).teacher_epochs == 0   # an untrained network is a choice


def test_the_experiment_layer_is_one_module_per_idea():
    """The configuration sits below ``prepare`` (which reads a Table1's fields without importing anything above
    it), the tables below the protocol, and no module of the package passes 400 lines."""
    import subprocess
    import sys
    below = {"tinykd.experiments.settings": ("tinykd.experiments.setup", "tinykd.experiments.table1_view", "tinykd.experiments.table1"),
             "tinykd.experiments.setup": ("tinykd.experiments.table1_view", "tinykd.experiments.table1"),
             "tinykd.experiments.table1_view": ("tinykd.experiments.setup", "tinykd.experiments.table1")}
    for module, above in below.items():
        code = f"import sys, {module}; print(sorted(m for m in {above!r} if m in sys.modules))"
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                             cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        assert out.stdout.strip() == "[]", f"{module} imports {out.stdout.strip()}"
    root = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tinykd")
    for name in sorted(os.listdir(root)):              # every module of the package, not only this layer's
        if name.endswith(".py"):
            with open(os.path.join(root, name), encoding="utf-8") as f:
                assert len(f.read().splitlines()) <= 400, f"tinykd/{name} is over 400 lines: it holds two ideas"
    assert not os.path.exists(os.path.join(root, "experiment.py"))


def test_settings_from_python_are_one_line_too():
    """Second new-user trial: an unknown preset was a KeyError, and a string of variants was read letter by letter."""
    with pytest.raises(ConfigError, match="unknown preset 'nope'"):
        Table1.of_preset("nope")
    with pytest.raises(ConfigError, match=r"variants must be a list of variant ids, got the string 'kd': write \['kd'\]"):
        Table1(variants="kd")


def test_kd_from_an_ensemble_teacher_is_a_variant_of_the_registry(tmp_path, monkeypatch):
    """Issue 31: Table 1's protocol gains an ensemble teacher through the registry. ``kd-ensemble`` distils from the
    mean of three teachers' P^τ (the teacher and two more of its recipe, seeds 1 and 2), an ensemble recorded once
    and named in the student's identity; a rerun trains nothing."""
    from tinykd.ensemble import Ensemble
    from tinykd.runs import checkpoints, records
    from tinykd.runs.run import Runner
    cfg = Table1(subset=600, teacher_epochs=1, student_epochs=1, finetune_epochs=1, seeds=1,
                 variants=["kd", "kd-ensemble"], out_dir=str(tmp_path / "r"),
                 checkpoint_dir=str(tmp_path / "ck"), records_dir=str(tmp_path / "rec"))
    given, run = {}, Runner.run

    def spy(self, spec, rows, test, **kw):    # what each variant is given as its teacher, and on which rows
        if "variant" in spec.extra:
            given[spec.extra["variant"]] = (rows[0], kw["teacher"])
        return run(self, spec, rows, test, **kw)
    monkeypatch.setattr(Runner, "run", spy)
    view = table1.run(cfg)
    recs = records.Store(tmp_path / "rec").all()
    teachers = sorted((r for r in recs if r["identity"]["role"] == "teacher"), key=lambda r: r["identity"]["seed"])
    (ens,) = [r for r in recs if r["identity"]["role"] == "teacher-ensemble"]
    (kd,) = [r for r in recs if r["identity"].get("variant") == "kd"]
    (from_ens,) = [r for r in recs if r["identity"].get("variant") == "kd-ensemble"]
    assert [t["identity"]["seed"] for t in teachers] == [0, 1, 2]
    assert ens["identity"]["model"]["members"] == [t["key"] for t in teachers]
    assert ens["result"]["average"] == "probabilities" and ens["result"]["members"] == [t["key"] for t in teachers]
    assert from_ens["identity"]["teacher"] == ens["key"] and kd["identity"]["teacher"] == teachers[0]["key"]
    assert {k: v for k, v in from_ens["identity"].items() if k not in ("teacher", "variant")} == \
        {k: v for k, v in kd["identity"].items() if k not in ("teacher", "variant")}
    # the teacher it learns from: the mean of the three networks' P^τ at KD's τ = 4, as logits (not τ = 1)
    nets = [checkpoints.read_network(os.path.join(cfg.checkpoint_dir, name)) for t in teachers
            for name in os.listdir(cfg.checkpoint_dir) if name.endswith(f"-{t['key']}.npz")]
    x, target = given["kd-ensemble"]
    assert len(nets) == 3 and np.allclose(target, Ensemble(nets).logits(x, 4.0), rtol=1e-6, atol=1e-6)
    assert not np.allclose(target, Ensemble(nets).logits(x, 1.0), rtol=1e-3, atol=1e-3)
    assert np.array_equal(given["kd"][1], nets[0].logits(x))
    assert set(view["variants"]) == {"kd", "kd-ensemble"} and view["complete"]
    (shown,) = view["ensembles"]                                 # the ensemble and its cost, in the table
    assert shown["errors"] == ens["result"]["errors"] and shown["variants"] == ["kd-ensemble"]
    assert shown["minutes"] == pytest.approx(sum(t["result"]["seconds"] for t in teachers[1:]) / 60)
    assert f"{ens['result']['errors']} test errors against the teacher's {teachers[0]['result']['errors']}" in \
        (tmp_path / "r" / "mnist_table.md").read_text()
    assert view["variants"]["kd-ensemble"]["name"] == "KD from an ensemble of 3 teachers"
    assert table1.run(cfg)["variants"] == view["variants"] and len(records.Store(tmp_path / "rec").all()) == len(recs)
    # a member's or the ensemble's record gone: the table is one line naming it, never shown without them
    from tinykd.experiments import table1_view
    for gone in (teachers[2], ens):
        path = records.Store(tmp_path / "rec").path(gone["identity"])
        kept = open(path, encoding="utf-8").read()
        os.remove(path)
        with pytest.raises(records.RecordError, match=f"learnt from records not in this folder \\({gone['key']}\\)"):
            table1_view.views(records.Store(tmp_path / "rec").all())
        open(path, "w", encoding="utf-8").write(kept)


def test_a_teacher_that_loses_to_s_initial_is_told_of_the_ensemble_variant_unless_the_run_has_it():
    from tinykd.experiments import table1_view
    worse, better, s0 = {"validation_errors": 50, "history": [{}]}, {"validation_errors": 30}, {"validation_errors": 40}
    flag, line = table1_view.teacher_check(worse, s0, ["wo-kd", "kd"])
    assert flag and line.startswith("WARNING") and line.endswith("--variants kd-ensemble")
    assert "--variants" not in table1_view.teacher_check(worse, s0, ["kd", "kd-ensemble"])[1]   # it runs already
    assert table1_view.teacher_check(better, s0, ["kd"]) == (False, "the teacher beats S (initial) on validation "
                                                                   "(30 vs 40 errors)")
    # an untrained teacher is told to train, not to be averaged
    assert table1_view.teacher_check({**worse, "history": []}, s0, ["kd"])[1].endswith(
        "it trained no epoch (--teacher-epochs 0): give it epochs")
