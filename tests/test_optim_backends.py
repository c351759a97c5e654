"""Adam and SGD on every backend: the update in float32 on ``xp`` against Kingma & Ba's Algorithm 1 (and the
momentum formulas) written out in float64 on NumPy. The by-hand checks of each optimiser are in test_optim.py."""
import numpy as np
import pytest

from backends import assert_close, host, move
from tinykd import SGD, Adam


@pytest.mark.parametrize("name", ["adam", "adam_decay", "sgd", "nesterov_decay"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_updates_on_every_backend_match_the_float64_formula(xp, dtype, name):
    r = np.random.default_rng(0)
    theta0, bias0 = r.standard_normal((30, 20)), r.standard_normal(20)
    # gradients well away from 0: Adam's first step is lr·sign(g), which float32 rounding must not flip
    grads = [(r.choice([-1, 1], (30, 20)) * r.uniform(0.1, 2, (30, 20)), r.uniform(0.1, 2, 20)) for _ in range(3)]
    decay = 0.1 if "decay" in name else 0.0
    params = [("w", *move(xp, theta0, np.zeros_like(theta0), dtype=dtype)),
              ("b", *move(xp, bias0, np.zeros_like(bias0), dtype=dtype))]
    opt = Adam(params, lr=0.01, weight_decay=decay) if name.startswith("adam") else \
        SGD(params, lr=0.1, momentum=0.9, nesterov=name.startswith("nesterov"), weight_decay=decay)
    expected, m, v, buf = [theta0.copy(), bias0.copy()], [0, 0], [0, 0], [0, 0]
    for t, step_grads in enumerate(grads, start=1):
        for (_, _, g), g_new in zip(params, step_grads):
            g[...] = move(xp, g_new, dtype=dtype)
        opt.step()
        for k, g in enumerate(step_grads):
            g = g + (decay * expected[k] if k == 0 else 0)  # L2 on weight matrices, never on biases
            if name.startswith("adam"):
                m[k] = 0.9 * m[k] + 0.1 * g
                v[k] = 0.999 * v[k] + 0.001 * g ** 2
                expected[k] = expected[k] - 0.01 * (m[k] / (1 - 0.9 ** t)) / (np.sqrt(v[k] / (1 - 0.999 ** t)) + 1e-8)
            else:
                buf[k] = 0.9 * buf[k] + g
                expected[k] = expected[k] - 0.1 * ((g + 0.9 * buf[k]) if opt.nesterov else buf[k])
    for (_, p, _), e in zip(params, expected):
        assert p.dtype == dtype and host(p).dtype == dtype
        assert_close(p, e, dtype, scale=10)
