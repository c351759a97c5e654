"""No host synchronisation in a training step, checked on the CPU.

On the GPU, reading a value back (``bool``, ``float``, ``int``, ``.item()``, ``to_host``) waits for every queued kernel
and stalls the launch queue. ``Guarded`` is an ndarray that raises ``SyncError`` on every such read and stays
``Guarded`` through every NumPy operation (ufuncs, reductions, NumPy functions, scalar indexing); a model, its
optimiser and its objective are converted to it, and full training steps must run through without one read. With
``TINYKD_DEBUG=1`` the per-call value checks come back, and the same steps must fail: the guard is not vacuous.
"""
import numpy as np
import pytest

import tinykd.backend
from tinykd import MLP, SGD, Adam
from tinykd.binary import BinaryMLP
from tinykd.discriminator import FEATURES, Discriminator
from tinykd.distill import DIST, DKD, KD, AdversarialKD, ConditionalAdversarialKD, Supervised
from tinykd.fitnets import HintLoss, HintNet
from tinykd.train import fit, train_step


class SyncError(AssertionError):
    """A value was read back to the host."""


class Guarded(np.ndarray):
    """An ndarray whose values cannot reach the host; ``count`` set to a list records reads instead of raising."""

    count = None

    @classmethod
    def read(cls, what):
        if cls.count is None:
            raise SyncError(f"{what} read a value back to the host: a GPU synchronisation")
        cls.count.append(what)

    def __array_ufunc__(self, ufunc, method, *inputs, out=None, **kwargs):
        inputs = [_plain(a) for a in inputs]
        if out is not None:
            kwargs["out"] = tuple(_plain(o) for o in out)
        result = getattr(ufunc, method)(*inputs, **kwargs)
        return out[0] if out is not None and len(out) == 1 else _guard(result)

    def __array_function__(self, func, types, args, kwargs):
        return _guard(super().__array_function__(func, types, args, kwargs))

    def __getitem__(self, key):
        return _guard(super().__getitem__(key))

    for _name in ("__bool__", "__float__", "__int__", "__index__", "__complex__", "__format__", "item", "tolist",
                  "tobytes"):
        def _read(self, *args, _name=_name, **kwargs):
            Guarded.read(_name)
            return getattr(np.ndarray, _name)(self.view(np.ndarray), *args, **kwargs)
        locals()[_name] = _read
    del _name, _read


def _plain(a):
    return a.view(np.ndarray) if isinstance(a, Guarded) else a


def _guard(r):
    if isinstance(r, Guarded):
        return r
    if isinstance(r, (np.ndarray, np.generic)):
        return np.asarray(r).view(Guarded)
    if isinstance(r, (tuple, list)):
        return type(r)(_guard(x) for x in r)
    return r


class GuardedGenerator:
    """A NumPy generator whose arrays come out ``Guarded`` (dropout masks)."""

    def __init__(self, rng):
        self._rng = rng

    def __getattr__(self, name):
        attr = getattr(self._rng, name)
        return (lambda *a, **k: _guard(attr(*a, **k))) if callable(attr) else attr


def guard_all(obj, memo=None):
    """Replace, in place, every ndarray and generator held by a tinykd object (layers, caches, optimiser state and
    its views, discriminators) by a Guarded view / generator; views share memory, so updates still land. An object
    reached twice (a parameter in a layer and in the optimiser) gets the same replacement both times."""
    memo = {} if memo is None else memo  # id -> (original, replacement): the original kept alive, its id unique
    if id(obj) in memo:
        return memo[id(obj)][1]
    if isinstance(obj, np.ndarray):
        memo[id(obj)] = obj, obj.view(Guarded)
    elif isinstance(obj, np.random.Generator):
        memo[id(obj)] = obj, GuardedGenerator(obj)
    elif isinstance(obj, tuple):
        memo[id(obj)] = obj, tuple(guard_all(v, memo) for v in obj)
    else:
        memo[id(obj)] = obj, obj  # containers and tinykd objects change in place
        if isinstance(obj, dict):
            for k, v in obj.items():
                obj[k] = guard_all(v, memo)
        elif isinstance(obj, list):
            obj[:] = [guard_all(v, memo) for v in obj]
        elif type(obj).__module__.startswith("tinykd") and hasattr(obj, "__dict__"):
            for k, v in vars(obj).items():
                setattr(obj, k, guard_all(v, memo))
    return memo[id(obj)][1]


class GuardedNumPy:
    """NumPy as tinykd's modules see it during a test: arrays made from nothing (``zeros``, ``full``, ``arange``...)
    come out Guarded, and ``asarray``/``array`` of a Guarded array (how ``to_host`` and any host copy begin) count as
    reads. NumPy's own internals keep the real module."""

    def __getattr__(self, name):
        return getattr(np, name)

    def __init__(self):
        for name in ("zeros", "ones", "full", "empty", "arange", "eye"):
            setattr(self, name, lambda *a, _f=getattr(np, name), **k: _guard(_f(*a, **k)))
        for name in ("asarray", "array"):
            setattr(self, name, self._host(name))

    @staticmethod
    def _host(name):
        def host(a, *args, **kwargs):
            if isinstance(a, Guarded):
                Guarded.read(f"np.{name}")
                a = a.view(np.ndarray)
            return getattr(np, name)(a, *args, **kwargs)
        return host


@pytest.fixture
def no_host_reads(monkeypatch):
    """Every tinykd module computes with ``GuardedNumPy`` (``get_array_module`` returns it), debug mode off."""
    import sys
    proxy = GuardedNumPy()
    for name, module in list(sys.modules.items()):
        if name.split(".")[0] == "tinykd" and getattr(module, "np", None) is np:
            monkeypatch.setattr(module, "np", proxy)
    monkeypatch.setattr(tinykd.backend, "_DEBUG", False)
    monkeypatch.setattr(Guarded, "count", None)


# ------------------------------------------------------------------------------------------------ the methods
N, IN, CLASSES = 16, 12, 5


def adversarial(form, updates, features, kd_weight, hidden):
    def make():
        d = Discriminator(CLASSES, hidden=hidden, features=features, temperature=2.0, seed=0)
        return MLP([IN, 10, CLASSES], seed=0), AdversarialKD(d, beta=0.1, form=form, updates=updates,
                                                              kd_weight=kd_weight), Adam
    return make


def hint_stage():
    student = MLP([IN, 10, 8, CLASSES], seed=0)
    return HintNet(student, 1, hint_width=7), HintLoss(), Adam


METHODS = {
    "supervised": lambda: (MLP([IN, 10, 10, CLASSES], dropout=0.3, input_dropout=0.1, seed=0), Supervised(), Adam),
    "supervised_sgd": lambda: (MLP([IN, 10, CLASSES], seed=0), Supervised(),
                               lambda m: SGD(m, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-4)),
    "kd_additive": lambda: (MLP([IN, 10, CLASSES], seed=0), KD(4.0, 0.5), lambda m: Adam(m, weight_decay=1e-4)),
    "supervised_max_norm": lambda: (MLP([IN, 10, 10, CLASSES], dropout=0.5, input_dropout=0.2, seed=0), Supervised(),
                                    lambda m: Adam(m, max_norm=0.5)),
    "supervised_sgd_max_norm": lambda: (MLP([IN, 10, CLASSES], seed=0), Supervised(),
                                        lambda m: SGD(m, lr=0.1, momentum=0.9, max_norm=0.5)),
    "kd_hinton": lambda: (MLP([IN, 10, CLASSES], seed=0), KD(4.0, 0.9, "hinton"), Adam),
    "kd_partly_labelled": lambda: (MLP([IN, 10, CLASSES], seed=0), KD(20.0, 0.9, "hinton", ignore_label=-1), Adam),
    "supervised_partly_labelled": lambda: (MLP([IN, 10, CLASSES], seed=0), Supervised(ignore_label=-1), Adam),
    "fitnets_hint": hint_stage,
    "binary_bwn": lambda: (BinaryMLP([IN, 10, 10, CLASSES], mode="bwn", seed=0), KD(4.0, 0.9, "hinton"), Adam),
    "binary_xnor": lambda: (BinaryMLP([IN, 10, 10, CLASSES], mode="xnor", seed=0), KD(4.0, 0.9, "hinton"), Adam),
}
METHODS.update({
    "kd_standardised": lambda: (MLP([IN, 10, CLASSES], seed=0), KD(2.0, 0.9, "hinton", standardise=True), Adam),
    "dkd": lambda: (MLP([IN, 10, CLASSES], seed=0), DKD(1.0, 8.0, 4.0), Adam),
    "dkd_standardised_partly_labelled": lambda: (MLP([IN, 10, CLASSES], seed=0),
                                                 DKD(standardise=True, ignore_label=-1), Adam),
    "dist": lambda: (MLP([IN, 10, CLASSES], seed=0), DIST(2.0, 2.0, 4.0), Adam),
    "dist_partly_labelled": lambda: (MLP([IN, 10, CLASSES], seed=0), DIST(ignore_label=-1), Adam),
    "adv_conditional": lambda: (MLP([IN, 10, CLASSES], seed=0), ConditionalAdversarialKD(
        Discriminator(CLASSES, hidden=(8, 8), features="standardised", conditional=True, smoothing=0.1, lr=1e-4,
                      seed=0), ramp_steps=3), Adam),
    "adv_conditional_l2_partly_labelled": lambda: (MLP([IN, 10, CLASSES], seed=0), ConditionalAdversarialKD(
        Discriminator(CLASSES, hidden=8, features="logprob", conditional=True, seed=0), logit_loss="l2",
        ignore_label=-1), Adam),
})
for form in ("minimax", "nonsaturating"):
    for updates in ("fixed", "alternating"):
        for features in FEATURES:
            for kd_weight in (0.0, 0.5):
                hidden = 8 if features != "raw" else 0
                METHODS[f"adv_{form}_{updates}_{features}{'_kd' if kd_weight else ''}"] = \
                    adversarial(form, updates, features, kd_weight, hidden)


def setup(method):
    r = np.random.default_rng(0)
    model, objective, make_opt = METHODS[method]()
    optimizer = make_opt(model)
    guard_all((model, objective, optimizer))  # one walk: a shared array gets one Guarded view
    x = r.standard_normal((N, IN)).astype(np.float32).view(Guarded)
    y = r.integers(-1 if "partly" in method else 0, CLASSES, N).view(Guarded)
    width = 7 if method == "fitnets_hint" else CLASSES
    target = r.standard_normal((N, width)).astype(np.float32).view(Guarded)
    return model, objective, optimizer, x, y, target


@pytest.mark.parametrize("method", sorted(METHODS))
def test_a_training_step_never_reads_a_value_back(method, no_host_reads):
    model, objective, optimizer, x, y, target = setup(method)
    before = [p.copy() for _, p, _ in model.named_parameters()]
    for _ in range(2):  # the second step runs with Adam's moments and the discriminator already updated
        loss = train_step(model, objective, optimizer, x, y, target)
        assert isinstance(loss, Guarded) and loss.ndim == 0 and loss.dtype == np.float32  # the guard reached it
    with pytest.raises(SyncError):
        bool(loss)
    Guarded.count = []  # reads allowed again: did the step do its work?
    assert all(np.isfinite(p).all() for _, p, _ in model.named_parameters())
    assert any(not np.array_equal(b, p) for b, (_, p, _) in zip(before, model.named_parameters()))


@pytest.mark.parametrize("method", ["supervised", "kd_hinton", "adv_minimax_alternating_logprob_kd"])
def test_debug_mode_checks_values_and_the_guard_sees_it(method, no_host_reads, monkeypatch):
    """TINYKD_DEBUG=1 brings back the per-call checks (finite logits, labels in range): each is a read, caught."""
    model, objective, optimizer, x, y, target = setup(method)
    monkeypatch.setattr(tinykd.backend, "_DEBUG", True)
    with pytest.raises(SyncError):
        train_step(model, objective, optimizer, x, y, target)


def test_fit_reads_values_once_per_data_set_and_epoch_never_per_step(no_host_reads):
    """Two data checks (labels in range, finite inputs) per call, the losses once per epoch: the same count whatever
    the number of steps."""
    r = np.random.default_rng(0)
    x = r.standard_normal((400, IN)).astype(np.float32).view(Guarded)
    y = r.integers(0, CLASSES, 400).view(Guarded)
    counts = {}
    for batch_size, epochs in ((200, 1), (20, 1), (20, 3)):
        model = guard_all(MLP([IN, 10, CLASSES], seed=0))
        Guarded.count = []
        fit(model, Supervised(), Adam(model), x, y, epochs, batch_size, progress=False)
        counts[batch_size, epochs] = list(Guarded.count)
    assert counts[200, 1] == counts[20, 1] == ["np.asarray", "__bool__", "np.asarray"], counts
    assert len(counts[20, 3]) == 2 + 3
