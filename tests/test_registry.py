"""The registry of student variants: one entry per method reaches the options, the presets, the tables and the
figures, and no variant's id is written anywhere else in the library or the examples."""
import dataclasses
import pathlib
import re
import sys

import pytest

from tinykd.experiments import plots, registry, table1_view

from tinykd.runs import records
from tinykd.distill import KD
from tinykd.experiments.settings import Table1
from tinykd.experiments.registry import Variant

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "examples"))
import _cli  # noqa: E402


def _record(errors, cfg, folder):
    """The Table 1 view of records written as ``protocol.run`` writes them, for the variants of ``errors`` (id ->
    test errors per seed), in the records folder ``folder``."""
    store = records.Store(folder)
    data = {"name": "mnist", "source": "here", "fingerprint": "0" * 64, "n_train": 55000, "n_val": 5000,
            "n_test": 10000, "val_seed": 0}
    net = {"errors": 90, "validation_errors": 40, "params": 1000, "seconds": 60.0, "max_abs_logit": 5.0}
    links = {role: store.put({"role": role}, dict(net, **extra), data=data)["key"]
             for role, extra in (("teacher", {}), ("start", {"errors": 150, "validation_errors": 70}))}
    table = table1_view.tag(cfg, {}, "mnist", "validation")
    keys = [store.put({"role": "variant", "variant": vid, "seed": seed, **links}, {
                "name": registry.BY_ID[vid].name, "seed": seed, "errors": e, "validation_errors": e // 2,
                "seconds": 10.0, "history": [{}] * 5, "mean_logit": 0.1, "max_abs_logit": 5.0},
                links=links, data=data)["key"] for vid, errs in errors.items() for seed, e in enumerate(errs)]
    store.plan(table, links, keys)
    (view,) = table1_view.views(store.all())
    return view


def test_a_method_registered_in_one_place_reaches_the_options_a_preset_the_tables_and_the_figures(monkeypatch,
                                                                                                  tmp_path):
    """One ``register`` call, nothing else: the dummy is a --variants choice named in the help, runs in the preset
    it names (on all seeds), is compared with KD in the Markdown, its verdicts and the methods-vs-KD figure."""
    monkeypatch.setattr(registry, "BY_ID", dict(registry.BY_ID))   # registered for this test only
    registry.register(Variant("dummy-kd", "Dummy KD (τ = 3)", lambda d, c: KD(temperature=3.0), paper="Nobody 2099",
                              matches="nothing in particular", unlabelled=True, presets=("quick",), compared=True))
    p = _cli.parser("doc")
    assert "dummy-kd = Dummy KD (τ = 3)" in " ".join(p.format_help().split())
    assert p.parse_args(["--variants", "dummy-kd"]).variants == ["dummy-kd"]
    quick = _cli.settings_of(p, p.parse_args(["--quick"]), Table1)
    assert quick.variants[-1] == "dummy-kd" and quick.deviations() == {}     # in the preset's reference run
    assert "dummy-kd" not in Table1().variants and "dummy-kd" not in Table1.of_preset("labels5").variants
    assert registry.n_seeds("dummy-kd", quick.seeds, quick.ablation_seeds) == 3
    assert Table1(variants=["Dummy KD (τ = 3)"]).variants == ["dummy-kd"]    # by its table name too
    record = _record({"wo-kd": [150, 152, 154], "kd": [110, 112, 114], "dummy-kd": [100, 102, 104]}, quick,
                     tmp_path)
    md = table1_view.markdown(record)
    assert "| Dummy KD (τ = 3) | `dummy-kd` | 102.0 ± 2.0 |" in md                       # the variants' table
    assert "| Dummy KD (τ = 3) | `dummy-kd` | Nobody 2099 | nothing in particular | 102.0 ± 2.0 | -10.0 (-5.0) |" \
        in md                                                                            # the comparison with KD
    assert "- Dummy KD (τ = 3) beats KD by 10.0 test errors, 5.0 pooled std" in md          # its verdict
    assert plots.compared_shown(record["variants"]) == ["kd", "dummy-kd"]
    assert "methods_vs_kd" in [name for name, _ in plots.figures_for(record)]


def test_an_ablation_runs_on_its_seeds_and_a_discriminator_puts_it_in_the_drift_figure(monkeypatch, tmp_path):
    monkeypatch.setattr(registry, "BY_ID", dict(registry.BY_ID))
    registry.register(Variant("dummy-adv", "Dummy adversarial", lambda d, c: KD(), {"features": "raw", "hidden": 0},
                              presets=("full",), ablation=True))
    full = Table1()
    assert full.variants[-1] == "dummy-adv" and registry.n_seeds("dummy-adv", 5, full.ablation_seeds) == 1
    assert "dummy-adv" not in registry.compared() and "dummy-adv" not in Table1.of_preset("quick").variants
    record = _record({"kd": [110, 112], "dummy-adv": [500]}, full, tmp_path)
    assert [name for name, _ in plots.figures_for(record)] == ["learning_curves", "adversarial_drift"]


def test_ids_and_table_names_are_unique():
    for clash in (dataclasses.replace(registry.BASELINE, name="another name"),
                  dataclasses.replace(registry.BASELINE, id="another-id")):
        with pytest.raises(ValueError, match="clashes with 'kd'"):
            registry.register(clash)


def test_the_presets_run_what_they_ran_before_the_registry():
    """The lists the presets held by hand, and the seeds each variant got, are what the registry derives."""
    runs = {name: [(v, registry.n_seeds(v, cfg.seeds, cfg.ablation_seeds)) for v in cfg.variants]
            for name in Table1.PRESETS for cfg in [Table1.of_preset(name)]}
    assert runs["quick"] == [(v, 3) for v in ("wo-kd", "kd", "adv-report", "adv-logprob-kd")]
    assert runs["labels5"] == [(v, 5) for v in ("wo-kd", "kd", "dkd", "kd-standardised", "dist", "adv-conditional")]
    assert runs["full"] == [("wo-kd", 5), ("kd", 5), ("adv-report", 5), ("adv-raw-ns", 1), ("adv-centred", 1),
                            ("adv-logprob", 1), ("adv-logprob-kd", 5), ("dkd", 5), ("kd-standardised", 5), ("dist", 5),
                            ("adv-conditional", 5)]
    assert Table1().variants == registry.in_preset("full")
    assert registry.on_request() == ["kd-standardised-sun", "kd-sun-weights", "kd-ensemble", "l1-logits"]
    # every preset an entry names exists, and each preset has its option on the command line
    assert {p for v in registry.BY_ID.values() for p in v.presets} <= set(Table1.PRESETS)
    assert set(_cli.PRESET_OPTIONS) == set(Table1.PRESETS)


# The one place a registered id may appear outside the registry: an objective's ``describe()`` names its own method
# ("method": "kd"), a word recorded in every results file; distill.py sits below the registry and knows none of it.
ALLOWED = re.compile(r'"method": "[\w-]+"')


def test_every_variant_id_is_written_only_in_the_registry():
    """A hyphenated id is searched for as a word anywhere (code, strings, comments); a one-word id (kd, dist) as a
    quoted string, since the same word is also a variable's name. In the registry each id opens exactly one entry."""
    files = [p for d in ("tinykd", "examples") for p in sorted((ROOT / d).rglob("*.py"))]
    assert ROOT / "tinykd" / "experiments" / "registry.py" in files
    for vid in registry.BY_ID:
        word = re.escape(vid)
        pattern = re.compile(rf"(?<![\w-]){word}(?![\w-])" if "-" in vid else rf"[\"'`]{word}[\"'`]")
        found = [f"{p.relative_to(ROOT)}:{i}" for p in files if p.name != "registry.py"
                 for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
                 if pattern.search(ALLOWED.sub("", line))]
        assert found == [], f"variant id {vid!r} written outside tinykd/experiments/registry.py"
        entries = re.findall(rf'Variant\(\s*"{word}",', (ROOT / "tinykd" / "experiments" / "registry.py").read_text(encoding="utf-8"))
        assert len(entries) == 1, vid
