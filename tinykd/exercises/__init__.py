"""Exercises that check a learner's own gradients and name the mistake (``python -m tinykd.exercises``).

Each exercise follows one section of ``docs/derivations.md``; its blank file in the repository's ``exercises/``
folder holds the signature, a docstring pointing to the section, and ``raise NotImplementedError`` where the
learner writes. ``check(name, solution)`` takes the learner's function or the path of their file, runs it in a
child process under a time limit (``sandbox``), and returns a ``Report``: whether it matches tinykd's own function
and an independent check on every case, and, where it does not, which known mistake explains the difference, on
which cases (``core``).

    python -m tinykd.exercises                                         # status: blank, failing, passed; the next
    python -m tinykd.exercises list
    python -m tinykd.exercises check softmax_backward                  # exercises/softmax_backward.py
    python -m tinykd.exercises check softmax_backward my_softmax.py
"""
import os

from . import on_discriminator, on_ensemble, on_layers, on_logits, on_methods, on_optim
from .core import Exercise, Report
from .core import check as _check
from .sandbox import SolutionError, load

EXERCISES = {e.name: e for e in sorted(on_logits.EXERCISES + on_discriminator.EXERCISES + on_layers.EXERCISES
                                       + on_optim.EXERCISES + on_methods.EXERCISES + on_ensemble.EXERCISES,
                                       key=lambda e: e.section)}
# the blank files, beside the package in a checkout of the repository
FOLDER = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "exercises")

__all__ = ["EXERCISES", "FOLDER", "Exercise", "Report", "SolutionError", "check", "default_path", "get", "load"]


def get(name):
    """The exercise called ``name``, or a one-line ``SolutionError`` listing the names there are."""
    if name not in EXERCISES:
        raise SolutionError(f"no exercise {name!r}; the exercises are: {', '.join(EXERCISES)} "
                            "(python -m tinykd.exercises list)")
    return EXERCISES[name]


def default_path(name):
    """``exercises/<name>.py`` of the checkout tinykd runs from; a one-line error when there is none (tinykd
    installed without its repository): then give the file's path."""
    path = os.path.join(FOLDER, f"{get(name).name}.py")
    if not os.path.isfile(path):
        raise SolutionError(f"no {path}: the blank exercises live in the repository's exercises/ folder; give your "
                            f"file's path: python -m tinykd.exercises check {name} FILE")
    return path


def check(name, solution=None, time_limit=None):
    """Check a learner's solution of exercise ``name``: ``solution`` is a function, a file's path, or None for the
    blank file's place (``default_path``); ``time_limit`` in seconds for all cases (default
    ``sandbox.time_limit()``, 10 s). Returns a ``Report`` (``passed``, ``state``, ``lines``)."""
    try:
        exercise = get(name)
        if callable(solution):
            return _check(exercise, solution, limit=time_limit)
        path = default_path(name) if solution is None else os.fspath(solution)
        if not os.path.isfile(path):
            raise SolutionError(f"no file {path}: give the path of your exercise file")
        return _check(exercise, path=path, limit=time_limit)
    except SolutionError as exc:
        return Report(False, [str(exc)])
