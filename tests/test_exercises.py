"""The learners' checker (``tinykd.exercises``): every exercise passes a right solution written as a learner would
(independently of tinykd), fails with the right hint on each catalogued wrong variant of it, and says "not
implemented yet" in one line on its blank file; a broken file or function is one line too."""
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


# ---------------------------------------------------------------- the learner's solutions, right and wrong
def _log_softmax(z, axis=1):
    z = z - z.max(axis=axis, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=axis, keepdims=True))


def softmax_backward(mistake=None):
    def solution(probs, grad, temperature):
        inner = (grad * probs).sum(axis=0 if mistake == "axis" else 1, keepdims=True)
        total = grad.sum(axis=1, keepdims=True)
        wrong = {"upstream": probs * (1 - probs), "diagonal": grad * probs * (1 - probs),
                 "log_softmax": grad - probs * total, "unweighted": probs * (grad - total)}
        dz = wrong.get(mistake, probs * (grad - inner))
        dz = dz * temperature if mistake == "tau_times" else dz if mistake == "tau" else dz / temperature
        return -dz if mistake == "sign" else dz
    return solution


def cross_entropy(mistake=None):
    def solution(logits, labels):
        n = logits.shape[0]
        logp = _log_softmax(logits, axis=0 if mistake == "axis" else 1)
        onehot = np.eye(logits.shape[1])[labels]
        scale = 1 if mistake == "n" else n
        loss = -logp[np.arange(n), labels].sum() / scale
        grad = -(1 - np.exp(logp)) * onehot if mistake == "label_only" else np.exp(logp) - onehot
        return loss, (-grad if mistake == "sign" else grad) / scale
    return solution


def kl_divergence(mistake=None):
    def solution(zs, zt, tau, t_squared):
        axis = 0 if mistake == "axis" else 1
        log_ps, log_pt = _log_softmax(zs / tau, axis), _log_softmax(zt / (1 if mistake == "teacher_tau" else tau), axis)
        ps, pt = np.exp(log_ps), np.exp(log_pt)
        n = 1 if mistake == "n" else zs.shape[0]
        value = (pt * ((0 if mistake == "cross_entropy" else log_pt) - log_ps)).sum() / n
        grad = (ps - pt) / n / (1 if mistake == "tau" else tau)
        if mistake in ("reversed", "reversed_value"):   # KL(P_S ‖ P_T); its gradient worked out, or §3's kept
            r = log_ps - log_pt
            value = (ps * r).sum() / n
            grad = ps * (r - (ps * r).sum(axis=1, keepdims=True)) / (tau * n) if mistake == "reversed" else grad
        if t_squared and mistake in ("tau_on_grad", "tau_on_both"):   # §10's "a τ (P_S − P_T)/N" read as "times τ"
            value, grad = value * (tau if mistake == "tau_on_both" else tau**2), grad * tau
        elif (t_squared and mistake != "t2") or mistake == "t2_always":
            value, grad = value * tau**2, grad * tau**2
        return value, -grad if mistake == "sign" else grad
    return solution


def _logistic(z, c, w, b, mistake=None):
    n = z.shape[0]
    q = z @ w + b
    loss = (np.maximum(q, 0) - q * c + np.log1p(np.exp(-np.abs(q)))).sum() / (1 if mistake == "n" else n)
    d = 1 / (1 + np.exp(-q))
    dq = {"sign": c - d, "sigma": q - c}.get(mistake, d - c) / (1 if mistake == "n" else n)
    return loss, dq


def logistic_discriminator(mistake=None):
    def solution(z, c, w, b):
        loss, dq = _logistic(z, c, w, b, mistake)
        if mistake == "upstream":
            dq = np.ones_like(dq)
            return loss, dq @ w.T, z.T @ dq, dq.sum(axis=0)
        return loss, dq @ w.T, (dq.T @ z if mistake == "transposed" else z.T @ dq), dq.sum(axis=0)
    return solution


def adversarial_student(mistake=None):
    def solution(zs, y, w, b, ce_weight, adv_weight, form):
        ce, dce = cross_entropy("axis" if mistake == "axis" else None)(zs, y)
        minimax = (form == "minimax") != (mistake == "form")
        loss, dq = _logistic(zs, 1.0 if minimax else 0.0, w, b)
        sign = (-1 if form == "minimax" else 1) * (-1 if mistake == "sign" else 1)
        dq = dq * zs.shape[0] if mistake == "n" else dq
        dadv = np.ones_like(dq) @ w.T / zs.shape[0] if mistake == "upstream" else dq @ w.T
        return ce_weight * ce + sign * adv_weight * loss, ce_weight * dce + sign * adv_weight * dadv
    return solution


def dense_backward(mistake=None):
    def solution(x, w, g):
        if mistake == "upstream":
            g = np.ones_like(g)
        dx, dw, db = g @ w.T, x.T @ g, g.sum(axis=0)
        if mistake == "transposed":
            dw = g.T @ x
        if mistake == "db_mean":
            db = g.mean(axis=0)
        if mistake == "dw_mean":
            dw = dw / x.shape[0]
        if mistake == "db_axis":
            db = g.sum(axis=1)
        return (-dx, -dw, -db) if mistake == "sign" else (dx, dw, db)
    return solution


def dropout_backward(mistake=None):
    def solution(g, mask, p):
        keep = {"scale": 1.0, "p": p}.get(mistake, 1 - p)
        m = {"mask": 1.0, "inverted": 1 - mask}.get(mistake, mask)
        return (1.0 if mistake == "upstream" else g) * m / keep
    return solution


def adam_step(mistake=None):
    def solution(theta, g, m, v, t, lr, b1, b2, eps):
        a1, a2 = (1.0, 1.0) if mistake == "beta_factor" else (1 - b1, 1 - b2)
        m = b1 * m + a1 * g
        v = b2 * v + a2 * (g if mistake == "square" else g**2)
        m_hat, v_hat = (m, v) if mistake == "bias" else (m / (1 - b1**t), v / (1 - b2**t))
        with np.errstate(invalid="ignore"):   # √ of a v built from g, not g², is NaN where g < 0
            step = lr * m_hat / (np.sqrt(v_hat + eps) if mistake == "eps" else np.sqrt(v_hat) + eps)
        return theta + step if mistake == "sign" else theta - step, m, v
    return solution


def binary_weight_backward(mistake=None):
    def solution(w, g, ste):
        s = np.where(w >= 0, 1.0, -1.0)
        axis = 1 if mistake == "axis" else 0
        alpha = np.abs(w).mean(axis=axis, keepdims=True)
        exact = s * (g * s).sum(axis=axis, keepdims=True) / (1 if mistake == "sum" else w.shape[axis])
        if mistake == "paper":
            exact = g / w.shape[0]
        window = 1.0 if mistake == "window" else np.abs(w) <= 1
        if ste != (mistake == "ste"):
            exact = exact + (1.0 if mistake == "alpha" else alpha) * g * window
        return -exact if mistake == "sign" else exact
    return solution


def batchnorm_backward(mistake=None):
    def solution(x, gamma, g, eps):
        axis = 1 if mistake == "axis" else 0
        mu = x.mean(axis=axis, keepdims=True)
        r = 1 / np.sqrt(((x - mu) ** 2).mean(axis=axis, keepdims=True) + eps)
        xhat = (x - mu) * r
        dxhat = g if mistake == "gamma" else g * gamma
        n = 1 if mistake == "n" else x.shape[axis]
        through_mu = 0 if mistake in ("mu", "both") else dxhat.sum(axis=axis, keepdims=True) / n
        through_nu = 0 if mistake in ("nu", "both") else xhat * (dxhat * xhat).sum(axis=axis, keepdims=True) / n
        dx = r * (dxhat - through_mu - through_nu)
        dgamma, db = (g * xhat).sum(axis=axis), g.sum(axis=axis)
        if mistake == "param_mean":
            dgamma, db = dgamma / x.shape[0], db / x.shape[0]
        return (-dx, -dgamma, -db) if mistake == "sign" else (dx, dgamma, db)
    return solution


# (the learner's solution, {mistake: a phrase its hint must contain}) for each exercise; two slips may share a hint
# (τ where τ² belongs, on the gradient alone or on the value too)
SOLUTIONS = {
    "softmax_backward": (softmax_backward, {"tau": "missing 1/τ", "tau_times": "multiplied by τ", "axis": "wrong axis",
                                            "sign": "sign error", "upstream": "upstream gradient forgotten",
                                            "diagonal": "off-diagonal", "log_softmax": "log-softmax's backward",
                                            "unweighted": "weighted by P"}),
    "cross_entropy": (cross_entropy, {"n": "missing 1/N", "sign": "sign error", "axis": "wrong axis",
                                      "label_only": "only the label's column"}),
    "kl_divergence": (kl_divergence, {"tau": "missing 1/τ", "t2": "missing τ²", "t2_always": "τ² applied with",
                                      "n": "missing 1/N", "sign": "sign error", "axis": "wrong axis",
                                      "cross_entropy": "soft cross-entropy", "tau_on_grad": "τ instead of τ²",
                                      "tau_on_both": "τ instead of τ²", "teacher_tau": "teacher's logits not divided",
                                      "reversed": "wrong way round", "reversed_value": "wrong way round"}),
    "logistic_discriminator": (logistic_discriminator, {"sign": "sign error", "sigma": "σ forgotten",
                                                        "n": "missing 1/N", "transposed": "transposed weight gradient",
                                                        "upstream": "upstream gradient forgotten"}),
    "adversarial_student": (adversarial_student, {"sign": "sign error", "form": "the other form", "n": "missing 1/N",
                                                  "upstream": "upstream gradient forgotten", "axis": "wrong axis"}),
    "dense_backward": (dense_backward, {"transposed": "transposed weight gradient", "db_mean": "db divided by N",
                                        "dw_mean": "dW divided by N", "sign": "sign error",
                                        "upstream": "upstream gradient forgotten", "db_axis": "wrong axis"}),
    "dropout_backward": (dropout_backward, {"scale": "1/(1 − p) forgotten", "p": "divided by p", "mask":
                                            "mask forgotten", "upstream": "upstream gradient forgotten",
                                            "inverted": "mask inverted"}),
    "adam_step": (adam_step, {"bias": "bias correction forgotten", "eps": "ε inside the square root",
                              "beta_factor": "(1 − β) factors", "square": "not g²", "sign": "sign error"}),
    "binary_weight_backward": (binary_weight_backward, {"paper": "XNOR-Net's approximation", "window": "window",
                                                        "alpha": "α forgotten", "sum": "missing 1/I",
                                                        "axis": "wrong axis", "sign": "sign error",
                                                        "ste": "where ste says otherwise"}),
    "batchnorm_backward": (batchnorm_backward, {"mu": "μ's path forgotten", "nu": "ν's path forgotten",
                                                "both": "treated as constants", "n": "missing 1/N",
                                                "gamma": "γ forgotten", "axis": "wrong axis",
                                                "param_mean": "dγ and db divided by N", "sign": "sign error"}),
}


def test_every_exercise_has_a_learners_solution_and_at_least_eight_exist():
    assert sorted(SOLUTIONS) == sorted(EXERCISES) and len(EXERCISES) >= 8


@pytest.mark.parametrize("name", sorted(SOLUTIONS))
def test_a_right_solution_passes(name):
    report = check(name, SOLUTIONS[name][0]())
    assert report.passed, str(report)
    assert "passed" in report.lines[0] and "likely mistake" not in str(report)


@pytest.mark.parametrize("name,mistake", [(n, m) for n in sorted(SOLUTIONS) for m in SOLUTIONS[n][1]])
def test_each_catalogued_mistake_is_named(name, mistake):
    factory, hints = SOLUTIONS[name]
    report = check(name, factory(mistake))
    assert not report.passed
    named = [line for line in report.lines if "likely mistake" in line]
    assert named and all(hints[mistake] in line for line in named), str(report)


def test_every_catalogued_mistake_is_exercised_here():
    """Each catalogued hint is the one some learner's slip above is named by."""
    for name, (_, hints) in SOLUTIONS.items():
        for hint, _ in EXERCISES[name].mistakes:
            assert sum(phrase in hint for phrase in set(hints.values())) == 1, f"{name}: no test names '{hint}'"


def test_tau_squared_on_the_value_and_tau_on_the_gradient_is_named_on_the_gradient_alone():
    """The trial's slip: §10's a τ (P_S^τ − P_T^τ)/N read as "multiply §3's gradient by τ"; with t_squared=True
    the gradient is then (P_S^τ − P_T^τ)/N, τ times too small, and the value (times τ²) is right."""
    report = check("kl_divergence", kl_divergence("tau_on_grad"))
    text = str(report)
    assert "loss: right" in text and "dz: wrong" in text and "none of the known mistakes" not in text
    assert [line for line in report.lines if "likely mistake" in line] == [
        line for line in report.lines if "τ instead of τ²" in line], text


def test_an_unknown_mistake_says_so_and_points_at_the_worst_entry():
    report = check("dense_backward", lambda x, w, g: (g @ w.T + 0.01, x.T @ g, g.sum(axis=0)))
    assert not report.passed
    text = str(report)
    assert "dx: wrong: relative error" in text and "entry (" in text and "none of the known mistakes" in text
    assert "dW: right" in text and "finite differences and tinykd's own agree" in text


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
    assert fn.name == name and f"docs/derivations.md §{EXERCISES[name].section}" in ast.get_docstring(tree)
    last = fn.body[-1]
    assert isinstance(last, ast.Raise) and ast.unparse(last.exc) == "NotImplementedError"
    assert len(fn.args.args) == len(EXERCISES[name].cases()[0]["args"])


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
    cases = [check("dense_backward", lambda x, w, g: (g @ w.T, x.T @ g)),
             check("no_such_exercise", None), check("dense_backward", tmp_path / "absent.py")]
    expected = ["returned 2 values; return the tuple (dx, dW, db)", "no exercise 'no_such_exercise'",
                "no file"]
    for report, phrase in zip(cases, expected):
        assert not report.passed and len(report.lines) == 1 and phrase in report.lines[0], str(report)


def test_the_learners_inputs_are_copies():
    def scribbles(probs, grad, temperature):
        dz = probs * (grad - (grad * probs).sum(axis=1, keepdims=True)) / temperature
        probs[...] = 0                        # a learner's in-place edit must not change the reference's inputs
        return dz
    assert check("softmax_backward", scribbles).passed


def test_exercise_modules_stay_short():
    package = Path(FOLDER).parent / "tinykd" / "exercises"
    for path in package.glob("*.py"):
        assert len(path.read_text(encoding="utf-8").splitlines()) <= 400, f"{path} is over 400 lines"
    assert os.path.isdir(FOLDER)


@pytest.mark.parametrize("name", sorted(EXERCISES))
def test_the_independent_check_agrees_with_tinykds_own(name):
    """The finite differences (Algorithm 1 written out, for Adam) each exercise reports agree with tinykd's own
    function on every case, and every catalogued mistake changes some output on some case."""
    from tinykd import gradcheck
    exercise = EXERCISES[name]
    for case in exercise.cases():
        reference = exercise.compared(case, exercise.reference(case))
        for num, ref in zip(exercise.compared(case, exercise.numeric(case)), reference):
            if num is not None:
                assert gradcheck.relative_error(num, ref) < gradcheck.TOL
    from tinykd.exercises.core import close
    for hint, variant in exercise.mistakes:
        assert any(not close(w, r) for case in exercise.cases()
                   for w, r in zip(exercise.compared(case, variant(case)), exercise.compared(case, exercise.reference(
                       case)))), f"{name}: the mistake '{hint}' changes nothing on these cases"


# ------------------------------------------------------------- the document points to the exercises, and the
# ------------------------------------------------------------- derivations written out for them are checked
def test_each_exercise_is_named_by_its_section_of_the_derivations():
    doc = (ROOT / "docs" / "derivations.md").read_text(encoding="utf-8")
    for name, exercise in EXERCISES.items():
        section = re.search(rf"^## {exercise.section}\. .*?(?=^## |\Z)", doc, re.M | re.S).group(0)
        assert f"`exercises/{name}.py`" in section, f"§{exercise.section} does not point to exercises/{name}.py"


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
