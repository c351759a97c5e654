import os
import types

import numpy as np
import pytest

from backends import host, move
from tinykd import MLP, Adam, data
from tinykd.runs import checkpoints, locks
from tinykd.runs.runstate import RunFile
from tinykd.distill import KD, Supervised
from tinykd.layers import network_arrays
from tinykd.schedules import cosine_lr
from tinykd.train import TrainingError, errors, fit


@pytest.fixture(scope="module")
def small():
    ds = data.load("mnist")
    return ds.x_train[:2000], ds.y_train[:2000], ds.x_test[:1000], ds.y_test[:1000]


def test_training_reduces_errors(small, xp):
    x, y, xt, yt = move(xp, *small)
    model = MLP([784, 64, 10], seed=0, backend=xp)
    before = errors(model, xt, yt)
    history = fit(model, Supervised(), Adam(model, lr=3e-3), x, y, 3, 64, x_val=xt, y_val=yt,
                  lr_schedule=cosine_lr(3e-3, 3), progress=False)
    assert [h["epoch"] for h in history] == [1, 2, 3]
    assert history[-1]["val_errors"] < before / 3 and history[-1]["val_errors"] < 200
    assert history[-1]["loss"] < history[0]["loss"]
    assert history[0]["lr"] == pytest.approx(3e-3)


def test_resume_continues_exactly(small, tmp_path, xp):
    x, y, _, _ = move(xp, *small)
    runs = []
    for split in (False, True):
        model = MLP([784, 32, 10], seed=1, backend=xp)
        opt = Adam(model, lr=1e-3)
        path = tmp_path / f"ck{split}.npz"
        if split:
            fit(model, Supervised(), opt, x, y, 1, 100, checkpoint=RunFile(path), progress=False, seed=4)
            model, opt = MLP([784, 32, 10], seed=99, backend=xp), None
            opt = Adam(model, lr=1e-3)
        history = fit(model, Supervised(), opt, x, y, 2, 100, checkpoint=RunFile(path), resume=True, progress=False,
                      seed=4)
        runs.append(([host(p).copy() for _, p, _ in model.named_parameters()], history))
    for a, b in zip(runs[0][0], runs[1][0]):
        np.testing.assert_array_equal(a, b)
    assert [h["loss"] for h in runs[0][1]] == [h["loss"] for h in runs[1][1]]
    with pytest.raises(ValueError, match="was written for MLP"):
        other = MLP([784, 16, 10], backend=xp)
        fit(other, Supervised(), Adam(other), x, y, 3, 100, checkpoint=RunFile(tmp_path / "ckTrue.npz"), resume=True,
            progress=False)


def test_cached_teacher_gives_the_same_losses(small, xp):
    x, y, _, _ = move(xp, *small)
    teacher = MLP([784, 32, 10], seed=2, backend=xp)
    student = MLP([784, 16, 10], seed=3, backend=xp)
    cached = fit(student, KD(4.0, 1.0), Adam(student), x, y, 2, 100, teacher=teacher.logits, progress=False)
    student = MLP([784, 16, 10], seed=3, backend=xp)  # the same, from teacher logits computed beforehand
    given = fit(student, KD(4.0, 1.0), Adam(student), x, y, 2, 100, teacher=teacher.logits(x), progress=False)
    assert [h["loss"] for h in given] == [h["loss"] for h in cached]
    with pytest.raises(ValueError, match="one row per sample"):
        fit(student, KD(), Adam(student), x, y, 1, 100, teacher=teacher.logits(x[:10]), progress=False)


def poisoned_at(step):
    """Supervised, but the logits become NaN/inf at the ``step``-th call (1-based): the weights blow up there."""
    calls = []

    def objective(logits, labels, teacher_logits=None):
        calls.append(1)
        if len(calls) == step:
            logits = logits * np.float32(np.inf)
        return Supervised()(logits, labels)
    return objective


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # NumPy's inf − inf, as intended
def test_nan_stops_with_epoch_and_step(small, tmp_path, xp, no_debug):
    """Found at the epoch's end, from the epoch's losses (no step reads a value): epoch and step named, the last
    good checkpoint kept."""
    x, y, _, _ = move(xp, *small)
    model = MLP([784, 8, 10], seed=0, backend=xp)
    path = tmp_path / "good.npz"
    with pytest.raises(TrainingError, match=r"epoch 2, step 2: .*NaN or inf.*last good checkpoint is .*good.npz"):
        fit(model, poisoned_at(6), Adam(model), x, y, 3, 500, checkpoint=RunFile(path), progress=False)
    from tinykd.runs.checkpoints import meta_of
    assert meta_of(path)["epoch"] == 1  # the checkpoint still holds the last good epoch


def test_debug_mode_stops_at_the_step_in_the_function(small, debug):
    x, y, _, _ = small
    model = MLP([784, 8, 10], seed=0)
    with pytest.raises(ValueError, match="logits contains NaN or inf"):
        fit(model, poisoned_at(6), Adam(model), x, y, 3, 500, progress=False)


def test_bad_data_is_caught_where_it_enters(small, xp):
    """Labels out of range (which CuPy would silently wrap around), non-finite inputs or teacher outputs: each
    stops ``fit`` before the first step, checked once for the whole data set."""
    x, y, xt, yt = small
    model = MLP([784, 8, 10], seed=0, backend=xp)
    teacher = MLP([784, 8, 10], seed=1, backend=xp)

    def run(x=x, y=y, x_val=None, y_val=None, objective=Supervised(), teacher=None):
        opt = Adam(model)
        fit(model, objective, opt, *move(xp, x, y), 1, 500, x_val=None if x_val is None else move(xp, x_val),
            y_val=None if y_val is None else move(xp, y_val), teacher=teacher, progress=False)
        assert opt.t == 0

    for bad, match in ((-1, r"y must lie in \[0, 10\) for the model's 10 outputs, got values in \[-1, 9\]"),
                       (10, r"y must lie in \[0, 10\).*\[0, 10\]; labels are class indices")):
        y_bad = y.copy()
        y_bad[7] = bad
        with pytest.raises(ValueError, match=match):
            run(y=y_bad)
        with pytest.raises(ValueError, match=r"y_val must lie in \[0, 10\)"):
            run(x_val=xt, y_val=np.where(np.arange(len(yt)) == 3, bad, yt))
    with pytest.raises(TypeError, match="y must be an integer array of class indices, got float32"):
        run(y=y.astype(np.float32))
    x_bad = x.copy()
    x_bad[5, 100] = np.nan
    with pytest.raises(ValueError, match="x contains NaN or inf; .*clean or drop those rows"):
        run(x=x_bad)
    with pytest.raises(ValueError, match="x_val contains NaN or inf"):
        run(x_val=x_bad, y_val=y)
    logits = teacher.logits(move(xp, x))
    logits[3, 2] = np.inf
    with pytest.raises(ValueError, match="the teacher's outputs contains NaN or inf"):
        run(objective=KD(), teacher=logits)
    teacher.layers[-1].params["b"][4] = np.nan  # cached teacher outputs are checked once computed
    with pytest.raises(ValueError, match="the teacher's outputs contains NaN or inf"):
        run(objective=KD(), teacher=teacher.logits)


def test_bad_arguments_fail_before_training(small):
    x, y, _, _ = small
    model = MLP([784, 8, 10])
    with pytest.raises(ValueError, match="needs a teacher"):
        fit(model, KD(), Adam(model), x, y, 1)
    with pytest.raises(ValueError, match="epochs must be"):
        fit(model, Supervised(), Adam(model), x, y, -1)
    with pytest.raises(ValueError, match="batch_size must be"):
        fit(model, Supervised(), Adam(model), x, y, 1, 0)
    with pytest.raises(ValueError, match=r"y must have shape \(2000,\), one label per row, got shape \(10,\)"):
        fit(model, Supervised(), Adam(model), x, y[:10], 1)


# ------------------------------------------------------------------------------------- issue 18, synthetic data
def _images(n=120, side=8, classes=3, seed=0):
    """Small flattened 'images' whose class shifts their mean: learnable, fast."""
    r = np.random.default_rng(seed)
    y = r.integers(0, classes, n)
    x = (r.random((n, side * side)) * 0.5 + 0.15 * y[:, None]).astype(np.float32)
    return x, y


def test_errors_refuses_what_fit_refuses_instead_of_counting_it(monkeypatch):
    """Issue 18, items 2 and 7: ``errors(m, x, y + 5)`` returned a count (labels that never match), a negative
    label or a NaN row counted too, and a list for ``x`` was an AttributeError. ``errors`` checks as ``fit`` does
    (``train._check_data``); ``fit`` counts its validation errors without checking them again every epoch."""
    from tinykd import train
    x, y = _images()
    model = MLP([64, 8, 3], seed=0)
    count = errors(model, x, y)
    assert 0 <= count <= len(y)
    with pytest.raises(ValueError, match=r"y must lie in \[0, 3\) for the model's 3 outputs, got values in "
                                         r"\[5, 7\]"):
        errors(model, x, y + 5)
    bad = y.copy()
    bad[7] = -1
    with pytest.raises(ValueError, match=r"y must lie in \[0, 3\) .*got values in \[-1, 2\]"):
        errors(model, x, bad)
    nan = x.copy()
    nan[3, 5] = np.nan
    with pytest.raises(ValueError, match="x contains NaN or inf; every value must be finite"):
        errors(model, nan, y)
    with pytest.raises(TypeError, match=r"x must be an array of shape \(N, features\), got list: convert it with "
                                        "numpy.asarray"):
        errors(model, x.tolist(), y)
    with pytest.raises(ValueError, match=r"x must have shape \(N, features\).*got shape \(120, 8, 8\)"):
        errors(model, x.reshape(-1, 8, 8), y)
    checks = []
    original = train._check_data
    monkeypatch.setattr(train, "_check_data", lambda *a: checks.append(a) or original(*a))
    history = fit(model, Supervised(), Adam(model), x, y, 3, 32, x_val=x[:40], y_val=y[:40], progress=False)
    assert len(history) == 3 and len(checks) == 2    # the data, then the (absent) teacher outputs: once per fit


def test_labels_of_the_wrong_shape_are_refused_never_broadcast():
    """Issue 18, item 1: ``errors(m, x, y[:, None])`` counted an (N, N) comparison, ``errors(m, x, y[:1])`` one
    label against every row, and ``fit(y_val=y[:, None])`` chose its best epoch from such counts."""
    x, y = _images()
    model = MLP([64, 8, 3], seed=0)
    assert 0 <= errors(model, x, y) <= len(y)
    with pytest.raises(ValueError, match=r"y must have shape \(120,\), one label per row, got shape \(120, 1\); "
                                         r"flatten a label column with y.ravel\(\)"):
        errors(model, x, y[:, None])
    with pytest.raises(ValueError, match=r"y must have shape \(120,\), one label per row, got shape \(1,\)"):
        errors(model, x, y[:1])
    opt = Adam(model)
    with pytest.raises(ValueError, match=r"y_val must have shape \(40,\), one label per row, got shape \(40, 1\)"):
        fit(model, Supervised(), opt, x, y, 1, 32, x_val=x[:40], y_val=y[:40, None], progress=False)
    with pytest.raises(ValueError, match=r"y must have shape \(120,\).*got shape \(120, 1\)"):
        fit(model, Supervised(), opt, x, y[:, None], 1, 32, progress=False)
    with pytest.raises(TypeError, match="y_val must be an integer array of class indices, got float64"):
        fit(model, Supervised(), opt, x, y, 1, 32, x_val=x[:40], y_val=y[:40].astype(float), progress=False)
    with pytest.raises(ValueError, match="x_val has no rows"):
        fit(model, Supervised(), opt, x, y, 1, 32, x_val=x[:0], y_val=y[:0], progress=False)
    with pytest.raises(ValueError, match="x has no rows"):
        fit(model, Supervised(), opt, x[:0], y[:0], 1, 32, progress=False)
    assert opt.t == 0


def test_a_cosine_schedule_knows_its_length():
    """Issue 18, item 3: past its length the cosine climbed back up (1e-5 -> 5e-4), and length 0 divided by 0."""
    lr = cosine_lr(1e-3, 4)
    assert lr.epochs == 4 and lr(0) == 1e-3 and [lr(e) > lr(e + 1) > 1e-5 for e in range(3)] == [True] * 3
    assert lr(3) == pytest.approx(1e-3 * (0.01 + 0.99 * 0.5 * (1 + np.cos(np.pi * 3 / 4))))
    assert lr.describe() == {"schedule": "cosine", "base_lr": 1e-3, "epochs": 4, "final_fraction": 0.01}
    for epoch in (4, 10, -1, 1.5):
        with pytest.raises(ValueError, match=r"covers epochs 0 to 3, not"):
            lr(epoch)
    for bad, match in (((1e-3, 0), "epochs must be an integer >= 1, got 0"),
                       ((1e-3, 2.5), "epochs must be an integer >= 1, got 2.5"),
                       ((0.0, 3), "base_lr must be a finite number > 0"),
                       ((float("nan"), 3), "base_lr must be a finite number > 0"),
                       ((1e-3, 3, 1.5), r"final_fraction must be a number in \[0, 1\]"),
                       ((1e-3, 3, -0.1), r"final_fraction must be a number in \[0, 1\]")):
        with pytest.raises(ValueError, match=match):
            cosine_lr(*bad)
    assert all(cosine_lr(1e-3, 5, 0.0)(e) > 0 for e in range(5))   # a floor of 0 is reached only after the run


def test_fit_refuses_a_schedule_shorter_than_the_run_before_training():
    x, y = _images()
    model = MLP([64, 8, 3], seed=0)
    opt = Adam(model)
    with pytest.raises(ValueError, match=r"lr_schedule covers 2 epochs but the run trains 3; .*cosine_lr\(lr, 3\)"):
        fit(model, Supervised(), opt, x, y, 3, 32, lr_schedule=cosine_lr(1e-3, 2), progress=False)
    with pytest.raises(TypeError, match="lr_schedule must be a function"):
        fit(model, Supervised(), opt, x, y, 3, 32, lr_schedule=1e-3, progress=False)
    assert opt.t == 0
    history = fit(model, Supervised(), opt, x, y, 2, 32, lr_schedule=cosine_lr(1e-3, 2), progress=False)
    assert [h["lr"] for h in history] == [cosine_lr(1e-3, 2)(e) for e in range(2)]
    history = fit(model, Supervised(), Adam(model), x, y, 2, 32, lr_schedule=lambda e: 1e-3 / (e + 1),
                  progress=False)                                # a plain function: no length to check
    assert [h["lr"] for h in history] == [1e-3, 5e-4]


@pytest.mark.parametrize("shift", [2.5, 40, 4, -1])
def test_fit_refuses_a_jitter_it_cannot_apply_before_training(shift):
    """Issue 18, item 4, in ``fit``: 8x8 images take shifts 0 to 3."""
    x, y = _images()
    model = MLP([64, 8, 3], seed=0)
    opt = Adam(model)
    with pytest.raises(ValueError, match="jitter_pixels must be"):
        fit(model, Supervised(), opt, x, y, 1, 32, jitter_pixels=shift, image_shape=(8, 8), progress=False)
    assert opt.t == 0


def test_fit_refuses_a_schedule_longer_than_the_run_before_training():
    """Issue 18, item 13: a cosine schedule longer than the run was accepted, so the rate never reached its
    floor; a schedule with a length must be exactly as long as the run."""
    x, y = _images()
    model = MLP([64, 8, 3], seed=0)
    opt = Adam(model)
    with pytest.raises(ValueError, match=r"lr_schedule covers 4 epochs but the run trains 2; build it for exactly "
                                         r"the run, e.g. cosine_lr\(lr, 2\)"):
        fit(model, Supervised(), opt, x, y, 2, 32, lr_schedule=cosine_lr(1e-3, 4), progress=False)
    with pytest.raises(ValueError, match=r"lr_schedule covers 1 epochs but the run trains 0"):
        fit(model, Supervised(), opt, x, y, 0, 32, lr_schedule=cosine_lr(1e-3, 1), progress=False)
    assert opt.t == 0


def test_fit_jitters_only_images_whose_shape_it_is_given():
    """Issue 18, item 13: without ``image_shape`` fit guessed 28x28, so any 784-column data was jittered as 28x28
    images. Now jitter needs the shape, said in one line; without jitter none is needed."""
    x, y = _images(side=28)
    model = MLP([784, 8, 3], seed=0)
    opt = Adam(model)
    with pytest.raises(ValueError, match=r"jitter_pixels=1 shifts images, so give image_shape=\(height, width\), "
                                         r"e.g. ds.input_shape"):
        fit(model, Supervised(), opt, x, y, 1, 32, jitter_pixels=1, progress=False)
    assert opt.t == 0
    assert len(fit(model, Supervised(), opt, x, y, 1, 32, progress=False)) == 1
    assert len(fit(model, Supervised(), opt, x, y, 1, 32, jitter_pixels=1, image_shape=(28, 28),
                   progress=False)) == 1


class Interrupt(KeyboardInterrupt):
    pass


def _run(path, epochs, stop=None):
    """A run with every random stream in play: dropout on inputs and hidden layers, jitter, shuffling, and
    validation. ``stop``: Ctrl-C arrives during epoch ``stop`` (after its steps, before its
    checkpoint), as a user's would; the run then resumes from ``path`` with a model built from another seed."""
    x, y = _images()
    xv, yv = _images(40, seed=1)

    def epoch_end(model):
        if stop is not None and len(seen) + 1 == stop:
            raise Interrupt
        seen.append(1)
        return {}

    seen = []
    kwargs = dict(x_val=xv, y_val=yv, jitter_pixels=2, image_shape=(8, 8), seed=5, checkpoint=RunFile(path),
                  resume=True, progress=False, lr_schedule=cosine_lr(3e-3, epochs), epoch_end=epoch_end)
    model = MLP([64, 16, 16, 3], dropout=0.3, input_dropout=0.2, seed=1)
    if stop is not None:
        with pytest.raises(Interrupt):
            fit(model, Supervised(), Adam(model, lr=3e-3), x, y, epochs, 32, **kwargs)
        assert not os.path.exists(locks.lock_path(path))          # released on Ctrl-C
        model = MLP([64, 16, 16, 3], dropout=0.3, input_dropout=0.2, seed=99)
        model.rng.random(7)                                             # a fresh process's streams are elsewhere
        stop = None
    history = fit(model, Supervised(), Adam(model, lr=3e-3), x, y, epochs, 32, **kwargs)
    assert not os.path.exists(locks.lock_path(path))              # released at the end
    return [p.copy() for _, p, _ in model.named_parameters()], history


def test_an_interrupted_run_resumes_bit_for_bit(tmp_path):
    """Issue 18, item 10: weights, optimiser state and shuffling resumed exactly, but dropout masks and jitter
    shifts restarted, so an interrupted run ended elsewhere. Interrupted after each of epochs 1 to 3 of 4, it
    ends with the uninterrupted run's weights and history, bit for bit."""
    weights, history = _run(tmp_path / "whole.npz", 4)
    strip = [{k: v for k, v in h.items() if k != "seconds"} for h in history]
    for stop in (2, 3, 4):
        w, h = _run(tmp_path / f"stop{stop}.npz", 4, stop=stop)
        for a, c in zip(weights, w):
            np.testing.assert_array_equal(a, c)
        assert [{k: v for k, v in r.items() if k != "seconds"} for r in h] == strip


def test_a_run_checkpoint_refuses_other_generators(tmp_path):
    """A run written with jitter resumed without it (or with other dropout) would draw other random numbers."""
    x, y = _images()
    model = MLP([64, 8, 3], seed=0)
    path = tmp_path / "run.npz"
    fit(model, Supervised(), Adam(model), x, y, 1, 32, jitter_pixels=1, image_shape=(8, 8),
        checkpoint=RunFile(path), progress=False)
    with pytest.raises(checkpoints.CheckpointError, match=r"holds the random generators \['jitter', 'shuffle'\], "
                                                         r"this run draws from \['shuffle'\]"):
        fit(model, Supervised(), Adam(model), x, y, 2, 32, checkpoint=RunFile(path), resume=True, progress=False)


def test_fit_asks_any_run_state_keeper_and_knows_no_file():
    """The engine defines what it needs from a run-state keeper (``train``'s docstring) and imports nothing of
    ``tinykd.runs``: any object with those methods keeps a run; ``RunFile`` is the one that keeps it in files."""
    x, y = _images()

    class Keeper:
        def __init__(self):
            self.calls = []

        def __enter__(self):
            self.calls.append("lock")
            return self

        def __exit__(self, *exc):
            self.calls.append("unlock")

        def load(self, model, optimizer, generators):
            self.calls.append(f"load {sorted(generators)}")

        def save(self, model, optimizer, epoch, history, generators):
            self.calls.append(f"save {epoch} {len(history)}")

    keeper, model = Keeper(), MLP([64, 8, 3], seed=0)
    fit(model, Supervised(), Adam(model), x, y, 2, 32, x_val=x, y_val=y, checkpoint=keeper, resume=True,
        progress=False, lr_schedule=lambda e: [1e-2, 1e-9][e])
    assert keeper.calls == ["lock", "load ['shuffle']", "save 1 1", "save 2 2", "unlock"]


def test_the_protocol_refuses_a_jitter_its_images_cannot_take_before_training():
    """Issue 18, item 4, as the examples meet it: one ``ConfigError`` line (an ``error:`` line, exit 2)."""
    from tinykd.experiments import settings, setup
    x, y = _images(60, side=6)
    ds = data.from_arrays(x.reshape(-1, 6, 6), y, x[:30].reshape(-1, 6, 6), y[:30], name="tiny")
    cfg = types.SimpleNamespace(jitter=3, teacher_sizes=[36, 8, 3], transfer_size=0, labelled=1.0)
    with pytest.raises(settings.ConfigError, match=r"the teacher's jitter \(--jitter\) on tiny: jitter_pixels "
                                                  r"must be below half the image side: at most 2 for 6x6 images"):
        setup._check_shapes(ds, cfg)
    cfg.jitter = 2
    assert setup._check_shapes(ds, cfg) is ds


def test_fit_and_errors_refuse_what_a_second_new_user_trial_found():
    """A list for x, a negative seed, a model passed as the teacher, an empty evaluation set and labels that are
    all ignored without a teacher: each one line, before any training (none gives a number that means nothing)."""
    from tinykd.distill import KD, Supervised
    rng = np.random.default_rng(0)
    x, y = rng.random((50, 12), dtype=np.float32), rng.integers(0, 3, 50)
    m = MLP([12, 8, 3])
    with pytest.raises(TypeError, match="x must be an array"):
        fit(m, Supervised(), Adam(m), x.tolist(), y, 1, progress=False)
    with pytest.raises(ValueError, match="seed must be an integer >= 0"):
        fit(m, Supervised(), Adam(m), x, y, 1, seed=-1, progress=False)
    with pytest.raises(TypeError, match=r"teacher must be a function .*got MLP"):
        fit(m, KD(), Adam(m), x, y, 1, teacher=MLP([12, 8, 3]), progress=False)
    with pytest.raises(ValueError, match="x has no rows"):
        errors(m, x[:0], y[:0])
    with pytest.raises(ValueError, match="every label of y is ignore_label=-1"):
        fit(m, Supervised(ignore_label=-1), Adam(m), x, np.full(50, -1), 1, progress=False)
    one = MLP([12, 8, 1])                               # one output: argmax is always 0, loss and errors 0
    with pytest.raises(ValueError, match="at least two; this model has 1"):
        fit(one, Supervised(), Adam(one), x, np.zeros(50, np.int64), 1, progress=False)
    with pytest.raises(ValueError, match="at least two; this model has 1"):
        errors(one, x, np.zeros(50, np.int64))
    some = np.where(np.arange(50) < 5, y, -1)          # a few labelled rows: trains
    assert fit(m, Supervised(ignore_label=-1), Adam(m), x, some, 1, progress=False)[0]["loss"] > 0


def test_an_exponential_schedule_has_no_length_so_a_prefix_of_a_run_is_a_run():
    """``ExponentialSchedule``: base·decay^e, described for the identity; the first epochs of a long run are a short
    run, weights and history bit for bit (what lets a validation curve choose the epochs)."""
    from tinykd.schedules import ExponentialSchedule
    s = ExponentialSchedule(0.1, 0.5)
    assert [s(e) for e in range(3)] == [0.1, 0.05, 0.025] and s.describe() == {
        "schedule": "exponential", "base_lr": 0.1, "decay": 0.5}
    for bad in (0.0, 1.5, True):
        with pytest.raises(ValueError, match="decay must be"):
            ExponentialSchedule(0.1, bad)
    with pytest.raises(ValueError, match="integer >= 0"):
        s(-1)
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((64, 6)).astype(np.float32), rng.integers(0, 3, 64)
    seen = []

    def run(epochs):
        model = MLP([6, 8, 3], seed=0)
        h = fit(model, Supervised(), Adam(model), x, y, epochs, 16, lr_schedule=ExponentialSchedule(1e-2, 0.9),
                seed=0, progress=False, epoch_end=lambda m: seen.append(network_arrays(m)) or {})
        return network_arrays(model), [e["loss"] for e in h]
    short, short_losses = run(2)
    seen.clear()
    _, long_losses = run(5)
    assert long_losses[:2] == short_losses and len(long_losses) == 5
    assert all(np.array_equal(v, seen[1][k]) for k, v in short.items())   # epoch 2 of 5 is the 2-epoch run


# ------------------------------------------------------------------------------------------- issue 28, item 3
def test_batch_size_one_trains_a_network_without_batchnorm():
    """``fit(batch_size=1)`` skipped every one-row batch (for BatchNorm's sake, which an MLP has not): it trained
    nothing and reported a loss of 0.0. Every batch is a step now, the last partial one included."""
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((21, 6)).astype(np.float32), rng.integers(0, 3, 21)
    model = MLP([6, 8, 3], seed=0)
    before = network_arrays(model)
    opt = Adam(model)
    history = fit(model, Supervised(), opt, x, y, 1, 1, progress=False)
    assert opt.t == 21 and history[0]["loss"] > 0
    assert all(not np.array_equal(v, network_arrays(model)[k]) for k, v in before.items())
    opt = Adam(model)
    fit(model, Supervised(), opt, x, y, 2, 10, progress=False)      # 10 + 10 + 1 rows: three steps an epoch
    assert opt.t == 6
    one = MLP([6, 8, 3], seed=0)
    assert fit(one, Supervised(), Adam(one), x[:1], y[:1], 1, 128, progress=False)[0]["loss"] > 0   # a 1-row set


def test_a_batch_batchnorm_cannot_train_on_is_refused_before_training():
    """BatchNorm needs two rows a batch: a batch_size of 1, a one-row data set, or a last batch of one row is
    refused before any step, in one line naming batch_size (a trailing row used to be dropped without a word);
    DIST's intra-class term likewise. A last batch of two rows trains."""
    from tinykd.binary import BinaryMLP
    from tinykd.distill import DIST
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((21, 6)).astype(np.float32), rng.integers(0, 3, 21)
    model = BinaryMLP([6, 8, 3], seed=0)
    before = network_arrays(model)
    for rows, batch_size, match in (
            (21, 1, r"^batch_size=1 cannot train this BinaryMLP: BatchNorm needs batches of at least 2 rows in "
                    r"training; use batch_size >= 2$"),
            (21, 10, r"^x has 21 rows, so batch_size=10 leaves a last batch of 1 row, but BatchNorm needs batches "
                     r"of at least 2 rows in training; choose a batch_size that leaves no smaller batch \(e\.g\. 9 "
                     r"or 11\) or drop 1 row$"),
            (1, 128, r"^x has 1 row, but BatchNorm needs batches of at least 2 rows in training; give it at least 2 "
                     r"rows$")):
        opt = Adam(model)
        with pytest.raises(ValueError, match=match):
            fit(model, Supervised(), opt, x[:rows], y[:rows], 1, batch_size, progress=False)
        assert opt.t == 0
    assert all(np.array_equal(v, network_arrays(model)[k]) for k, v in before.items())
    opt = Adam(model)
    fit(model, Supervised(), opt, x[:20], y[:20], 1, 9, progress=False)   # 9 + 9 + 2 rows: three steps
    assert opt.t == 3
    student = MLP([6, 8, 3], seed=0)
    teacher = MLP([6, 8, 3], seed=1)
    with pytest.raises(ValueError, match=r"^batch_size=1 cannot train this MLP: DIST needs batches of at least 2 "
                                         r"rows"):
        fit(student, DIST(), Adam(student), x, y, 1, 1, teacher=teacher.logits, progress=False)
    fit(student, DIST(beta=1.0, gamma=0.0), Adam(student), x, y, 1, 1, teacher=teacher.logits, progress=False)


# ------------------------------------------------------------------------------------------- issue 28, item 4
def test_fit_names_a_bad_seed_and_a_checkpoint_under_a_file(tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((20, 6)).astype(np.float32), rng.integers(0, 3, 20)
    m = MLP([6, 8, 3])
    for bad, error in ((-1, ValueError), (1.5, TypeError), (None, TypeError)):
        with pytest.raises(error, match=r"^seed must be an integer >= 0"):
            fit(m, Supervised(), Adam(m), x, y, 1, seed=bad, progress=False)
    (tmp_path / "f").write_text("")
    with pytest.raises(ValueError, match=r"^checkpoint .*f/run\.npz cannot be written: .*f is a file, not a folder"):
        fit(m, Supervised(), Adam(m), x, y, 1, checkpoint=RunFile(tmp_path / "f" / "run.npz"), progress=False)
    with pytest.raises(TypeError, match=r"^x_val must be an array"):
        fit(m, Supervised(), Adam(m), x, y, 1, x_val=x.tolist(), y_val=y, progress=False)
