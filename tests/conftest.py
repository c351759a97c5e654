import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

from tinykd import gradcheck
from tinykd import backend

os.environ["TINYKD_OFFLINE"] = "1"  # no test ever reaches the network; download tests serve local files

# CI runs a fixed, derandomised set of examples (a red CI means a real bug, never an unlucky draw);
# HYPOTHESIS_PROFILE=thorough explores 500 fresh random examples per test.
settings.register_profile("tinykd", deadline=None, max_examples=40, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", deadline=None, max_examples=500, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "tinykd"))

# A second copy of the data files, outside the repository (the development machines keep one beside it), which a
# test compares with the repository's own copies; $TINYKD_SHARED_DATA says where yours is.
SHARED_DATA = os.environ.get("TINYKD_SHARED_DATA") or os.path.join(os.path.dirname(__file__), "..", "..", "shared",
                                                                    "data")
SHARED_DATA_MISSING = ("needs a second copy of the MNIST files to compare with data/mnist: set TINYKD_SHARED_DATA to "
                       "a folder whose mnist/ holds the four IDX .gz files")


def pytest_terminal_summary(terminalreporter):
    if gradcheck.WORST:
        terminalreporter.write_line(gradcheck.worst_line())


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


CUPY = backend.cupy_available()


CUPY_MISSING = "CuPy cases need CuPy and a CUDA GPU (run benchmarks/gpu_check.sh on a GPU machine)"


@pytest.fixture(params=["numpy", "cupy"])
def xp(request):
    """The array module a test runs on: NumPy always, CuPy when it sees a GPU."""
    return backend.resolve(request.param)


def pytest_runtest_setup(item):
    """Without a GPU, skip every CuPy case here, in one place, so that ``pytest -ra`` shows them as one line."""
    callspec = getattr(item, "callspec", None)
    if callspec is not None and callspec.params.get("xp") == "cupy" and not CUPY:
        pytest.skip(CUPY_MISSING)


@pytest.fixture
def debug(monkeypatch):
    """``TINYKD_DEBUG=1`` for one test: functions check the values they receive on every call."""
    monkeypatch.setattr(backend, "_DEBUG", True)


@pytest.fixture
def no_debug(monkeypatch):
    """``TINYKD_DEBUG`` off for one test, whatever the environment says (per-call value checks do not run)."""
    monkeypatch.setattr(backend, "_DEBUG", False)
