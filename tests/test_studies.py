"""The studies beside Table 1 on records (tinykd/experiments/xnor_kd.py, fitnets_kd.py, dark_knowledge.py) as a user runs them: the FitNets, binary
students and dark-knowledge examples end to end on small data, each leaving one record per trained network; a
rerun trains only the networks whose records are missing; each table is a view of the records, exactly what the
run wrote; and the converted records of the last full runs give their tables."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tinykd import data

from tinykd.data import formats

from tinykd.experiments import dark_knowledge, fitnets_kd, regenerate, xnor_kd

from tinykd.runs import records

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DARK_TINY = ["--teacher-epochs", "1", "--epochs", "1", "--sweep-epochs", "1", "--few-epochs", "1"]


def run_example(script, *args, folder):
    """Run an example with its outputs in ``folder`` (r: tables, ck: checkpoints, rec: records)."""
    where = ["--out-dir", str(folder / "r"), "--checkpoint-dir", str(folder / "ck"), "--records-dir",
             str(folder / "rec")]
    return subprocess.run([sys.executable, os.path.join(ROOT, "examples", script), *args, *where],
                          capture_output=True, text=True, timeout=600, cwd=ROOT)


def names(folder):
    return sorted(os.listdir(folder / "rec"))


def the_view(module, folder, name):
    """The view of the records in ``folder`` named ``name``, and the Markdown the run wrote for it."""
    (v,) = [v for v in module.views(records.Store(folder / "rec").all()) if v["name"] == name]
    return v, (folder / "r" / f"{name}.md").read_text()


def test_fitnets_leaves_a_record_per_student_and_a_rerun_trains_only_the_missing_one(tmp_path):
    args = ["--quick", "--subset", "1200", "--teacher-epochs", "1", "--hint-epochs", "1", "--kd-epochs", "1"]
    out = run_example("mnist_fitnets.py", *args, folder=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "0 of the 2 networks asked for are in" in out.stdout
    assert [n.split("-")[0] for n in names(tmp_path)] == ["fitnets", "fitnets", "table", "teacher"]
    record = json.loads((tmp_path / "r" / "mnist_fitnets_quick.json").read_text())
    for run in record["runs"].values():
        assert run["errors"] < 5000 and run["validation_errors"] <= 100
    assert len(record["runs"]["KD only"]["history"]) == 2   # the same budget: hint epochs + KD epochs
    assert record["data"]["fingerprint"] and record["deviations"] == {"teacher_epochs": 1, "subset": 1200,
                                                                      "kd_epochs": 1}
    v, md = the_view(fitnets_kd, tmp_path, "mnist_fitnets_quick")
    assert fitnets_kd.markdown(v) == md and "| FitNets: hints, then KD |" in md
    assert [n for n, _ in fitnets_kd.figures(v)] == ["fitnets_curves"]
    (hinted,) = [n for n in names(tmp_path) if n.startswith("fitnets-") and "kd-alone" not in n]
    first = json.loads((tmp_path / "rec" / hinted).read_text())
    os.remove(tmp_path / "rec" / hinted)
    # the record alone lost: rebuilt from the network's checkpoint, naming the process that trained it
    again = run_example("mnist_fitnets.py", *args, folder=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "1 of the 2 networks asked for are in" in again.stdout and "loaded" in again.stdout
    assert "[hints]" not in again.stderr + again.stdout and "[teacher]" not in again.stderr + again.stdout
    rebuilt = json.loads((tmp_path / "rec" / hinted).read_text())
    assert rebuilt["provenance"] == first["provenance"] and rebuilt["result"]["errors"] == first["result"]["errors"]
    # record and checkpoint lost: that student alone trains again, hints first
    os.remove(tmp_path / "rec" / hinted)
    (ck,) = [p for p in (tmp_path / "ck").iterdir() if p.name.endswith(f"-{first['key']}.npz")]
    ck.unlink()
    again = run_example("mnist_fitnets.py", *args, folder=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "1 of the 2 networks asked for are in" in again.stdout and "1 to train" in again.stdout
    assert "[hints]" in again.stderr + again.stdout and "[KD only]" not in again.stderr + again.stdout
    assert "[teacher]" not in again.stderr + again.stdout   # its checkpoint and record are found
    assert len(names(tmp_path)) == 4     # two students, the teacher, the table's record


def test_xnor_more_seeds_train_only_the_new_ones_and_the_table_is_a_view(tmp_path):
    args = ["--quick", "--subset", "1200", "--teacher-epochs", "1", "--epochs", "1", "--sizes", "784", "100", "10"]
    out = run_example("mnist_xnor_kd.py", *args, folder=tmp_path)
    assert out.returncode == 0, out.stderr
    assert len(names(tmp_path)) == 8     # six students, the teacher and the table's record
    more = run_example("mnist_xnor_kd.py", *args, "--seeds", "2", folder=tmp_path)
    assert more.returncode == 0, more.stderr
    assert "6 of the 12 networks asked for are in" in more.stdout and "6 to train" in more.stdout
    assert "seed 0:" not in more.stdout and more.stdout.count("seed 1:") == 6
    assert len(names(tmp_path)) == 14    # more seeds join the same table
    record = json.loads((tmp_path / "r" / "mnist_xnor_kd_quick.json").read_text())
    assert set(record["runs"]) == {f"{m} {k} KD" for m in ("FLOAT", "BWN", "XNOR") for k in ("with", "without")}
    assert all(v["n"] == 2 for v in record["runs"].values()) and record["seeds"] == 2
    assert all(run["packed_matches_emulation"] for k, v in record["runs"].items() if not k.startswith("FLOAT")
               for run in v["runs"])
    assert all(run["errors"] < 5000 for v in record["runs"].values() for run in v["runs"])
    assert record["xnor_bytes"]["packed_model"] < record["xnor_bytes"]["float32_model"] / 20
    v, md = the_view(xnor_kd, tmp_path, "mnist_xnor_kd_quick")
    assert xnor_kd.markdown(v) == md and "Float32 teacher:" in md
    assert [n for n, _ in xnor_kd.figures(v)] == ["binary_curves"]


def test_dark_knowledge_on_a_subset_resumes_at_the_missing_student(tmp_path):
    """The whole example on 1,100 images, one epoch each; its teacher is untrained (0 epochs), so it is flagged as
    no better than the student alone. Its omit-3 record removed, a rerun trains that student alone."""
    args = ["--quick", "--subset", "1200", "--transfer-size", "1100", *DARK_TINY, "--teacher-epochs", "0"]
    out = run_example("dark_knowledge.py", *args, folder=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "WARNING: the teacher is NOT better than the student alone (mean over its seeds)" in out.stdout
    assert len(names(tmp_path)) == 22 + 3   # 22 students, the teacher, the soft targets, the table
    r = json.loads((tmp_path / "r" / "dark_knowledge_quick.json").read_text())
    assert r["teacher_not_better"] is True and "**WARNING: the teacher is NOT better" in \
        (tmp_path / "r" / "dark_knowledge_quick.md").read_text()
    assert r["complete"] and r["transfer_size"] == r["data"]["n_train"] == 1100
    y = data.load("mnist").y_train[:1200]
    o = r["omit_3"]
    assert o["errors_on_3"] <= o["n_test_3"] == 1010 and o["errors"] <= 10000
    assert 0 < o["transfer_rows"] < 1100 and o["transfer_rows"] + o["n_val"] - np.sum(y != 3) in range(0, 101)
    best = min(c["val_errors"] for c in o["search"])
    assert [c["shift"] for c in o["search"] if c["val_errors"] == best][0] == o["bias_shift"]
    assert r["only_7_8"]["transfer_rows"] < 300 and r["only_7_8"]["bias_shift"] <= 0
    assert [row["labelled"] for row in r["few_labels"]["rows"]] == [11, 55, 220]
    widths = r["temperature_sweep"]["widths"]
    assert [x["temperature"] for x in widths["800"]] == [1, 2, 2.5, 4, 8, 20] and set(widths) == {"800", "30"}
    d = r["distilled_from_scratch"]
    assert d["temperature"] == 20.0 and d["epochs"] == 1 and d["distilled"]["mean"] == d["distilled"]["runs"][0]["errors"]
    assert {f"dark_knowledge_quick_{f}.png" for f in ("soft_targets", "temperature_sweep", "bias_shift")} <= \
        set(os.listdir(tmp_path / "r"))
    v, md = the_view(dark_knowledge, tmp_path, "dark_knowledge_quick")
    assert dark_knowledge.markdown(v) == md
    (omit,) = [n for n in names(tmp_path) if n.startswith("hinton-omit-3-")]
    os.remove(tmp_path / "rec" / omit)
    for ck in (tmp_path / "ck").glob(f"*-{omit.rsplit('-', 1)[1][:-5]}.npz"):
        ck.unlink()    # its checkpoint too, so that it trains again (a record alone is rebuilt from it)
    again = run_example("dark_knowledge.py", *args, folder=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "21 of the 22 networks asked for are in" in again.stdout and "1 to train" in again.stdout
    assert again.stdout.count("test errors (") == 1 and "hinton-omit-3 seed 0" in again.stdout
    assert len(names(tmp_path)) == 25
    assert json.loads((tmp_path / "r" / "dark_knowledge_quick.json").read_text())["omit_3"]["errors"] == o["errors"]


def write_digits_folder(folder, seed, n_train=700, n_test=300):
    """An MNIST-format folder that is not MNIST: MNIST digits with their pixels permuted."""
    mnist = data.load("mnist")
    perm = np.random.default_rng(seed).permutation(784)
    folder.mkdir(parents=True)
    for split, n, prefix in (("train", n_train, "train"), ("test", n_test, "t10k")):
        x = (getattr(mnist, f"x_{split}")[:n, perm] * 255).round().astype(np.uint8).reshape(n, 28, 28)
        formats.write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", x)
        formats.write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", getattr(mnist, f"y_{split}")[:n].astype(np.uint8))
    return folder


@pytest.mark.parametrize("missing, where, message", [
    (9, "test", "the test split has no image of class 9; the soft-target figure shows the first test image of each"),
    (3, "train", "training images) has no image of class 3; the mythical-digit experiment leaves out the 3s"),
])
def test_dark_knowledge_refuses_data_without_the_classes_it_needs(missing, where, message, tmp_path):
    """With --data, a test split without a 9 or a training split without a 3: one line before any training, and
    nothing left behind."""
    folder = write_digits_folder(tmp_path / "digits", 0)
    mnist = data.load("mnist")
    prefix, n, split = ("t10k", 300, "test") if where == "test" else ("train", 700, "train")
    keep = getattr(mnist, f"y_{split}")[:n] != missing
    images = formats.read_idx(folder / f"{prefix}-images-idx3-ubyte.gz")[keep]
    formats.write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", images)
    formats.write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz",
                      getattr(mnist, f"y_{split}")[:n][keep].astype(np.uint8))
    out = run_example("dark_knowledge.py", "--data", str(folder), *DARK_TINY, folder=tmp_path)
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 2 and "Traceback" not in out.stderr and message in lines[-1], out.stderr
    assert "] epoch" not in out.stderr
    assert not any(os.path.exists(tmp_path / d) for d in ("ck", "r", "rec"))


def test_help_gives_each_option_its_default_in_every_preset():
    out = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "dark_knowledge.py"), "--help"],
                         capture_output=True, text=True, timeout=60)
    text = " ".join(out.stdout.split())
    assert out.returncode == 0 and "python examples/dark_knowledge.py --quick" in out.stdout
    assert "epochs per temperature-sweep student (default: 15; 2 with --quick)" in text
    assert "teacher epochs (default: 60; 10 with --quick)" in text
    assert "(default: runs)" in text and "--records-dir DIR" in text and "--few-labels" not in text


def test_the_converted_records_give_the_last_full_runs_tables():
    """records/ holds the FitNets and dark-knowledge full runs, converted once: their views give the numbers the
    results files held, say where they were converted from, and draw their figures."""
    recs = records.Store(os.path.join(ROOT, "records")).all()
    (fit,) = [v for v in fitnets_kd.views(recs) if v["name"] == "mnist_fitnets"]
    md = fitnets_kd.markdown(fit)
    assert "| KD only | 109 | 64 |" in md and "| FitNets: hints, then KD | 112 | 52 |" in md
    assert "converted from `results/mnist_fitnets.json`" in md
    (dark,) = [v for v in dark_knowledge.views(recs) if v["name"] == "dark_knowledge"]
    md = dark_knowledge.markdown(dark)
    assert "| 146 | 145.0 ± 2.6 |" in md and "**110.3 ± 4.5**" in md and "| 800 | 135 | 122 | 119 | 113 | 115 | 123 |" in md
    assert "converted from `results/dark_knowledge.json`" in md
    assert [n for n, _ in dark_knowledge.figures(dark)] == ["soft_targets", "temperature_sweep", "bias_shift"]
    for r in recs:
        if r.get("converted"):
            assert r["key"] == records.key(r["identity"]) and len(r["converted"]["commit"]) == 40


def test_report_kinds_render_the_studies(monkeypatch):
    """With these modules among ``regenerate.KINDS``, the results document holds their tables."""
    from tinykd.experiments import table1_view
    monkeypatch.setattr(regenerate, "KINDS", (table1_view, fitnets_kd, dark_knowledge))
    text = regenerate.document(records.Store(os.path.join(ROOT, "records")).all(), draw=False)
    assert "## FitNets: hints, then KD, against KD alone on mnist, full preset" in text
    assert "## Hinton, Vinyals & Dean (2015) §3 on mnist, full preset" in text
    assert "dark_knowledge_soft_targets.png" in text


def test_binary_students_of_an_untrained_teacher_say_so(tmp_path):
    """Second new-user trial: --teacher-epochs 0 distilled the binary students from an untrained teacher without a
    word. A teacher no better than the float student without KD on validation is flagged in bold."""
    args = ["--subset", "300", "--teacher-epochs", "0", "--epochs", "1", "--seeds", "1", "--sizes", "784", "32", "10"]
    out = run_example("mnist_xnor_kd.py", *args, folder=tmp_path)
    assert out.returncode == 0, out.stderr
    md = (tmp_path / "r" / "mnist_xnor_kd.md").read_text()
    assert "**WARNING: the teacher is NOT better than the float student without KD (mean over its seeds)" in md
