"""The examples as a user runs them: end to end on small data, on the user's own data, and every mistake a user can
make answered with one `error:` line and exit code 2, before any training."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tinykd import data
from tinykd.data import files as data_files
from tinykd.data import formats
from tinykd.runs import records
from tinykd.runs.checkpoints import read_network
from tinykd.backend import cupy_available
from tinykd.train import errors

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ["--teacher-epochs", "1", "--student-epochs", "1", "--finetune-epochs", "1", "--seeds", "1",
        "--transfer-size", "500"]
DARK_TINY = ["--teacher-epochs", "1", "--epochs", "1", "--sweep-epochs", "1", "--few-epochs", "1"]


def run_example(script, *args, env=None, cwd=ROOT):
    """Run an example as a user would; its records go beside its ``--out-dir`` (``<out-dir>_records``) unless the
    arguments say where, so no test writes into the repository's ``runs/``."""
    args = list(args)
    if "--out-dir" in args and "--records-dir" not in args:
        args += ["--records-dir", args[args.index("--out-dir") + 1] + "_records"]
    return subprocess.run([sys.executable, os.path.join(ROOT, "examples", script), *args], capture_output=True,
                          text=True, timeout=600, cwd=cwd, env={**os.environ, **(env or {})})


def written(out_dir, name):
    """(the table a run wrote in ``out_dir`` as ``name``.json, its Markdown, the records beside it by role)."""
    view = json.loads((out_dir / f"{name}.json").read_text())
    by_role = {}
    for r in records.Store(str(out_dir) + "_records").all():
        by_role.setdefault(r["identity"]["role"], []).append(r)
    return view, (out_dir / f"{name}.md").read_text(), by_role


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
    assert not [p for p in os.listdir(tmp_path / "r") if "custom" in p or "partial" in p]
    record, md, recs = written(tmp_path / "r", "mnist_quick_table")
    assert {"mnist_quick_table_learning_curves.png", "mnist_quick_table_adversarial_drift.png"} <= \
        set(os.listdir(tmp_path / "r"))
    assert record["complete"] and record["deviations"]["subset"] == 1200       # not the preset's reference run
    assert record["teacher"]["params"] == 2_392_800 and record["student_initial"]["params"] == 1_275_200
    assert set(record["variants"]) == {"wo-kd", "kd", "adv-report", "adv-logprob-kd"}
    assert sorted(len(v) for v in recs.values()) == [1, 1, 1, 4]     # teacher, S (initial), the table, 4 variants
    d = record["data"]
    assert d["n_train"] + d["n_val"] == 1200 and d["n_val"] == 100 and d["n_test"] == 10000
    # the numbers are those of the models on disk, and a 1-epoch teacher on 1,100 images has learnt something
    teacher = read_network(record["teacher"]["checkpoint"])
    ds = data.load("mnist")
    assert errors(teacher, ds.x_test, ds.y_test) == record["teacher"]["errors"] < 5000
    assert record["teacher"]["history"][-1]["val_errors"] == record["teacher"]["validation_errors"]
    for v in record["variants"].values():
        (run,) = v["runs"]
        assert v["mean"] == run["errors"] < 5000 and len(run["history"]) == 1
        assert run["history"][0]["val_errors"] == run["validation_errors"] <= 100
    assert recs["student"][0]["identity"]["transfer_rows"] == 500              # the students' transfer set
    assert "transfer_rows" not in recs["teacher"][0]["identity"]               # the teacher sees all
    assert all(r["links"]["teacher"] == recs["teacher"][0]["key"] for r in recs["variant"])
    assert "| T | S (initial) | S (w/o KD) | S (KD) |" in md and "subset = 1200" in md and "1,100 training" in md
    # a run asking for what is there trains nothing and needs no weights; a new variant reuses the checkpoints
    again = run_example("mnist_adv_kd.py", "--quick", "--subset", "1200", *TINY, "--variants", "kd",
                        "--out-dir", str(tmp_path / "r"), "--checkpoint-dir", str(tmp_path / "ck"))
    assert again.returncode == 0, again.stderr
    assert "1 of the 1 student runs asked for are in" in again.stdout and "loaded" not in again.stdout
    assert "showed 3 network(s) this run does not ask for" in again.stdout   # the table it replaced says so
    new = run_example("mnist_adv_kd.py", "--quick", "--subset", "1200", *TINY, "--variants", "kd", "dkd",
                      "--out-dir", str(tmp_path / "r"), "--checkpoint-dir", str(tmp_path / "ck"))
    assert new.returncode == 0, new.stderr
    assert "teacher: loaded" in new.stdout and "student: loaded" in new.stdout
    trained = [line.split()[0] for line in new.stdout.splitlines() if " seed 0: " in line]
    assert trained == ["DKD"]                                                 # KD's record was found
    # the table is exactly the networks this command asks for (the records of the first run stay in the store)
    assert set(written(tmp_path / "r", "mnist_quick_table")[0]["variants"]) == {"kd", "dkd"}


def test_few_labels_on_a_subset_compares_every_new_method_with_kd(tmp_path):
    """The few-labels preset end to end on 1,100 images: S (initial) learns from the labelled 5% only (its identity
    says so, so it never loads the all-labels student), every variant of the comparison runs, and the Markdown has
    the comparison with KD."""
    out = run_example("mnist_adv_kd.py", "--few-labels", "--subset", "1200", *TINY[:6], "--seeds", "2",
                      "--out-dir", str(tmp_path / "r"), "--checkpoint-dir", str(tmp_path / "ck"))
    assert out.returncode == 0, out.stderr
    assert "few labels: 55 of 1,100 student training rows keep their label" in out.stdout
    record, md, recs = written(tmp_path / "r", "mnist_labels5_table")
    assert record["complete"] and record["config"]["labelled"] == 0.05
    assert set(record["variants"]) == {"wo-kd", "kd", "dkd", "kd-standardised", "dist", "adv-conditional"}
    ident = recs["student"][0]["identity"]
    assert ident["labelled"] == 0.05 and ident["labelled_seed"] == 0
    for vid, v in record["variants"].items():
        assert v["n"] == 2 and all(r["errors"] < 10000 for r in v["runs"])
        if vid != "wo-kd":
            assert v["objective"]["ignore_label"] == -1
    assert "| method | id | paper | student matches | test errors | − KD (pooled std) | s/epoch vs KD |" in md
    for vid in ("dkd", "kd-standardised", "dist", "adv-conditional"):
        assert f"| `{vid}` |" in md


def test_own_data_trains_afresh_and_is_fingerprinted(tmp_path):
    """A folder of MNIST-format files that are not MNIST: no checksum failure, its fingerprint in the results,
    and a second run on different data does not reuse the first one's teacher."""
    common = ["--quick", *TINY, "--variants", "kd", "--checkpoint-dir", str(tmp_path / "ck")]
    runs = []
    for seed in (0, 1):
        folder = write_digits_folder(tmp_path / f"digits{seed}", seed)
        out = run_example("mnist_adv_kd.py", "--data", str(folder), *common, "--out-dir", str(tmp_path / f"r{seed}"))
        assert out.returncode == 0, out.stderr
        assert "loaded" not in out.stdout
        runs.append(written(tmp_path / f"r{seed}", f"digits{seed}_quick_table"))   # named after the data
    (a, _, ra), (b, _, rb) = runs
    for r, recs, seed in ((a, ra, 0), (b, rb, 1)):
        assert int(r["data"]["fingerprint"], 16) and len(r["data"]["fingerprint"]) == 64
        assert r["data"]["source"] == str(tmp_path / f"digits{seed}") and r["data"]["name"] == f"digits{seed}"
        for role, key in (("teacher", "teacher"), ("student", "student_initial")):
            assert os.path.exists(r[key]["checkpoint"]) and recs[role][0]["identity"]["data"] == r["data"]["fingerprint"]
    assert a["data"]["fingerprint"] != b["data"]["fingerprint"]
    assert a["teacher"]["checkpoint"] != b["teacher"]["checkpoint"]
    # the same data again, with no records: loaded, from the checkpoint the first run wrote
    out = run_example("mnist_adv_kd.py", "--data", str(tmp_path / "digits0"), *common, "--out-dir",
                      str(tmp_path / "r2"))
    assert out.returncode == 0 and "teacher: loaded" in out.stdout
    again = written(tmp_path / "r2", "digits0_quick_table")[0]
    assert again["teacher"]["checkpoint"] == a["teacher"]["checkpoint"]
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
    assert kept and all(name.startswith(("mine-teacher-", "mine-student-", "mine-variant-")) for name in kept), kept


def test_flat_data_trains_with_jitter_0_and_paths_expand_the_home_folder(tmp_path):
    """Trial items 8 and 13: flat .npz rows are refused with "pass --jitter 0", an option no example had; and
    --out-dir=~/x (which no shell expands) made a folder named ~ in the working folder."""
    mnist = data.load("mnist")
    np.savez(tmp_path / "flat.npz", x_train=(mnist.x_train[:600] * 255).round().astype(np.uint8),
             y_train=mnist.y_train[:600], x_test=mnist.x_test[:200], y_test=mnist.y_test[:200])
    (tmp_path / "work").mkdir()
    out = run_example("mnist_adv_kd.py", "--data=~/flat.npz", "--jitter", "0", "--quick", *TINY, "--variants", "kd",
                      "--out-dir=~/r", "--checkpoint-dir=~/ck", "--records-dir=~/r_records", env={"HOME": str(tmp_path)},
                      cwd=tmp_path / "work")
    assert out.returncode == 0, out.stderr
    assert os.listdir(tmp_path / "work") == []                # no ./~ folder
    record, _, recs = written(tmp_path / "r", "flat_quick_table")
    assert record["config"]["jitter"] == 0 and recs["teacher"][0]["identity"]["jitter"] == 0
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
    # the run says what may help: a teacher of 0 epochs is told to train (a trained one that loses is told of the
    # registry's ensemble variant: test_experiment)
    assert record["teacher_check"].endswith("it trained no epoch (--teacher-epochs 0): give it epochs")
    assert "give it epochs" in out.stdout
    assert "**WARNING: the teacher is NOT better" in (tmp_path / "r" / name.replace(".json", ".md")).read_text()


def _user_error(out, message):
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr and message in lines[-1] and "error: " in lines[-1], out.stderr
    assert len(lines) == 1, out.stderr      # one line: argparse's usage block is not printed first (new-user trial)
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
    ("mnist_adv_kd.py", ["--quick", "--subset", "2000"], "--transfer-size 5000 (the quick preset's) is larger than the 1,833"),
    ("mnist_adv_kd.py", ["--data-dir", "/no/such/folder", "--quick"], "/no/such/folder"),
    ("mnist_adv_kd.py", ["--data", "/no/such/folder", "--quick"], "/no/such/folder"),
    # issue 28, item 2: --data "$MYDATA" with MYDATA unset trained on MNIST and wrote mnist_table.*
    ("mnist_adv_kd.py", ["--data", "", "--quick"], "--data is empty (''), as an unset shell variable gives"),
    ("reproduce_table.py", ["--data-dir", " ", "--quick"], "--data-dir is empty (' ')"),
    ("mnist_fitnets.py", ["--data-dir", "/no/such/folder"], "/no/such/folder"),
    ("mnist_xnor_kd.py", ["--sizes", "100", "10"], "--sizes must start with 784"),
    ("mnist_xnor_kd.py", ["--sizes", "784", "10"], "have a hidden layer between"),     # second trial: BWN = XNOR
    ("hinton_paper.py", ["--teacher-epochs", "0"], "--teacher-epochs"),      # second trial: a traceback after training
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
    # a decay of 0 once gave the teachers a cosine schedule instead, and -1 failed after they had trained
    ("hinton_paper.py", ["--teacher-decay", "0"], "--teacher-decay: must be a number in (0, 1]"),
    ("hinton_paper.py", ["--teacher-decay", "1.5"], "--teacher-decay: must be a number in (0, 1]"),
    ("hinton_paper.py", ["--student-decay", "-1"], "--student-decay: must be a number in (0, 1]"),
    # a trial's findings: a rate listed twice trained one candidate twice; an option the example has not was named
    ("hinton_paper.py", ["--lr", "0.001", "0.001"], "--lr lists 0.001 more than once; list each once"),
    ("hinton_paper.py", ["--quick", "--subset", "50"], "use more images (--val, --subset) or data that has them"),
    ("reproduce_table.py", ["--finetune-epochs", "0"], "--finetune-epochs: must be an integer >= 1, got 0"),
    # dark_knowledge.py makes the Table 1 example's checks (issue 18, item 15): its --quick transfer set of 10,000 is
    # never cut silently to a smaller --subset, and its 1% few-labels student gets at least one label per class
    ("dark_knowledge.py", ["--quick", "--subset", "1200", *DARK_TINY],
     "--transfer-size 10000 (the quick preset's) is larger than the 1,100"),
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


def test_tables_never_go_where_records_are_read(tmp_path):
    """Issue 28, item 5: one folder for --out-dir and --records-dir failed after training, on the .partial.json
    table the run had written there itself; a folder holding records (the committed records/) took a table too.
    Refused in one line before anything is made."""
    out = run_example("mnist_adv_kd.py", "--quick", "--out-dir", str(tmp_path / "same"), "--records-dir",
                      str(tmp_path / "same"), "--checkpoint-dir", str(tmp_path / "ck"))
    _user_error(out, "--out-dir " + str(tmp_path / "same") + " is the records folder")
    out = run_example("dark_knowledge.py", "--quick", "--out-dir", os.path.join(ROOT, "records"),
                      "--checkpoint-dir", str(tmp_path / "ck"))
    _user_error(out, "holds records")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("script", sorted(n for n in os.listdir(os.path.join(ROOT, "examples"))
                                          if n.endswith(".py") and not n.startswith("_")))
def test_a_bad_tinykd_debug_is_one_line_from_every_example_even_help(script):
    """Issue 28, item 8: the presets' Configs read TINYKD_DEBUG while the parser was built: a traceback."""
    _user_error(run_example(script, "--help", env={"TINYKD_DEBUG": "yes"}), "TINYKD_DEBUG must be 1")


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


def test_split_test_with_a_training_split_present_is_one_line(tmp_path):
    """Issue 18, item 14: --dataset notmnist --split-test 0.5 on a folder that holds a training split (of the right
    structure) was a traceback; now one line saying to leave --split-test out."""
    folder = tmp_path / "notmnist"
    folder.mkdir()
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        (folder / name).write_bytes((data_files.REPO_DATA / "notmnist" / name).read_bytes())
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
