"""The one run specification (tinykd/runs/spec.py) and the one path from it to a record (tinykd/runs/run.py)."""
import json
import os

import numpy as np
import pytest

from tinykd.distill import KD
from tinykd.runs import identity, records
from tinykd.runs.run import Runner
from tinykd.runs.spec import Spec

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def spec(**kw):
    return Spec(**{"role": "t", "sizes": (12, 8, 3), "epochs": 2, "lr": 1e-3, "data": "f" * 64, "batch_size": 16,
                   "backend": "numpy", **kw})


def test_a_decay_of_zero_is_refused_not_taken_for_none():
    """``Spec(decay=None)`` is the cosine schedule; a decay of 0 (or above 1) is a mistake, refused where it is
    built, never read as "no decay given"."""
    assert spec().build().schedule.describe()["schedule"] == "cosine"
    for bad in (0, 0.0, 1.5):
        with pytest.raises(ValueError, match="decay must be a number in"):
            spec(decay=bad).build()


def test_the_identity_is_what_the_built_objects_say_of_themselves():
    """Every part of the identity comes from the objects that train the network; each setting changed alone
    changes the key, and jitter appears only for a network whose input is jittered."""
    s = spec(objective=(KD, {"temperature": 4.0}), extra={"teacher": "a" * 16})
    parts = s.build()
    ident = s.identity(parts)
    assert ident["model"] == parts.model.describe() and ident["objective"] == parts.objective.describe()
    assert ident["optimizer"] == parts.optimizer.describe() and ident["teacher"] == "a" * 16
    assert "jitter" not in ident and spec(jitter=0).identity(spec(jitter=0).build())["jitter"] == 0
    keys = {identity.key(ident)}
    for change in ({"seed": 1}, {"shuffle_seed": 5}, {"lr": 2e-3}, {"epochs": 3}, {"batch_size": 8},
                   {"dropout": 0.1}, {"max_norm": 3.0}, {"decay": 0.9}, {"mode": "bwn"},
                   {"objective": (KD, {"temperature": 2.0})}, {"extra": {"teacher": "b" * 16}}):
        other = spec(**{"objective": (KD, {"temperature": 4.0}), "extra": {"teacher": "a" * 16}, **change})
        keys.add(identity.key(other.identity(other.build())))
    assert len(keys) == 12
    # a network on the labels alone is named by no teacher: none shaped it, so a new teacher finds it
    alone = [spec(extra={"teacher": t, "rows": "training"}) for t in ("a" * 16, "b" * 16)]
    idents = [a.identity(a.build()) for a in alone]
    assert idents[0] == idents[1] and "teacher" not in idents[0] and idents[0]["rows"] == "training"


def test_the_committed_records_keep_their_keys():
    """Every committed record is named by the hash of its identity (one hash, ``identity.key``)."""
    for name in sorted(os.listdir(os.path.join(ROOT, "records"))):
        rec = json.load(open(os.path.join(ROOT, "records", name), encoding="utf-8"))
        assert name.endswith(f"-{identity.key(rec['identity'])}.json")


def test_one_path_trains_finds_loads_and_rebuilds_a_record_naming_who_trained_it(tmp_path):
    """``Runner.run``: trained once (checkpoint and record under one key), then found by its record without being
    loaded, then, its record lost, rebuilt from the checkpoint with the provenance of the process that trained
    it."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 12)).astype(np.float32)
    y = rng.integers(0, 3, 64)
    store = records.Store(tmp_path / "rec")
    lines = []
    runner = Runner(store, str(tmp_path / "ck"), "toy", {"name": "toy"}, say=lines.append)
    s = spec()
    model, rec = runner.run(s, (x, y, x[:16], y[:16]), (x, y), progress=False)
    (ck,) = os.listdir(tmp_path / "ck")
    assert ck.endswith(f"-{rec['key']}.npz") and rec["result"]["validation_errors"] is not None
    assert len(rec["result"]["history"]) == 2 and model is not None
    again, found = runner.run(s, (x, y, None, None), (x, y), progress=False)
    assert again is None and found == rec and not lines
    os.remove(store.path(rec["identity"]))
    loaded, rebuilt = runner.run(s, (x, y, x[:16], y[:16]), (x, y), progress=False)
    assert any("loaded" in line for line in lines)
    assert rebuilt["provenance"] == rec["provenance"] and rebuilt["result"]["errors"] == rec["result"]["errors"]
    assert np.array_equal(loaded.logits(x), model.logits(x))


def test_a_specification_is_built_once(tmp_path, monkeypatch):
    """Issue 27: objects were built to be described, then built again to train. Asking a runner for a spec's key,
    its record and then to train it builds it once, and what trains is what was described."""
    built = []
    build = Spec.build
    monkeypatch.setattr(Spec, "build", lambda self: built.append(self.role) or build(self))
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 12)).astype(np.float32)
    y = rng.integers(0, 3, 32)
    runner = Runner(records.Store(tmp_path / "rec"), str(tmp_path / "ck"), "toy", {}, say=lambda line: None)
    s = spec()
    key = runner.key(s)
    assert runner.find(s)[0] is None
    _, parts, _ = runner.find(s)
    model, rec = runner.run(s, (x, y, None, None), (x, y), progress=False)
    assert built == ["t"] and rec["key"] == key and model is parts.model


def test_a_checkpoint_that_is_not_the_recorded_network_is_refused(tmp_path):
    """New-user trial: a teacher checkpoint whose weights were changed was loaded (its settings matched), and
    students were distilled from it under the recorded teacher's key. The network in hand must make its record's
    test errors: a checkpoint that does not is refused in one line; one trained again is said to differ."""
    from tinykd.runs import checkpoints
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 12)).astype(np.float32)
    y = rng.integers(0, 3, 64)
    lines = []
    runner = Runner(records.Store(tmp_path / "rec"), str(tmp_path / "ck"), "toy", {}, say=lines.append)
    s = spec(epochs=3)
    model, rec = runner.run(s, (x, y, None, None), (x, y), progress=False)
    path = runner.path(rec["identity"])
    for _, p, _ in model.named_parameters():
        p[...] = 0.0
    checkpoints.save_model(path, model, rec["identity"])           # the same settings, other weights
    fresh = Runner(records.Store(tmp_path / "rec"), str(tmp_path / "ck"), "toy", {}, say=lines.append)
    with pytest.raises(checkpoints.CheckpointError, match="does not hold the network its record describes"):
        fresh.run(s, (x, y, None, None), (x, y), need_model=True, progress=False)
    os.remove(path)
    rec["result"]["errors"] += 1                                      # as if recorded on another machine
    records.write(records.Store(tmp_path / "rec").path(rec["identity"]), rec)
    again = Runner(records.Store(tmp_path / "rec"), str(tmp_path / "ck"), "toy", {}, say=lines.append)
    again.run(s, (x, y, None, None), (x, y), need_model=True, progress=False)
    assert any(line.startswith("WARNING: t made again (no checkpoint of it or its members) makes") for line in lines)


def test_a_checkpoint_changed_by_hand_is_refused_even_without_its_record(tmp_path):
    """Second new-user trial: after a damaged checkpoint was refused against its record, removing the record (as
    the message then offered) rebuilt the record from the damaged weights. A checkpoint keeps the test errors it
    was saved with, and a load that does not make them is refused, record or not."""
    from tinykd.runs import checkpoints
    rng = np.random.default_rng(1)
    x = rng.standard_normal((64, 12)).astype(np.float32)
    y = rng.integers(0, 3, 64)
    store = records.Store(tmp_path / "rec")
    runner = Runner(store, str(tmp_path / "ck"), "toy", {}, say=lambda line: None)
    s = spec(epochs=3)
    model, rec = runner.run(s, (x, y, None, None), (x, y), progress=False)
    path = runner.path(rec["identity"])
    arrays, meta = checkpoints.read(path)
    arrays = {k: v * 0 for k, v in arrays.items()}
    checkpoints.write(path, arrays, {k: v for k, v in meta.items() if k != "format"})   # its meta kept
    os.remove(store.path(rec["identity"]))
    fresh = Runner(store, str(tmp_path / "ck"), "toy", {}, say=lambda line: None)
    with pytest.raises(checkpoints.CheckpointError, match="does not hold the network it was saved with"):
        fresh.run(s, (x, y, None, None), (x, y), progress=False)
    assert not os.path.exists(store.path(rec["identity"]))


def test_an_ensemble_records_its_choice_and_a_rerun_loads_no_member(tmp_path):
    """``Runner.assemble``: members and average chosen on validation (``ensemble.select``), the record keeps the
    choice and what the ensemble makes; found again, nothing is loaded unless the model is asked for, and then only
    the chosen members; a fixed average takes every member as given."""
    from tinykd.ensemble import Ensemble, select
    from tinykd.runs.spec import EnsembleSpec
    from tinykd.train import errors
    rng = np.random.default_rng(1)
    x = rng.standard_normal((120, 12)).astype(np.float32)
    y = rng.integers(0, 3, 120)
    train, val, test = slice(0, 60), slice(60, 90), slice(90, 120)    # the choice on rows no member saw
    runner = Runner(records.Store(tmp_path / "rec"), str(tmp_path / "ck"), "toy", {"name": "toy"}, say=print)
    nets = {}
    for seed in range(3):
        model, rec = runner.run(spec(seed=seed, epochs=3), (x[train], y[train], None, None), (x[test], y[test]),
                                progress=False)
        nets[rec["key"]] = model
    asked = []

    def members(keys):
        asked.append(list(keys))
        return {k: nets[k] for k in keys}
    ens = EnsembleSpec("ensemble", tuple(nets), "f" * 64, "numpy")
    model, rec = runner.assemble(ens, members, (x[test], y[test]), (x[val], y[val]))
    average, chosen, steps = select({k: n.logits(x[val]) for k, n in nets.items()}, y[val])
    assert rec["result"]["members"] == chosen and rec["result"]["average"] == average
    assert rec["result"]["selection"] == json.loads(json.dumps(steps)) and asked == [list(nets)]
    assert rec["result"]["errors"] == errors(Ensemble([nets[k] for k in chosen], average), x[test], y[test])
    assert rec["identity"]["model"]["members"] == list(nets) and runner.store.find(ens.identity()) == rec
    assert runner.assemble(ens, members, (x[test], y[test]), (x[val], y[val]))[0] is None and len(asked) == 1
    model, again = runner.assemble(ens, members, (x[test], y[test]), need_model=True)
    assert again == rec and asked[-1] == chosen and [m for m in model.members] == [nets[k] for k in chosen]
    fixed = EnsembleSpec("ensemble", tuple(nets), "f" * 64, "numpy", average="logits")
    _, rec = runner.assemble(fixed, members, (x[test], y[test]))
    assert rec["result"]["members"] == list(nets) and "selection" not in rec["result"]
    assert rec["key"] != runner.store.find(ens.identity())["key"]
    with pytest.raises(ValueError, match="chosen on validation rows, and none were given"):
        runner.assemble(EnsembleSpec("other", tuple(nets), "f" * 64, "numpy"), members, (x[test], y[test]))
