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
    assert "1 of 1 records written again (1 under new keys), 0 tables recorded from their tags; 2 checkpoints " \
        "relabelled" in lines[0]
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


def test_a_table_tag_becomes_the_tables_own_record_with_the_settings_added_since(tmp_path):
    """Steps 4 and 5: the records that shared a tag and links become one table record of their keys (the tags go),
    its settings those of the experiment now, at the values every earlier run had; a second run does nothing."""
    from tinykd.experiments.hinton_paper import HintonPaper
    from tinykd.runs.migrate import SETTINGS_ADDED
    now = {k: getattr(HintonPaper(), k) for k in HintonPaper.own()}
    then = {k: v for k, v in now.items() if k not in SETTINGS_ADDED["hinton_paper"]}
    store = records.Store(tmp_path)
    paper, other = {"experiment": "hinton_paper", "name": "x", "settings": then}, {"experiment": "table1", "a": 1}
    links = {"teacher": "t" * 16}
    students = [store.put({"role": "student", "seed": i}, {"errors": i}, links=links, table=paper)["key"]
                for i in range(3)]
    lone = store.put({"role": "variant"}, {"errors": 5}, links=links, table=other)["key"]
    teacher = store.put({"role": "teacher"}, {"errors": 2}, table=None)["key"]
    lines = []
    assert migrate(tmp_path, say=lines.append) == 5 and "2 tables recorded from their tags" in lines[0]
    tables = {r["identity"]["table"]["experiment"]: r for r in store.all() if r["identity"]["role"] == "table"}
    assert tables["hinton_paper"]["identity"] == {"role": "table", "links": links,
                                                  "table": {**paper, "settings": now}}   # what every run had
    assert tables["hinton_paper"]["result"]["keys"] == students and tables["table1"]["result"]["keys"] == [lone]
    assert all("table" not in r for r in store.all())
    assert {r["key"] for r in store.all() if r["identity"]["role"] != "table"} == {*students, lone, teacher}
    assert migrate(tmp_path, say=lines.append) == 0
    # a table record of before a setting was added gains it too (under its new key), its keys kept
    old = {"role": "table", "links": links, "table": {**paper, "settings": then, "name": "y"}}
    store.put(old, {"keys": students[:1]})
    assert migrate(tmp_path, say=lines.append) == 1
    (y,) = [r for r in store.all() if r["identity"]["role"] == "table" and r["identity"]["table"].get("name") == "y"]
    assert y["identity"]["table"]["settings"] == now and y["result"]["keys"] == students[:1]


def test_a_teacher_no_longer_names_the_candidates_it_was_chosen_from_and_what_learnt_from_it_follows(tmp_path):
    store = records.Store(tmp_path)
    teacher = {"role": "teacher", "rows": "training and validation", "selected_from": ["c" * 16]}
    old = store.put(teacher, {"errors": 1})["key"]
    student = store.put({"role": "student", "teacher": old}, {"errors": 2}, links={"teacher": old})["key"]
    assert migrate(tmp_path, say=lambda line: None) == 2
    now = {r["identity"]["role"]: r for r in store.all()}
    assert now["teacher"]["identity"] == {"role": "teacher", "rows": "training and validation"}
    assert now["student"]["identity"]["teacher"] == now["student"]["links"]["teacher"] == now["teacher"]["key"]
    assert now["student"]["key"] != student and len(store.all()) == 2


def test_a_student_on_the_labels_alone_no_longer_names_a_teacher_and_its_twins_become_one(tmp_path):
    """Step 7: two students on the labels alone that differ only by the teacher they named are one network (none
    shaped it): one record, which says so, and the table that showed either shows it; a distilled student keeps its
    teacher. Twins whose results differ are not one network: refused, nothing written."""
    store = records.Store(tmp_path)
    alone = {"role": "student", "objective": {"method": "supervised", "ignore_label": None}, "seed": 0}
    kd = {"role": "student", "objective": {"method": "kd", "temperature": 20.0}, "seed": 0, "teacher": "t" * 16}
    ran = {"errors": 150, "history": [{"loss": 0.5, "val_errors": 12, "seconds": 3.0}]}
    twins = [store.put({**alone, "teacher": "a" * 16}, ran)["key"],
             store.put({**alone, "teacher": "b" * 16}, {**ran, "history": [{**ran["history"][0], "seconds": 4.0}]})
             ["key"]]
    distilled = store.put(kd, {"errors": 90})["key"]
    table = {"experiment": "x", "name": "x", "preset": "full", "deviations": {}, "settings": {}}
    store.plan(table, {"teacher": "b" * 16}, [twins[1], distilled])
    wrong = store.put({**alone, "teacher": "c" * 16, "seed": 1}, ran)["key"]
    store.put({**alone, "teacher": "d" * 16, "seed": 1}, {**ran, "errors": 151})
    before = sorted(os.listdir(tmp_path))
    with pytest.raises(records.RecordError, match=f"become one identity .* other results \\(150 and 151 test errors"):
        migrate(tmp_path, say=lambda line: None)
    assert sorted(os.listdir(tmp_path)) == before                  # refused before anything is written
    os.remove(store.path({**alone, "teacher": "d" * 16, "seed": 1}))
    assert migrate(tmp_path, say=lambda line: None) == 3    # one of the twins, the one at seed 1, and the table
    by_role = {}
    for r in store.all():
        by_role.setdefault(r["identity"]["role"], []).append(r)
    (student_alone,) = [r for r in by_role["student"] if "teacher" not in r["identity"] and r["identity"]["seed"] == 0]
    assert student_alone["identity"] == alone and len(by_role["student"]) == 3
    kept = [k for k in twins if f"key {k} -> {student_alone['key']}" in student_alone["migrated"]]
    assert len(kept) == 1 and f"also key {(set(twins) - set(kept)).pop()}: the same network, trained again" in \
        student_alone["migrated"]
    assert [r for r in by_role["student"] if r["identity"].get("teacher")][0]["key"] == distilled
    assert by_role["table"][0]["result"]["keys"] == [student_alone["key"], distilled] and wrong not in store.all()


def test_a_held_out_teacher_becomes_the_candidate_run_it_is_and_its_checkpoint_follows(tmp_path, monkeypatch):
    """Step 8: a paper-preset held-out teacher (role teacher-held-out) is the candidate run of its recipe and
    epochs: its record and checkpoint take that name (the checkpoint's file name names the role too), and the
    network loads as the candidate, nothing trained."""
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((48, 6)).astype(np.float32), rng.integers(0, 3, 48)
    runner = Runner(records.Store("rec"), "ck", "toy", {"name": "toy"}, say=lambda line: None)
    spec = Spec("teacher-candidate", sizes=(6, 5, 3), epochs=2, lr=1e-2, data="f" * 64, batch_size=16,
                backend="numpy")
    net, rec = runner.run(spec, (x, y, None, None), (x, y), need_model=True, progress=False)
    old = {**rec["identity"], "role": "teacher-held-out"}
    path = runner.path(rec["identity"])
    checkpoints.relabel(path, runner.path(old), old)
    os.remove(path)
    os.remove(records.Store("rec").path(rec["identity"]))
    records.write(records.Store("rec").path(old), {**{k: v for k, v in rec.items() if k != "checksum"},
                                                    "identity": old, "key": key(old)})
    assert migrate("rec", "ck", say=lambda line: None) == 1
    (after,) = records.Store("rec").all()
    assert after["identity"] == rec["identity"] and os.listdir("ck") == [os.path.basename(path)]
    said = []
    model, _ = Runner(records.Store("rec"), "ck", "toy", {"name": "toy"}, say=said.append).run(
        spec, (x, y, None, None), (x, y), need_model=True, progress=False)
    assert any("loaded" in line for line in said)
    np.testing.assert_array_equal(model.logits(x), net.logits(x))
    # as in the committed notMNIST run: the winning candidate is there too, so the held-out copy is its twin; the
    # candidate's record and checkpoint stay, the copy's go, and an ensemble's pool names the network once
    (cand,) = records.Store("rec").all()
    checkpoints.relabel(path, runner.path(old), old)
    records.write(records.Store("rec").path(old), {**{k: v for k, v in cand.items() if k != "checksum"},
                                                    "identity": old, "key": key(old),
                                                    "result": {**cand["result"], "seconds": 99.0}})
    pool = {"role": "teacher-ensemble", "model": {"kind": "ensemble", "members": [cand["key"], key(old)]}}
    records.Store("rec").put(pool, {"errors": 5, "members": [cand["key"]]})
    assert migrate("rec", "ck", say=lambda line: None) == 2           # the candidate (saying so) and the ensemble
    by_role = {r["identity"]["role"]: r for r in records.Store("rec").all()}
    assert len(records.Store("rec").all()) == 2 and by_role["teacher-candidate"]["result"] == cand["result"]
    assert f"also key {key(old)}: the same network, trained again" in by_role["teacher-candidate"]["migrated"]
    assert by_role["teacher-ensemble"]["identity"]["model"]["members"] == [cand["key"]]
    assert os.listdir("ck") == [os.path.basename(path)]


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
    code, lines = run(tmp_path / "rec")      # an empty folder: said, not "0 of 0 records written again"
    assert code == 2 and len(lines) == 1 and "no records in" in lines[0] and "--records-dir" in lines[0]
    (tmp_path / "rec" / "notes.json").write_text("{}")
    code, lines = run(tmp_path / "rec")
    assert code == 2 and len(lines) == 1 and "not a tinykd record" in lines[0]
