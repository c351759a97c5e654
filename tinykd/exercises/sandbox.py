"""Running a learner's solution where it cannot hang, exit or fool the checker: in a forked child process, under a
time limit, its arguments compared after each call, and every call it makes into tinykd recorded.

The child loads the learner's file (or takes the function given), calls it on every case's arguments (copies),
and sends back either the outputs or one line saying what went wrong: ``SystemExit`` and ``KeyboardInterrupt``
are caught like any exception, a hang is killed at the time limit, a child that dies says so. Where ``os.fork``
does not exist (Windows) the solution runs in this process, without a time limit.
"""
import importlib.util
import inspect
import os
import pickle
import select
import signal
import sys
import time
import traceback
import types

import numpy as np

TIME_LIMIT = 10.0          # seconds for all cases together; TINYKD_EXERCISE_TIME_LIMIT or --time-limit change it
TINYKD = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))    # the tinykd package's folder
ALLOWED = ("tinykd.gradcheck",)     # public, for learners to check their own code with


class SolutionError(Exception):
    """The learner's file or function could not be used, or broke a rule of the exercise: one line."""


class Blank(Exception):
    """The function raised NotImplementedError on the first case: not written yet."""


def time_limit():
    """The time limit in seconds: ``TINYKD_EXERCISE_TIME_LIMIT`` if set (a positive number), else ``TIME_LIMIT``."""
    value = os.environ.get("TINYKD_EXERCISE_TIME_LIMIT")
    try:
        return float(value) if value and float(value) > 0 else TIME_LIMIT
    except ValueError:
        return TIME_LIMIT


def _tinykd_name(obj):
    """``tinykd.x.y`` when ``obj`` is (or comes from) a tinykd module other than the allowed ones, else None."""
    name = obj.__name__ if isinstance(obj, types.ModuleType) else getattr(obj, "__module__", None)
    if not isinstance(name, str) or not (name == "tinykd" or name.startswith("tinykd.")):
        return None
    if any(name == a or name.startswith(a + ".") for a in ALLOWED):
        return None
    return name if isinstance(obj, types.ModuleType) else f"{name}.{getattr(obj, '__qualname__', '?')}"


def load(path, function):
    """The function named ``function`` from the Python file at ``path``, or a one-line ``SolutionError``; a file
    that imports tinykd's own code (bar ``tinykd.gradcheck``) is refused."""
    if not os.path.isfile(path):
        raise SolutionError(f"no file {path}: give the path of your exercise file")
    spec = importlib.util.spec_from_file_location(f"tinykd_exercise_{function}", path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        raise SolutionError(f"{path}:{exc.lineno}: syntax error: {exc.msg}") from None
    except (SystemExit, KeyboardInterrupt) as exc:
        raise SolutionError(f"{path} raised {type(exc).__name__} while loading{where(exc, path)}: a solution file "
                            "only defines its function (no exit(), no input())") from None
    except Exception as exc:   # the learner's module failed while loading: say where, in one line
        raise SolutionError(f"{path} raised {type(exc).__name__} while loading{where(exc, path)}: {exc}") from None
    for value in vars(module).values():
        name = _tinykd_name(value)
        if name:
            raise SolutionError(f"{path} imports {name}: the checker compares your function with tinykd's own, so "
                                "using it would check tinykd, not you; write it with NumPy alone")
    fn = getattr(module, function, None)
    if not callable(fn):
        raise SolutionError(f"{path} defines no function {function}(): keep the name and signature the exercise "
                            "file gives")
    return fn


def where(exc, path=None):
    """`` (file, line k)`` of the deepest frame of the traceback in the learner's file (or the deepest frame)."""
    frames = traceback.extract_tb(exc.__traceback__)
    inside = [f for f in frames if path is None or os.path.abspath(f.filename) == os.path.abspath(path)]
    if path is not None and not inside:     # a function given directly: the deepest frame outside the checker
        inside = [f for f in frames if not os.path.abspath(f.filename).startswith(TINYKD + os.sep)]
    frame = (inside or frames or [None])[-1]
    return "" if frame is None else f" ({os.path.basename(frame.filename)}, line {frame.lineno})"


def _copy(value):
    return value.copy() if isinstance(value, np.ndarray) else value


def _same(a, b):
    if isinstance(a, np.ndarray):
        return (isinstance(b, np.ndarray) and a.shape == b.shape and a.dtype == b.dtype
                and np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))
    return True


class _Spy:
    """A profile hook that records the first tinykd function (bar the allowed modules) the solution calls."""

    def __init__(self):
        self.called = None

    def __call__(self, frame, event, arg):
        if event == "call" and self.called is None and frame.f_code.co_filename.startswith(TINYKD + os.sep):
            name = frame.f_globals.get("__name__", "tinykd")
            if not any(name == a or name.startswith(a + ".") for a in ALLOWED) and \
                    not name.startswith("tinykd.exercises"):
                self.called = f"{name}.{getattr(frame.f_code, 'co_qualname', frame.f_code.co_name)}"


def call_all(exercise, fn, cases, path=None):
    """Call ``fn`` on every case's arguments (copies): the raw results, one per case; raises ``Blank`` or a
    one-line ``SolutionError``."""
    params = exercise.params
    expected = f"{exercise.name}({', '.join(params)})"
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        signature = None
    results = []
    for i, case in enumerate(cases):
        args = case["args"]
        copies = tuple(_copy(a) for a in args)
        if signature is not None:
            try:
                signature.bind(*copies)
            except TypeError:
                raise SolutionError(f"your {getattr(fn, '__name__', exercise.name)}{signature} does not take the "
                                    f"exercise's {len(params)} arguments: keep the signature {expected}") from None
        spy = _Spy()
        sys.setprofile(spy)
        try:
            result = fn(*copies)
        except NotImplementedError:
            if i == 0:
                raise Blank() from None
            raise SolutionError(f"{exercise.name} raised NotImplementedError on case {i + 1} ({case_text(case)}): "
                                "handle every case the docstring describes") from None
        except SystemExit as exc:
            raise SolutionError(f"{exercise.name} called exit() (SystemExit {exc.code}){where(exc, path)}: return "
                                "the result instead") from None
        except KeyboardInterrupt as exc:
            raise SolutionError(f"{exercise.name} raised KeyboardInterrupt{where(exc, path)}") from None
        except RecursionError as exc:
            raise SolutionError(f"{exercise.name} recursed without end (RecursionError){where(exc, path)}") from None
        except Exception as exc:   # the learner's code failed: report its error and where, in one line
            message = str(exc).splitlines()[0] if str(exc) else ""
            raise SolutionError(f"{exercise.name} raised {type(exc).__name__}{where(exc, path)} on case {i + 1} "
                                f"({case_text(case)}): {message}") from None
        finally:
            sys.setprofile(None)
        if spy.called:
            raise SolutionError(f"{exercise.name} calls {spy.called}: the checker compares your function with "
                                "tinykd's own, so this would check tinykd, not you; write it with NumPy alone")
        for name, before, after in zip(params, args, copies):
            if not _same(before, after):
                raise SolutionError(f"{exercise.name} changed its argument {name} in place (case {i + 1}): the "
                                    "caller still needs it; compute into new arrays (x = x - y, not x -= y)")
        results.append(result)
    return results


def case_text(case):
    """``N=5, C=4, τ=2.5, float64, …`` of a case."""
    return ", ".join(f"{k}={v}" if k not in ("dtype", "note") else str(v) for k, v in case["about"].items())


def _child(exercise, solution, path, cases):
    """What the forked child computes: ``("ok", results)``, ``("blank",)`` or ``("error", line)``."""
    try:
        fn = solution if callable(solution) else load(path, exercise.name)
        return ("ok", [exercise.as_outputs(r) for r in call_all(exercise, fn, cases, path)])
    except Blank:
        return ("blank",)
    except SolutionError as exc:
        return ("error", str(exc))
    except BaseException as exc:   # anything else the learner's code threw at us, Ctrl-C included: one line
        return ("error", f"{exercise.name} raised {type(exc).__name__}{where(exc, path)}: {exc}")


def run(exercise, solution, path=None, limit=None):
    """The learner's outputs on every case (``exercise.as_outputs`` of each result): ``("ok", outputs)``,
    ``("blank",)`` or ``("error", one line)``. ``solution``: a function, or None to load ``path``."""
    limit = time_limit() if limit is None else float(limit)
    cases = exercise.cases()
    if not hasattr(os, "fork"):
        return _child(exercise, solution, path, cases)
    sys.stdout.flush()
    sys.stderr.flush()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:                                           # the child: compute, send, and leave at once
        code = 0
        try:
            os.close(read)
            signal.signal(signal.SIGINT, signal.SIG_DFL)   # Ctrl-C ends the child with its parent
            try:
                message = pickle.dumps(_child(exercise, solution, path, cases))
            except Exception as exc:                     # an output that cannot be sent back
                message = pickle.dumps(("error", f"{exercise.name} returned something that cannot be checked: {exc}"))
            with os.fdopen(write, "wb") as pipe:
                pipe.write(message)
            sys.stdout.flush()
            sys.stderr.flush()
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    os.close(write)
    chunks, deadline = [], time.monotonic() + limit
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([read], [], [], left)[0]:
                return ("error", f"{exercise.name} did not finish within {limit:g} s: an endless loop? (the limit: "
                                 "--time-limit or TINYKD_EXERCISE_TIME_LIMIT)")
            chunk = os.read(read, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(read)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        _, status = os.waitpid(pid, 0)
    if not chunks:
        code = os.waitstatus_to_exitcode(status)
        return ("error", f"{exercise.name} ended the checker's process before returning (exit status {code}): "
                         "no os._exit() or exit() in a solution")
    return pickle.loads(b"".join(chunks))
