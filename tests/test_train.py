import numpy as np
import pytest

from backends import host, move
from tinykd import MLP, Adam, data
from tinykd.distill import KD, Supervised
from tinykd.train import TrainingError, cosine_lr, errors, fit


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
            fit(model, Supervised(), opt, x, y, 1, 100, checkpoint=path, progress=False, seed=4)
            model, opt = MLP([784, 32, 10], seed=99, backend=xp), None
            opt = Adam(model, lr=1e-3)
        history = fit(model, Supervised(), opt, x, y, 2, 100, checkpoint=path, resume=True, progress=False, seed=4)
        runs.append(([host(p).copy() for _, p, _ in model.named_parameters()], history))
    for a, b in zip(runs[0][0], runs[1][0]):
        np.testing.assert_array_equal(a, b)
    assert [h["loss"] for h in runs[0][1]] == [h["loss"] for h in runs[1][1]]
    with pytest.raises(ValueError, match="was written for MLP"):
        other = MLP([784, 16, 10], backend=xp)
        fit(other, Supervised(), Adam(other), x, y, 3, 100, checkpoint=tmp_path / "ckTrue.npz", resume=True,
            progress=False)


def test_cached_teacher_gives_the_same_losses(small, xp):
    x, y, _, _ = move(xp, *small)
    teacher = MLP([784, 32, 10], seed=2, backend=xp)
    histories = []
    for cache in (True, False):
        student = MLP([784, 16, 10], seed=3, backend=xp)
        histories.append(fit(student, KD(4.0, 1.0), Adam(student), x, y, 2, 100, teacher=teacher.logits,
                             cache_teacher=cache, progress=False))
    assert [h["loss"] for h in histories[0]] == pytest.approx([h["loss"] for h in histories[1]], rel=1e-6)
    student = MLP([784, 16, 10], seed=3, backend=xp)  # the same, from teacher logits computed beforehand
    given = fit(student, KD(4.0, 1.0), Adam(student), x, y, 2, 100, teacher=teacher.logits(x), progress=False)
    assert [h["loss"] for h in given] == [h["loss"] for h in histories[0]]
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
        fit(model, poisoned_at(6), Adam(model), x, y, 3, 500, checkpoint=path, progress=False)
    from tinykd.checkpoint import meta_of
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
