"""``docs/derivations.md`` as a checked artefact.

- Every ``$$`` block parses as TeX math (matplotlib's mathtext, a subset of what GitHub's MathJax accepts) and uses
  nothing GitHub's Markdown would rewrite before MathJax sees it; no macro is rewritten before parsing.
- Every function and test the document cites exists; every Greek letter its formulas use is in its notation table.
- The claims that are not gradients hold numerically: the cost of a label trailing by 1000 (§2), Hinton's
  high-temperature limit and the worked example's numbers (§3), BatchNorm's two sanity identities (§14).
"""
import importlib
import re
from pathlib import Path

import numpy as np
import pytest

from tinykd import functional as F
from tinykd.layers import BatchNorm

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "derivations.md"


# ------------------------------------------------------------------------------------------- the TeX blocks
def math_blocks(text):
    """[(line number, TeX)] of every ``$$`` block: ``$$`` alone on a line, one line of TeX, ``$$`` alone on a line,
    with a blank line (or the file's edge) on both sides — GitHub misses a block glued to the one before it."""
    lines = text.split("\n")
    blocks, i = [], 0
    while i < len(lines):
        if lines[i].strip() != "$$":
            i += 1
            continue
        where = f"docs/derivations.md:{i + 1}"
        assert i + 2 < len(lines) and lines[i + 2].strip() == "$$", \
            f"{where}: a $$ block holds exactly one line of TeX (one equation per block), closed by $$ alone"
        assert i == 0 or not lines[i - 1].strip(), f"{where}: leave a blank line before a $$ block"
        assert i + 3 >= len(lines) or not lines[i + 3].strip(), f"{where}: leave a blank line after a $$ block"
        blocks.append((i + 2, lines[i + 1].strip()))
        i += 3
    return blocks


def prose(text):
    """The document without its ``$$`` blocks and code spans (fenced or inline)."""
    text = re.sub(r"^\$\$\n.*?\n\$\$$", "", text, flags=re.M | re.S)
    text = re.sub(r"```.*?```", "", text, flags=re.S)
    return re.sub(r"`[^`\n]*`", "", text)


# GitHub runs its Markdown inline parser over the block before MathJax reads it. Each pattern is something that
# parser would change; the right-hand side says what to write instead.
MARKDOWN_HAZARDS = [
    (r"\\[!-/:-@\[-`{-~]", r"a backslash before punctuation is a Markdown escape (\{ \, \\ \| lose their backslash): "
                           r"use \lbrace \rbrace \quad \Vert, and one equation per block"),
    (r"(?:^|(?<=[\s!-/:-@\[-`{-~]))_", "an underscore after punctuation or a space can open *emphasis*: attach the "
                                       r"subscript to a letter (\hat x_n, not \hat{x}_n)"),
    (r"\*", "an asterisk is emphasis: use \\ast or \\cdot"),
    (r"~", "a tilde is strikethrough: use \\sim, or a space"),
    (r"<[A-Za-z/!?]", "'<' before a letter opens an HTML tag: put a space after it"),
    (r"\]\(", "'](' is a link: put a space between"),
    (r"&[A-Za-z#]", "'&' before a letter is an HTML entity"),
    (r"^\s*(?:#{1,6}(?:\s|$)|>|[-+*](?:\s|$)|\d{1,9}[.)](?:\s|$)|=+\s*$)",
     "a line starting like this is a heading, quote or list item in Markdown"),
    (r"[^\x20-\x7e]", "TeX blocks are ASCII (write \\tau, not τ): Unicode belongs in the backticked code spans"),
    (r"\$", "no $ inside a block"),
]


def markdown_hazards(tex):
    """What GitHub's Markdown would rewrite in this TeX, as a list of reasons (empty when it is safe)."""
    return [why for pattern, why in MARKDOWN_HAZARDS if re.search(pattern, tex)]


def tex_error(tex):
    """None if matplotlib's mathtext parses ``tex`` as math, else its error message (first line)."""
    mathtext = pytest.importorskip("matplotlib.mathtext", reason="the TeX check needs matplotlib: "
                                                                 "pip install -e '.[test]'")
    try:
        mathtext.MathTextParser("path").parse(f"${tex}$")
    except ValueError as exc:  # pyparsing's errors reach us as ValueError
        return str(exc).strip().splitlines()[-1] or type(exc).__name__
    return None


def formula_problems(tex):
    """Every reason this formula would not render on GitHub or would not parse; empty when it is fine."""
    problems = markdown_hazards(tex)
    error = tex_error(tex)
    return problems + ([f"mathtext: {error}"] if error else [])


def test_every_formula_parses_and_survives_markdown():
    text = DOC.read_text(encoding="utf-8")
    blocks = math_blocks(text)
    assert len(blocks) >= 60, f"found only {len(blocks)} $$ blocks: has the extractor stopped seeing them?"
    # the Markdown lint first: it needs no matplotlib, so it runs even where the TeX parse is skipped
    hazards = [f"docs/derivations.md:{line}: {tex}\n    " + "\n    ".join(found)
               for line, tex in blocks if (found := markdown_hazards(tex))]
    assert not hazards, "\n".join(hazards)
    errors = [f"docs/derivations.md:{line}: {tex}\n    mathtext: {error}"
              for line, tex in blocks if (error := tex_error(tex))]
    assert not errors, "\n".join(errors)
    # inline $…$ is not used: a $ left in the prose would be math that nothing above has checked
    assert "$" not in prose(text), "a $ outside the $$ blocks and code spans: write a $$ block, or backticks"


@pytest.mark.parametrize("tex", [r"\frac{a}{b", r"x^", r"\left( x", r"\sigam", r"\le", r"a_{b"])
def test_the_checker_rejects_broken_tex(tex):
    assert tex_error(tex), f"mathtext accepted {tex!r}"
    assert formula_problems(tex)


@pytest.mark.parametrize("tex", [r"\lbrace a \}", r"a \\ b", r"a \, b", r"\hat{x}_n", r"a <b", r"[a](b)",
                                 r"a * b", r"- a = b", r"\tau = 1 \quad \text{τ}"])
def test_the_checker_rejects_what_markdown_would_mangle(tex):
    assert markdown_hazards(tex), f"{tex!r} passed the Markdown lint"


def test_the_checker_accepts_the_document_style():
    tex = r"\mathrm{d}x_n = r \left( \mathrm{d}\hat x_n - \frac{1}{N} \sum_{n'} \mathrm{d}\hat x_{n'} \right)"
    assert formula_problems(tex) == []


# ------------------------------------------------------------------------------- names and notation coverage
def cited_names(text):
    """(kind, name) pairs: ("function", "tinykd.x.y") and ("test", "tests/file.py::test_name"). A bare
    ``::test_name`` refers to the last test file named before it."""
    out, last_file = [], None
    for match in re.finditer(r"`(tinykd\.[\w.]+)`|`(tests/\w+\.py)(?:::(\w+))?`|`::(\w+)`", text):
        function, file, test, bare = match.groups()
        if function:
            out.append(("function", function))
        elif file:
            last_file = file
            if test:
                out.append(("test", f"{file}::{test}"))
        else:
            assert last_file, f"`::{bare}` cited before any test file"
            out.append(("test", f"{last_file}::{bare}"))
    return out


def resolves(dotted):
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:]:
            if not hasattr(obj, attr):
                return False
            obj = getattr(obj, attr)
        return True
    return False


def test_every_cited_function_and_test_exists():
    text = DOC.read_text(encoding="utf-8")
    names = cited_names(text)
    assert len(names) > 60
    # in "Implemented by" lines a bare name continues the last one cited: `tinykd.functional.softmax`,
    # `log_softmax` (the same module) or `tinykd.layers.Dense.forward` / `backward` (the same class)
    for bullet in re.findall(r"^- Implemented by.*?(?=\n(?! ))", text, re.M | re.S):
        last = None
        for token in re.findall(r"`([\w.]+)`", bullet):
            if token.startswith("tinykd."):
                last = token
            elif last and re.fullmatch(r"[A-Za-z_]\w*", token):
                parent, module = last.rsplit(".", 1)[0], ".".join(last.split(".")[:2])
                names.append(("function", next((f"{p}.{token}" for p in (parent, module)
                                                if resolves(f"{p}.{token}")), f"{parent}.{token}")))
    missing = []
    for kind, name in names:
        if kind == "function":
            ok = resolves(name)
        else:
            file, test = name.split("::")
            ok = (ROOT / file).exists() and re.search(rf"^def {test}\b", (ROOT / file).read_text(), re.M)
        if not ok:
            missing.append(name)
    assert not missing, f"docs/derivations.md cites names that do not exist (renamed? moved?): {missing}"


GREEK = {"alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ", "epsilon": "ϵ", "varepsilon": "ε", "eta": "η",
         "theta": "θ", "kappa": "κ", "lambda": "λ", "mu": "μ", "nu": "ν", "xi": "ξ", "pi": "π", "rho": "ρ",
         "sigma": "σ", "tau": "τ", "phi": "ϕ", "varphi": "φ", "psi": "ψ", "omega": "ω", "zeta": "ζ", "chi": "χ",
         "Delta": "Δ", "Gamma": "Γ", "Lambda": "Λ", "Sigma": "Σ", "Phi": "Φ", "Omega": "Ω"}


def test_every_greek_letter_is_in_the_notation_table():
    text = DOC.read_text(encoding="utf-8")
    table = text.split("## Notation", 1)[1].split("\n## ", 1)[0]
    first_column = "".join(line.split("|")[1] for line in table.splitlines() if line.startswith("| "))
    used = {m for _, tex in math_blocks(text) for m in re.findall(r"\\([A-Za-z]+)", tex) if m in GREEK}
    missing = sorted(f"\\{m} ({GREEK[m]})" for m in used if GREEK[m] not in first_column)
    assert not missing, f"Greek letters used in formulas but absent from the notation table: {missing}"


# ------------------------------------------------------------------------------------------ §2: the value
def test_a_label_trailing_by_1000_costs_about_1000():
    # −log P_y = (z_max − z_y) + log Σ_j e^{z_j − z_max}, the log in [0, log C]
    for dtype in (np.float32, np.float64):
        for logits, label, cost in (([0.0, -1000.0], 1, 1000.0), ([0.0, 0.0, -1000.0], 2, 1000.0 + np.log(2))):
            loss, grad = F.cross_entropy(np.array([logits], dtype), np.array([label]))
            assert np.isfinite(loss) and float(loss) == pytest.approx(cost, rel=1e-6)
            assert 1000 <= float(loss) <= 1000 + np.log(len(logits)) + 1e-3
            assert grad[0, label] == pytest.approx(-1.0)  # prediction minus target: the full push, not a vanishing one


# ---------------------------------------------------------------------------- §3: Hinton's high-temperature limit
def centred(z):
    return z - z.mean(axis=1, keepdims=True)


def scaled_soft_gradient(zs, zt, t):
    """τ (P_S^τ − P_T^τ), row by row: the gradient of Hinton's τ²-weighted soft term, times N."""
    _, grad = F.soft_cross_entropy(zs, zt, t, t_squared=True)
    return grad * zs.shape[0]


@pytest.mark.parametrize("c", [2, 3, 10])
def test_high_temperature_limit_is_centred_logit_matching(c):
    """τ (P_S^τ − P_T^τ) → ((z_S − z̄_S) − (z_T − z̄_T))/C, the error shrinking like 1/τ (like 1/τ² for two classes,
    whose 1/τ term vanishes)."""
    r = np.random.default_rng(c)
    zs = r.standard_normal((6, c)) * 2 + r.normal(0, 5, (6, 1))   # rows with very different means
    zt = r.standard_normal((6, c)) * 3 + r.normal(0, 5, (6, 1))
    limit = (centred(zs) - centred(zt)) / c
    # the remainder's leading term, docs/derivations.md §3, times τ: (((z_S − z̄_S)² − mean_k …) − (same for z_T))/(2C)
    lead = (centred(centred(zs) ** 2) - centred(centred(zt) ** 2)) / (2 * c)
    spread = max(np.abs(centred(zs)).max(), np.abs(centred(zt)).max())
    errors = {}
    for t in (1e2, 1e3, 1e4):
        err = scaled_soft_gradient(zs, zt, t) - limit
        errors[t] = np.abs(err).max()
        # τ × error tends to the leading term; the next term is about spread³/τ (measured: 0.006–0.17 × that)
        np.testing.assert_allclose(t * err, lead, atol=0.5 * spread**3 / t)
    # shrinking like 1/τ: ten times the temperature, a tenth of the error (a hundredth for two classes)
    rate = 0.01 if c == 2 else 0.1
    assert 0.9 * rate < errors[1e4] / errors[1e3] < 1.1 * rate and 0.9 * rate < errors[1e3] / errors[1e2] < 1.1 * rate
    # and the uncentred difference is not the limit when the means differ
    assert np.abs((zs - zt) / c - limit).max() > 0.1


def worked_example_rows(text):
    """{τ: (vector, distance, τ × distance)} from §3's table; τ = inf for the limit row, whose last column is the
    limit of τ × distance."""
    rows = {}
    for tau, vector, distance, scaled in re.findall(r"^\| (\d+|∞) \| `\[([^\]]*)\]` \| ([\d.]+) \| (?:→ )?([\d.]+) \|",
                                                    text, re.M):
        values = [float(v.replace("−", "-")) for v in vector.split(",")]
        rows[np.inf if tau == "∞" else float(tau)] = (np.array(values), float(distance), float(scaled))
    return rows


def test_worked_example_matches_the_document():
    rows = worked_example_rows(DOC.read_text(encoding="utf-8"))
    assert sorted(rows) == [1.0, 4.0, 100.0, np.inf], rows
    zs, zt = np.array([[2.0, 1.0, -1.0]]), np.array([[5.0, 1.0, -1.0]])
    limit = ((centred(zs) - centred(zt)) / 3)[0]
    lead = ((centred(centred(zs) ** 2) - centred(centred(zt) ** 2)) / 6)[0]
    for t, (vector, distance, scaled) in rows.items():
        value = limit if t == np.inf else scaled_soft_gradient(zs, zt, t)[0]
        np.testing.assert_allclose(vector, value, atol=5e-5, err_msg=f"τ = {t}")   # printed to 4 decimals
        assert distance == pytest.approx(np.abs(value - limit).max(), abs=5e-5), f"τ = {t}"
        # the last column, to 2 decimals; for τ = ∞ it is the limit of τ × distance, the largest entry of the lead
        exact = np.abs(lead).max() if t == np.inf else t * np.abs(value - limit).max()
        assert scaled == pytest.approx(exact, abs=5e-3), f"τ = {t}"
    np.testing.assert_allclose(lead, [-0.7778, 0.7222, 0.0556], atol=5e-5)   # as printed in the document


# ------------------------------------------------------------------------------- §14: BatchNorm's identities
def batchnorm_problem(seed, n, f, eps):
    r = np.random.default_rng(seed)
    bn = BatchNorm(f, eps=eps, dtype=np.float64)
    bn.params["gamma"][...] = r.standard_normal(f)
    bn.params["beta"][...] = r.standard_normal(f)
    x = r.standard_normal((n, f)) * r.uniform(0.1, 10, f) + r.normal(0, 5, f)
    g = r.standard_normal((n, f))
    bn.forward(x, train=True)
    dx = bn.backward(g)
    xhat = (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0) + eps)
    return bn, x, g, dx, xhat


@pytest.mark.parametrize("eps", [1e-5, 0.0])
@pytest.mark.parametrize("seed", range(5))
def test_batchnorm_gradient_sums_to_zero_over_the_batch(seed, eps):
    # a shift of one feature over the whole batch changes no output: dx has no component along 1
    _, _, _, dx, _ = batchnorm_problem(seed, 3 + 3 * seed, 7, eps)
    scale = np.abs(dx).max(axis=0)
    assert np.all(np.abs(dx.sum(axis=0)) <= 1e-12 * dx.shape[0] * scale), dx.sum(axis=0) / scale


@pytest.mark.parametrize("seed", range(5))
def test_batchnorm_gradient_is_orthogonal_to_the_normalised_input_up_to_eps(seed):
    n, f = 3 + 3 * seed, 7
    for eps in (0.0, 1e-5, 1.0):
        bn, x, g, dx, xhat = batchnorm_problem(seed, n, f, eps)
        inv = 1 / np.sqrt(x.var(axis=0) + eps)
        dxhat = bn.params["gamma"] * g
        # Σ_n dx_n x̂_n = ε_BN r³ Σ_n dx̂_n x̂_n: exactly 0 without ε_BN, relatively ε_BN/(ν + ε_BN) with it
        expected = eps * inv**3 * (dxhat * xhat).sum(axis=0)
        size = inv * np.abs(dxhat * xhat).sum(axis=0)
        np.testing.assert_allclose((dx * xhat).sum(axis=0), expected, rtol=1e-8, atol=1e-12 * n * size.max())
        if eps == 1.0:  # a large ε_BN makes the term visible, so the check above is not vacuous
            assert np.abs(expected).max() > 1e-3 * size.max()
