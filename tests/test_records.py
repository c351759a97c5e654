"""Runs as records: a record per trained network, found by its identity; a run trains only what is missing (after
a kill, with more seeds); the results document is exactly what the committed records give."""
import json
import os
import pathlib
import subprocess
import sys

import pytest

from tinykd.experiments import table1, regenerate, table1_view
from tinykd.runs import run as run_module

from tinykd.runs import records
from tinykd.experiments.settings import Table1

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_a_record_is_found_by_its_identity_only(tmp_path):
    store = records.Store(tmp_path / "rec")
    assert store.all() == [] and store.find({"role": "teacher", "lr": 1e-3}) is None
    rec = store.put({"role": "teacher", "lr": 1e-3}, {"errors": 90}, data={"name": "x"})
    assert rec["provenance"]["machine"]["cpus"] == os.cpu_count() and rec["provenance"]["date"].endswith("UTC")
    assert store.find({"lr": 1e-3, "role": "teacher"})["result"] == {"errors": 90}   # the order of keys is no matter
    assert store.find({"role": "teacher", "lr": 3e-3}) is None                         # another setting: not found
    assert [r["key"] for r in store.all()] == [rec["key"]] and os.listdir(tmp_path / "rec") == [
        f"teacher-{rec['key']}.json"]


@pytest.mark.parametrize("content, message", [
    ("{not json", "not a readable record"), ('{"format": "other"}', "not a tinykd record"), ("[1]", "not a tinykd")])
def test_a_file_that_is_not_a_record_is_one_line(tmp_path, content, message):
    (tmp_path / "x.json").write_text(content)
    with pytest.raises(records.RecordError, match=message) as e:
        records.Store(tmp_path).all()
    assert "\n" not in str(e.value) and "x.json" in str(e.value)


def test_a_record_edited_by_hand_or_damaged_is_refused_never_read_as_a_result(tmp_path):
    """The trial's findings 16-18: an edited number (errors 1405 -> 99) was used by the tables, an edited identity
    was accepted by the report but not by the run, a missing result crashed with a KeyError."""
    store = records.Store(tmp_path)
    ident = {"role": "teacher", "lr": 1e-3}
    store.put(ident, {"errors": 90})
    path = store.path(ident)
    written = json.loads(open(path).read())
    for what, edit in (("errors", lambda r: r["result"].update(errors=99)),
                       ("identity", lambda r: r["identity"].update(lr=5e-3)),
                       ("key", lambda r: r.update(key="0" * 16)),
                       ("result", lambda r: r.pop("result"))):
        rec = json.loads(json.dumps(written))
        edit(rec)
        with open(path, "w") as f:
            json.dump(rec, f)
        with pytest.raises(records.RecordError, match="edited by hand or damaged; remove it") as e:
            store.find(ident)
        assert "\n" not in str(e.value), what
    records.write(path, written)        # rewritten as written: found again
    assert store.find(ident)["result"] == {"errors": 90}


RUN = """
import os, signal, sys
from tinykd.experiments import table1
from tinykd.runs import records
from tinykd.experiments.settings import Table1
put = records.Store.put
def put_then_die(self, identity, *args, **kwargs):       # SIGKILL right after the first student run's record
    rec = put(self, identity, *args, **kwargs)
    if identity["role"] == "variant":
        os.kill(os.getpid(), signal.SIGKILL)
    return rec
records.Store.put = put_then_die
table1.run(Table1(**eval(sys.argv[1])))
"""


def _cfg(tmp_path, folder, seeds):
    return dict(subset=600, teacher_sizes=[784, 32, 10], student_sizes=[784, 16, 10], teacher_epochs=1,
                student_epochs=1, finetune_epochs=2, seeds=seeds, variants=["wo-kd", "kd"],
                out_dir=str(tmp_path / folder / "r"), checkpoint_dir=str(tmp_path / folder / "ck"),
                records_dir=str(tmp_path / folder / "rec"))


def _errors(folder):
    return sorted((r["identity"]["variant"], r["result"]["seed"], r["result"]["errors"],
                   json.dumps(r["result"]["history"][-1]["loss"]))
                  for r in records.Store(folder).all() if r["identity"]["role"] == "variant")


def test_a_run_killed_after_its_first_seed_trains_only_the_rest_and_more_seeds_only_the_new(tmp_path, monkeypatch,
                                                                                          capsys):
    """The issue's resume test: a run killed (SIGKILL) after its first student run's record resumes at the second;
    asking for more seeds trains only the new ones; and what it ends with is what an uninterrupted run gives."""
    killed = subprocess.run([sys.executable, "-c", RUN, repr(_cfg(tmp_path, "a", 2))], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert killed.returncode == -9, killed.stderr
    assert len([p for p in os.listdir(tmp_path / "a" / "rec") if not p.startswith(("teacher", "student", "table"))]) \
        == 1
    # the table was recorded before anything trained for it: the four networks it asks for
    (plan,) = [r for r in records.Store(tmp_path / "a" / "rec").all() if r["identity"]["role"] == "table"]
    assert len(plan["result"]["keys"]) == 4
    (stopped,) = table1_view.views(records.Store(tmp_path / "a" / "rec").all())   # the report shows it unfinished
    assert not stopped["complete"] and stopped["missing"] == ["wo-kd seed 1", "kd seed 0", "kd seed 1"]
    assert "not yet trained: wo-kd seed 1; kd seed 0; kd seed 1" in table1_view.markdown(stopped)
    trained = []
    fit = run_module.fit
    monkeypatch.setattr(run_module, "fit", lambda *a, **k: trained.append(k["label"]) or fit(*a, **k))
    view = table1.run(Table1(**_cfg(tmp_path, "a", 2)))
    assert trained == ["wo-kd seed 1", "kd seed 0", "kd seed 1"]       # the first record was kept, not retrained
    assert "1 of the 4 student runs asked for are in" in capsys.readouterr().out
    assert {k: v["n"] for k, v in view["variants"].items()} == {"wo-kd": 2, "kd": 2}
    trained.clear()
    view = table1.run(Table1(**_cfg(tmp_path, "a", 3)))               # one seed more: only it trains
    assert trained == ["wo-kd seed 2", "kd seed 2"] and view["variants"]["kd"]["n"] == 3
    (plan,) = [r for r in records.Store(tmp_path / "a" / "rec").all() if r["identity"]["role"] == "table"]
    assert len(plan["result"]["keys"]) == 6          # one table: the seeds it asked for before, and the new ones
    trained.clear()
    table1.run(Table1(**_cfg(tmp_path, "b", 3)))                      # uninterrupted, elsewhere
    assert trained[:2] == ["teacher", "student"] and len(trained) == 2 + 6   # one path: they train through it too
    assert _errors(tmp_path / "a" / "rec") == _errors(tmp_path / "b" / "rec")


def test_the_view_a_run_writes_is_the_view_of_its_records(tmp_path):
    view = table1.run(Table1(**_cfg(tmp_path, "a", 2)))
    written = (tmp_path / "a" / "r" / "mnist_table.md").read_text()
    (again,) = table1_view.views(records.Store(tmp_path / "a" / "rec").all())
    assert written == table1_view.markdown(again) == table1_view.markdown(view)
    text = regenerate.document(records.Store(tmp_path / "a" / "rec").all(), draw=False)
    assert table1_view.markdown(view).rstrip("\n") in text and "Trained: 6 networks by" in text


def test_the_results_document_and_the_readme_headline_are_what_the_committed_records_give(monkeypatch, capsys):
    """``python -m tinykd.report`` regenerates docs/results.md byte for byte (and the README's headline table) from
    the committed records: nothing in them is typed by hand."""
    monkeypatch.chdir(ROOT)
    status = regenerate.main(["--check"])
    assert status == 0, capsys.readouterr().out
    readme = (ROOT / "README.md").read_text()
    block = readme.split(regenerate.README_MARKS[0])[1].split(regenerate.README_MARKS[1])[0]
    assert "| … then KD |" in block and "docs/results.md" in block


def test_the_report_refuses_a_folder_that_is_not_there(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        regenerate.main(["--records", str(tmp_path / "none"), "--out", str(tmp_path / "r.md")])
    assert e.value.code == 2 and "no records folder" in capsys.readouterr().err


def test_the_report_of_your_own_runs_never_touches_the_reference_and_links_its_figures(tmp_path, capsys,
                                                                                       monkeypatch):
    """Trial findings 9-11, 19, 20: the hint a run ended with overwrote docs/results.md; the figures' links were
    relative to the wrong folder; a folder as --out, an empty records folder were tracebacks or silent."""
    table1.run(Table1(**_cfg(tmp_path, "a", 2)))
    monkeypatch.chdir(tmp_path)
    rec = str(tmp_path / "a" / "rec")
    for args, message in ((["--records", rec], "give --out FILE for the tables of"),
                          (["--records", rec, "--out", str(tmp_path)], "is a folder"),
                          (["--records", str(tmp_path / "r0"), "--out", "x.md"], "no records folder")):
        with pytest.raises(SystemExit) as e:
            regenerate.main(args)
        assert e.value.code == 2 and message in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit):
        regenerate.main(["--records", str(tmp_path / "empty"), "--out", "x.md"])
    assert "no records in" in capsys.readouterr().err and not (tmp_path / "x.md").exists()
    assert regenerate.main(["--records", rec, "--out", "out/all.md", "--figures", "figs"]) == 0
    text = (tmp_path / "out" / "all.md").read_text()
    links = [line.split("(")[1].rstrip(")") for line in text.splitlines() if line.startswith("![")]
    assert links and all((tmp_path / "out" / link).is_file() for link in links)   # relative to the document
    assert f"--records {rec} --out out/all.md" in text and "docs/results.md" not in text
    assert not (tmp_path / "README.md").exists()
    # --no-figures draws nothing, so it links only the figures already there: never a link that goes nowhere
    os.remove(tmp_path / "out" / links[0])
    assert regenerate.main(["--records", rec, "--out", "out/all.md", "--figures", "figs", "--no-figures"]) == 0
    again = [line.split("(")[1].rstrip(")") for line in (tmp_path / "out" / "all.md").read_text().splitlines()
             if line.startswith("![")]
    assert again == links[1:]
    assert regenerate.main(["--records", rec, "--out", "bare/all.md", "--no-figures"]) == 0
    assert "![" not in (tmp_path / "bare" / "all.md").read_text()


def _one_line_exit(capsys, status=2):
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err and "error: " in err, err
    return err


@pytest.fixture
def alarm():
    """Turn a hang into a failure: SIGALRM after 10 s raises in the test (a blocked open() is interrupted)."""
    import signal

    def ring(*_):
        raise TimeoutError("hung for 10 s")
    previous = signal.signal(signal.SIGALRM, ring)
    signal.alarm(10)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def test_a_fifo_named_like_a_record_is_one_line_never_a_hang(tmp_path, alarm, capsys, monkeypatch):
    """Issue 28, item 5: a FIFO named like a record hung the run that looked for it and the report that listed
    the folder (open() waits for a writer); now it is one line naming it. A write under way (atomic_open's
    .tmp-* file) is not a record yet, and is not read."""
    store = records.Store(tmp_path)
    identity = {"role": "teacher", "lr": 1e-3}
    os.mkfifo(store.path(identity))
    for look in (lambda: store.find(identity), store.all):
        with pytest.raises(records.RecordError, match="a FIFO, not a record file; move it out") as e:
            look()
        assert "\n" not in str(e.value) and store.path(identity) in str(e.value)
    with pytest.raises(SystemExit) as e:
        regenerate.main(["--records", str(tmp_path), "--out", str(tmp_path.parent / "all.md"), "--no-figures"])
    assert e.value.code == 2 and "a FIFO" in _one_line_exit(capsys)
    os.remove(store.path(identity))
    os.mkdir(tmp_path / f"student-{'0' * 16}.json")
    with pytest.raises(records.RecordError, match="a folder, not a record file"):
        store.all()
    os.rmdir(tmp_path / f"student-{'0' * 16}.json")
    rec = store.put(identity, {"errors": 90})
    (tmp_path / f".tmp-1-abc-teacher-{rec['key']}.json").write_text('{"half": ')   # a write under way
    assert [r["key"] for r in store.all()] == [rec["key"]]


def test_the_report_never_writes_where_records_are(tmp_path, capsys, monkeypatch):
    """Issue 28, item 5: --out pointed at a record overwrote it with Markdown (the network had to train again); a
    new .json name, or a file in a records folder, would sit among the records and be read as a damaged one.
    Each is refused in one line before anything is written."""
    store = records.Store(tmp_path / "rec")
    rec = store.put({"role": "teacher", "lr": 1e-3}, {"errors": 90})
    path = store.path({"role": "teacher", "lr": 1e-3})
    before = open(path, encoding="utf-8").read()
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / os.path.basename(path)).write_text(before)      # another folder holding records
    cases = [(["--out", path], "is a .json name, where records live"),
             (["--out", str(tmp_path / "new.JSON")], "is a .json name"),
             (["--out", str(tmp_path / "rec" / "all.md")], "is the records folder"),
             (["--out", str(tmp_path / "other" / "all.md")], "holds records (teacher-"),
             (["--out", str(tmp_path / "all.md"), "--figures", str(tmp_path / "rec")], "--figures"),
             (["--out", str(tmp_path / "all.md"), "--readme", str(tmp_path / "rec" / "README.md")], "--readme"),
             (["--out", ""], "--out is empty ('')")]
    for args, message in cases:
        with pytest.raises(SystemExit) as e:
            regenerate.main(["--records", str(tmp_path / "rec"), *args])
        assert e.value.code == 2 and message in _one_line_exit(capsys), args
    assert sorted(os.listdir(tmp_path / "rec")) == [os.path.basename(path)]
    assert open(path, encoding="utf-8").read() == before and records.read(path)["key"] == rec["key"]
    assert sorted(os.listdir(tmp_path)) == ["other", "rec"]                # nothing written, no figures folder


def test_the_report_ends_in_one_line_and_writes_all_or_nothing(tmp_path, capsys, monkeypatch):
    """Issue 28, item 8: a bad TINYKD_DEBUG was a traceback (from a view's Table1); Ctrl-C while drawing was a
    traceback and left the figures half regenerated; a README it could not read was "cannot write"; an --out that
    cannot be written was found after the figures were drawn."""
    from tinykd import backend
    args = ["--records", str(ROOT / "records"), "--out", str(tmp_path / "out" / "all.md"), "--figures",
            str(tmp_path / "figs"), "--readme", ""]
    monkeypatch.setenv("TINYKD_DEBUG", "yes")
    monkeypatch.setattr(backend, "_DEBUG", None)
    for argv in (args, ["--help"]):
        with pytest.raises(SystemExit) as e:
            regenerate.main(argv)
        assert e.value.code == 2 and "TINYKD_DEBUG must be 1" in _one_line_exit(capsys)
    monkeypatch.delenv("TINYKD_DEBUG")
    monkeypatch.setattr(backend, "_DEBUG", None)
    from tinykd.experiments import plots
    plt, closed = plots.pyplot(), []

    class Interrupting:                    # Ctrl-C after the second figure each run draws
        def __getattr__(self, name):       # pyplot itself, but for close
            return getattr(plt, name)

        def close(self, which):
            closed.append(which)
            plt.close(which)
            if len(closed) in (2, 4):
                raise KeyboardInterrupt
    monkeypatch.setattr(plots, "pyplot", lambda: Interrupting())
    with pytest.raises(SystemExit) as e:
        regenerate.main(args)
    assert e.value.code == 130 and "interrupted before anything was written" in _one_line_exit(capsys)
    assert len(closed) == 2 and not (tmp_path / "figs").exists() and not (tmp_path / "out").exists()
    (tmp_path / "figs").mkdir()
    (tmp_path / "figs" / "mine.png").write_text("not the report's")   # a folder that was there stays as it was
    with pytest.raises(SystemExit) as e:
        regenerate.main(args)
    assert e.value.code == 130 and os.listdir(tmp_path / "figs") == ["mine.png"] and _one_line_exit(capsys)
    (tmp_path / "file").write_text("")
    for argv, message in ((args[:2] + ["--out", str(tmp_path / "file" / "all.md")] + args[4:], "is a file"),
                          (args[:-1] + [str(tmp_path / "none.md")], "cannot read the README")):
        with pytest.raises(SystemExit) as e:
            regenerate.main(argv)
        assert e.value.code == 2 and message in _one_line_exit(capsys)
    assert len(closed) == 4 and os.listdir(tmp_path / "figs") == ["mine.png"]   # refused before any drawing


def test_the_commands_printed_are_quoted_for_a_shell(tmp_path, capsys):
    """Issue 28, item 8: a path with a space split the printed report command into two arguments."""
    import shlex
    from tinykd.experiments import shared
    line = shared.where(Table1(records_dir=str(tmp_path / "my runs"), out_dir=str(tmp_path / "my results")), "x")
    command = line.split(": ", 2)[-1]
    assert shlex.split(command) == ["python", "-m", "tinykd.report", "--records", str(tmp_path / "my runs"),
                                    "--out", str(tmp_path / "my results" / "all.md")]
    store = records.Store(tmp_path / "my runs")
    store.put({"role": "teacher", "lr": 1e-3}, {"errors": 90})
    argv = ["--records", str(tmp_path / "my runs"), "--out", str(tmp_path / "my results" / "a.md"), "--no-figures"]
    with pytest.raises(SystemExit) as e:        # records no table shows: one line, never an empty page
        regenerate.main(argv)
    assert e.value.code == 2 and "is shown by a table" in _one_line_exit(capsys)
    assert not (tmp_path / "my results" / "a.md").exists()
    (table,) = [r for r in records.Store(ROOT / "records").all() if r["identity"]["role"] == "table"
                and r["identity"]["table"]["experiment"] == "fitnets"]     # the committed FitNets table
    for k in [table["key"], table["identity"]["links"]["teacher"], *table["result"]["keys"]]:
        (path,) = (ROOT / "records").glob(f"*-{k}.json")
        (tmp_path / "my runs" / path.name).write_bytes(path.read_bytes())
    assert regenerate.main(argv) == 0
    text = (tmp_path / "my results" / "a.md").read_text()
    quoted = f"--records {shlex.quote(str(tmp_path / 'my runs'))} --out " \
             f"{shlex.quote(str(tmp_path / 'my results' / 'a.md'))}"
    assert quoted.replace("'", "") != quoted and quoted in text


def test_a_second_identical_run_stops_whatever_stage_the_first_is_in(tmp_path):
    """Issue 28, item 7: the lock of each network let a second identical command start while the first trained
    student variants (each network stopped it only when it reached that network). A whole run holds the lock of
    its experiment and settings, so the second stops at once, naming the first; other settings are not held up."""
    from test_checkpoint import _holder
    from tinykd.experiments.setup import experiment_lock
    from tinykd.runs.locks import RunLockedError
    cfg = Table1(**_cfg(tmp_path, "a", 1))
    holder = _holder(experiment_lock("table1", cfg))
    try:
        with pytest.raises(RunLockedError, match=rf"already going on in .*{holder.pid}"):
            table1.run(cfg)
        assert not (tmp_path / "a" / "rec").exists()             # stopped before any network
        other = Table1(**{**_cfg(tmp_path, "b", 1)})
        assert experiment_lock("table1", other) != experiment_lock("table1", cfg)
    finally:
        holder.communicate("")


def test_equivalent_commands_give_the_same_table(tmp_path, capsys):
    """Issue 28, item 1: a run that spelled a setting otherwise (``val=50`` written out where 50 is the default)
    found every network by its identity, then wrote a table with no variant rows: the table was picked by the
    settings tag. It is the view of exactly the networks the plan asks for."""
    first = table1.run(Table1(**_cfg(tmp_path, "a", 1)))
    capsys.readouterr()
    again = table1.run(Table1(**{**_cfg(tmp_path, "a", 1), "val": 50}))
    assert "2 of the 2 student runs asked for are in" in capsys.readouterr().out
    assert again["complete"] and {k: v["runs"] for k, v in again["variants"].items()} == \
        {k: v["runs"] for k, v in first["variants"].items()} and set(first["variants"]) == {"wo-kd", "kd"}


def test_the_readme_headline_is_never_emptied_by_records_without_its_runs(tmp_path, capsys):
    """New-user trial: --readme README.md with one's own records (no full MNIST run) wrote the README with an empty
    headline table. It is refused in one line, and the README is left as it was."""
    table1.run(Table1(**_cfg(tmp_path, "a", 1)))
    readme = tmp_path / "README.md"
    text = "intro\n" + regenerate.README_MARKS[0] + "\n| a | table |\n" + regenerate.README_MARKS[1] + "\nend\n"
    readme.write_text(text)
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        regenerate.main(["--records", str(tmp_path / "a" / "rec"), "--out", str(tmp_path / "all.md"), "--readme",
                         str(readme), "--no-figures"])
    err = capsys.readouterr().err.strip()
    assert e.value.code == 2 and "would be emptied; leave out --readme" in err and len(err.splitlines()) == 1
    assert readme.read_text() == text and not (tmp_path / "all.md").exists()


def test_a_table_whose_teachers_are_gone_is_one_line_never_left_out(tmp_path):
    """A trial's finding: a paper-preset table whose teacher record was removed vanished from the report without a
    word, and a Table 1 or study table was a KeyError. Every table whose linked records are missing now stops the
    view in one line naming them."""
    from tinykd.experiments import fitnets_kd, hinton_paper
    store = records.Store(tmp_path)
    teacher = store.put({"role": "teacher", "lr": 1e-3}, {"errors": 90})
    student = store.put({"role": "fitnets", "seed": 0}, {"errors": 120})
    gone = "teacher-candidate-" + "0" * 16
    for module, experiment, links in ((fitnets_kd, "fitnets", {"teacher": gone}),
                                      (hinton_paper, "hinton_paper", {"teacher": teacher["key"],
                                                                      "candidates": [["base", gone]]})):
        table = {"experiment": experiment, "name": "t", "preset": "full", "deviations": {}, "settings": {}}
        store.plan(table, links, [student["key"]])
        with pytest.raises(records.RecordError, match=rf"the table t .*{gone}\): put them back") as e:
            module.views(store.all())
        assert "\n" not in str(e.value)
        os.remove(store.path({"role": "table", "table": table, "links": links}))
