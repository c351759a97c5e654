"""What an exercise is, and how a learner's outputs are judged: against tinykd's own function and an independent
check, and, case by case, against the known wrong variants, so that the report names the likely mistake.

An ``Exercise`` holds its cases (``case``: arguments drawn from a fixed seed, kept away from kinks, varied so that
no argument takes the same value in every case: N = 1, C = 2, both forms and flags, a float32 case, and a stress
case with logits of ±1000 where the blank asks for a stable form); ``reference`` is tinykd's own result on a case
(always computed in float64); ``numeric`` an independent one (finite differences through ``tinykd.gradcheck``, or
the formula written out); ``mistakes`` are ``(hint, variant)`` pairs, each variant tinykd's result with one
catalogued mistake made. Outputs are compared by gradcheck's norm-wise relative error, below a tolerance that
follows the precision of the case and of the learner's output (``TOL``): float32 arithmetic passes.

A wrong output is diagnosed on the cases where it is wrong: a variant that matches it on every one of them names
the mistake, and when the variant differs from tinykd's on other cases where the learner is right, the report says
the mistake was made only in those cases (one form, one flag).
"""
import numpy as np

from .. import gradcheck

# norm-wise relative error allowed, and the norm below which an error counts as absolute, by precision
TOL = {np.dtype(np.float64): (1e-6, 1e-12), np.dtype(np.float32): (1e-4, 1e-6)}
LOW = (2e-2, 1e-3)          # float16 and below: never enough for these exercises, but said plainly


def case(args, stress=False, **about):
    """A case: its arguments and what the report says about it (``N``, ``C``, ``τ``, … then the dtype of its
    first floating-point array argument); ``stress``: logits of ±1000, where only a stable form is finite."""
    arrays = [a for a in args if isinstance(a, np.ndarray) and a.dtype.kind == "f"]
    about = {("τ" if k == "tau" else k): v for k, v in about.items()}
    about["dtype"] = arrays[0].dtype.name if arrays else "float64"
    if stress:
        about["note"] = "stress: logits of ±1000"
    return {"args": tuple(args), "about": about, "stress": stress}


def upcast(c):
    """The case with every floating-point array in float64 (what the reference and the variants compute on)."""
    def up(a):
        return a.astype(np.float64) if isinstance(a, np.ndarray) and a.dtype.kind == "f" else a
    out = dict(c)
    out["args"] = tuple(up(a) for a in c["args"])
    return out


def size(c):
    """A case's size, to find the smallest failing one: the entries of its arguments."""
    return sum(a.size for a in c["args"] if isinstance(a, np.ndarray))


class Exercise:
    """One exercise: ``name`` (its file's and its function's), ``params`` (the blank's signature), the section of
    ``docs/derivations.md`` it follows, the names of the outputs it returns, the functions of the module docstring,
    ``stress_hint`` (said when only the stress cases fail) and ``transform(case, outputs)`` (what is compared:
    Adam's update instead of the new parameters)."""

    def __init__(self, name, params, section, title, outputs, cases, reference, numeric=None, mistakes=(),
                 numeric_label="finite differences", transform=None, stress_hint=None, scalar=()):
        self.name, self.params, self.section, self.title = name, tuple(params), section, title
        self.outputs, self._cases, self._reference, self.numeric = tuple(outputs), cases, reference, numeric
        self.numeric_label, self.mistakes, self.transform = numeric_label, list(mistakes), transform
        self.stress_hint, self.scalar = stress_hint, set(scalar)
        self._memo = {}

    def cases(self):
        if "cases" not in self._memo:
            self._memo["cases"] = self._cases()
        return self._memo["cases"]

    def compared(self, c, outputs):
        return tuple(outputs) if self.transform is None else tuple(self.transform(c, outputs))

    def reference(self, c):
        return self._reference(upcast(c))

    def references(self):
        if "reference" not in self._memo:
            self._memo["reference"] = [self.expected(self.reference(c), c) for c in self.cases()]
        return self._memo["reference"]

    def variants(self):
        """Each mistake's outputs on each case, as compared (computed once)."""
        if "variants" not in self._memo:
            with np.errstate(all="ignore"):
                self._memo["variants"] = [[self.expected(variant(upcast(c)), c) for c in self.cases()]
                                          for _, variant in self.mistakes]
        return self._memo["variants"]

    def expected(self, outputs, c):
        return tuple(None if o is None else np.asarray(o, np.float64) for o in self.compared(upcast(c), outputs))

    def numerics(self):
        """The independent check's outputs on each case (None where an output has none), computed once."""
        if "numeric" not in self._memo:
            self._memo["numeric"] = [self.expected(self.numeric(upcast(c)), c) for c in self.cases()] \
                if self.numeric else None
        return self._memo["numeric"]

    def as_outputs(self, result):
        """The learner's result as a tuple of ``(float64 array, precision)``, one per output, or a one-line
        ``SolutionError`` saying why it is not (run in the child, on the raw result)."""
        from .sandbox import SolutionError
        n, names = len(self.outputs), ", ".join(self.outputs)
        values = (result,) if n == 1 else result
        if n > 1 and (not isinstance(result, (tuple, list)) or len(result) != n):
            got = f"{len(result)} values" if isinstance(result, (tuple, list)) else f"one {type(result).__name__}"
            raise SolutionError(f"{self.name} returned {got}; return the tuple ({names})")
        out = []
        for name, value in zip(self.outputs, values):
            if value is None:
                raise SolutionError(f"{self.name} returned None for {name}: compute it and return ({names})")
            if hasattr(value, "get") and not isinstance(value, (dict, np.ndarray)):
                value = value.get()                     # a CuPy array: its values, on the host
            try:
                array = np.asarray(value)
                precision = array.dtype if array.dtype.kind == "f" else np.dtype(np.float64)
                out.append((array.astype(np.float64), precision))
            except (TypeError, ValueError):
                raise SolutionError(f"{self.name} returned a {type(value).__name__} for {name}, not an array or "
                                    "a number") from None
            if array.dtype.kind not in "fiub":
                raise SolutionError(f"{self.name} returned {array.dtype} values for {name}, not real numbers")
        return tuple(out)


def tolerance(c, precision):
    """``(tol, floor)`` for an output of ``precision`` on case ``c``: the lower of the two precisions rules."""
    worst = max(np.finfo(np.dtype(c["about"]["dtype"])).eps, np.finfo(precision).eps)
    if worst <= np.finfo(np.float64).eps:
        return TOL[np.dtype(np.float64)]
    return TOL[np.dtype(np.float32)] if worst <= np.finfo(np.float32).eps else LOW


def close(a, b, tol=TOL[np.dtype(np.float64)]):
    """Same shape, the same non-finite entries (a wrong variant may well give NaN or inf, as the learner's does), and
    within ``tol = (relative error, floor)`` by gradcheck's norm-wise relative error elsewhere."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        return False
    fa, fb = np.isfinite(a), np.isfinite(b)
    if not np.array_equal(fa, fb) or not np.array_equal(a[~fa], b[~fb], equal_nan=True):
        return False
    if not fa.any():
        return True
    return gradcheck.relative_error(a[fa], b[fb], floor=tol[1]) < tol[0]


def _shape_line(exercise, mine, ref, k):
    """What a right value of the wrong shape is, or None."""
    name = exercise.outputs[k]
    if mine.size == ref.size and np.allclose(mine.reshape(ref.shape), ref, rtol=1e-4, atol=1e-8):
        return f"right values, wrong shape: {mine.shape} where {ref.shape} is expected" + \
            (" (a number: return a scalar, e.g. .sum() or float(...), not an array)" if ref.shape == () else "")
    if mine.ndim == 2 and mine.T.shape == ref.shape and np.allclose(mine.T, ref, rtol=1e-4, atol=1e-8):
        return f"right values, transposed: {mine.shape} where {ref.shape} is expected"
    if ref.shape == () and mine.ndim >= 1 and mine.size > 1:
        for reduce, what in ((np.mean, "per-row values where their mean over the rows is asked"),
                             (lambda a: a.sum() / a.shape[0], "per-entry values where the sum over the classes, "
                                                              "then the mean over the rows, is asked")):
            if np.isclose(reduce(mine), ref, rtol=1e-4, atol=1e-8) and (mine.ndim == 1 or what.startswith("per-e")):
                return f"{what}: {name} has shape {mine.shape}, a number is expected"
    return None


def _first_wrong(exercise, learner, k, wrong):
    """A line on the smallest failing case of output ``k``: its shape, or its error and worst entry."""
    cases, ref = exercise.cases(), exercise.references()
    i = min(wrong, key=lambda j: (size(cases[j]), j))
    from .sandbox import case_text
    (mine, _), expect = learner[i][k], ref[i][k]
    where = f"smallest failing case {i + 1}: {case_text(cases[i])}"
    if mine.shape != expect.shape:
        return f"shape {mine.shape}, expected {expect.shape} ({where})", i
    if not np.isfinite(mine).all():
        return f"contains NaN or inf ({where})", i
    err, at = gradcheck.compare(mine, expect, floor=1e-12)
    entry = f"entry {at}: yours {mine[at]:.6g}, expected {expect[at]:.6g}" if at else \
        f"yours {float(mine):.6g}, expected {float(expect):.6g}"
    return f"relative error {err:.2e} ({where}; {entry})", i


def _only(cases, wrong, differs):
    """`` only where form=…`` when the failing cases share a setting no other case where the variant differs has,
    else `` only in cases …``."""
    others = [j for j in differs if j not in wrong]
    if not others:
        return ""
    keys = [k for k in cases[wrong[0]]["about"] if k not in ("N", "C", "note")]
    for key in keys:
        values = {cases[j]["about"].get(key) for j in wrong}
        if len(values) == 1 and all(cases[j]["about"].get(key) not in values for j in others):
            value = values.pop()
            return f" (made only where {key}={value}: right in the other cases)"
    return f" (made only in case{'s' if len(wrong) > 1 else ''} {', '.join(str(j + 1) for j in wrong)})"


def diagnose(exercise, learner, k, wrong):
    """The lines naming the mistakes that explain output ``k`` on the failing cases ``wrong``."""
    cases, ref, variants = exercise.cases(), exercise.references(), exercise.variants()
    if exercise.stress_hint and all(cases[j]["stress"] for j in wrong):
        return [f"    likely mistake: {exercise.stress_hint}"]

    def matches(m, j):
        mine, precision = learner[j][k]
        return close(mine, variants[m][j][k], tolerance(cases[j], precision))

    lines = []
    shapes = {_shape_line(exercise, learner[j][k][0], ref[j][k], k) for j in wrong
              if learner[j][k][0].shape != ref[j][k].shape}
    lines += [f"    {line}" for line in sorted(s for s in shapes if s)]
    found = []
    for m, (hint, _) in enumerate(exercise.mistakes):
        if all(matches(m, j) for j in wrong):
            differs = [j for j in range(len(cases)) if not close(variants[m][j][k], ref[j][k])]
            found.append(f"    likely mistake{_only(cases, wrong, differs)}: {hint}")
    if found or lines:
        return lines + found
    per_case = {}
    for j in wrong:
        for m, (hint, _) in enumerate(exercise.mistakes):
            if matches(m, j):
                per_case.setdefault(hint, []).append(j + 1)
    if per_case:
        lines = [f"    likely mistake in case{'s' if len(js) > 1 else ''} {', '.join(map(str, js))}: {hint}"
                 for hint, js in per_case.items()]
        explained = {j for js in per_case.values() for j in js}
        rest = [j + 1 for j in wrong if j + 1 not in explained]
        return lines + ([f"    cases {', '.join(map(str, rest))}: none of the known mistakes explains them"]
                        if rest else [])
    return ["    none of the known mistakes explains it: work the section again, step by step, checking shapes"]


def judge(exercise, learner):
    """The report's lines after the head, and whether every output is right, from the learner's outputs."""
    cases, ref = exercise.cases(), exercise.references()
    numeric = exercise.numerics()
    lines, passed = [], True
    for k, name in enumerate(exercise.outputs):
        wrong = [j for j, c in enumerate(cases) if not close(learner[j][k][0], ref[j][k],
                                                            tolerance(c, learner[j][k][1]))]
        if not wrong:
            extra = ""
            if numeric and numeric[0][k] is not None:
                err = max(gradcheck.relative_error(n[k], mine[k][0], floor=1e-12)
                          for n, mine in zip(numeric, learner))
                extra = f" and {exercise.numeric_label} (relative error {err:.1e})"
            lines.append(f"  {name}: right: matches tinykd's own{extra}")
            continue
        passed = False
        first, _ = _first_wrong(exercise, learner, k, wrong)
        lines.append(f"  {name}: wrong in {len(wrong)} of {len(cases)} cases; {first}")
        if numeric and numeric[0][k] is not None:
            err = max(gradcheck.relative_error(n[k], r[k], floor=1e-12) for n, r in zip(numeric, ref))
            lines.append(f"    {exercise.numeric_label} and tinykd's own agree (relative error {err:.1e}); "
                         "yours differs")
        lines += diagnose(exercise, learner, k, wrong)
    return passed, lines


def describe_cases(exercise):
    """One line: the cases' sizes, temperatures and dtypes."""
    from .sandbox import case_text
    return "  cases: " + "; ".join(f"{i + 1}) {case_text(c)}" for i, c in enumerate(exercise.cases()))


class Report:
    """The verdict: ``passed``, ``state`` (``"blank"``, ``"failing"`` or ``"passed"``) and the lines to print (the
    first says what happened in one line)."""

    def __init__(self, passed, lines, state=None):
        self.passed, self.lines = passed, list(lines)
        self.state = state or ("passed" if passed else "failing")

    def __str__(self):
        return "\n".join(self.lines)


def check(exercise, solution=None, path=None, limit=None):
    """Check the learner's ``solution`` (a function) or the file at ``path`` on ``exercise``: a ``Report``."""
    import os
    from . import sandbox
    where = f"docs/derivations.md §{exercise.section}"
    status = sandbox.run(exercise, solution, path, limit)
    if status[0] == "blank":
        shown = path and (os.path.relpath(path) if not os.path.relpath(path).startswith("..") else path)
        file = f" in {shown}" if path else ""
        return Report(False, [f"{exercise.name}: not implemented yet: write it{file} (see {where}), then check "
                              "again"], "blank")
    if status[0] == "error":
        return Report(False, [status[1]])
    learner = [tuple(zip(exercise.compared(upcast(c), [a for a, _ in outs]), [p for _, p in outs]))
               for c, outs in zip(exercise.cases(), status[1])]
    passed, lines = judge(exercise, learner)
    head = (f"{exercise.name}: passed on {len(exercise.cases())} cases ({where})" if passed else
            f"{exercise.name}: not yet right ({where})")
    return Report(passed, [head, describe_cases(exercise), *lines])
