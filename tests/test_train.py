import numpy as np
import pytest

from tinykd import MLP, Adam, data
from tinykd.distill import KD, Supervised
from tinykd.train import TrainingError, cosine_lr, errors, fit


@pytest.fixture(scope="module")
def small():
    ds = data.load("mnist")
    return ds.x_train[:2000], ds.y_train[:2000], ds.x_test[:1000], ds.y_test[:1000]


def test_training_reduces_errors(small):
    x, y, xt, yt = small
    model = MLP([784, 64, 10], seed=0)
    before = errors(model, xt, yt)
    history = fit(model, Supervised(), Adam(model, lr=3e-3), x, y, 3, 64, x_val=xt, y_val=yt,
                  lr_schedule=cosine_lr(3e-3, 3), progress=False)
    assert [h["epoch"] for h in history] == [1, 2, 3]
    assert history[-1]["val_errors"] < before / 3 and history[-1]["val_errors"] < 200
    assert history[-1]["loss"] < history[0]["loss"]
    assert history[0]["lr"] == pytest.approx(3e-3)


def test_resume_continues_exactly(small, tmp_path):
    x, y, _, _ = small
    runs = []
    for split in (False, True):
        model = MLP([784, 32, 10], seed=1)
        opt = Adam(model, lr=1e-3)
        path = tmp_path / f"ck{split}.npz"
        if split:
            fit(model, Supervised(), opt, x, y, 1, 100, checkpoint=path, progress=False, seed=4)
            model, opt = MLP([784, 32, 10], seed=99), None
            opt = Adam(model, lr=1e-3)
        history = fit(model, Supervised(), opt, x, y, 2, 100, checkpoint=path, resume=True, progress=False, seed=4)
        runs.append(([p.copy() for _, p, _ in model.named_parameters()], history))
    for a, b in zip(runs[0][0], runs[1][0]):
        np.testing.assert_array_equal(a, b)
    assert [h["loss"] for h in runs[0][1]] == [h["loss"] for h in runs[1][1]]
    with pytest.raises(ValueError, match="was written for MLP"):
        other = MLP([784, 16, 10])
        fit(other, Supervised(), Adam(other), x, y, 3, 100, checkpoint=tmp_path / "ckTrue.npz", resume=True,
            progress=False)


def test_cached_teacher_gives_the_same_losses(small):
    x, y, _, _ = small
    teacher = MLP([784, 32, 10], seed=2)
    histories = []
    for cache in (True, False):
        student = MLP([784, 16, 10], seed=3)
        histories.append(fit(student, KD(4.0, 1.0), Adam(student), x, y, 2, 100, teacher=teacher.logits,
                             cache_teacher=cache, progress=False))
    assert [h["loss"] for h in histories[0]] == pytest.approx([h["loss"] for h in histories[1]], rel=1e-6)
    student = MLP([784, 16, 10], seed=3)  # the same, from teacher logits computed beforehand
    given = fit(student, KD(4.0, 1.0), Adam(student), x, y, 2, 100, teacher=teacher.logits(x), progress=False)
    assert [h["loss"] for h in given] == [h["loss"] for h in histories[0]]
    with pytest.raises(ValueError, match="one row per sample"):
        fit(student, KD(), Adam(student), x, y, 1, 100, teacher=teacher.logits(x[:10]), progress=False)


def test_nan_stops_with_epoch_and_step(small, tmp_path):
    x, y, _, _ = small
    model = MLP([784, 8, 10], seed=0)
    calls = []

    def poisoned(logits, labels, teacher_logits=None):  # the weights blow up during the 6th step (epoch 2, step 2)
        calls.append(1)
        if len(calls) == 6:
            logits = logits * np.float32(np.inf)
        return Supervised()(logits, labels)

    path = tmp_path / "good.npz"
    with pytest.raises(TrainingError, match=r"epoch 2, step 2: .*NaN or inf.*last good checkpoint is .*good.npz"):
        fit(model, poisoned, Adam(model), x, y, 3, 500, checkpoint=path, progress=False)
    from tinykd.checkpoint import meta_of
    assert meta_of(path)["epoch"] == 1  # the checkpoint still holds the last good epoch


def test_bad_arguments_fail_before_training(small):
    x, y, _, _ = small
    model = MLP([784, 8, 10])
    with pytest.raises(ValueError, match="needs a teacher"):
        fit(model, KD(), Adam(model), x, y, 1)
    with pytest.raises(ValueError, match="epochs must be"):
        fit(model, Supervised(), Adam(model), x, y, -1)
    with pytest.raises(ValueError, match="batch_size must be"):
        fit(model, Supervised(), Adam(model), x, y, 1, 0)
    with pytest.raises(ValueError, match="samples but y has"):
        fit(model, Supervised(), Adam(model), x, y[:10], 1)
