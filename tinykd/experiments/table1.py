"""The founding report's Table 1 protocol, shared by ``examples/mnist_adv_kd.py`` and ``reproduce_table.py``.

1. Load the data, hold out a stratified validation split of the training set, and fingerprint the result.
2. Train the teacher (dropout, jitter) on the labels; reuse a checkpoint only when it was produced from the same
   data fingerprint with the same settings.
3. Train the student alone on the labels: this is "S (initial)"; every student variant starts from it. Compare
   teacher and S (initial) on validation and flag a teacher that is not better.
4. For each seed, continue the initial student for the same budget with each objective: labels only
   ("S w/o KD"), KD, adversarial KD (the report's recipe and variants that avoid its traps).
5. Count test misclassifications once per final model (every model keeps its last weights: a fixed budget,
   nothing chosen); validation errors per epoch, parameter counts and wall time go in its record.

Every network is a run specification (``tinykd.runs.spec``) found by its record or trained (``Runner.run``), so a
rerun trains only what is missing; the table is a view of the records this run asks for (``table1_view``). What a
run asks for is a ``settings.Table1``.
"""
import dataclasses
import os

import numpy as np

from ..backend import resolve, to_device, to_host
from ..data.transfer import UNLABELLED, partly_labelled
from ..discriminator import Discriminator
from ..distill import check_pair, row_classes
from ..runs.identity import key
from ..runs.spec import EnsembleSpec
from . import registry, shared, table1_view
from .settings import data_deviations
from .setup import Setup, log, logit_stats, one_at_a_time

LABELLED_SEED = 0   # which rows keep their labels in the few-labels regime


@one_at_a_time("table1")
def run(cfg):
    """Run the protocol: every network it needs is found by its record or trained, and its table is a view of the
    records of exactly the networks it asks for (``table1_view.view``), written to ``<out_dir>/<results name>.md``
    after every finished model. Returns the table's record."""
    xp = resolve(cfg.backend)
    setup = Setup(cfg)
    ds, d, (x, y, xv, yv, _, _) = setup.ds, setup.data, setup.arrays
    if cfg.transfer_size:      # the students' transfer set: the first rows of the teacher's training set
        x, y = x[:cfg.transfer_size], y[:cfg.transfer_size]
    ignore_label, extra = None, {"transfer_rows": cfg.transfer_size} if cfg.transfer_size else {}
    x0, y0 = x, y              # what S (initial) learns from: every row, or (few labels) the labelled ones
    if cfg.labelled < 1:
        y_host = partly_labelled(to_host(y), cfg.labelled, seed=LABELLED_SEED)
        y, keep = to_device(y_host, xp), to_device(np.flatnonzero(y_host != UNLABELLED), xp)
        x0, y0, ignore_label = x[keep], y[keep], UNLABELLED
        extra.update(labelled=cfg.labelled, labelled_seed=LABELLED_SEED)
        log(f"few labels: {int(keep.shape[0]):,} of {int(y.shape[0]):,} student training rows keep their label")
    t_spec = setup.teacher_spec()
    s_spec = setup.spec("student", cfg.student_sizes, cfg.student_epochs, cfg.student_lr, extra=extra)
    # the logits' drift is measured on the validation split; without one, on the students' training rows
    x_stats, stats_on = (xv, "validation") if xv is not None else (x, "training")
    ctx = {"ignore_label": ignore_label, "steps_per_epoch": -(-int(x.shape[0]) // cfg.batch_size)}
    links = {"teacher": setup.key(t_spec), "start": setup.key(s_spec)}
    table = table1_view.tag(cfg, {**cfg.deviations(), **data_deviations(cfg, ds)}, d["name"], stats_on)
    plan = [(vid, seed) for vid in cfg.variants for seed in range(registry.n_seeds(vid, cfg.seeds, cfg.ablation_seeds))]
    # an ensemble teacher (a variant's ``teachers`` k > 1): the teacher and k - 1 networks of its recipe, next seeds
    members = {k: [t_spec] + [dataclasses.replace(t_spec, seed=i) for i in range(1, k)]
               for k in {registry.BY_ID[vid].teachers for vid in cfg.variants} if k > 1}
    ensembles = {k: EnsembleSpec("teacher-ensemble", tuple(setup.key(m) for m in ms), d["fingerprint"], cfg.backend,
                                 average="probabilities") for k, ms in members.items()}
    teacher_keys = {1: links["teacher"], **{k: key(e.identity()) for k, e in ensembles.items()}}
    specs = {run: _variant(setup, *run, links, extra, ctx, teacher_keys) for run in plan}
    keys = [setup.key(spec) for spec in specs.values()]
    missing = [run for run in plan if setup.record(specs[run]) is None]
    log(f"{len(plan) - len(missing)} of the {len(plan)} student runs asked for are in {cfg.records_dir}; "
        f"{len(missing)} to train (or to load, where a checkpoint is kept)")
    out = os.path.join(cfg.out_dir, cfg.results_name(d["name"]))

    def view_of(complete):
        view = table1_view.view(setup.store.all(), table, links, keys, plan, d)
        view["complete"] = complete and view["complete"]   # and nothing another run asked for is missing
        view["keys"] = [links["teacher"], links["start"], *keys]
        return view

    def write(complete):
        view = view_of(complete)
        shared.write(out, view, table1_view.markdown(view))

    if missing or setup.record(t_spec) is None or setup.record(s_spec) is None:
        teacher = setup.model(t_spec, image_shape=tuple(ds.input_shape))
        student0 = setup.model(s_spec, arrays=(x0, y0, xv, yv), measure=lambda m: logit_stats(m.logits(x_stats)))
        check_pair(teacher, student0)
    t_rec, s_rec = setup.record(t_spec), setup.record(s_spec)
    log(f"teacher errors {t_rec['result']['errors']}/{d['n_test']}; "
        f"student (initial) errors {s_rec['result']['errors']}/{d['n_test']}")
    log(table1_view.teacher_check(t_rec["result"], s_rec["result"], cfg.variants)[1])
    cached = {}

    def ensemble_logits(k, temperature):
        """The mean of the k networks' P^τ on the students' rows, as logits at τ (their ensemble recorded once)."""
        if (k, temperature) not in cached:
            model, rec = setup.runner.assemble(
                ensembles[k], lambda keys: {setup.key(m): setup.model(m, image_shape=tuple(ds.input_shape))
                                            for m in members[k] if setup.key(m) in keys},
                setup.arrays[4:], (xv, yv) if xv is not None else None, need_model=True)
            log(f"ensemble of {k} teachers: {rec['result']['errors']}/{d['n_test']} test errors")
            cached[(k, temperature)] = model.logits(x, temperature)
        return cached[(k, temperature)]

    setup.store.plan(table, links, keys)
    if missing:
        write(False)
        teacher_logits = teacher.logits(x)
        teacher_val_logits = teacher.logits(xv) if xv is not None else None
        student0_logits = student0.logits(x)
        classes = row_classes(y, teacher_logits, ignore_label)   # what a conditional discriminator is shown
    for vid, seed in missing:
        spec = specs[(vid, seed)]
        parts = setup.runner.find(spec)[1]      # the objects its identity was read from
        disc = getattr(parts.objective, "discriminator", None)

        def pretrain(parts, disc=disc, how=spec.extra["discriminator_pretraining"]):
            """The discriminator's pretraining on teacher (0) vs S (initial) (1) logits of the training rows."""
            acc = disc.fit(teacher_logits, student0_logits, epochs=how["epochs"], batch_size=how["batch_size"],
                           holdout=how["holdout"], seed=how["seed"], classes=classes if disc.conditional else None)
            return {"d_heldout_accuracy": acc, "d_pretrain_epochs": how["epochs"]}

        def measure(student, disc=disc, vid=vid, seed=seed):
            out = {"name": registry.BY_ID[vid].name, "seed": seed, **logit_stats(student.logits(x_stats))}
            if disc is not None:
                out["d_accuracy_after"] = disc.accuracy(teacher_logits, student.logits(x),
                                                        classes if disc.conditional else None)
            return out
        k = registry.BY_ID[vid].teachers
        _, rec = setup.run(spec, rows=(x, y, xv, yv), parts=parts, start=student0,
                           teacher=teacher_logits if k == 1 else ensemble_logits(k, parts.objective.temperature),
                           before=pretrain if disc is not None else None, measure=measure, links=links,
                           asked=plan, label=f"{vid} seed {seed}", progress=False, explode_factor=None,
                           epoch_end=_drift_probe(disc, xv, yv, teacher_val_logits))
        write(False)
        result = rec["result"]
        log(f"  {registry.BY_ID[vid].name:48s} seed {seed}: {result['errors']:5d} errors  ({result['seconds']:.0f} s, "
            f"mean logit {result['mean_logit']:.3g}, max |logit| {result['max_abs_logit']:.3g})")
    return shared.publish(out, view_of(True), table1_view.markdown, table1_view.figures, cfg)


def _variant(setup, vid, seed, links, extra, ctx, teacher_keys):
    """The run specification of one student variant: S (initial)'s network (its weights are loaded from it) trained
    for the variant budget with the variant's objective (and discriminator), identified by the networks it starts
    from (their record keys: ``teacher_keys`` {number of teachers: the teacher's or the ensemble's}), what its
    discriminator's pretraining is and what was done to its rows."""
    cfg, variant = setup.cfg, registry.BY_ID[vid]
    pretraining = None
    if variant.discriminator is not None:
        d = dict(variant.discriminator)
        pretraining = {"epochs": d.pop("pretrain_epochs"), "batch_size": 256, "holdout": 0.2, "seed": seed}

        def objective(d=d):
            return variant.make(Discriminator(cfg.student_sizes[-1], seed=seed, backend=resolve(cfg.backend), **d),
                                ctx)
    else:
        def objective():
            return variant.make(None, ctx)
    return setup.spec("variant", cfg.student_sizes, cfg.finetune_epochs, cfg.finetune_lr, jitter=None, seed=seed,
                      shuffle_seed=100 + seed, objective=(objective, ()),
                      extra={"variant": vid, "teacher": teacher_keys[variant.teachers], "start": links["start"],
                             "discriminator_pretraining": pretraining, **extra})


def _drift_probe(disc, xv, yv, teacher_val_logits):
    """Per-epoch measurements of a student variant on the validation set: its logits' mean and largest magnitude
    (the adversarial drift) and, with a discriminator, how well it still tells teacher from student."""
    if xv is None:
        return None

    def probe(student):
        logits = student.logits(xv)
        out = logit_stats(logits)
        if disc is not None:
            out["d_accuracy"] = disc.accuracy(teacher_val_logits, logits, yv if disc.conditional else None)
        return out
    return probe
