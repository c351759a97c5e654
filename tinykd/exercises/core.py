"""What an exercise is, and how a learner's function is checked: against finite differences, against tinykd's own
function, and, on a mismatch, against the known wrong variants, so that the report names the likely mistake.

An ``Exercise`` holds a few fixed inputs (``cases``, float64, drawn from a fixed seed and kept away from kinks);
``reference`` is tinykd's own result on a case; ``numeric`` an independent one (finite differences through
``tinykd.gradcheck`` where the output is a gradient, a formula written out where it is not, ``None`` entries where
there is none); ``mistakes`` are ``(hint, variant)`` pairs, each variant tinykd's result with one catalogued
mistake made (a missing τ or τ², a missing 1/N, a transposed weight gradient, a softmax along the wrong axis, a
sign error, the upstream gradient forgotten, …). An output the learner got wrong is compared with every variant's
same output, on every case: the variants it matches name the mistake. Outputs are compared by ``gradcheck``'s
norm-wise relative error, below ``TOL``.
"""
import importlib.util
import os
import traceback

import numpy as np

from .. import gradcheck

TOL = 1e-6        # float64 throughout: a right answer differs from tinykd's by rounding only (~1e-15)


class Exercise:
    """One exercise: ``name`` (also its file's name and its function's), the section of ``docs/derivations.md`` it
    follows, the names of the outputs the function returns (one or several), and the functions described in the
    module docstring. ``transform(case, outputs)`` turns the learner's outputs into what is compared (Adam's update
    instead of the new parameters)."""

    def __init__(self, name, section, title, outputs, cases, reference, numeric=None, mistakes=(), numeric_label=
                 "finite differences", transform=None):
        self.name, self.section, self.title, self.outputs = name, section, title, tuple(outputs)
        self.cases, self.reference, self.numeric, self.numeric_label = cases, reference, numeric, numeric_label
        self.mistakes, self.transform = list(mistakes), transform

    def compared(self, case, outputs):
        return tuple(outputs) if self.transform is None else tuple(self.transform(case, outputs))


class Report:
    """The verdict: ``passed``, and the lines to print (the first says what happened in one line)."""

    def __init__(self, passed, lines):
        self.passed, self.lines = passed, list(lines)

    def __str__(self):
        return "\n".join(self.lines)


class SolutionError(Exception):
    """The learner's file or function could not be used (missing, a syntax error, no such function): one line."""


def load(path, function):
    """The function named ``function`` from the Python file at ``path``, or a one-line ``SolutionError``."""
    if not os.path.isfile(path):
        raise SolutionError(f"no file {path}: give the path of your exercise file")
    spec = importlib.util.spec_from_file_location(f"tinykd_exercise_{function}", path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        raise SolutionError(f"{path}:{exc.lineno}: syntax error: {exc.msg}") from None
    except Exception as exc:   # the learner's module failed while loading: say where, in one line
        raise SolutionError(f"{path} raised {type(exc).__name__} while loading{_where(exc, path)}: {exc}") from None
    fn = getattr(module, function, None)
    if not callable(fn):
        raise SolutionError(f"{path} defines no function {function}(): keep the name and signature the exercise "
                            "file gives")
    return fn


def _where(exc, path=None):
    """`` (file, line k)`` of the deepest frame of the traceback in the learner's file (or the deepest frame)."""
    frames = traceback.extract_tb(exc.__traceback__)
    inside = [f for f in frames if path is None or os.path.abspath(f.filename) == os.path.abspath(path)]
    frame = (inside or frames or [None])[-1]
    return "" if frame is None else f" ({os.path.basename(frame.filename)}, line {frame.lineno})"


def _copy(args):
    return tuple(a.copy() if isinstance(a, np.ndarray) else a for a in args)


def _as_outputs(exercise, result):
    """The learner's result as a tuple of float64 arrays, one per output, or a one-line reason it is not."""
    n = len(exercise.outputs)
    names = ", ".join(exercise.outputs)
    values = (result,) if n == 1 else result
    if n > 1 and (not isinstance(result, tuple) or len(result) != n):
        got = f"{len(result)} values" if isinstance(result, (tuple, list)) else type(result).__name__
        raise SolutionError(f"{exercise.name} returned {got}; return the tuple ({names})")
    out = []
    for name, value in zip(exercise.outputs, values):
        if value is None:
            raise SolutionError(f"{exercise.name} returned None for {name}: compute it and return ({names})")
        try:
            out.append(np.asarray(value, dtype=np.float64))
        except (TypeError, ValueError):
            raise SolutionError(f"{exercise.name} returned a {type(value).__name__} for {name}, not an array or "
                                "a number") from None
    return tuple(out)


def close(a, b):
    """Same shape, NaN in the same places (a wrong variant may well produce NaN, as the learner's does), and within
    ``TOL`` by gradcheck's norm-wise relative error elsewhere; ±inf never matches."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape or not np.array_equal(np.isnan(a), np.isnan(b)):
        return False
    a, b = a[~np.isnan(a)], b[~np.isnan(b)]
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        return False
    return gradcheck.relative_error(a, b, floor=1e-12) < TOL


def run(exercise, fn, path=None):
    """Call ``fn`` on every case: ``(learner's outputs per case)``, or raise ``SolutionError`` (one line),
    ``NotImplementedError`` passes through for the caller to report."""
    results = []
    for case in exercise.cases():
        try:
            result = fn(*_copy(case["args"]))
        except NotImplementedError:
            raise
        except Exception as exc:   # the learner's code failed: report its error and where, in one line
            raise SolutionError(f"{exercise.name} raised {type(exc).__name__}{_where(exc, path)}: {exc}") from None
        results.append(exercise.compared(case, _as_outputs(exercise, result)))
    return results


def diagnose(exercise, cases, learner, reference, k):
    """The hints of the mistakes that explain output ``k``: a variant explains it when the learner's output matches
    the variant's on every case, and the variant differs from tinykd's on at least one."""
    hints = []
    for hint, variant in exercise.mistakes:
        wrong = [exercise.compared(case, variant(case))[k] for case in cases]
        differs = any(not close(w, r[k]) for w, r in zip(wrong, reference))
        if differs and all(close(mine[k], w) for mine, w in zip(learner, wrong)):
            hints.append(hint)
    return hints


def _worst(exercise, learner, reference, k):
    """A line on the first case where output ``k`` is off: its shape, or its error and worst entry."""
    for i, (mine, ref) in enumerate(zip(learner, reference)):
        a, b = mine[k], ref[k]
        if a.shape != b.shape:
            return f"shape {a.shape}, expected {b.shape} (case {i + 1})"
        if not np.isfinite(a).all():
            return f"contains NaN or inf (case {i + 1})"
        if not close(a, b):
            err, where = gradcheck.compare(a, b, floor=1e-12)
            at = f"entry {where}: yours {a[where]:.6g}, expected {b[where]:.6g}" if where else \
                f"yours {float(a):.6g}, expected {float(b):.6g}"
            return f"relative error {err:.2e} (case {i + 1}, {at})"
    return "matches"


def check(exercise, fn, path=None):
    """Check the learner's ``fn`` (a function) on ``exercise``: a ``Report``."""
    where = f"docs/derivations.md §{exercise.section}"
    try:
        learner = run(exercise, fn, path)
    except NotImplementedError:
        shown = path and (os.path.relpath(path) if not os.path.relpath(path).startswith("..") else path)
        file = f" in {shown}" if path else ""
        return Report(False, [f"{exercise.name}: not implemented yet: write it{file} (see {where}), then check again"])
    except SolutionError as exc:
        return Report(False, [str(exc)])
    cases = exercise.cases()
    reference = [exercise.compared(c, exercise.reference(c)) for c in cases]
    numeric = [exercise.compared(c, exercise.numeric(c)) for c in cases] if exercise.numeric else None
    lines, passed = [], True
    for k, name in enumerate(exercise.outputs):
        if all(close(mine[k], ref[k]) for mine, ref in zip(learner, reference)):
            extra = ""
            if numeric and numeric[0][k] is not None:
                err = max(gradcheck.relative_error(num[k], mine[k]) for num, mine in zip(numeric, learner))
                extra = f" and {exercise.numeric_label} (relative error {err:.1e})"
            lines.append(f"  {name}: right: matches tinykd's own{extra}")
            continue
        passed = False
        lines.append(f"  {name}: wrong: {_worst(exercise, learner, reference, k)}")
        if numeric and numeric[0][k] is not None and all(n[k].shape == r[k].shape for n, r in zip(numeric, reference)):
            err = max(gradcheck.relative_error(num[k], ref[k]) for num, ref in zip(numeric, reference))
            lines.append(f"    {exercise.numeric_label} and tinykd's own agree (relative error {err:.1e}); "
                         "yours differs")
        hints = diagnose(exercise, cases, learner, reference, k)
        lines += [f"    likely mistake: {hint}" for hint in hints] or \
            ["    none of the known mistakes explains it: work the section again, step by step, checking shapes"]
    head = (f"{exercise.name}: passed on {len(cases)} cases ({where})" if passed else
            f"{exercise.name}: not yet right ({where})")
    return Report(passed, [head, *lines])
