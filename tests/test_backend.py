import numpy as np
import pytest

from tinykd import backend
from tinykd.backend import cupy_available


def test_numpy_is_the_default(monkeypatch):
    monkeypatch.delenv("TINYKD_BACKEND", raising=False)
    assert backend.resolve() is np
    assert backend.resolve("numpy") is np and backend.resolve(np) is np
    assert backend.get_array_module(np.zeros(2), np.ones(1)) is np
    monkeypatch.setenv("TINYKD_BACKEND", "NumPy")
    assert backend.resolve() is np


def test_unknown_backend_is_a_clear_error(monkeypatch):
    with pytest.raises(ValueError, match=r"backend must be one of \('numpy', 'cupy'\).*'torch'"):
        backend.resolve("torch")
    monkeypatch.setenv("TINYKD_BACKEND", "jax")
    with pytest.raises(ValueError, match="TINYKD_BACKEND"):
        backend.resolve()
    with pytest.raises(TypeError, match="backend must be"):
        backend.resolve(3)


@pytest.mark.skipif(cupy_available(), reason="CuPy and a GPU are present: the missing-CuPy error cannot occur")
def test_cupy_missing_is_a_clear_error():
    with pytest.raises(RuntimeError, match="backend 'cupy' was asked for"):
        backend.resolve("cupy")


def test_seeded_generators_reproduce():
    a = backend.default_rng(7).random(5)
    b = backend.default_rng(7).random(5)
    np.testing.assert_array_equal(a, b)
    with pytest.raises(TypeError, match="seed must be an int"):
        backend.default_rng("7")


def test_host_round_trip():
    x = np.arange(6, dtype=np.float32)
    assert backend.to_device(x, np) is x
    assert backend.to_device(x, np, np.float64).dtype == np.float64
    np.testing.assert_array_equal(backend.to_host(x), x)


def test_arrays_cross_between_host_and_device_only_where_the_backend_docstring_says():
    """``backend``'s docstring names every way whole arrays cross (``to_device``, ``to_host``, a checkpoint load);
    no other module copies an array across (``xp.asarray``, CuPy's ``.get()``/``asnumpy``)."""
    import pathlib
    import re
    import tinykd
    doc = " ".join(backend.__doc__.split())
    assert "through ``to_device`` and ``to_host``, and when a checkpoint is loaded" in doc
    crossing = re.compile(r"(?<!\bnp)(?<!numpy)\.asarray\(|\.get\(\)|asnumpy\(")
    for path in sorted(pathlib.Path(tinykd.__file__).parent.glob("*.py")):
        if path.name not in ("backend.py", "checkpoint.py"):
            lines = [line for line in path.read_text().splitlines() if crossing.search(line)]
            assert not lines, f"{path.name} copies arrays between host and device outside to_device/to_host: {lines}"


def test_a_seed_is_named_where_every_generator_is_made():
    """Issue 28, item 4: seed=-1 ended in NumPy's own words, which do not name the setting."""
    for bad, error in ((-1, ValueError), (1.5, TypeError), (True, TypeError)):
        with pytest.raises(error, match=r"^seed must be an integer >= 0"):
            backend.default_rng(bad)
    np.testing.assert_array_equal(backend.default_rng(np.int64(3)).random(2), backend.default_rng(3).random(2))


def test_label_values_are_read_outside_a_training_step_only(monkeypatch):
    """A direct call is where labels enter, so their range is read; a training step's were read once by fit, so
    inside one nothing is read unless TINYKD_DEBUG=1."""
    monkeypatch.setattr(backend, "_DEBUG", False)
    assert backend.check_values()
    with backend.training_step():
        assert not backend.check_values()
        monkeypatch.setattr(backend, "_DEBUG", True)
        assert backend.check_values()
        monkeypatch.setattr(backend, "_DEBUG", False)
    assert backend.check_values()
    with pytest.raises(KeyError):
        with backend.training_step():
            raise KeyError("the scope ends with its step, error or not")
    assert backend.check_values()
