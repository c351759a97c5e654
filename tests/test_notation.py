"""The docstrings speak the notation of ``docs/derivations.md``: every symbol in a docstring's formulas is in the
notation table, for a section the docstring cites (inherited from its class or module when it cites none).

A docstring's formulas are its ``…`` spans that are not Python (``features="raw"`` is code, ``ℓ(q, c) = …`` is a
formula); a symbol is a single letter (Latin or Greek, with a hat, tilde or bar), possibly subscripted, or ``d``
followed by one (a gradient, the doc's ``dX``). Greek letters count anywhere in a docstring. A subscript is an index
(``n``, ``k``, ``j``, ``i``, ``o``, ``t``, the row's class ``y`` as in §17's ``P_y``, digits), a network (``S``,
``T``), or one the table names itself
(``ε_BN``, ``λ_adv``): ``μ_B``, ``σ²_B`` and a bare ``ε`` in batch normalisation are drift, as are ``t`` for the
logistic target (the table's ``c``; ``t`` is Adam's step count), ``i`` for a row (``n``) and ``z`` for the
discriminator's logit (``q``).
"""
import ast
import re
from pathlib import Path

import pytest

from tinykd import discriminator, ensemble, fitnets, functional, layers, logit_losses

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "derivations.md"
GREEK = "α-ωΑ-Ωϕϵℓ"
MARKS = "\u0302\u0303\u0304"                    # combining hat, tilde, bar: x̂, x̃, z̄
SUBSCRIPT_DIGITS = "₀₁₂₃₄₅₆₇₈₉"
INDEX_SUBSCRIPTS = re.compile(r"^(?:[nkjioty′]+|[ST](?:,[nkjy]+)?|\d+|[" + SUBSCRIPT_DIGITS + "]+)$")
SYMBOL = re.compile(rf"(?<![\w.])(d?)([A-Za-z{GREEK}][{MARKS}]?)((?:_\w+)?)(?![\w{MARKS}])")
OPERATORS = "Σ"                               # a sum, not a symbol
# the docstrings held to the table (issue 22), and every docstring of the modules of §12 and §16–§19 (issue 29)
# and of §21 (issue 31)
CHECKED = [functional, discriminator, (layers, "BatchNorm"), logit_losses, fitnets, ensemble]


def notation():
    """{symbol: set of sections} from the notation table (``None`` in the set: valid in every section)."""
    table = DOC.read_text(encoding="utf-8").split("\n## Notation and shapes", 1)[1].split("\n## ", 1)[0]
    out = {}
    for line in table.splitlines():
        cells = [c.strip() for c in line.split("|")[1:-1]]
        if len(cells) != 4 or not cells[0].startswith("`"):
            continue
        sections = set()
        for part in cells[3].split(","):
            part = part.strip()
            if part == "all":
                sections.add(None)
            elif re.fullmatch(r"\d+([–-]\d+)?", part):
                lo, _, hi = part.replace("–", "-").partition("-")
                sections.update(range(int(lo), int(hi or lo) + 1))
        for symbol in re.findall(r"`([^`]+)`", cells[0]):
            m = re.match(rf"([A-Za-z{GREEK}][{MARKS}]?)(_\w+)?", symbol)
            if m:
                out.setdefault(m.group(1) + (m.group(2) or ""), set()).update(sections)
    return out


def cited(doc):
    """The sections a docstring cites: ``§11``, ``§13–15``, ``§7, §19``."""
    out = set()
    for lo, hi in re.findall(r"§(\d+)(?:[–-](\d+))?", doc or ""):
        out.update(range(int(lo), int(hi or lo) + 1))
    return out


def is_code(span):
    try:
        ast.parse(span.strip())
    except SyntaxError:
        return False
    return True


def symbols(doc):
    """The symbols a docstring's formulas use, as (written, gradient mark, letter, subscript)."""
    found = []
    spans = [s for s in re.findall(r"``(.+?)``", doc, re.S) if not is_code(s)]
    spans = [re.sub(r"\"[^\"]*\"|'[^']*'", "", s) for s in spans]   # strings in a formula are names, not symbols
    prose = re.sub(r"``.+?``", " ", doc, flags=re.S)
    greek_in_prose = re.findall(rf"(?<![\w.])([{GREEK}][{MARKS}]?)((?:_\w+)?)", prose)
    for span in spans:
        for d, letter, sub in SYMBOL.findall(span.replace("²", "").replace("ᵀ", "")):
            found.append((f"{d}{letter}{sub}", d, letter, sub[1:]))
    found += [(f"{letter}{sub}", "", letter, sub[1:]) for letter, sub in greek_in_prose]
    return [f for f in found if f[2] not in OPERATORS]


def problems(doc, sections, table):
    """Each symbol of ``doc`` the table does not give to one of ``sections``, with why."""
    out = []
    for written, _, letter, sub in symbols(doc):
        key = f"{letter}_{sub}" if sub and f"{letter}_{sub}" in table else letter
        if sub and key == letter and not INDEX_SUBSCRIPTS.match(sub):
            out.append(f"{written}: the subscript _{sub} is not in the notation table")
            continue
        allowed = table.get(key)
        if allowed is None:
            out.append(f"{written}: not in the notation table")
        elif None not in allowed and not allowed & sections:
            out.append(f"{written}: the table gives it to §{', §'.join(map(str, sorted(allowed)))}, not to the "
                       f"cited §{', §'.join(map(str, sorted(sections)))}")
    return out


def docstrings():
    """(where, docstring, sections) for every checked module, class and function; a docstring that cites no
    section inherits its class's, then its module's."""
    out = []
    for entry in CHECKED:
        module, only = (entry, None) if not isinstance(entry, tuple) else entry
        tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))
        top = cited(ast.get_docstring(tree))
        if only is None:
            out.append((module.__name__, ast.get_docstring(tree), top))
        for node in tree.body:
            if not isinstance(node, (ast.FunctionDef, ast.ClassDef)) or (only and node.name != only):
                continue
            own = cited(ast.get_docstring(node)) or top
            out.append((f"{module.__name__}.{node.name}", ast.get_docstring(node) or "", own))
            for sub in getattr(node, "body", []):
                if isinstance(sub, ast.FunctionDef) and ast.get_docstring(sub):
                    out.append((f"{module.__name__}.{node.name}.{sub.name}", ast.get_docstring(sub),
                                cited(ast.get_docstring(sub)) or own))
    return out


def test_the_checked_docstrings_cite_their_sections():
    named = {e.__name__ if not isinstance(e, tuple) else f"{e[0].__name__}.{e[1]}" for e in CHECKED}
    for where, doc, sections in docstrings():
        if "Derivation" in doc or "derivations.md" in doc or where in named:
            assert sections, f"{where} points to docs/derivations.md without naming a section (§k)"
    assert named <= {where for where, _, _ in docstrings()}


@pytest.mark.parametrize("where,doc,sections", [d for d in docstrings() if d[2]], ids=lambda v: str(v)[:40])
def test_docstring_symbols_are_the_notation_tables(where, doc, sections):
    found = problems(doc, sections, notation())
    assert not found, f"{where} (citing §{sorted(sections)}): " + "; ".join(found)


# the docstrings as issue 22 found them: the check must flag each drift it names
OLD = [
    ("``x̂ = (x − μ_B)/√(σ²_B + ε)``, ``y = γ x̂ + β`` (σ² biased)", {14}, ["μ_B", "σ_B", "β", "ε"]),
    ("Gradient: ``dℓ/dz = (σ(z) − t) / N``.", {4}, ["z", "t"]),
    ("``H(P_T^τ, P_S^τ) = −(1/N) Σ_i Σ_k P_T^τ[i,k] log P_S^τ[i,k]``", {3}, ["i"]),
    ("The discriminator's logit ``z = f(φ(a)[, onehot])``.", {11, 19}, ["a"]),
]


@pytest.mark.parametrize("doc,sections,flagged", OLD)
def test_the_check_flags_the_drift_issue_22_found(doc, sections, flagged):
    found = problems(doc, sections, notation())
    for symbol in flagged:
        assert any(p.startswith(f"{symbol}:") or p.startswith(f"{symbol}²") for p in found), (symbol, found)


def test_the_check_accepts_the_documents_own_notation():
    doc = "``dx = r ⊙ (dx̂ − mean_n dx̂ − x̂ ⊙ mean_n(dx̂ ⊙ x̂))``, ``r = 1/√(ν + ε_BN)``, ``h = γ x̂ + b``"
    assert problems(doc, {14}, notation()) == []


def test_the_issue_29_docstrings_are_flagged_as_they_were():
    """``decoupled_kd`` spoke of α, β and t where §17 says λ_TC, λ_NC and y; ``pearson`` of a, b, ρ and ε."""
    old = [("``τ² · (1/N) Σ_n (α · TCKD_n + β · NCKD_n)``, t the target class, ``b = (P_t, 1 − P_t)``", {17},
            ["α", "β", "b"]),
           ("``ρ = S / (‖ā‖ ‖b̄‖ + ε)``", {18}, ["ρ", "S", "b̄", "ε"])]
    for doc, sections, flagged in old:
        found = problems(doc, sections, notation())
        for symbol in flagged:
            assert any(p.startswith(f"{symbol}:") for p in found), (symbol, found)


def test_every_symbol_of_the_box_before_section_1_is_in_the_full_table():
    """The one-screen box before §1 is a summary of the table after the last section, never a second table."""
    text = DOC.read_text(encoding="utf-8")
    box = text.split("## At a glance", 1)[1].split("\n## ", 1)[0]
    assert text.index("## At a glance") < text.index("## 1. ") < text.index("## 20. ") < text.index(
        "## Notation and shapes")
    assert len(box.strip().splitlines()) <= 30
    table = notation()
    for line in box.splitlines():
        cells = line.split("|")[1:-1]
        if len(cells) == 3 and cells[0].strip().startswith("`"):
            for symbol in re.findall(r"`([^`]+)`", cells[0]):
                m = re.match(rf"([A-Za-z{GREEK}][{MARKS}]?)(_\w+)?", symbol)
                key = m.group(1) + (m.group(2) or "")
                assert key in table or m.group(1) in table or symbol == "…", symbol


def test_each_symbol_has_one_row_in_the_table():
    """'Each symbol means one thing': no symbol is given a meaning by two rows of the table."""
    text = DOC.read_text(encoding="utf-8").split("\n## Notation and shapes", 1)[1].split("\n## ", 1)[0]
    seen = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.split("|")[1:-1]]
        if len(cells) != 4 or not cells[0].startswith("`"):
            continue
        for symbol in re.findall(r"`([^`]+)`", cells[0]):
            assert symbol not in seen, f"{symbol} has two rows: {seen[symbol]!r} and {cells[1]!r}"
            seen[symbol] = cells[1]
