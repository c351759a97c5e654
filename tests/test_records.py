"""Runs as records: a record per trained network, found by its identity; a run trains only what is missing (after
a kill, with more seeds); the results document is exactly what the committed records give."""
import json
import os
import pathlib
import subprocess
import sys

import pytest

from tinykd.experiments import table1, regenerate, table1_view

from tinykd.runs import records
from tinykd.experiments.settings import Config

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
from tinykd.experiments.settings import Config
put = records.Store.put
def put_then_die(self, identity, *args, **kwargs):       # SIGKILL right after the first student run's record
    rec = put(self, identity, *args, **kwargs)
    if identity["role"] == "variant":
        os.kill(os.getpid(), signal.SIGKILL)
    return rec
records.Store.put = put_then_die
table1.run(Config(**eval(sys.argv[1])))
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
    assert len([p for p in os.listdir(tmp_path / "a" / "rec") if not p.startswith(("teacher", "student"))]) == 1
    (stopped,) = table1_view.views(records.Store(tmp_path / "a" / "rec").all())   # the report shows it unfinished
    assert not stopped["complete"] and stopped["missing"] == ["wo-kd seed 1", "kd seed 0", "kd seed 1"]
    assert "not yet trained: wo-kd seed 1, kd seed 0, kd seed 1" in table1_view.markdown(stopped)
    trained = []
    fit = table1.fit
    monkeypatch.setattr(table1, "fit", lambda *a, **k: trained.append(k["label"]) or fit(*a, **k))
    view = table1.run(Config(**_cfg(tmp_path, "a", 2)))
    assert trained == ["wo-kd seed 1", "kd seed 0", "kd seed 1"]       # the first record was kept, not retrained
    assert "1 of the 4 student runs asked for are in" in capsys.readouterr().out
    assert {k: v["n"] for k, v in view["variants"].items()} == {"wo-kd": 2, "kd": 2}
    trained.clear()
    view = table1.run(Config(**_cfg(tmp_path, "a", 3)))               # one seed more: only it trains
    assert trained == ["wo-kd seed 2", "kd seed 2"] and view["variants"]["kd"]["n"] == 3
    trained.clear()
    table1.run(Config(**_cfg(tmp_path, "b", 3)))                      # uninterrupted, elsewhere
    assert len(trained) == 6 and _errors(tmp_path / "a" / "rec") == _errors(tmp_path / "b" / "rec")


def test_the_view_a_run_writes_is_the_view_of_its_records(tmp_path):
    view = table1.run(Config(**_cfg(tmp_path, "a", 2)))
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
    table1.run(Config(**_cfg(tmp_path, "a", 2)))
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
