"""The checker's defences, each the way a learner's solution once fooled or hung it: a hang, exit() or Ctrl-C, a
solution that imports or calls tinykd's own function, one that changes its arguments, a wrong signature, a right
value of the wrong shape or per row, a mistake made in one form only, an unstable form; and the learner's view:
``python -m tinykd.exercises`` (status) and the report's cases."""
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import tinykd.exercises as exercises
import tinykd.exercises.__main__ as cli
from test_exercises_solutions import (SOLUTIONS, assert_named, binary_weight_backward, cross_entropy,
                                      softmax_backward, write_solution)
from tinykd.exercises import EXERCISES, FOLDER, check
from tinykd.exercises.__main__ import main

ROOT = Path(__file__).resolve().parents[1]
RIGHT_DROPOUT = "def dropout_backward(grad, mask, p):\n    return grad * mask / (1 - p)\n"


def one_line(report, phrase):
    assert not report.passed and len(report.lines) == 1 and phrase in report.lines[0], str(report)


def write(tmp_path, source, name="mine.py"):
    path = tmp_path / name
    path.write_text(source, encoding="utf-8")
    return path


# ------------------------------------------------------------------------------ a hang, an exit, an interrupt
@pytest.mark.parametrize("source", [
    "def dropout_backward(grad, mask, p):\n    while True:\n        pass\n",
    "while True:\n    pass\n",
    "import time\ndef dropout_backward(grad, mask, p):\n    time.sleep(60)\n",
])
def test_a_hang_is_one_line_within_the_time_limit(source, tmp_path):
    start = time.monotonic()
    report = check("dropout_backward", write(tmp_path, source), time_limit=0.5)
    assert time.monotonic() - start < 5
    one_line(report, "did not finish within 0.5 s")


def test_the_time_limit_comes_from_the_command_line_or_the_environment(tmp_path, capsys, monkeypatch):
    path = write(tmp_path, "def dropout_backward(grad, mask, p):\n    while True:\n        pass\n")
    assert main(["--time-limit", "0.3", "check", "dropout_backward", str(path)]) == 1
    assert "did not finish within 0.3 s" in capsys.readouterr().out
    monkeypatch.setenv("TINYKD_EXERCISE_TIME_LIMIT", "0.4")
    one_line(check("dropout_backward", path), "within 0.4 s")
    monkeypatch.delenv("TINYKD_EXERCISE_TIME_LIMIT")
    assert exercises.sandbox.time_limit() == 10.0           # the default: a right solution never comes near it


@pytest.mark.parametrize("source,phrase", [
    ("exit()\n", "raised SystemExit while loading"),
    ("import sys\nsys.exit(3)\n", "raised SystemExit while loading"),
    ("def dropout_backward(grad, mask, p):\n    raise SystemExit(0)\n", "called exit()"),
    ("def dropout_backward(grad, mask, p):\n    raise KeyboardInterrupt\n", "raised KeyboardInterrupt"),
    ("raise KeyboardInterrupt\n", "raised KeyboardInterrupt while loading"),
    ("import os\ndef dropout_backward(grad, mask, p):\n    os._exit(0)\n", "ended the checker's process"),
    ("def dropout_backward(grad, mask, p):\n    return dropout_backward(grad, mask, p)\n", "recursed without end"),
])
def test_exits_and_interrupts_are_one_line_and_exit_1(source, phrase, tmp_path, capsys):
    assert main(["check", "dropout_backward", str(write(tmp_path, source))]) == 1
    out = capsys.readouterr().out.strip()
    assert "\n" not in out and phrase in out, out


def test_a_module_level_exit_is_caught_in_a_fresh_process_too(tmp_path):
    out = subprocess.run([sys.executable, "-m", "tinykd.exercises", "check", "dropout_backward",
                          str(write(tmp_path, "exit()\n"))], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 1 and not out.stderr and "SystemExit" in out.stdout


# ------------------------------------------------------------------------------ tinykd's own code, not the learner's
def test_a_file_that_imports_tinykds_function_checks_tinykd_not_the_learner(tmp_path):
    source = ("from tinykd.functional import softmax_backward as theirs\n"
              "def softmax_backward(probs, grad, temperature):\n    return theirs(probs, grad, temperature)\n")
    one_line(check("softmax_backward", write(tmp_path, source)), "imports tinykd.functional.softmax_backward")
    one_line(check("softmax_backward", write(tmp_path, "import tinykd\n" + source.split("\n", 1)[1]
                                             .replace("theirs(", "tinykd.functional.softmax_backward("))),
             "imports tinykd")


def test_a_solution_that_calls_tinykd_at_run_time_is_told_so(tmp_path):
    from tinykd import functional
    one_line(check("softmax_backward", lambda p, g, t: functional.softmax_backward(p, g, t)),
             "calls tinykd.functional.softmax_backward")
    source = ("import importlib\ndef kl_divergence(zs, zt, tau, t2):\n"
              "    return importlib.import_module('tinykd.functional').kl_divergence(zs, zt, tau, t2)\n")
    one_line(check("kl_divergence", write(tmp_path, source)), "calls tinykd.functional.kl_divergence")


def test_tinykd_gradcheck_may_be_imported_to_check_ones_own_code(tmp_path):
    source = "from tinykd import gradcheck\n" + RIGHT_DROPOUT
    assert check("dropout_backward", write(tmp_path, source)).passed


# ------------------------------------------------------------------------ arguments, signature, shapes
def test_a_changed_argument_is_named():
    def scribbles(probs, grad, temperature):
        dz = probs * (grad - (grad * probs).sum(axis=1, keepdims=True)) / temperature
        probs[...] = 0
        return dz
    one_line(check("softmax_backward", scribbles), "changed its argument probs in place")

    def adam_in_place(theta, g, m, v, t, lr, b1, b2, eps):
        m *= b1
        m += (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        return theta - lr * m / (1 - b1**t) / (np.sqrt(v / (1 - b2**t)) + eps), m, v
    one_line(check("adam_step", adam_in_place), "changed its argument m in place")


def test_a_wrong_signature_names_the_expected_one(tmp_path):
    path = write(tmp_path, "def dense_backward(x, W):\n    return x\n")
    one_line(check("dense_backward", path), "keep the signature dense_backward(x, W, grad)")
    one_line(check("kd_objective", lambda zs, zt, y, tau, w: None),
             "kd_objective(student_logits, teacher_logits, labels, temperature, weight, form)")


def test_a_right_value_of_the_wrong_shape_is_named_as_such():
    def boxed(logits, labels):
        loss, dz = cross_entropy()(logits, labels)
        return np.array([loss]), dz
    report = check("cross_entropy", boxed)
    assert not report.passed and "loss: wrong" in str(report) and "dz: right" in str(report)
    assert "right values, wrong shape: (1,) where () is expected" in str(report), str(report)

    def per_row(logits, labels):
        n = logits.shape[0]
        logp = logits - logits.max(axis=1, keepdims=True)
        logp = logp - np.log(np.exp(logp).sum(axis=1, keepdims=True))
        return -logp[np.arange(n), labels], (np.exp(logp) - np.eye(logits.shape[1])[labels]) / n
    assert "per-row values where their mean over the rows is asked" in str(check("cross_entropy", per_row))


# ------------------------------------------------------------------------ per case: one form, one flag, stability
def test_a_mistake_made_in_one_setting_only_is_named_with_that_setting():
    def ste_always(w, g, ste):
        return binary_weight_backward()(w, g, True)
    report = check("binary_weight_backward", ste_always)
    assert_named(report, "made only where ste=False")
    assert_named(report, "where ste says otherwise")


@pytest.mark.parametrize("name,source", [
    ("cross_entropy", "def cross_entropy(logits, labels):\n    n = logits.shape[0]\n"
                      "    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)\n"
                      "    return -np.log(p[np.arange(n), labels]).mean(), (p - np.eye(p.shape[1])[labels]) / n\n"),
    ("kl_divergence", "def kl_divergence(zs, zt, tau, t2):\n"
                      "    ps = np.exp(zs / tau - (zs / tau).max(axis=1, keepdims=True))\n"
                      "    ps /= ps.sum(axis=1, keepdims=True)\n"
                      "    pt = np.exp(zt / tau - (zt / tau).max(axis=1, keepdims=True))\n"
                      "    pt /= pt.sum(axis=1, keepdims=True)\n    w = tau**2 if t2 else 1.0\n"
                      "    n = zs.shape[0]\n"
                      "    return w * (pt * np.log(pt / ps)).sum() / n, w * (ps - pt) / (tau * n)\n"),
])
def test_an_unstable_form_fails_on_the_stress_case_with_the_stable_form_named(name, source, tmp_path):
    with np.errstate(all="ignore"):
        report = check(name, write(tmp_path, "import numpy as np\nnp.seterr(all='ignore')\n" + source))
    assert_named(report, "overflow at logits of ±1000")
    assert "stress: logits of ±1000" in str(report)


def test_an_unknown_mistake_says_so_and_reports_the_smallest_failing_case():
    report = check("dense_backward", lambda x, w, g: (g @ w.T + 0.01, x.T @ g, g.sum(axis=0)))
    text = str(report)
    assert "dx: wrong in 4 of 4 cases" in text and "smallest failing case 2: N=1, I=2, O=3, float64" in text
    assert "entry (" in text and "none of the known mistakes explains it" in text
    assert "dW: right" in text and "finite differences and tinykd's own agree" in text


def test_a_passing_report_states_every_cases_sizes_temperature_and_dtype():
    report = check("kl_divergence", SOLUTIONS["kl_divergence"][0]())
    assert report.passed
    cases = report.lines[1]
    assert "1) N=5, C=4, τ=3.0, t_squared=False, float64" in cases and "N=1, C=3" in cases and "float32" in cases
    assert "stress: logits of ±1000" in cases


# ------------------------------------------------------------------------------------------ the learner's view
@pytest.fixture
def folder(tmp_path, monkeypatch):
    """A copy of the blank files, as a learner's checkout; softmax_backward solved, cross_entropy wrong."""
    mine = tmp_path / "exercises"
    shutil.copytree(FOLDER, mine)
    write_solution(mine, "softmax_backward", softmax_backward)
    write_solution(mine, "cross_entropy", cross_entropy, "n", SOLUTIONS["cross_entropy"][1])
    monkeypatch.setattr(exercises, "FOLDER", str(mine))
    monkeypatch.setattr(cli, "FOLDER", str(mine))
    return mine


def test_status_shows_each_exercise_blank_failing_or_passed_and_the_next(folder, capsys):
    assert main([]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == len(EXERCISES) + 1
    assert out[0].startswith("§1") and out[0].split()[1:3] == ["softmax_backward", "passed"]
    assert out[1].split()[1:3] == ["cross_entropy", "failing:"] and "loss: wrong" in out[1]
    assert all(line.split()[2] == "blank" for line in out[2:-1])
    assert out[-1].startswith("next: cross_entropy (§2") and "python -m tinykd.exercises check cross_entropy" in out[-1]
    assert main(["status"]) == 0 and capsys.readouterr().out.splitlines() == out


def test_status_says_when_every_exercise_is_passed(folder, monkeypatch):
    monkeypatch.setattr(cli, "check", lambda name, time_limit=None: exercises.Report(True, ["ok"]))
    assert cli.status()[-1] == f"all {len(EXERCISES)} exercises passed"


def test_status_from_the_command_line_on_the_blank_files():
    out = subprocess.run([sys.executable, "-m", "tinykd.exercises"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0 and not out.stderr
    lines = out.stdout.splitlines()
    assert [line.split()[1] for line in lines[:-1]] == list(EXERCISES)
    assert lines[-1].startswith("next: ")


def test_the_time_limit_is_taken_before_or_after_the_command():
    """New-user trial: ``check NAME FILE --time-limit 3`` was 'unrecognized arguments'."""
    from tinykd.exercises.__main__ import main
    assert main(["check", "softmax_backward", "--time-limit", "3"]) == main(
        ["--time-limit", "3", "check", "softmax_backward"]) == 1


def test_a_command_line_mistake_is_one_line(capsys):
    """Second new-user trial: --time-limit 0, a missing exercise name printed argparse's usage block first."""
    from tinykd.exercises.__main__ import main
    for argv in (["--time-limit", "0", "check", "softmax_backward"], ["check"], ["--time-limit", "abc"]):
        with pytest.raises(SystemExit) as e:
            main(argv)
        err = capsys.readouterr().err.strip()
        assert e.value.code == 2 and len(err.splitlines()) == 1 and "error:" in err, err
