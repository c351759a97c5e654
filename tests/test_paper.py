"""Hinton's MNIST numbers at the paper's fidelity (tinykd.experiments.hinton_paper, examples/hinton_paper.py) on a small subset: the
teacher's recipe and epochs chosen on validation then retrained on every labelled row, the students' budget chosen
on validation, every network a record, a rerun trains only what is missing, the table a view of the records."""
import json
import os
import subprocess
import sys

import pytest

from tinykd.experiments import hinton_paper

from tinykd.runs import records

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ["--quick", "--subset", "1200", "--teacher-epochs", "2", "--student-epochs", "2"]


def run(tmp_path, *args):
    out = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "hinton_paper.py"), *TINY, *args,
                          "--records-dir", str(tmp_path / "rec"), "--checkpoint-dir", str(tmp_path / "ck"),
                          "--out-dir", str(tmp_path / "r")], capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    return out.stdout


def sel_epochs(view):
    """The students' budget the view's selection curves choose (the mean of both, smoothed)."""
    from tinykd.experiments.selection import choose
    c = view["student_selection"]
    return choose({"both": [(a + b) / 2 for a, b in zip(c["alone"], c["distilled"])]})[1]


def test_the_preset_chooses_on_validation_retrains_on_everything_and_resumes(tmp_path, monkeypatch):
    first = run(tmp_path)
    recs = records.Store(tmp_path / "rec").all()
    roles = sorted(r["identity"]["role"] for r in recs)
    view = json.loads((tmp_path / "r" / "mnist_hinton_paper_quick.json").read_text())
    # the held-out teacher is a candidate run: the winner's own record when the chosen epochs are its last
    held = {r["key"]: r for r in recs}[view["keys"][1]]
    winner = dict(view["selection"]["recipes"])[view["selection"]["winner"]]
    own_run = held["identity"]["epochs"] != len(view["selection"]["curves"][view["selection"]["winner"]])
    assert roles.count("teacher-candidate") == 5 + own_run and roles.count("teacher") == 1   # base, lr, c, ...
    assert held["identity"]["role"] == "teacher-candidate" and hinton_paper.recipe_of(held["identity"]) == winner
    assert roles.count("teacher-member") == hinton_paper.ENSEMBLE_SEEDS - 1
    assert roles.count("student-selection") == 2 and roles.count("student") == 3   # alone, distilled, ensemble
    assert roles.count("teacher-ensemble") == 1
    for role in ("omit-3", "only-7-8", "omit-3-held-out", "only-7-8-held-out"):
        assert roles.count(role) == 1
    sel = view["selection"]
    # what this run changes from the quick preset: its subset (3,000 there) and the students' epochs (3 there); the
    # teacher's 2 epochs are the preset's own. Its 2-epoch curves are smoothed over 2 epochs, and the view says so
    assert view["deviations"] == {"subset": 1200, "student_epochs": 2} and sel["window"] == 2
    # the winner is the candidate whose smoothed validation curve is lowest, and none of it is the test set's
    assert sel["winner"] == min(sel["scores"], key=lambda k: sel["scores"][k][0])
    (teacher,) = [r for r in recs if r["identity"]["role"] == "teacher"]
    assert teacher["identity"]["rows"] == "training and validation" and teacher["result"]["validation_errors"] is None
    assert teacher["identity"]["epochs"] == sel["epochs"] and hinton_paper.recipe_of(teacher["identity"]) == \
        sel["recipes"][sel["winner"]]
    assert teacher["result"]["history"] and "val_errors" not in teacher["result"]["history"][-1]
    # every choice for the students is made where no network that shapes them has seen the validation images: the
    # held-out teacher is the chosen recipe on the training split; the final students learn from the final teacher
    # on every labelled row, with the budget and the shifts chosen in the held-out world
    assert {k: v for k, v in held["identity"].items() if k not in ("role", "rows")} == \
        {k: v for k, v in teacher["identity"].items() if k not in ("role", "rows")}
    assert held["result"]["validation_errors"] is not None and "val_errors" in held["result"]["history"][-1]
    by_role = {(r["identity"]["role"], r["identity"]["kind"]): r for r in recs if "kind" in r["identity"]}
    # the ensemble: chosen on validation from the networks that never saw it (the candidates, the held-out teacher
    # and the same recipe from other initial seeds: the held-out teacher's identity but for its seeds)
    (ens,) = [r for r in recs if r["identity"]["role"] == "teacher-ensemble"]
    pool = [r["key"] for r in recs if r["identity"]["role"] in ("teacher-candidate",
                                                                 "teacher-member")]
    assert sorted(ens["identity"]["model"]["members"]) == sorted(pool) and teacher["key"] not in pool
    for m in (r for r in recs if r["identity"]["role"] == "teacher-member"):
        differ = {k for k in m["identity"] if m["identity"][k] != held["identity"][k]}
        assert differ == {"role", "model", "seed"} and m["result"]["validation_errors"] is not None
        assert m["identity"]["model"] == {**held["identity"]["model"], "seed": m["identity"]["seed"],
                                          "dropout_seed": m["identity"]["seed"] + 1}
    assert len(view["ensemble"]["pool"]) == len(pool) and "held-out teacher, seed 1" in view["ensemble"]["pool"]
    e = ens["result"]
    assert set(e["members"]) <= set(pool) and e["average"] in ("probabilities", "logits")
    assert e["selection"][e["average"]][-1][0] == e["members"] and e["validation_errors"] is not None
    (from_ens,) = [r for r in recs if r["identity"].get("kind") == "ensemble"]
    assert from_ens["identity"]["teacher"] == ens["key"] and from_ens["identity"]["rows"] == "training and validation"
    assert from_ens["identity"]["objective"] == by_role[("student", "distilled")]["identity"]["objective"]
    assert view["ensemble"]["errors"] == e["errors"] and view["students"]["ensemble"]["n"] == 1
    for (role, kind), r in by_role.items():
        final = role in ("student", "omit-3", "only-7-8")
        if kind == "ensemble":
            continue
        assert r["identity"].get("teacher") == (None if kind == "alone" else (teacher if final else held)["key"]), role
        assert r["identity"]["rows"] == ("training and validation" if final else "training"), role
        assert (r["result"]["validation_errors"] is None) == final, role
    for role in ("omit-3", "only-7-8"):
        chosen = by_role[(f"{role}-held-out", "distilled")]["result"]
        assert "search" in chosen and by_role[(role, "distilled")]["identity"]["bias_shift"] == \
            chosen["bias_shift"] == by_role[(role, "distilled")]["result"]["bias_shift"]
    assert by_role[("student", "alone")]["identity"]["epochs"] == sel_epochs(view)
    md = (tmp_path / "r" / "mnist_hinton_paper_quick.md").read_text()
    assert md == hinton_paper.markdown(hinton_paper.views(recs)[0]) and view["complete"]   # the table: the view of the records
    assert "| teacher 784-1200-1200-10:" in md and "| ≤ 70 |" in md and "chosen on validation" in md
    assert f"| – | {e['errors']} | ≤ 67 |" in md and "| ≤ 74 |" in md and "greedy" not in md.lower()
    assert view["ensemble_check"] in md and f"({e['validation_errors']} vs " in view["ensemble_check"]
    # the README's lines: the newest complete run of the preset asked for, beside the paper's numbers
    lines = hinton_paper.headline_of(hinton_paper.views(recs)[0])
    assert f"| {hinton_paper.PAPER['teacher']} | {teacher['result']['errors']} | ≤ 70 |" in "\n".join(lines)
    assert hinton_paper.headline(recs) == []                    # no run of the full preset as the preset has it here
    # before any final student trains, the table already says the budget chosen (it said "–")
    (tab,) = [r for r in recs if r["identity"]["role"] == "table"]
    early = hinton_paper.view([r for r in recs if r["identity"]["role"] != "student"], tab["identity"]["table"],
                              tab["identity"]["links"], tab["result"]["keys"])
    assert early["student_epochs"] == sel_epochs(view) and not early["complete"]
    assert f"Their budget, {sel_epochs(view)} epochs" in hinton_paper.markdown(early)
    # a run that lost its last records (as a run stopped there would) trains only those
    for r in recs:
        if r["identity"]["role"] in ("omit-3", "only-7-8"):
            os.remove(records.Store(tmp_path / "rec").path(r["identity"]))
    (stopped,) = hinton_paper.views(records.Store(tmp_path / "rec").all())      # shown as unfinished, saying what is not
    path = records.Store(tmp_path / "rec").path(ens["identity"])    # the ensemble's record gone: its students are
    kept = open(path, encoding="utf-8").read()                      # not shown without it, but refused in one line
    os.remove(path)
    with pytest.raises(records.RecordError, match=f"records not in this folder \\({ens['key']}\\)"):
        hinton_paper.views(records.Store(tmp_path / "rec").all())
    open(path, "w", encoding="utf-8").write(kept)
    assert not stopped["complete"] and stopped["missing"] == ["the mythical-3 student", "the 7s-and-8s student"]
    assert "not yet trained: the mythical-3 student; the 7s-and-8s student" in hinton_paper.markdown(stopped)
    # while the students train, the table so far is <name>.partial.md (here: stopped before the first of them)
    monkeypatch.chdir(ROOT)
    monkeypatch.setattr(hinton_paper._World, "train", lambda *a: (_ for _ in ()).throw(KeyboardInterrupt))
    cfg = hinton_paper.HintonPaper.of_preset("quick", subset=1200, teacher_epochs=2, student_epochs=2,
                                             **{f"{k}_dir": str(tmp_path / d) for k, d in
                                                (("records", "rec"), ("checkpoint", "ck"), ("out", "r"))})
    with pytest.raises(KeyboardInterrupt):
        hinton_paper.run(cfg)
    partial = (tmp_path / "r" / "mnist_hinton_paper_quick.partial.md").read_text()
    assert "**Incomplete" in partial and "not yet trained: the mythical-3 student; the 7s-and-8s student" in partial
    monkeypatch.undo()
    again = run(tmp_path)
    assert not (tmp_path / "r" / "mnist_hinton_paper_quick.partial.md").exists()
    assert "teacher candidate" not in again and "[teacher] epoch" not in again   # no teacher trains again
    assert "loaded" not in again[:again.index("the ensemble chosen")]   # its choice is read from its record
    assert "omit-3 distilled seed 0" in again and "student alone seed 0" not in again
    assert len(records.Store(tmp_path / "rec").all()) == len(recs)
    assert first.count("test errors (") > again.count("test errors (")
    # the schedule experiment of benchmarks/teacher_schedule.py on this run: the chosen recipe, twice as long at the
    # square root of its decay, beside the candidates' curves
    out = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "teacher_schedule.py"), "--preset", "quick",
                          "--records", str(tmp_path / "rec"), "--checkpoint-dir", str(tmp_path / "ck"), "--out",
                          str(tmp_path / "ts")], capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    ts = json.loads((tmp_path / "ts.json").read_text())
    longer = ts["curves"][f"{sel['winner']}, ×2"]
    assert ts["candidate"] == sel["winner"] and len(longer) == 2 * len(sel["curves"][sel["winner"]])
    assert abs(ts["schedule"]["decay"] ** 2 - ts["schedule"]["from"]["decay"]) < 1e-12
    md = (tmp_path / "ts.md").read_text()
    assert "test" not in md[md.index("| run |"):].lower() and not any("test" in k for k in ts)   # validation only


def test_on_flat_rows_no_candidate_jitters(tmp_path):
    """Flat rows cannot be shifted: the run asks for --jitter 0 (as every example does), and then the base recipe
    has none and no "no jitter" candidate repeats it."""
    import numpy as np
    from tinykd import data
    mnist = data.load("mnist")
    np.savez(tmp_path / "flat.npz", x_train=(mnist.x_train[:1200] * 255).round().astype(np.uint8),
             y_train=mnist.y_train[:1200], x_test=mnist.x_test[:300], y_test=mnist.y_test[:300])
    refused = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "hinton_paper.py"), *TINY, "--data",
                              str(tmp_path / "flat.npz"), "--records-dir", str(tmp_path / "rec"), "--out-dir",
                              str(tmp_path / "r")], capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert refused.returncode == 2 and "--jitter 0" in refused.stderr and not (tmp_path / "rec").exists()
    run(tmp_path, "--data", str(tmp_path / "flat.npz"), "--jitter", "0")
    view = json.loads((tmp_path / "r" / "flat_hinton_paper_quick.json").read_text())
    assert set(view["selection"]["scores"]) == {"base", "lr 0.0005", "max-norm 4", "half the dropout"}
    assert all(r["jitter"] == 0 for r in view["selection"]["recipes"].values())


def test_a_recipe_that_over_regularises_for_the_data_loses_the_selection(tmp_path):
    """Issue 20, item 5: on data whose class is the column of a mark, modulo 10 (a bright bar in one of 20 columns
    side by side), a ±2-pixel shift gives a mark the label of another column: jitter turns the labels into noise,
    the candidates without it must win on that data's own validation split, and the teacher is retrained with that
    recipe."""
    import numpy as np
    from tinykd.experiments.hinton_paper import HintonPaper, run as run_paper

    rng = np.random.default_rng(0)

    def images(n):
        column = rng.integers(4, 24, n)
        x = (rng.random((n, 28, 28)) * 40).astype(np.uint8)
        x[np.arange(n)[:, None], np.arange(10, 18)[None, :], column[:, None]] = 255
        return x, column % 10
    (xtr, ytr), (xte, yte) = images(1200), images(300)
    np.savez(tmp_path / "marks.npz", x_train=xtr, y_train=ytr, x_test=xte, y_test=yte)
    s = HintonPaper(data=str(tmp_path / "marks.npz"), teacher_sizes=[784, 64, 10], student_sizes=[784, 32, 10],
                    teacher_epochs=8, out_dir=str(tmp_path / "r"), checkpoint_dir=str(tmp_path / "ck"),
                    records_dir=str(tmp_path / "rec"), preset="quick", lr=[3e-3], max_norm=[3.0], teacher_decay=0.9,
                    student_epochs=1, student_lr=1e-3, student_decay=0.9, seeds=1)
    view = run_paper(s)
    sel = view["selection"]
    assert set(sel["scores"]) == {"base", "no jitter", "half the dropout"}
    assert sel["recipes"][sel["winner"]]["jitter"] == 0, sel["scores"]
    assert sel["scores"]["no jitter"][0] < sel["scores"]["base"][0]


def test_the_grid_search_with_successive_halving_continues_the_better_half_and_a_longer_run_reuses_it(tmp_path):
    """Issue 31, item 3: every combination (jitter x dropout here, one rate and bound) trains 2 epochs, the better
    half 4, the best 8, each longer run continuing the shorter one; the winner went the whole budget. The same
    search without halving then trains only the rest of each curve."""
    import numpy as np
    from tinykd.experiments.hinton_paper import HintonPaper, run as run_paper
    from tinykd.experiments.selection import choose, successive

    rng = np.random.default_rng(0)
    x, y = (rng.random((900, 28, 28)) * 255).astype(np.uint8), rng.integers(0, 10, 900)
    x[np.arange(900), 4 + 2 * y, 4:24] = 255                      # a bright row per class
    np.savez(tmp_path / "rows.npz", x_train=x[:700], y_train=y[:700], x_test=x[700:], y_test=y[700:])

    def paper(halvings):
        return run_paper(HintonPaper(
            data=str(tmp_path / "rows.npz"), teacher_sizes=[784, 32, 10], student_sizes=[784, 16, 10],
            teacher_epochs=8, out_dir=str(tmp_path / "r"), checkpoint_dir=str(tmp_path / "ck"),
            records_dir=str(tmp_path / "rec"), preset="quick", lr=[3e-3], max_norm=[3.0], teacher_decay=0.9,
            student_epochs=1, student_decay=0.9, seeds=1, search="grid", halvings=halvings))
    view = paper(2)
    sel = view["selection"]
    assert {k: view["deviations"][k] for k in ("search", "halvings")} == {"search": "grid", "halvings": 2}
    assert sorted(len(c) for c in sel["curves"].values()) == [2, 2, 4, 8]
    assert list(sel["scores"]) == ["base", "half the dropout", "no jitter", "no jitter, half the dropout"]
    assert len(sel["curves"][sel["winner"]]) == 8 and sel["winner"] == choose(sel["curves"])[0]
    recs = records.Store(tmp_path / "rec").all()
    # the held-out teacher is the winner's recipe for its chosen epochs: a candidate run of its own unless those
    # are the winner's last, when it is the winner's record (and nothing trains twice)
    held = {r["key"]: r for r in recs}[view["keys"][1]]
    assert hinton_paper.recipe_of(held["identity"]) == sel["recipes"][sel["winner"]]
    (winner,) = [r for r in recs if r["identity"]["role"] == "teacher-candidate" and r["identity"]["epochs"] == 8
                 and hinton_paper.recipe_of(r["identity"]) == sel["recipes"][sel["winner"]]]
    assert (held["key"] == winner["key"]) == (held["identity"]["epochs"] == 8)
    cands = sorted((r for r in recs if r["identity"]["role"] == "teacher-candidate" and
                    (r["key"] != held["key"] or held["identity"]["epochs"] == 8)),
                   key=lambda r: r["identity"]["epochs"])
    assert [r["identity"]["epochs"] for r in cands] == [2, 2, 2, 2, 4, 4, 8]
    assert [r["result"].get("continued_from_epoch") for r in cands[4:]] == [2, 2, 4]   # each from the shorter run
    full = [r for r in cands if r["identity"]["epochs"] == 8]
    assert [h["val_errors"] for h in full[0]["result"]["history"]] == sel["curves"][sel["winner"]]
    md = (tmp_path / "r" / "rows_hinton_paper_quick.md").read_text()
    assert "every combination of the changes; successive halving: each candidate trained 2, then 4, then 8" in md
    assert "| epochs trained |" in md
    # without halving, every combination goes the whole budget: the 8-epoch run is found, the rest continue theirs
    again = paper(0)
    curves = again["selection"]["curves"]
    assert all(len(c) == 8 for c in curves.values()) and curves == successive(curves, [8])
    longer = [r for r in records.Store(tmp_path / "rec").all() if r["identity"]["role"] == "teacher-candidate"
              and r["identity"]["epochs"] == 8]
    assert sorted(r["result"].get("continued_from_epoch") for r in longer) == [2, 2, 4, 4]
    assert curves[sel["winner"]] == sel["curves"][sel["winner"]]           # the same run, found again
    # a final teacher's identity is what shaped it, not the candidates it beat: a grown search that chooses the same
    # recipe for as many epochs finds it (and everything that learnt from it) instead of training it again
    every = records.Store(tmp_path / "rec").all()
    for teacher in (r for r in every if r["identity"]["role"] == "teacher"):
        assert not any(c["key"] in json.dumps(teacher["identity"]) for c in every
                       if c["identity"]["role"] == "teacher-candidate")
    # a student that chose the budget lost: each table says so, rather than quietly dropping its lines
    store = records.Store(tmp_path / "rec")
    for r in store.all():
        if r["identity"]["role"] == "student-selection" and r["identity"]["kind"] == "alone":
            os.remove(store.path(r["identity"]))
    for v in hinton_paper.views(store.all()):
        assert not v["complete"] and "the alone student that chose the budget" in v["missing"]


def test_a_teacher_that_loses_to_the_plain_student_is_told_why():
    """Issue 31: where the chosen teacher does not beat the student alone on validation, the table says why, from
    every recipe's curve as the selection scored it: one still improving at its last epoch, or all stopped before."""
    from tinykd.experiments.selection import choose

    def selection(curves):
        winner, epochs, scores = choose(curves)
        return {"winner": winner, "epochs": epochs, "scores": scores, "curves": curves, "window": 3,
                "search": "changes"}
    still = selection({"base": [9, 6, 5, 5, 6, 7], "lr 0.0005": [9, 9, 9, 8, 7, 6]})   # the other still falls
    assert still["winner"] == "base" and still["epochs"] == 4
    assert "of `lr 0.0005` were still falling at the last epoch" in hinton_paper._why(still)
    early = selection({"base": [9, 5, 4, 4, 6, 7, 8], "lr 0.0005": [9, 8, 7, 7, 7, 8, 9]})
    assert early["epochs"] == 4
    assert "stopped improving before its budget ended (the chosen one at epoch 4 of 7)" in hinton_paper._why(early)
    assert hinton_paper._why(early).endswith("or their combinations (--search grid)")
    assert "--search grid" not in hinton_paper._why({**early, "search": "grid"})
    # a recipe that successive halving stopped early was stopped on purpose: its fall at its last epoch says nothing
    halved = selection({"base": [9, 5, 4, 4, 6, 7, 8], "lr 0.0005": [9, 8, 7, 6]})
    assert "stopped improving" in hinton_paper._why(halved)
    short = selection({"base": [19, 22], "lr 0.0005": [20, 21]})   # a rise is not a fall: too short to tell
    assert "too short to tell" in hinton_paper._why({**short, "window": 2})
