"""The learners' checker (``tinykd.exercises``): its blank files, its command line, its cases and references, and
the derivations written out for the exercises. The learners' solutions, right and wrong, are in
``test_exercises_solutions.py`` (§1–§9) and ``test_exercises_methods.py`` (§10–§20); the checker's defences (a hang,
an exit, tinykd's own function, a changed argument, a wrong signature or shape) in ``test_exercises_checker.py``."""
import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tinykd.exercises import EXERCISES, FOLDER, check
from tinykd.exercises.__main__ import main

ROOT = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------------------------- the blank files and the CLI
@pytest.mark.parametrize("name", sorted(EXERCISES))
def test_the_blank_file_is_not_implemented_yet(name, capsys):
    assert main(["check", name]) == 1
    out = capsys.readouterr().out.strip()
    assert "\n" not in out and out.startswith(f"{name}: not implemented yet") and f"§{EXERCISES[name].section}" in out


@pytest.mark.parametrize("name", sorted(EXERCISES))
def test_each_blank_file_has_the_signature_a_pointer_and_not_implemented(name):
    path = Path(FOLDER) / f"{name}.py"
    tree = ast.parse(path.read_text(encoding="utf-8"))
    (fn,) = [node for node in tree.body if isinstance(node, ast.FunctionDef)]
    doc = ast.get_docstring(tree)
    assert fn.name == name and f"docs/derivations.md §{EXERCISES[name].section}" in doc
    assert f"python -m tinykd.exercises check {name}" in doc and "leave" in doc and "unchanged" in doc
    last = fn.body[-1]
    assert isinstance(last, ast.Raise) and ast.unparse(last.exc) == "NotImplementedError"
    assert tuple(a.arg for a in fn.args.args) == EXERCISES[name].params   # what a wrong signature is told
    assert all(len(c["args"]) == len(fn.args.args) for c in EXERCISES[name].cases())


def test_the_command_line_says_not_implemented_in_one_line_without_a_traceback():
    out = subprocess.run([sys.executable, "-m", "tinykd.exercises", "check", "softmax_backward"], cwd=ROOT,
                         capture_output=True, text=True)
    assert out.returncode == 1 and not out.stderr
    assert out.stdout.strip() == ("softmax_backward: not implemented yet: write it in exercises/softmax_backward.py "
                                  "(see docs/derivations.md §1), then check again")


def test_list_names_every_exercise_in_the_documents_order(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    sections = [int(s) for s in re.findall(r"^§(\d+)", out, re.M)]
    assert sections == sorted(sections) and all(name in out for name in EXERCISES)
    assert sections == [1, 2, 3, 4, 5, 7, 8, 9, 10, 11, 12, 13, 14, 16, 17, 18, 19, 20, 21]   # each with a gradient


def test_a_file_solution_is_checked_and_a_right_one_exits_0(tmp_path, capsys):
    path = tmp_path / "mine.py"
    path.write_text("def dropout_backward(grad, mask, p):\n    return grad * mask / (1 - p)\n")
    assert main(["check", "dropout_backward", str(path)]) == 0
    assert "dropout_backward: passed" in capsys.readouterr().out


@pytest.mark.parametrize("source,message", [
    ("def dropout_backward(grad, mask, p):\n    return grad *\n", ":2: syntax error"),
    ("def something_else():\n    pass\n", "defines no function dropout_backward()"),
    ("import numpy as np\ndef dropout_backward(grad, mask, p):\n    return np.dot(grad, mask)\n",
     "dropout_backward raised ValueError (mine.py, line 3)"),
    ("def dropout_backward(grad, mask, p):\n    return None\n", "returned None for dx"),
    ("1 / 0\n", "raised ZeroDivisionError while loading (mine.py, line 1)"),
])
def test_a_broken_file_is_one_line(source, message, tmp_path, capsys):
    path = tmp_path / "mine.py"
    path.write_text(source)
    assert main(["check", "dropout_backward", str(path)]) == 1
    out = capsys.readouterr().out.strip()
    assert "\n" not in out and message in out, out


def test_wrong_outputs_unknown_names_and_missing_files_are_one_line(tmp_path):
    """(a value the checker cannot use, a name or a file that is not there: one line each)"""
    cases = [check("dense_backward", lambda x, w, g: (g @ w.T, x.T @ g)),
             check("no_such_exercise", None), check("dense_backward", tmp_path / "absent.py")]
    expected = ["returned 2 values; return the tuple (dx, dW, db)", "no exercise 'no_such_exercise'",
                "no file"]
    for report, phrase in zip(cases, expected):
        assert not report.passed and len(report.lines) == 1 and phrase in report.lines[0], str(report)


def test_exercise_modules_stay_short():
    package = Path(FOLDER).parent / "tinykd" / "exercises"
    for path in package.glob("*.py"):
        assert len(path.read_text(encoding="utf-8").splitlines()) <= 400, f"{path} is over 400 lines"
    assert os.path.isdir(FOLDER)


@pytest.mark.parametrize("name", sorted(EXERCISES))
def test_the_independent_check_agrees_with_tinykds_own(name):
    """The finite differences (the formula written out, for Adam and max-norm) each exercise reports agree with
    tinykd's own function on every case."""
    from tinykd import gradcheck
    exercise = EXERCISES[name]
    for reference, numeric in zip(exercise.references(), exercise.numerics()):
        for num, ref in zip(numeric, reference):
            if num is not None:
                assert gradcheck.relative_error(num, ref) < gradcheck.TOL


@pytest.mark.parametrize("name", sorted(EXERCISES))
def test_every_mistake_shows_even_at_float32s_tolerance_and_no_two_are_the_same(name):
    """Each catalogued mistake moves some output on some case a hundred times beyond float32's tolerance (so a
    learner's float32 arithmetic, which passes, never hides one), and no two mistakes agree on every case (each
    hint has a solution of its own)."""
    from tinykd import gradcheck
    from tinykd.exercises.core import TOL, close
    tol, floor = TOL[np.dtype(np.float32)]
    exercise = EXERCISES[name]
    reference, variants = exercise.references(), exercise.variants()
    for (hint, _), outputs in zip(exercise.mistakes, variants):
        worst = max(np.inf if w.shape != r.shape or not np.isfinite(w).all() else
                    gradcheck.relative_error(w, r, floor=floor) for ws, rs in zip(outputs, reference)
                    for w, r in zip(ws, rs))
        assert worst > 100 * tol, f"{name}: '{hint}' moves nothing beyond {worst:.1e}"
    for i, first in enumerate(variants):
        for j in range(i + 1, len(variants)):
            assert not all(close(a, b) for ws, vs in zip(first, variants[j]) for a, b in zip(ws, vs)), \
                (exercise.mistakes[i][0], exercise.mistakes[j][0])


@pytest.mark.parametrize("name", sorted(EXERCISES))
def test_no_argument_takes_the_same_value_in_every_case(name):
    """A setting that never varies hides the mistake of ignoring it (hard-coded β = (0.9, 0.999), a weight taken
    as 1 − the other): every scalar argument varies, every array argument's shape varies, there is a float32
    case, and a blank that asks for a stable form has a stress case."""
    exercise = EXERCISES[name]
    cases = exercise.cases()
    for k, param in enumerate(exercise.params):
        values = [c["args"][k] for c in cases]
        if isinstance(values[0], np.ndarray):
            assert len({v.shape for v in values}) > 1 or param in ("b", "b_R"), f"{name}: {param}'s shape"
        else:
            assert len({repr(v) for v in values}) > 1, f"{name}: {param} is {values[0]!r} in every case"
    assert any(c["about"]["dtype"] == "float32" for c in cases)
    blank = (Path(FOLDER) / f"{name}.py").read_text(encoding="utf-8")
    assert any(c["stress"] for c in cases) == ("±1000" in blank), name
    weights = [k for k, p in enumerate(exercise.params) if p.endswith("_weight")]
    if len(weights) >= 2:          # weights that sum to 1 in every case would hide "the other is 1 − this one"
        assert not all(abs(sum(c["args"][k] for k in weights) - 1) < 1e-12 for c in cases)


# ------------------------------------------------------------- the document points to the exercises, and the
# ------------------------------------------------------------- derivations written out for them are checked
def test_each_exercise_is_named_by_its_section_of_the_derivations():
    doc = (ROOT / "docs" / "derivations.md").read_text(encoding="utf-8")
    for name, exercise in EXERCISES.items():
        section = re.search(rf"^## {exercise.section}\. .*?(?=^## |\Z)", doc, re.M | re.S).group(0)
        assert f"`exercises/{name}.py`" in section, f"§{exercise.section} does not point to exercises/{name}.py"
        assert f"python -m tinykd.exercises check {name}`" in section.replace("\n  ", " "), \
            f"§{exercise.section} does not say how to check exercises/{name}.py"


def test_centring_is_a_symmetric_projection_and_its_own_gradient(rng):
    """§3, Steps 1–4 after the limit: Π = δ − 1/C centres a row, is symmetric and idempotent, and the gradient of
    (1/(2CN)) Σ_n ‖Π(z_S − z_T)‖² is the centred difference over CN (finite differences)."""
    from tinykd import gradcheck
    n, c = 4, 5
    pi = np.eye(c) - 1 / c
    zs, zt = rng.standard_normal((n, c)), 3 * rng.standard_normal((n, c))
    np.testing.assert_allclose(zs @ pi.T, zs - zs.mean(axis=1, keepdims=True), atol=1e-15)
    np.testing.assert_array_equal(pi, pi.T)
    np.testing.assert_allclose(pi @ pi, pi, atol=1e-15)
    centred = (zs - zs.mean(axis=1, keepdims=True)) - (zt - zt.mean(axis=1, keepdims=True))
    gradcheck.check(lambda: (((zs - zt) @ pi.T) ** 2).sum() / (2 * c * n), zs, centred / (c * n),
                    "centred logit matching")


def test_the_tempered_softmax_to_second_order(rng):
    """§3's expansion one order further: P^τ − (1/C + d/(Cτ) + (d² − ν_z)/(2Cτ²)) is O(τ⁻³) (d = z − z̄), and the
    second-order term vanishes with two classes."""
    from tinykd import functional as F
    z = 2 * rng.standard_normal((3, 6))
    d = z - z.mean(axis=1, keepdims=True)
    nu = (d * d).mean(axis=1, keepdims=True)
    c = z.shape[1]
    scaled = []
    for tau in (40.0, 80.0, 160.0):
        rest = F.softmax(z, tau) - (1 / c + d / (c * tau) + (d * d - nu) / (2 * c * tau**2))
        scaled.append(np.abs(rest).max() * tau**3)
    assert max(scaled) / min(scaled) < 1.2, scaled         # the remainder falls like τ⁻³
    two = rng.standard_normal((4, 2))
    d2 = two - two.mean(axis=1, keepdims=True)
    np.testing.assert_allclose(d2 * d2, np.broadcast_to((d2 * d2).mean(axis=1, keepdims=True), d2.shape), rtol=1e-12)


@pytest.mark.parametrize("form", ["minimax", "nonsaturating"])
def test_the_adversarial_students_gradient_and_its_drift(form, rng):
    """§11 written out for a linear discriminator on raw logits: dz_S = λ_CE (P_S − Y)/N + λ_adv (1 − D or D) Wᵀ/N,
    and each row's sum over the classes, the derivative along its shift (finite differences), is
    λ_adv (1 − D_n) Σ_j W_j / N (minimax) or λ_adv D_n Σ_j W_j / N (non-saturating)."""
    from tinykd import functional as F
    from tinykd import gradcheck
    from tinykd.discriminator import Discriminator
    from tinykd.distill import AdversarialKD
    n, c, ce_weight, adv_weight = 6, 4, 0.7, 0.4
    zs, y = 2 * rng.standard_normal((n, c)), rng.integers(0, c, n)
    d = Discriminator(c, features="raw", backend="numpy", dtype=np.float64)
    w, b = d.net.layers[0].params["W"], d.net.layers[0].params["b"]
    w[...], b[...] = rng.standard_normal((c, 1)), 0.3
    objective = AdversarialKD(d, alpha=ce_weight, beta=adv_weight, form=form)
    dz = objective(zs, y)[1]
    big_d = F.sigmoid((zs @ w + b)[:, 0])
    factor = 1 - big_d if form == "minimax" else big_d
    np.testing.assert_allclose(dz, ce_weight * (F.softmax(zs) - np.eye(c)[y]) / n + adv_weight * factor[:, None]
                               * w[:, 0] / n, rtol=1e-10, atol=1e-14)
    drift = adv_weight * factor * w.sum() / n
    np.testing.assert_allclose(dz.sum(axis=1), drift, rtol=1e-10)
    kappa = np.zeros(n)
    gradcheck.check(lambda: objective(zs + kappa[:, None], y)[0], kappa, drift, f"{form} drift along the shift")


# ------------------------------------------------------------------------------- docs/why_kd.md and its script
def _why_kd():
    import importlib.util
    spec = importlib.util.spec_from_file_location("why_kd", ROOT / "docs" / "why_kd.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_why_kd_script_shows_the_soft_gradient_fading_without_tau_squared():
    rows, limit = _why_kd().gradient_sizes()
    (_, plain_a, scaled_a), (_, plain_b, scaled_b) = rows[-2], rows[-1]   # τ = 32 and 64
    assert 0.2 < plain_b / plain_a < 0.27                  # halving per doubling of τ, twice: 1/τ²
    assert abs(scaled_b - limit) / limit < 0.05 and abs(scaled_b - limit) < abs(scaled_a - limit)


def test_why_kd_page_shows_the_scripts_own_output_and_the_recorded_numbers(capsys):
    _why_kd().main()
    printed = capsys.readouterr().out.strip()
    page = (ROOT / "docs" / "why_kd.md").read_text(encoding="utf-8")
    assert f"```\n{printed}\n```" in page, "docs/why_kd.md's table is not what python docs/why_kd.py prints: paste it"
    results = (ROOT / "docs" / "results.md").read_text(encoding="utf-8")   # generated from the records
    for row, cited in (("| 800 |", ("135", "113", "123")), ("| 30 |", ("325", "500")), ("| 1% |", ("550", "114"))):
        line = next(line for line in results.splitlines() if line.startswith(row))
        assert all(f" {n} |" in line for n in cited), f"docs/why_kd.md cites {cited}; results say {line}"
    assert "1,044 test errors" in page and "| 1044 |" in results


# ------------------------------------------------------------- tinykd.gradcheck, as a learner would call it
def test_gradcheck_passes_a_right_gradient_and_names_the_worst_entry_of_a_wrong_one(rng):
    from tinykd import gradcheck
    x = rng.standard_normal((3, 4))
    assert gradcheck.check(lambda: np.sin(x).sum(), x, np.cos(x), "sin") < 1e-9
    wrong = np.cos(x)
    wrong[2, 1] += 0.5
    with pytest.raises(AssertionError, match=r"worst entry \(2, 1\)"):
        gradcheck.check(lambda: np.sin(x).sum(), x, wrong, "sin, one entry off")
    assert gradcheck.compare(np.cos(x), wrong)[1] == (2, 1)
    with pytest.raises(TypeError, match="float64"):
        gradcheck.numerical_grad(lambda: 0.0, x.astype(np.float32))


def test_gradcheck_along_random_directions(rng):
    from tinykd import gradcheck
    x = rng.standard_normal((40, 30))
    before = x.copy()
    assert gradcheck.directional(lambda: (x**3).sum(), x, 3 * x**2, "cube", directions=3, rng=0) < 1e-8
    np.testing.assert_array_equal(x, before)                 # moved in place and restored
    with pytest.raises(AssertionError, match="random direction"):
        gradcheck.directional(lambda: (x**3).sum(), x, 3 * x**2 + 1e-2 * rng.standard_normal(x.shape), "cube, noisy",
                              directions=3, rng=0)


def test_the_footer_names_the_one_floor_of_the_worst_passing_check_and_leaves_out_failed_ones(rng, monkeypatch):
    from tinykd import gradcheck
    monkeypatch.setattr(gradcheck, "WORST", [])
    x = rng.standard_normal((2, 3))
    gradcheck.check(lambda: (x**3).sum(), x, 3 * x**2 + 1e-9, "cube, floor raised", floor=0.21)
    gradcheck.check(lambda: np.sin(x).sum(), x, np.cos(x), "sin")
    with pytest.raises(AssertionError):
        gradcheck.check(lambda: np.sin(x).sum(), x, np.cos(x) + 0.1, "sin, wrong on purpose")
    line = gradcheck.worst_line()
    assert "\n" not in line and "2 passed; 1 failing comparisons left out (the tests of wrong gradients" in line and "(cube, floor raised)" in line, line
    assert "floor 0.21: that check's, raised from the default 1e-4 because" in line and "1e-4)" not in line, line
    assert "wrong on purpose" not in line
    monkeypatch.setattr(gradcheck, "WORST", gradcheck.WORST[1:2])
    assert gradcheck.worst_line().endswith("(sin) = ||num - ana||_2 / max(||num||_2, ||ana||_2, floor), floor 1e-4: "
                                           "the default")


def test_the_exercises_readme_lists_every_exercise_with_its_section():
    text = (Path(FOLDER) / "README.md").read_text(encoding="utf-8")
    listed = dict((name, int(sec)) for pair in re.findall(r"^\| (\d+) \| `(\w+)` \|(?: (\d+) \| `(\w+)` | +\| +)\|$",
                                                           text, re.M)
                  for sec, name in (pair[:2], pair[2:]) if name)
    assert listed == {name: e.section for name, e in EXERCISES.items()}
