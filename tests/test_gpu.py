"""CuPy runs of the CPU checks: the same inputs (made with NumPy, then moved) must give the same numbers."""
import numpy as np
import pytest

from tinykd import MLP, Adam, backend
from tinykd import functional as F

pytestmark = pytest.mark.skipif(not backend.cupy_available(),
                                reason="CuPy with a CUDA GPU is not available (pip install 'tinykd[gpu]')")


@pytest.fixture
def cp():
    return backend.resolve("cupy")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_losses_match_numpy(cp, dtype):
    r = np.random.default_rng(0)
    zs, zt = r.standard_normal((16, 10)).astype(dtype) * 5, r.standard_normal((16, 10)).astype(dtype) * 5
    y = r.integers(0, 10, 16)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for fn, args in ((F.cross_entropy, (zs, y)), (F.soft_cross_entropy, (zs, zt, 4.0, True)),
                     (F.kl_divergence, (zs, zt, 2.0)), (F.logistic_loss, (zs[:, 0], (y % 2).astype(dtype)))):
        cpu = fn(*args)
        gpu = fn(*(cp.asarray(a) if isinstance(a, np.ndarray) else a for a in args))
        assert backend.get_array_module(gpu[1]) is cp and gpu[1].dtype == dtype
        for c, g in zip(cpu, gpu):
            np.testing.assert_allclose(backend.to_host(g), c, rtol=tol, atol=tol)


def test_training_step_matches_numpy(cp):
    r = np.random.default_rng(1)
    x, y = r.standard_normal((32, 20)).astype(np.float32), r.integers(0, 5, 32)
    results = []
    for xp in (np, cp):
        model = MLP([20, 16, 5], seed=3, backend=xp)
        opt = Adam(model, lr=1e-2)
        for _ in range(3):
            _, grad = F.cross_entropy(model.forward(xp.asarray(x), train=True), xp.asarray(y))
            model.backward(grad)
            opt.step()
        results.append([backend.to_host(p) for _, p, _ in model.named_parameters()])
    for a, b in zip(*results):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5)


def test_out_of_range_labels_raise_on_gpu(cp):
    with pytest.raises(ValueError, match="labels must lie"):
        F.cross_entropy(cp.zeros((2, 3), dtype=cp.float32), cp.asarray([0, 3]))
