"""Smoke tests: the examples run end to end on a data subset and write their results."""
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_example(script, *args):
    return subprocess.run([sys.executable, os.path.join(ROOT, "examples", script), *args], capture_output=True,
                          text=True, timeout=600, cwd=ROOT)


def test_mnist_adv_kd_quick_on_a_subset(tmp_path):
    out = run_example("mnist_adv_kd.py", "--quick", "--subset", "600", "--teacher-epochs", "1",
                      "--student-epochs", "1", "--finetune-epochs", "1", "--out-dir", str(tmp_path / "r"),
                      "--checkpoint-dir", str(tmp_path / "ck"))
    assert out.returncode == 0, out.stderr
    record = json.loads((tmp_path / "r" / "mnist_quick_table.json").read_text())
    assert record["teacher"]["params"] == 2_392_800 and record["student_initial"]["params"] == 1_275_200
    assert set(record["variants"]) >= {"w/o KD", "KD", "adv. KD (report: raw, fixed, minimax)"}
    for v in record["variants"].values():
        assert 0 <= v["mean"] <= 10000
    assert "| T | S (initial) | S (w/o KD) | S (KD) |" in (tmp_path / "r" / "mnist_quick_table.md").read_text()
    # the teacher checkpoint is reused on a second run
    again = run_example("mnist_adv_kd.py", "--quick", "--subset", "600", "--teacher-epochs", "1",
                        "--student-epochs", "1", "--finetune-epochs", "1", "--variants", "KD",
                        "--out-dir", str(tmp_path / "r"), "--checkpoint-dir", str(tmp_path / "ck"))
    assert again.returncode == 0, again.stderr
    assert "teacher: loaded" in again.stdout


@pytest.mark.parametrize("args, message", [
    (["--dataset", "cifar"], "invalid choice: 'cifar'"),
    (["--dataset", "notmnist", "--quick", "--seeds", "0"], "seeds must be"),
    (["--dataset", "notmnist", "--quick", "--variants", "GAN"], "invalid choice: 'GAN'"),
])
def test_reproduce_table_rejects_bad_input_before_training(args, message, tmp_path):
    out = run_example("reproduce_table.py", *args, "--out-dir", str(tmp_path))
    assert out.returncode != 0 and message in out.stderr
    assert not os.listdir(tmp_path)


def test_fitnets_example_on_a_subset(tmp_path):
    out = run_example("mnist_fitnets.py", "--quick", "--subset", "600", "--teacher-epochs", "1", "--hint-epochs", "1",
                      "--kd-epochs", "1", "--out-dir", str(tmp_path / "r"), "--checkpoint-dir", str(tmp_path / "ck"))
    assert out.returncode == 0, out.stderr
    record = json.loads((tmp_path / "r" / "mnist_fitnets_quick.json").read_text())
    assert 0 <= record["FitNets: hints, then KD"]["errors"] <= 10000 and "KD only" in record


def test_xnor_kd_example_on_a_subset(tmp_path):
    out = run_example("mnist_xnor_kd.py", "--quick", "--subset", "600", "--teacher-epochs", "1", "--epochs", "1",
                      "--sizes", "784", "100", "10", "--out-dir", str(tmp_path / "r"),
                      "--checkpoint-dir", str(tmp_path / "ck"))
    assert out.returncode == 0, out.stderr
    record = json.loads((tmp_path / "r" / "mnist_xnor_kd_quick.json").read_text())
    assert all(run["packed_matches_emulation"] for v in record["runs"].values() for run in v["runs"])
    assert record["xnor_bytes"]["packed_model"] < record["xnor_bytes"]["float32_model"] / 20
