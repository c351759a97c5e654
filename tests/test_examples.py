"""The examples as a user runs them: end to end on small data, on the user's own data, and every mistake a user can
make answered with one `error:` line and exit code 2, before any training."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tinykd import data, datafiles, formats
from tinykd.backend import cupy_available
from tinykd.layers import Network
from tinykd.train import errors

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ["--teacher-epochs", "1", "--student-epochs", "1", "--finetune-epochs", "1", "--seeds", "1",
        "--transfer-size", "500"]
DARK_TINY = ["--teacher-epochs", "1", "--epochs", "1", "--sweep-epochs", "1", "--few-epochs", "1"]


def run_example(script, *args, env=None, cwd=ROOT):
    return subprocess.run([sys.executable, os.path.join(ROOT, "examples", script), *args], capture_output=True,
                          text=True, timeout=600, cwd=cwd, env={**os.environ, **(env or {})})


def write_digits_folder(folder, seed, n_train=700, n_test=300):
    """An MNIST-format folder that is not MNIST: MNIST digits with their pixels permuted (learnable, but other
    data: its fingerprint and its checksums differ)."""
    mnist = data.load("mnist")
    rng = np.random.default_rng(seed)
    perm = rng.permutation(784)
    folder.mkdir(parents=True)
    for split, n in (("train", n_train), ("test", n_test)):
        x = (getattr(mnist, f"x_{split}")[:n, perm] * 255).round().astype(np.uint8).reshape(n, 28, 28)
        prefix = "train" if split == "train" else "t10k"
        formats.write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", x)
        formats.write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz",
                            getattr(mnist, f"y_{split}")[:n].astype(np.uint8))
    return folder


def test_mnist_adv_kd_quick_on_a_subset(tmp_path):
    out = run_example("mnist_adv_kd.py", "--quick", "--subset", "1200", *TINY, "--out-dir", str(tmp_path / "r"),
                      "--checkpoint-dir", str(tmp_path / "ck"))
    assert out.returncode == 0, out.stderr
    # a run that differs from the quick preset never writes the preset's reference files
    assert not (tmp_path / "r" / "mnist_quick_table.json").exists()
    (stem,) = {p.rsplit(".", 1)[0] for p in os.listdir(tmp_path / "r") if p.endswith((".json", ".md"))}
    assert stem.startswith("mnist_quick_table_custom-")
    assert {f"{stem}_learning_curves.png", f"{stem}_adversarial_drift.png"} <= set(os.listdir(tmp_path / "r"))
    record = json.loads((tmp_path / "r" / f"{stem}.json").read_text())
    assert record["complete"] and record["deviations"]["subset"] == 1200
    assert record["teacher"]["params"] == 2_392_800 and record["student_initial"]["params"] == 1_275_200
    assert set(record["variants"]) == {"wo-kd", "kd", "adv-report", "adv-logprob-kd"}
    d = record["data"]
    assert d["n_train"] + d["n_val"] == 1200 and d["n_val"] == 100 and d["n_test"] == 10000
    # the numbers are those of the models on disk, and a 1-epoch teacher on 1,100 images has learnt something
    teacher = Network.from_checkpoint(record["teacher"]["checkpoint"])
    ds = data.load("mnist")
    assert errors(teacher, ds.x_test, ds.y_test) == record["teacher"]["errors"] < 5000
    assert record["teacher"]["history"][-1]["val_errors"] == record["teacher"]["validation_errors"]
    for v in record["variants"].values():
        (run,) = v["runs"]
        assert v["mean"] == run["errors"] < 5000 and len(run["history"]) == 1
        assert run["history"][0]["val_errors"] == run["validation_errors"] <= 100
    assert record["student_initial"]["identity"]["transfer_rows"] == 500         # the students' transfer set
    assert "transfer_rows" not in record["teacher"]["identity"]                  # the teacher sees all
    md = (tmp_path / "r" / f"{stem}.md").read_text()
    assert "| T | S (initial) | S (w/o KD) | S (KD) |" in md and "subset = 1200" in md and "1,100 training" in md
    # the teacher and student checkpoints are reused on a second run with the same data and settings
    again = run_example("mnist_adv_kd.py", "--quick", "--subset", "1200", *TINY, "--variants", "kd",
                        "--out-dir", str(tmp_path / "r"), "--checkpoint-dir", str(tmp_path / "ck"))
    assert again.returncode == 0, again.stderr
    assert "teacher: loaded" in again.stdout and "student: loaded" in again.stdout


def test_few_labels_on_a_subset_compares_every_new_method_with_kd(tmp_path):
    """The few-labels preset end to end on 1,100 images: S (initial) learns from the labelled 5% only (its identity
    says so, so it never loads the all-labels student), every variant of the comparison runs, and the Markdown has
    the comparison with KD."""
    out = run_example("mnist_adv_kd.py", "--few-labels", "--subset", "1200", *TINY[:6], "--seeds", "2",
                      "--out-dir", str(tmp_path / "r"), "--checkpoint-dir", str(tmp_path / "ck"))
    assert out.returncode == 0, out.stderr
    assert "few labels: 55 of 1,100 student training rows keep their label" in out.stdout
    (stem,) = {p.rsplit(".", 1)[0] for p in os.listdir(tmp_path / "r") if p.endswith(".json")}
    assert stem.startswith("mnist_labels5_table_custom-")
    record = json.loads((tmp_path / "r" / f"{stem}.json").read_text())
    assert record["complete"] and record["config"]["labelled"] == 0.05
    assert set(record["variants"]) == {"wo-kd", "kd", "dkd", "kd-standardised", "dist", "adv-conditional"}
    ident = record["student_initial"]["identity"]
    assert ident["labelled"] == 0.05 and ident["labelled_seed"] == 0
    for vid, v in record["variants"].items():
        assert v["n"] == 2 and all(r["errors"] < 10000 for r in v["runs"])
        if vid != "wo-kd":
            assert v["objective"]["ignore_label"] == -1
    md = (tmp_path / "r" / f"{stem}.md").read_text()
    assert "| method | id | paper | student matches | test errors | − KD (pooled std) | s/epoch vs KD |" in md
    for vid in ("dkd", "kd-standardised", "dist", "adv-conditional"):
        assert f"| `{vid}` |" in md


def test_own_data_trains_afresh_and_is_fingerprinted(tmp_path):
    """A folder of MNIST-format files that are not MNIST: no checksum failure, its fingerprint in the results,
    and a second run on different data does not reuse the first one's teacher."""
    common = ["--quick", *TINY, "--variants", "kd", "--checkpoint-dir", str(tmp_path / "ck")]
    records = []
    for seed in (0, 1):
        folder = write_digits_folder(tmp_path / f"digits{seed}", seed)
        out = run_example("mnist_adv_kd.py", "--data", str(folder), *common, "--out-dir", str(tmp_path / f"r{seed}"))
        assert out.returncode == 0, out.stderr
        assert "loaded" not in out.stdout
        (name,) = [p for p in os.listdir(tmp_path / f"r{seed}") if p.endswith(".json")]
        assert name.startswith(f"digits{seed}_quick_table_custom-")   # named after the data (issue 18, item 20)
        records.append(json.loads((tmp_path / f"r{seed}" / name).read_text()))
    a, b = records
    for r, seed in ((a, 0), (b, 1)):
        assert int(r["data"]["fingerprint"], 16) and len(r["data"]["fingerprint"]) == 64
        assert r["data"]["source"] == str(tmp_path / f"digits{seed}") and r["data"]["name"] == f"digits{seed}"
        for role in ("teacher", "student_initial"):
            assert r[role]["loaded"] is False and os.path.exists(r[role]["checkpoint"])
            assert r[role]["identity"]["data"] == r["data"]["fingerprint"]
    assert a["data"]["fingerprint"] != b["data"]["fingerprint"]
    assert a["teacher"]["checkpoint"] != b["teacher"]["checkpoint"]
    # the same data again: loaded, from the checkpoint the first run wrote
    out = run_example("mnist_adv_kd.py", "--data", str(tmp_path / "digits0"), *common, "--out-dir",
                      str(tmp_path / "r2"))
    assert out.returncode == 0 and "teacher: loaded" in out.stdout
    (name,) = [p for p in os.listdir(tmp_path / "r2") if p.endswith(".json")]
    again = json.loads((tmp_path / "r2" / name).read_text())
    assert again["teacher"]["loaded"] is True and again["teacher"]["checkpoint"] == a["teacher"]["checkpoint"]
    assert again["teacher"]["errors"] == a["teacher"]["errors"]


def test_data_is_always_a_path_even_when_it_spells_a_data_set(tmp_path):
    """--data mnist with a ./mnist folder of your own: your folder, never the shipped MNIST."""
    write_digits_folder(tmp_path / "mnist", 0)
    out = run_example("mnist_adv_kd.py", "--data", "mnist", "--quick", *TINY, "--variants", "kd", "--out-dir",
                      str(tmp_path / "r"), "--checkpoint-dir", str(tmp_path / "ck"), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    (name,) = [p for p in os.listdir(tmp_path / "r") if p.endswith(".json")]
    record = json.loads((tmp_path / "r" / name).read_text())
    assert record["data"]["source"] == str(tmp_path / "mnist") and record["n_test"] == 300


def test_own_npz_data(tmp_path):
    mnist = data.load("mnist")
    images = (mnist.x_train[:600] * 255).round().astype(np.uint8)
    np.savez(tmp_path / "flat.npz", x_train=images, y_train=mnist.y_train[:600],
             x_test=mnist.x_test[:200], y_test=mnist.y_test[:200])
    out = run_example("mnist_adv_kd.py", "--data", str(tmp_path / "flat.npz"), "--quick", *TINY, "--variants", "kd",
                      "--out-dir", str(tmp_path / "r"), "--checkpoint-dir", str(tmp_path / "ck"))
    _user_error(out, "flat rows of 784 values: save them as (N, height, width) arrays, or pass --jitter 0")
    np.savez(tmp_path / "mine.npz", x_train=images.reshape(-1, 28, 28), y_train=mnist.y_train[:600],
             x_test=mnist.x_test[:200].reshape(-1, 28, 28), y_test=mnist.y_test[:200])
    out = run_example("mnist_adv_kd.py", "--data", str(tmp_path / "mine.npz"), "--quick", *TINY, "--variants", "kd",
                      "--out-dir", str(tmp_path / "r"), "--checkpoint-dir", str(tmp_path / "ck"))
    assert out.returncode == 0, out.stderr
    (name,) = [p for p in os.listdir(tmp_path / "r") if p.endswith(".json")]
    record = json.loads((tmp_path / "r" / name).read_text())
    assert record["data"]["name"] == "mine" and record["n_test"] == 200 and record["data"]["n_val"] == 50
    kept = sorted(os.listdir(tmp_path / "ck"))          # checkpoints named after your data, never after MNIST
    assert kept and all(name.startswith(("mine-teacher-", "mine-student-")) for name in kept), kept


def test_flat_data_trains_with_jitter_0_and_paths_expand_the_home_folder(tmp_path):
    """Trial items 8 and 13: flat .npz rows are refused with "pass --jitter 0", an option no example had; and
    --out-dir=~/x (which no shell expands) made a folder named ~ in the working folder."""
    mnist = data.load("mnist")
    np.savez(tmp_path / "flat.npz", x_train=(mnist.x_train[:600] * 255).round().astype(np.uint8),
             y_train=mnist.y_train[:600], x_test=mnist.x_test[:200], y_test=mnist.y_test[:200])
    (tmp_path / "work").mkdir()
    out = run_example("mnist_adv_kd.py", "--data=~/flat.npz", "--jitter", "0", "--quick", *TINY, "--variants", "kd",
                      "--out-dir=~/r", "--checkpoint-dir=~/ck", env={"HOME": str(tmp_path)}, cwd=tmp_path / "work")
    assert out.returncode == 0, out.stderr
    assert os.listdir(tmp_path / "work") == []                # no ./~ folder
    (name,) = [p for p in os.listdir(tmp_path / "r") if p.endswith(".json")]
    record = json.loads((tmp_path / "r" / name).read_text())
    assert record["config"]["jitter"] == 0 and record["teacher"]["identity"]["jitter"] == 0
    assert record["data"]["source"] == str(tmp_path / "flat.npz") and os.listdir(tmp_path / "ck")
    for script in ("mnist_fitnets.py", "mnist_xnor_kd.py", "dark_knowledge.py", "reproduce_table.py"):
        assert "--jitter N" in run_example(script, "--help").stdout   # every example trains a teacher with jitter


def test_a_teacher_worse_than_its_student_is_flagged(tmp_path):
    out = run_example("mnist_adv_kd.py", "--quick", "--subset", "1200", *TINY, "--teacher-epochs", "0",
                      "--variants", "kd",
                      "--out-dir", str(tmp_path / "r"), "--checkpoint-dir", str(tmp_path / "ck"))
    assert out.returncode == 0, out.stderr
    assert "WARNING: the teacher is NOT better than S (initial)" in out.stdout
    (name,) = [p for p in os.listdir(tmp_path / "r") if p.endswith(".json")]
    record = json.loads((tmp_path / "r" / name).read_text())
    assert record["teacher_not_better"] is True
    assert "**WARNING: the teacher is NOT better" in (tmp_path / "r" / name.replace(".json", ".md")).read_text()


def _user_error(out, message):
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr and message in lines[-1] and "error: " in lines[-1], out.stderr
    return lines


@pytest.mark.parametrize("script, args, message", [
    ("reproduce_table.py", ["--dataset", "cifar"], "invalid choice: 'cifar'"),
    ("reproduce_table.py", ["--dataset", "notmnist", "--quick", "--seeds", "0"], "must be an integer >= 1"),
    ("reproduce_table.py", ["--dataset", "notmnist", "--quick", "--variants", "GAN"], "invalid choice: 'GAN'"),
    ("reproduce_table.py", ["--dataset", "mnist", "--split-test", "0.5"], "only for the named notMNIST"),
    ("mnist_adv_kd.py", ["--split-test", "0.5"], "unrecognized arguments: --split-test"),
    ("mnist_adv_kd.py", ["--subset", "-59900"], "must be an integer >= 1, got -59900"),
    ("mnist_adv_kd.py", ["--subset", "70000"], "subset"),
    ("mnist_adv_kd.py", ["--val", "60000"], "val"),
    ("mnist_adv_kd.py", ["--transfer-size", "56000"], "--transfer-size 56000 is larger than the 55,000"),
    ("mnist_adv_kd.py", ["--quick", "--subset", "2000"], "--transfer-size 5000 is larger than the 1,833"),
    ("mnist_adv_kd.py", ["--data-dir", "/no/such/folder", "--quick"], "/no/such/folder"),
    ("mnist_adv_kd.py", ["--data", "/no/such/folder", "--quick"], "/no/such/folder"),
    ("mnist_fitnets.py", ["--data-dir", "/no/such/folder"], "/no/such/folder"),
    ("mnist_xnor_kd.py", ["--sizes", "100", "10"], "--sizes must start with 784"),
    ("mnist_xnor_kd.py", ["--epochs", "0"], "--epochs: must be an integer >= 1, got 0"),
    ("mnist_xnor_kd.py", ["--lr", "nan"], "--lr: must be a finite number > 0"),
    ("mnist_fitnets.py", ["--hint-layer", "7"], "has 2 hidden layers"),
    ("dark_knowledge.py", ["--val", "0"], "--val 0"),
    ("reproduce_table.py", ["--dataset", "notmnist", "--split-test", "1.5"], "--split-test must be a fraction"),
    ("mnist_adv_kd.py", ["--few-labels", "--quick"], "choose one preset: --quick or --few-labels"),
    ("mnist_adv_kd.py", ["--few-labels", "--variants", "kd", "adv-report"], "adv-report cannot train on unlabelled"),
    ("mnist_adv_kd.py", ["--labelled", "0"], "labelled must be a fraction in (0, 1]"),
    ("mnist_adv_kd.py", ["--labelled", "1.5"], "labelled must be a fraction in (0, 1]"),
    ("mnist_adv_kd.py", ["--labelled", "1e-9", "--variants", "kd"], "fewer than one per class"),
    ("mnist_adv_kd.py", ["--variants", "kd", "kd"], "--variants listed more than once: kd"),
    # a variant of 0 epochs trained teacher and S (initial), then failed in its schedule (trial item 5)
    ("mnist_adv_kd.py", ["--finetune-epochs", "0"], "--finetune-epochs: must be an integer >= 1, got 0"),
    ("reproduce_table.py", ["--finetune-epochs", "0"], "--finetune-epochs: must be an integer >= 1, got 0"),
    # dark_knowledge.py makes the Table 1 example's checks (issue 18, item 15): its --quick transfer set of 10,000 is
    # never cut silently to a smaller --subset, and its 1% few-labels student gets at least one label per class
    ("dark_knowledge.py", ["--quick", "--subset", "1200", *DARK_TINY],
     "--transfer-size 10000 is larger than the 1,100"),
    ("dark_knowledge.py", ["--quick", "--subset", "600", "--transfer-size", "550", *DARK_TINY],
     "keep 6, fewer than one per class (10): the few-labels students need a transfer set of at least 1,000 images"),
])
def test_user_mistakes_are_one_line_errors_before_training(script, args, message, tmp_path):
    """Each a one-line error, before any training, and nothing left behind: not even an empty --out-dir or
    --checkpoint-dir (issue 18, item 18); messages name the options a user typed (item 17)."""
    out = run_example(script, *args, "--out-dir", str(tmp_path / "r"), "--checkpoint-dir", str(tmp_path / "ck"))
    _user_error(out, message)
    assert "] epoch" not in out.stderr    # no network trained
    assert not os.path.exists(tmp_path / "ck") and not os.path.exists(tmp_path / "r")


def test_an_unusable_out_dir_is_refused_before_training(tmp_path):
    (tmp_path / "file").write_text("I am a file")
    out = run_example("mnist_adv_kd.py", "--quick", "--out-dir", str(tmp_path / "file"),
                      "--checkpoint-dir", str(tmp_path / "ck"))
    _user_error(out, "is a file, not a folder")
    assert not os.path.exists(tmp_path / "ck") or not os.listdir(tmp_path / "ck")
    if os.geteuid() != 0:  # root writes anywhere
        (tmp_path / "ro").mkdir(mode=0o500)
        out = run_example("mnist_adv_kd.py", "--quick", "--out-dir", str(tmp_path / "ro"))
        _user_error(out, "cannot be written")


@pytest.mark.skipif(cupy_available(), reason="CuPy sees a GPU here: the missing-CuPy message cannot be shown")
@pytest.mark.parametrize("how", ["option", "environment"])
def test_cupy_without_a_gpu_is_one_line(how, tmp_path):
    args, env = (["--backend", "cupy"], None) if how == "option" else ([], {"TINYKD_BACKEND": "cupy"})
    out = run_example("mnist_adv_kd.py", "--quick", *args, "--out-dir", str(tmp_path), env=env)
    _user_error(out, "backend 'cupy' was asked for")


def test_an_unknown_backend_in_the_environment_is_refused(tmp_path):
    out = run_example("mnist_adv_kd.py", "--quick", "--out-dir", str(tmp_path), env={"TINYKD_BACKEND": "jax"})
    _user_error(out, "backend must be one of")


def test_help_shows_the_description_and_defaults():
    out = run_example("mnist_adv_kd.py", "--help")
    assert out.returncode == 0
    assert "python examples/mnist_adv_kd.py --quick" in out.stdout   # the whole docstring, as written
    assert "(default: results)" in out.stdout and "(default: checkpoints)" in out.stdout
    assert "adv-report = adv. KD (report: raw, fixed, minimax)" in " ".join(out.stdout.split())


def test_fitnets_example_on_a_subset(tmp_path):
    out = run_example("mnist_fitnets.py", "--quick", "--subset", "1200", "--teacher-epochs", "1", "--hint-epochs",
                      "1", "--kd-epochs", "1", "--out-dir", str(tmp_path / "r"),
                      "--checkpoint-dir", str(tmp_path / "ck"))
    assert out.returncode == 0, out.stderr
    assert not (tmp_path / "r" / "mnist_fitnets_quick.json").exists()
    (name,) = [p for p in os.listdir(tmp_path / "r") if p.endswith(".json")]
    record = json.loads((tmp_path / "r" / name).read_text())
    for run in record["runs"].values():
        assert run["errors"] < 5000 and run["validation_errors"] <= 100
    assert len(record["runs"]["KD only"]["history"]) == 2   # the same budget: hint epochs + KD epochs
    assert record["data"]["fingerprint"] and record["teacher"]["checkpoint"]


def test_xnor_kd_example_on_a_subset(tmp_path):
    out = run_example("mnist_xnor_kd.py", "--quick", "--subset", "1200", "--teacher-epochs", "1", "--epochs", "1",
                      "--sizes", "784", "100", "10", "--out-dir", str(tmp_path / "r"),
                      "--checkpoint-dir", str(tmp_path / "ck"))
    assert out.returncode == 0, out.stderr
    (name,) = [p for p in os.listdir(tmp_path / "r") if p.endswith(".json")]
    assert name.startswith("mnist_xnor_kd_quick_custom-")
    record = json.loads((tmp_path / "r" / name).read_text())
    assert set(record["runs"]) == {f"{m} {k} KD" for m in ("FLOAT", "BWN", "XNOR") for k in ("with", "without")}
    assert all(run["packed_matches_emulation"] for k, v in record["runs"].items() if not k.startswith("FLOAT")
               for run in v["runs"])
    assert all(run["errors"] < 5000 for v in record["runs"].values() for run in v["runs"])
    assert record["xnor_bytes"]["packed_model"] < record["xnor_bytes"]["float32_model"] / 20


def test_dark_knowledge_quick_on_a_subset(tmp_path):
    """The whole example on 1,100 images, one epoch each; its teacher is untrained (0 epochs), so it is flagged as
    no better than the student alone, as the Table 1 example flags it (issue 18, item 15)."""
    out = run_example("dark_knowledge.py", "--quick", "--subset", "1200", "--transfer-size", "1100", *DARK_TINY,
                      "--teacher-epochs", "0", "--out-dir", str(tmp_path / "r"),
                      "--checkpoint-dir", str(tmp_path / "ck"))
    assert out.returncode == 0, out.stderr
    assert "WARNING: the teacher is NOT better than the student alone (mean over its seeds)" in out.stdout
    (name,) = [p for p in os.listdir(tmp_path / "r") if p.endswith(".json")]
    assert name.startswith("dark_knowledge_quick_custom-")
    r = json.loads((tmp_path / "r" / name).read_text())
    assert r["teacher_not_better"] is True and "**WARNING: the teacher is NOT better" in \
        (tmp_path / "r" / name.replace(".json", ".md")).read_text()
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
    assert d["temperature"] == 20.0 and d["epochs"] == 1 and d["errors_mean"] == d["distilled"]["runs"][0]["errors"]
    assert {f"{name[:-5]}_{f}.png" for f in ("soft_targets", "temperature_sweep", "bias_shift")} <= \
        set(os.listdir(tmp_path / "r"))


@pytest.mark.parametrize("missing, where, message", [
    (9, "test", "the test split has no image of class 9; the soft-target figure shows the first test image of each"),
    (3, "train", "training images) has no image of class 3; the mythical-digit experiment leaves out the 3s"),
])
def test_dark_knowledge_refuses_data_without_the_classes_it_needs(missing, where, message, tmp_path):
    """Issue 18, item 15: with --data, a test split without a 9 (the soft-target figure) or a training split without
    a 3 (the mythical digit) used to fail after training; now one line before any."""
    folder = write_digits_folder(tmp_path / "digits", 0)
    mnist = data.load("mnist")
    prefix, n = ("t10k", 300) if where == "test" else ("train", 700)
    split = "test" if where == "test" else "train"
    keep = getattr(mnist, f"y_{split}")[:n] != missing
    images = formats.read_idx(folder / f"{prefix}-images-idx3-ubyte.gz")[keep]
    formats.write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", images)
    labels = getattr(mnist, f"y_{split}")[:n][keep].astype(np.uint8)
    formats.write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", labels)
    out = run_example("dark_knowledge.py", "--data", str(folder), *DARK_TINY, "--out-dir", str(tmp_path / "r"),
                      "--checkpoint-dir", str(tmp_path / "ck"))
    _user_error(out, message)
    assert "] epoch" not in out.stderr
    assert not os.path.exists(tmp_path / "ck") and not os.path.exists(tmp_path / "r")


def test_split_test_with_a_training_split_present_is_one_line(tmp_path):
    """Issue 18, item 14: --dataset notmnist --split-test 0.5 on a folder that holds a training split (of the right
    structure) was a traceback; now one line saying to leave --split-test out."""
    folder = tmp_path / "notmnist"
    folder.mkdir()
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        (folder / name).write_bytes((datafiles.REPO_DATA / "notmnist" / name).read_bytes())
    x = np.zeros((60000, 28, 28), dtype=np.uint8)
    x[:, 0, 0] = np.arange(60000) % 251
    formats.write_idx(folder / "train-images-idx3-ubyte.gz", x)
    formats.write_idx(folder / "train-labels-idx1-ubyte.gz", (np.arange(60000) % 10).astype(np.uint8))
    out = run_example("reproduce_table.py", "--dataset", "notmnist", "--split-test", "0.5", "--data-dir", str(folder),
                      "--quick", "--out-dir", str(tmp_path / "r"), "--checkpoint-dir", str(tmp_path / "ck"))
    _user_error(out, "--split-test")
    assert "training split is present" in out.stderr
    assert not os.path.exists(tmp_path / "ck") and not os.path.exists(tmp_path / "r")


def test_a_skipped_test_says_what_it_needs(tmp_path):
    """Issue 18, item 21: a test skipped for want of data said "../shared/data is not here", a folder no user has;
    it now says what it needs and how to give it, and no skip reason in the suite names that folder."""
    out = subprocess.run([sys.executable, "-m", "pytest", "-rs", "-q", "-p", "no:cacheprovider",
                          "tests/test_data.py::test_shared_files_match_repository_copies"], capture_output=True,
                         text=True, timeout=120, cwd=ROOT, env={**os.environ, "TINYKD_SHARED_DATA": str(tmp_path)})
    assert "1 skipped" in out.stdout, out.stdout + out.stderr
    assert "needs a second copy of the MNIST files" in out.stdout and "set TINYKD_SHARED_DATA" in out.stdout
    for name in os.listdir(os.path.join(ROOT, "tests")):
        if name.endswith(".py"):
            with open(os.path.join(ROOT, "tests", name), encoding="utf-8") as f:
                assert "reason=" + '"../shared' not in f.read(), name   # (split: this line must not match)
