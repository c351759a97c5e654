"""The one migration of records and checkpoints (tinykd/runs/migrate.py): records written before every optimiser
named its max-norm bound, with an absolute data source, and a discriminator's pretraining left unsaid, become what
the code writes now, every key that names a changed key following it; a second run does nothing."""
import os

import numpy as np
import pytest

from tinykd.distill import KD
from tinykd.runs import checkpoints, records
from tinykd.runs.identity import key
from tinykd.runs.migrate import migrate
from tinykd.runs.provenance import REPOSITORY, relative
from tinykd.runs.run import Runner
from tinykd.runs.spec import Spec


def _aged(ident, old_keys):
    """``ident`` as written before the migration: no ``max_norm`` of None, and the old keys it names."""
    if isinstance(ident, dict):
        return {k: _aged(v, old_keys) for k, v in ident.items()
                if not (k == "max_norm" and v is None and "optimizer" in ident)}
    if isinstance(ident, list):
        return [_aged(v, old_keys) for v in ident]
    return old_keys.get(ident, ident)


def test_old_records_and_checkpoints_become_what_the_code_writes_now(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((48, 6)).astype(np.float32), rng.integers(0, 3, 48)
    data = {"name": "toy", "source": os.path.join("data", "toy.npz")}      # as a record names it now
    runner = Runner(records.Store("rec"), "ck", "toy", data, say=lambda line: None)
    spec = dict(sizes=(6, 5, 3), epochs=2, lr=1e-2, data="f" * 64, batch_size=16, backend="numpy")
    teacher, t_rec = runner.run(Spec("teacher", **spec), (x, y, None, None), (x, y), progress=False)
    student = Spec("student", objective=(KD, {"temperature": 2.0}), extra={"teacher": t_rec["key"]}, **spec)
    _, s_rec = runner.run(student, (x, y, None, None), (x, y), teacher=teacher.logits(x), progress=False,
                          links={"teacher": t_rec["key"]})
    assert t_rec["identity"]["optimizer"]["max_norm"] is None

    # as they were written before: the old format, the teacher's key, then the student's that names it; the
    # student's record lost (as an interrupted run leaves it), its checkpoint kept
    old_keys = {t_rec["key"]: key(_aged(t_rec["identity"], {}))}
    old_keys[s_rec["key"]] = key(_aged(s_rec["identity"], old_keys))
    for r in (t_rec, s_rec):
        old = {k: v for k, v in r.items() if k != "checksum"}
        old.update(format=records.OLD_FORMAT, identity=_aged(r["identity"], old_keys), key=old_keys[r["key"]],
                   links=_aged(r["links"], old_keys), result={**r["result"], "d_heldout_accuracy": 0.5},
                   data={**data, "source": os.path.join(REPOSITORY, "data", "toy.npz")})
        os.remove(records.Store("rec").path(r["identity"]))
        if r is t_rec:
            records.write(records.Store("rec").path(old["identity"]), old)
        path = runner.path(r["identity"])
        checkpoints.relabel(path, path.replace(r["key"], old_keys[r["key"]]), old["identity"])
        os.remove(path)
    with pytest.raises(records.RecordError, match="python -m tinykd.runs.migrate rec --checkpoint-dir"):
        records.Store("rec").all()                 # an old record is refused, never passed over and retrained

    lines = []
    assert migrate("rec", "ck", say=lines.append) == 1
    (after,) = records.Store("rec").all()
    assert after["key"] == t_rec["key"] and after["identity"] == t_rec["identity"]   # the key the code computes now
    assert after["data"] == data                                    # the source relative to the repository
    assert after["result"]["d_pretrain_epochs"] == 3 and len(after["migrated"]) == 4
    assert sorted(os.listdir("ck")) == sorted(os.path.basename(runner.path(r["identity"])) for r in (t_rec, s_rec))
    assert "1 of 1 records written again (1 under new keys); 2 checkpoints relabelled" in lines[0]
    # the checkpoints load under the new identities (the student's, which had no record, by its own), nothing trains
    said = []
    fresh = Runner(records.Store("rec"), "ck", "toy", data, say=said.append)
    model, rec = fresh.run(Spec("teacher", **spec), (x, y, None, None), (x, y), need_model=True, progress=False)
    assert rec == after and any("loaded" in line for line in said)
    np.testing.assert_array_equal(model.logits(x), teacher.logits(x))
    _, rec = fresh.run(student, (x, y, None, None), (x, y), teacher=teacher.logits(x), progress=False)
    assert rec["key"] == s_rec["key"] and rec["result"]["errors"] == s_rec["result"]["errors"]
    assert sum("loaded" in line for line in said) == 2
    assert migrate("rec", "ck", say=lines.append) == 0 and "0 checkpoints relabelled" in lines[-1]


def test_a_table_tag_gains_the_settings_added_since_at_the_values_runs_had_then(tmp_path):
    from tinykd.experiments.hinton_paper import HintonPaper
    from tinykd.runs.migrate import SETTINGS_ADDED
    now = {k: getattr(HintonPaper(), k) for k in HintonPaper.own()}
    then = {k: v for k, v in now.items() if k not in SETTINGS_ADDED["hinton_paper"]}
    store = records.Store(tmp_path)
    ident = {"role": "student", "data": "f" * 64}
    store.put(ident, {"errors": 1}, table={"experiment": "hinton_paper", "name": "x", "settings": then})
    store.put({**ident, "role": "teacher"}, {"errors": 2}, table={"experiment": "table1", "settings": {"a": 1}})
    assert migrate(tmp_path, say=lambda line: None) == 1
    paper, other = sorted(store.all(), key=lambda r: r["identity"]["role"])
    assert paper["table"]["settings"] == now and paper["key"] == key(ident)   # the defaults: what every run had
    assert other["table"]["settings"] == {"a": 1} and "migrated" not in other
    assert migrate(tmp_path, say=lambda line: None) == 0


def test_a_data_source_inside_the_repository_is_named_relative_to_it():
    inside, outside = os.path.join(REPOSITORY, "data", "mnist"), os.path.join(os.sep, "elsewhere", "mnist")
    assert relative(inside) == os.path.join("data", "mnist") and relative(outside) == outside
    assert relative(f"{inside}; {outside}") == f"{os.path.join('data', 'mnist')}; {outside}"
    assert relative("synthetic arrays") == "synthetic arrays" and relative("data/mnist") == "data/mnist"


def test_the_command_says_a_mistake_in_one_line(tmp_path):
    import subprocess
    import sys

    def run(*args):
        out = subprocess.run([sys.executable, "-m", "tinykd.runs.migrate", *map(str, args)], capture_output=True,
                             text=True, timeout=120)
        return out.returncode, out.stderr.strip().splitlines()
    code, lines = run(tmp_path / "nope")
    assert code == 2 and len(lines) == 1 and "no records folder" in lines[0]
    (tmp_path / "rec").mkdir()
    code, lines = run(tmp_path / "rec", "--checkpoint-dir", tmp_path / "nock")
    assert code == 2 and len(lines) == 1 and "no --checkpoint-dir" in lines[0]
    (tmp_path / "rec" / "notes.json").write_text("{}")
    code, lines = run(tmp_path / "rec")
    assert code == 2 and len(lines) == 1 and "not a tinykd record" in lines[0]
