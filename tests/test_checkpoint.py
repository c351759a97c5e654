"""Networks and run state on disk (tinykd/runs/checkpoints.py, tinykd/runs/runstate.py) and what the training loop does
with them: buffers kept, optimisers and identities checked, unreadable files named, the last good epoch kept apart
from a run that diverges."""
import dataclasses
import inspect
import json
import re
import os
import socket
import stat
import subprocess
import sys
import time

import numpy as np
import pytest

from tinykd import MLP, SGD, Adam, data

from tinykd.runs import checkpoints, identity, locks, records
from tinykd.runs.run import Runner
from tinykd.runs.spec import Spec

from tinykd.binary import BinaryMLP
from tinykd.runs.checkpoints import CheckpointError, load_model, read_network, save_model
from tinykd.distill import Supervised
from tinykd.layers import load_network_arrays, network_arrays
from tinykd.runs.runstate import RunFile
from tinykd.schedules import cosine_lr
from tinykd.train import TrainingError, fit


@pytest.fixture(scope="module")
def small():
    ds = data.load("mnist")
    return ds.x_train[:1000], ds.y_train[:1000], ds.x_test[:500], ds.y_test[:500]


def _params(model):
    return [p.copy() for _, p, _ in model.named_parameters()]


def test_binary_resume_keeps_batchnorm_statistics(small, tmp_path):
    """Resuming a BinaryMLP gives bit-identical logits to an uninterrupted run (the running statistics travel)."""
    x, y, xt, _ = small
    logits = []
    for split in (False, True):
        model = BinaryMLP([784, 32, 32, 10], mode="xnor", seed=0)
        path = tmp_path / f"run{split}.npz"
        if split:
            fit(model, Supervised(), Adam(model), x, y, 1, 100, checkpoint=RunFile(path), progress=False)
            model = BinaryMLP([784, 32, 32, 10], mode="xnor", seed=5)
        fit(model, Supervised(), Adam(model), x, y, 2, 100, checkpoint=RunFile(path), resume=True, progress=False)
        logits.append(model.logits(xt))
    np.testing.assert_array_equal(logits[0], logits[1])


def test_model_checkpoint_holds_buffers(tmp_path):
    a = BinaryMLP([6, 5, 3], mode="bwn", seed=0)
    a.forward(np.random.default_rng(0).standard_normal((8, 6)).astype(np.float32), train=True)
    save_model(tmp_path / "b.npz", a)
    b = read_network(tmp_path / "b.npz")
    for (na, va), (nb, vb) in zip(a.named_buffers(), b.named_buffers()):
        assert na == nb and not np.array_equal(va, np.zeros_like(va))
        np.testing.assert_array_equal(va, vb)


def test_a_scalar_where_a_matrix_belongs_is_refused(tmp_path):
    a = MLP([4, 3, 2])
    save_model(tmp_path / "m.npz", a)
    arrays, meta = checkpoints.read(tmp_path / "m.npz")
    arrays["dense0.W"] = np.float32(0.5)  # broadcasting would fill the matrix with 0.5
    checkpoints.write(tmp_path / "bad.npz", arrays, {k: v for k, v in meta.items() if k != "format"})
    with pytest.raises(CheckpointError, match=r"dense0.W is float32\(\), this model needs float32\(4, 3\)"):
        load_model(tmp_path / "bad.npz", MLP([4, 3, 2]))
    with pytest.raises(ValueError, match="dense0.W"):
        load_network_arrays(BinaryMLP([4, 3, 2]), {**network_arrays(BinaryMLP([4, 3, 2])),
                                                   "binarydense0.W": np.ones(3)})
    arrays["dense0.W"] = np.full((4, 3), np.nan, np.float32)   # one rule for non-finite weights, file or not
    checkpoints.write(tmp_path / "nan.npz", arrays, {k: v for k, v in meta.items() if k != "format"})
    for load in (lambda: load_model(tmp_path / "nan.npz", MLP([4, 3, 2])), lambda: read_network(tmp_path / "nan.npz")):
        with pytest.raises(CheckpointError, match=r"^.*nan\.npz: dense0\.W contains NaN or inf; every value must be "
                                                  r"finite: load weights from a run that did not diverge"):
            load()


def test_unreadable_files_name_their_path(tmp_path):
    model = MLP([4, 3, 2])
    save_model(tmp_path / "good.npz", model)
    good = (tmp_path / "good.npz").read_bytes()
    cases = {"truncated.npz": good[: len(good) // 2], "text.npz": b"hello, I am a text file\n",
             "empty.npz": b""}
    np.save(tmp_path / "array.npy", np.ones(3))                # a .npy file renamed: one array, not an archive
    cases["array.npz"] = (tmp_path / "array.npy").read_bytes()
    for name, payload in cases.items():
        (tmp_path / name).write_bytes(payload)
        with pytest.raises(CheckpointError, match=r"cannot read checkpoint .*" + name + ".*not a readable .npz"):
            load_model(tmp_path / name, MLP([4, 3, 2]))
    np.savez(tmp_path / "plain.npz", a=np.ones(3))
    with pytest.raises(CheckpointError, match="without tinykd's __meta__"):
        load_model(tmp_path / "plain.npz", MLP([4, 3, 2]))
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load_model(tmp_path / "missing.npz", MLP([4, 3, 2]))


def test_resume_with_another_optimiser_is_refused(small, tmp_path):
    x, y, _, _ = small
    for first, second in ((SGD, Adam), (Adam, SGD)):
        path = tmp_path / f"{first.__name__}.npz"
        model = MLP([784, 8, 10])
        fit(model, Supervised(), first(model, lr=1e-3), x, y, 1, 250, checkpoint=RunFile(path), progress=False)
        before = path.read_bytes()
        other = MLP([784, 8, 10])
        with pytest.raises(CheckpointError, match=f"holds {first.__name__} state, but this run uses "
                                                  f"{second.__name__}"):
            fit(other, Supervised(), second(other, lr=1e-3), x, y, 2, 250, checkpoint=RunFile(path), resume=True,
                progress=False)
        assert path.read_bytes() == before  # nothing was overwritten


def test_resume_of_another_run_is_refused(small, tmp_path):
    x, y, _, _ = small
    path = tmp_path / "run.npz"
    model = MLP([784, 8, 10])
    fit(model, Supervised(), Adam(model), x, y, 1, 250, checkpoint=RunFile(path, {"data": "aaa", "lr": 1e-3}),
        progress=False)
    with pytest.raises(CheckpointError, match=r"produced by another run \(differs in: data, lr\)"):
        fit(model, Supervised(), Adam(model), x, y, 2, 250, checkpoint=RunFile(path, {"data": "bbb", "lr": 0.05}),
            resume=True, progress=False)


def test_divergence_stops_and_keeps_the_last_good_epoch(small, tmp_path):
    """Adam at lr 1e6: the loss explodes; the run stops naming epoch and step, before it writes a bad epoch."""
    x, y, xt, yt = small
    model = MLP([784, 16, 10], seed=0)
    path = tmp_path / "run.npz"
    rates = [3e-3, 3e-3, 1e6, 1e6]
    with pytest.raises(TrainingError, match=r"epoch 3, step \d+: the loss (exploded|became).*run.npz \(epoch 2\)"):
        fit(model, Supervised(), Adam(model, lr=1e-3), x, y, 4, 100, x_val=xt, y_val=yt,
            lr_schedule=lambda e: rates[e], checkpoint=RunFile(path), progress=False)
    assert checkpoints.meta_of(path)["epoch"] == 2  # the latest state is the last good epoch, not the diverged one


def test_explosion_without_nan_is_caught(small):
    x, y, _, _ = small
    model = MLP([784, 16, 10], seed=0)
    with pytest.raises(TrainingError, match=r"epoch 1, step \d+: the loss exploded to .* more than 100 ×"):
        fit(model, Supervised(), Adam(model, lr=1e6), x, y, 5, 100, progress=False)


def test_bad_training_arguments(small):
    x, y, xt, yt = small
    model = MLP([784, 8, 10])
    with pytest.raises(ValueError, match="x_val and y_val go together"):
        fit(model, Supervised(), Adam(model), x, y, 1, x_val=xt)
    with pytest.raises(ValueError, match="learning rate -0.001 for epoch 1"):
        fit(model, Supervised(), Adam(model), x, y, 1, lr_schedule=lambda e: -1e-3)
    with pytest.raises(ValueError, match="resume=True needs a checkpoint"):
        fit(model, Supervised(), Adam(model), x, y, 1, resume=True)
    with pytest.raises(ValueError, match="not this model's"):              # Adam(teacher) for the student
        fit(model, Supervised(), Adam(MLP([784, 8, 10])), x, y, 1)


def test_resume_refuses_what_it_cannot_continue(small, tmp_path):
    x, y, _, _ = small
    path = tmp_path / "run.npz"
    model = MLP([784, 8, 10])
    fit(model, Supervised(), Adam(model), x, y, 3, 250, checkpoint=RunFile(path, {"data": "a"}), progress=False)
    with pytest.raises(ValueError, match="already at epoch 3, beyond epochs=1"):
        fit(model, Supervised(), Adam(model), x, y, 1, 250, checkpoint=RunFile(path, {"data": "a"}),
            resume=True, progress=False)
    with pytest.raises(CheckpointError, match="pass the same identity= to resume it"):
        fit(model, Supervised(), Adam(model), x, y, 4, 250, checkpoint=RunFile(path), resume=True, progress=False)
    with pytest.raises(ValueError, match="^checkpoint .* is a folder"):
        RunFile(tmp_path)
    with pytest.raises(TypeError, match=r"^checkpoint='.*run\.npz' is a path; pass a run-state keeper: "
                                        r"checkpoint=tinykd\.runs\.runstate\.RunFile\(path\)$"):
        fit(model, Supervised(), Adam(model), x, y, 1, 250, checkpoint=path, progress=False)
    with pytest.raises(TypeError, match=r"^checkpoint must be a run-state keeper such as .*RunFile\(path\); a dict "
                                        r"has no __enter__, __exit__, load, save$"):
        fit(model, Supervised(), Adam(model), x, y, 1, 250, checkpoint={}, progress=False)


def test_identity_records_compare_after_a_json_round_trip():
    a = {"sizes": (784, 10), "lr": np.float64(1e-3), "nested": {"seed": np.int64(3)}}
    b = {"sizes": [784, 10], "lr": 1e-3, "nested": {"seed": 3}}
    assert identity.differences(identity.normalise(a), identity.normalise(b)) == []
    assert identity.differences({"a": 1, "b": {"c": 2}}, {"a": 1, "b": {"c": 3}, "d": 0}) == ["b.c", "d"]


def test_cosine_schedule_is_positive():
    lr = cosine_lr(1e-3, 10)
    assert all(lr(e) > 0 for e in range(10))


# --------------------------------------------------------------------------------------------- issue 18
def _images(n=96, side=8, classes=3, seed=0):
    r = np.random.default_rng(seed)
    y = r.integers(0, classes, n)
    return (r.random((n, side * side)) * 0.5 + 0.15 * y[:, None]).astype(np.float32), y


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600)],
                         ids=["umask022", "umask027", "umask077"])
def test_files_are_written_with_the_users_umask(tmp_path, umask, mode):
    """Issue 18, item 9: every checkpoint was 0600 whatever the umask (``tempfile.mkstemp``'s mode, kept by the
    rename)."""
    x, y = _images()
    old = os.umask(umask)
    try:
        model = MLP([64, 8, 3], seed=0)
        fit(model, Supervised(), Adam(model), x, y, 1, 32, x_val=x[:20], y_val=y[:20],
            checkpoint=RunFile(tmp_path / "r.npz"), progress=False)
        save_model(tmp_path / "m.npz", model)
        with checkpoints.atomic_open(tmp_path / "t.txt", "w") as f:
            f.write("ü")
        with locks.run_lock(tmp_path / "held.npz"):
            lock_mode = stat.S_IMODE(os.stat(locks.lock_path(tmp_path / "held.npz")).st_mode)
    finally:
        os.umask(old)
    assert lock_mode == mode
    assert (tmp_path / "t.txt").read_text(encoding="utf-8") == "ü"
    assert sorted(os.listdir(tmp_path)) == ["m.npz", "r.npz", "t.txt"]   # no temp file, no lock left
    assert {p: oct(stat.S_IMODE(os.stat(tmp_path / p).st_mode)) for p in os.listdir(tmp_path)} == \
        dict.fromkeys(os.listdir(tmp_path), oct(mode))


def test_a_failed_atomic_write_leaves_the_old_file(tmp_path):
    path = tmp_path / "f.txt"
    path.write_text("old")
    with pytest.raises(RuntimeError):
        with checkpoints.atomic_open(path, "w") as f:
            f.write("new, half")
            raise RuntimeError
    assert path.read_text() == "old" and os.listdir(tmp_path) == ["f.txt"]


def test_a_checkpoint_onto_a_folder_is_one_line_naming_it(tmp_path):
    """Issue 18, item 7: ``save_model`` onto an existing folder was a raw IsADirectoryError naming an internal
    temporary file; now one ``CheckpointError`` naming the path, and nothing is left behind."""
    folder = tmp_path / "taken"
    folder.mkdir()
    model = MLP([64, 8, 3], seed=0)
    for write in (lambda: save_model(folder, model), lambda: checkpoints.write(folder, {}, {"kind": "model"})):
        with pytest.raises(CheckpointError, match=rf"cannot write checkpoint {re.escape(str(folder))}: it is a "
                                                  "folder; give a file path such as"):
            write()
    with pytest.raises(IsADirectoryError, match=re.escape(str(folder))):
        with checkpoints.atomic_open(folder, "w") as f:
            f.write("x")
    assert os.listdir(tmp_path) == ["taken"] and os.listdir(folder) == []


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux's /proc to see a zombie process")
def test_a_killed_holder_not_yet_reaped_counts_as_gone(tmp_path, capsys):
    """Issue 18, item 12: right after ``kill -9`` the holder is a zombie (exited, not yet reaped by its parent),
    which ``os.kill(pid, 0)`` reports alive, so a rerun was refused as "already going on". Now it is gone and
    its lock is taken over with the usual line."""
    path = tmp_path / "run.npz"
    lock = locks.lock_path(path)
    holder = _holder(path)
    try:
        holder.kill()                       # SIGKILL, and no wait(): it stays a zombie until reaped below
        for _ in range(200):                # until the kernel has made it one
            with open(f"/proc/{holder.pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    break
            time.sleep(0.01)
        else:
            pytest.fail("the killed holder never became a zombie")
        record = json.loads(open(lock).read())
        assert record["pid"] == holder.pid and locks._gone(record)
        with locks.run_lock(path):
            assert json.loads(open(lock).read())["pid"] == os.getpid()
        err = capsys.readouterr().err
        assert f"took over {os.path.abspath(lock)}, left by process {holder.pid} on " in err
        assert "which no longer runs" in err
    finally:
        holder.kill()
        holder.wait()                       # reaped: no zombie outlives the test
    assert not os.path.exists(lock)
    live = _holder(path)                    # a live holder is still respected
    try:
        assert not locks._gone(json.loads(open(lock).read()))
    finally:
        live.communicate("")


HOLD = """import sys
from tinykd.runs import locks
with locks.run_lock(sys.argv[1]):
    print("held", flush=True)
    sys.stdin.read()
"""


def _holder(path):
    """A second process holding the lock of ``path`` until its stdin closes."""
    env = {**os.environ, "PYTHONPATH": REPO + os.pathsep + os.environ.get("PYTHONPATH", "")}
    p = subprocess.Popen([sys.executable, "-c", HOLD, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         text=True, env=env)
    assert p.stdout.readline() == "held\n"
    return p


REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_one_run_per_checkpoint_at_a_time(tmp_path, capsys):
    """Issue 18, item 8: a second run on the same checkpoint "resumed" the first one's and both wrote the same
    files. Now it stops, naming the process that holds the run; a lock left by a process that was killed is
    taken over with a line saying so; a finished holder leaves no lock."""
    x, y = _images()
    path = tmp_path / "run.npz"
    lock = locks.lock_path(path)
    holder = _holder(path)
    model = MLP([64, 8, 3], seed=0)
    opt = Adam(model)
    try:
        host = re.escape(socket.gethostname())
        with pytest.raises(locks.RunLockedError, match=rf"these settings is already going on in process "
                                                            rf"{holder.pid} on {host} \(since .*\): wait for it"):
            fit(model, Supervised(), opt, x, y, 2, 32, checkpoint=RunFile(path), resume=True, progress=False)
        assert opt.t == 0 and not path.exists()
        assert json.loads(open(lock).read())["pid"] == holder.pid
    finally:
        holder.kill()             # SIGKILL: no clean-up runs, the lock stays behind
        holder.wait()
    assert os.path.exists(lock)
    capsys.readouterr()
    again = RunFile(path, say=lambda line: print(f"[again] {line}", file=sys.stderr))
    fit(model, Supervised(), opt, x, y, 2, 32, checkpoint=again, resume=True, progress=False)
    err = capsys.readouterr().err
    assert f"[again] took over {os.path.abspath(lock)}, left by process {holder.pid} on " in err
    assert "which no longer runs" in err
    assert not os.path.exists(lock) and checkpoints.meta_of(path)["epoch"] == 2
    holder = _holder(path)
    holder.communicate("")    # ends normally: its lock goes with it
    assert holder.returncode == 0 and not os.path.exists(lock)


def test_the_lock_goes_with_any_ending_and_a_foreign_or_unreadable_lock_is_kept(tmp_path):
    x, y = _images()
    path = tmp_path / "run.npz"
    lock = locks.lock_path(path)
    model = MLP([64, 8, 3], seed=0)
    with pytest.raises(ValueError, match="lr_schedule gave learning rate -1.0 for epoch 2"):
        fit(model, Supervised(), Adam(model), x, y, 2, 32, checkpoint=RunFile(path), progress=False,
            lr_schedule=lambda e: 1e-3 if e == 0 else -1.0)
    assert not os.path.exists(lock) and checkpoints.meta_of(path)["epoch"] == 1
    with open(lock, "w") as f:
        json.dump({"pid": os.getpid() + 1, "host": "elsewhere.example", "started": "today", "token": "t"}, f)
    with pytest.raises(locks.RunLockedError, match=r"process \d+ on elsewhere.example .*\(on another host: "
                                                        r"cannot tell whether it still runs\)"):
        fit(model, Supervised(), Adam(model), x, y, 2, 32, checkpoint=RunFile(path), resume=True, progress=False)
    with open(lock, "w") as f:
        f.write("{not json")
    with pytest.raises(locks.RunLockedError, match="does not say which process holds it"):
        fit(model, Supervised(), Adam(model), x, y, 2, 32, checkpoint=RunFile(path), resume=True, progress=False)
    assert os.path.exists(lock)   # never removed by a run that did not make it
    os.remove(lock)
    with locks.run_lock(path) as held:      # a holder may take its own lock again
        with locks.run_lock(path):
            pass
        assert os.path.exists(held)
    assert not os.path.exists(held)


def _spec(**kw):
    return Spec(**{"role": "teacher", "sizes": (64, 8, 3), "epochs": 2, "lr": 1e-3, "data": "f" * 64,
                   "batch_size": 32, "backend": "numpy", "jitter": 0, **kw})


def _runner(folder, lines=None):
    say = print if lines is None else lines.append
    return Runner(records.Store(os.path.join(folder, "rec")), str(folder), "mnist", {"name": "toy"}, say=say)


def test_a_run_of_an_identity_held_by_another_process_stops(tmp_path):
    """Issue 18, item 8, as the examples meet it: the teacher of one identity trained twice at once."""
    x, y = _images()
    spec, lines = _spec(), []
    runner = _runner(tmp_path, lines)
    path = runner.path(spec.identity(spec.build()))
    holder = _holder(checkpoints.run_path(path))
    try:
        with pytest.raises(locks.RunLockedError, match=rf"process {holder.pid} "):
            runner.run(spec, (x, y, None, None), (x, y))
    finally:
        holder.communicate("")
    _, untrained = runner.run(dataclasses.replace(spec, epochs=0), (x, y, None, None), (x, y))  # no schedule
    assert untrained["identity"]["schedule"] is None and untrained["result"]["history"] == []
    os.remove(untrained["result"]["checkpoint"])
    model, record = runner.run(spec, (x, y, None, None), (x, y))
    assert record["result"]["checkpoint"] == path and sorted(os.listdir(tmp_path)) == [os.path.basename(path), "rec"]
    assert not any("loaded" in line for line in lines)
    runner.run(spec, (x, y, None, None), (x, y), need_model=True)
    assert any("loaded" in line for line in lines)


def _with_default(monkeypatch, func, name, value):
    """Change the default of ``func``'s parameter ``name`` as an edit of its signature would."""
    params = [p for p in inspect.signature(func).parameters.values() if p.default is not inspect.Parameter.empty]
    defaults = list(func.__defaults__)
    defaults[[p.name for p in params].index(name)] = value
    monkeypatch.setattr(func, "__defaults__", tuple(defaults))


@pytest.mark.parametrize("func, name, value", [
    (Adam.__init__, "betas", (0.9, 0.99)), (Adam.__init__, "eps", 1e-7), (Adam.__init__, "weight_decay", 1e-5),
    (MLP.__init__, "init", "glorot"), (MLP.__init__, "output_init", "he"),
    (cosine_lr, "final_fraction", 0.05), (Supervised.__init__, "ignore_label", -1),
], ids=lambda v: v.__qualname__ if callable(v) else None)
def test_every_default_that_shapes_the_weights_changes_the_checkpoint_name(monkeypatch, tmp_path, func, name,
                                                                           value):
    """Issue 18, item 6: the identity held "cosine to 1%" and "Adam" as typed strings, so a changed default (Adam's
    betas or eps, the initialisation, the rate's floor) silently reused an old checkpoints. It is built from the
    objects that train the network, and each default, changed alone, gives another checkpoint name."""
    spec, runner = _spec(sizes=(12, 8, 3), epochs=5, dropout=0.2, input_dropout=0.1, jitter=1), _runner(tmp_path)
    parts = spec.build()
    before = spec.identity(parts)
    assert before["model"] == parts.model.describe() and before["optimizer"] == parts.optimizer.describe()
    assert before["schedule"] == parts.schedule.describe() and before["objective"] == parts.objective.describe()
    _with_default(monkeypatch, func, name, value)
    after = spec.identity(spec.build())
    assert identity.differences(before, after) and runner.path(before) != runner.path(after)


def test_a_longer_run_on_an_exponential_schedule_continues_the_shorter_one_bit_for_bit(tmp_path, capsys):
    """A run of E epochs on an exponential schedule is the first E epochs of a longer one: the longer run starts
    from the shorter's last training state (trains only the epochs beyond it) and ends exactly where a run from
    scratch ends, weights and history."""
    x, y = _images()
    runners = [_runner(tmp_path / d) for d in ("a", "b")]
    spec = _spec(lr=1e-2, dropout=0.3, decay=0.8)
    runners[0].run(spec, (x, y, x, y), (x, y))
    assert any(p.endswith(".state.npz") for p in os.listdir(tmp_path / "a"))
    longer = dataclasses.replace(spec, epochs=4)
    capsys.readouterr()
    a, rec_a = runners[0].run(longer, (x, y, x, y), (x, y))
    assert "continues the finished run of its first 2 epochs" in capsys.readouterr().out
    assert rec_a["result"]["continued_from_epoch"] == 2 and rec_a["result"]["resumed_after_epoch"] is None
    b, rec_b = runners[1].run(longer, (x, y, x, y), (x, y))      # from scratch, elsewhere
    assert "continued_from_epoch" not in rec_b["result"]
    assert all(np.array_equal(v, network_arrays(b)[k]) for k, v in network_arrays(a).items())
    assert [h["loss"] for h in rec_a["result"]["history"]] == [h["loss"] for h in rec_b["result"]["history"]]
    cosine = dataclasses.replace(spec, decay=None, epochs=4)       # a cosine schedule's prefix is another run
    assert "continued_from_epoch" not in runners[0].run(cosine, (x, y, x, y), (x, y))[1]["result"]
