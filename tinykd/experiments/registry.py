"""The student variants of the Table 1 experiments, each written once: one ``Variant`` per method or ablation.

Every list of variants (each preset's, those on request, those compared with KD, the headline row, the examples'
``--variants``) is derived from these entries, in their order: a new method is its objective in ``distill.py`` plus
one ``register`` call here.
"""
from dataclasses import dataclass

from ..distill import DIST, DKD, KD, AdversarialKD, ConditionalAdversarialKD, Supervised


@dataclass(frozen=True)
class Variant:
    """A student variant, trained from S (initial) for the same budget as every other.

    ``id``: its name on the command line and in records; ``name``: its name in tables; ``make(d, ctx)`` builds its
    objective from the discriminator ``d`` (None for a variant without one) and ``ctx`` (``ignore_label``: the label
    of an unlabelled row or None; ``steps_per_epoch``); ``discriminator``: the one it needs (``Discriminator``'s
    keyword arguments plus ``pretrain_epochs``), None when it needs none; ``paper``: where the method comes from;
    ``matches``: what the student is asked to match (the comparison table's column); ``unlabelled``: whether its
    objective can skip unlabelled rows (the few-labels regime needs it); ``presets``: the presets that run it (none:
    it runs only on request, with ``--variants``); ``ablation``: it runs on ``ablation_seeds`` seeds (a single-seed
    ablation) instead of all of them; ``compared``: it is set against KD in the comparison table, the verdicts and
    the methods-vs-KD figure; ``column``: its column in Table 1's headline row (None: not there); ``teachers``: how
    many networks of the teacher's recipe (seeds 0, 1, ...) its teacher averages, the mean of their P^τ at its
    objective's τ (``tinykd.ensemble``; 1: the teacher itself)."""
    id: str
    name: str
    make: object
    discriminator: dict = None
    paper: str = ""
    matches: str = ""
    unlabelled: bool = False
    presets: tuple = ()
    ablation: bool = False
    compared: bool = False
    column: str = None
    teachers: int = 1


BY_ID = {}   # id -> Variant, in the order of registration: the order of every list derived from it


def register(variant):
    """Add ``variant`` to the registry (after those already there) and return it; an id or a table name that is
    taken already is refused, since either names the variant in options and tables."""
    taken = [v.id for v in BY_ID.values() if variant.id == v.id or variant.name == v.name]
    if taken:
        raise ValueError(f"variant {variant.id!r} ({variant.name!r}) clashes with {taken[0]!r}: ids and table names "
                         "are unique")
    BY_ID[variant.id] = variant
    return variant


def find(text):
    """The id of the variant whose id or table name is ``text``; None when none is."""
    if text in BY_ID:
        return text
    return next((k for k, v in BY_ID.items() if v.name == text), None)


def in_preset(preset):
    """The ids of the variants the preset named ``preset`` runs, in registry order."""
    return [k for k, v in BY_ID.items() if preset in v.presets]


def on_request():
    """The ids of the variants no preset runs (``--variants`` asks for them)."""
    return [k for k, v in BY_ID.items() if not v.presets]


def compared():
    """The ids of the variants compared with KD (``BASELINE``), in registry order."""
    return [k for k, v in BY_ID.items() if v.compared]


def headline():
    """Table 1's headline row: [(column, id)] of the variants that have a column."""
    return [(v.column, k) for k, v in BY_ID.items() if v.column]


def adversarial(vid):
    """Whether the variant ``vid`` trains a discriminator (its drift and the discriminator's accuracy are drawn);
    False for an id that is not registered (a record from elsewhere)."""
    return vid in BY_ID and BY_ID[vid].discriminator is not None


def n_seeds(vid, seeds, ablation_seeds):
    """How many seeds the variant ``vid`` runs: all ``seeds``, or at most ``ablation_seeds`` for an ablation."""
    return min(seeds, ablation_seeds) if BY_ID[vid].ablation else seeds


# ------------------------------------------------------------------------------------------------ the entries
EVERY = ("full", "quick", "labels5")   # the presets, by the names settings.PRESETS gives them


def _disc(features, hidden, **kw):
    return {"features": features, "hidden": hidden, "temperature": 4.0, "lr": 1e-3, "pretrain_epochs": 3, **kw}


_CONDITIONAL_D = _disc("standardised", (64, 64), lr=1e-4, conditional=True, smoothing=0.1, pretrain_epochs=0)

# the roles the tables and verdicts refer to: the labels alone, KD (what the newer methods are measured against),
# and the founding report's adversarial recipe (whose drift a verdict checks)
LABELS_ONLY = register(Variant(
    "wo-kd", "w/o KD", lambda d, c: Supervised(ignore_label=c["ignore_label"]), paper="–", matches="labels only",
    unlabelled=True, presets=EVERY, column="S (w/o KD)"))
BASELINE = register(Variant(
    "kd", "KD", lambda d, c: KD(temperature=4.0, weight=0.9, form="hinton", ignore_label=c["ignore_label"]),
    paper="Hinton, Vinyals & Dean 2015", matches="softened probabilities P^τ (τ = 4, a = 0.9)", unlabelled=True,
    presets=EVERY, column="S (KD)"))
REPORT_RECIPE = register(Variant(
    "adv-report", "adv. KD (report: raw, fixed, minimax)", lambda d, c: AdversarialKD(d, alpha=1.0, beta=0.1),
    _disc("raw", 0), "the founding report", presets=("full", "quick"), column="S (adv. KD, report's recipe)"))
register(Variant(
    "adv-raw-ns", "adv. KD (raw, fixed, non-saturating)",
    lambda d, c: AdversarialKD(d, alpha=1.0, beta=0.1, form="nonsaturating"), _disc("raw", 0),
    "the founding report, non-saturating", presets=("full",), ablation=True))
register(Variant(
    "adv-centred", "adv. KD (centred, fixed, minimax)", lambda d, c: AdversarialKD(d, alpha=1.0, beta=0.1),
    _disc("centred", 0), "the founding report, centred logits", presets=("full",), ablation=True))
register(Variant(
    "adv-logprob", "adv. KD (logprob, alternating, non-saturating)",
    lambda d, c: AdversarialKD(d, alpha=1.0, beta=0.1, form="nonsaturating", updates="alternating", temperature=4.0),
    _disc("logprob", 64), "the founding report, GAN-style", presets=("full",), ablation=True))
register(Variant(
    "adv-logprob-kd", "adv. KD + KD (logprob, alternating)",
    lambda d, c: AdversarialKD(d, alpha=0.1, beta=0.1, form="nonsaturating", updates="alternating",
                               kd_weight=0.9 * 16, temperature=4.0),
    _disc("logprob", 64), "the founding report + Hinton", presets=("full", "quick")))
register(Variant(
    "dkd", "DKD", lambda d, c: DKD(alpha=1.0, beta=8.0, temperature=4.0, ignore_label=c["ignore_label"]),
    paper="Zhao et al. 2022",
    matches="target-vs-rest and non-target probabilities, weighted apart (α = 1, β = 8, τ = 4)", unlabelled=True,
    presets=("full", "labels5"), compared=True))
register(Variant(
    "kd-standardised", "KD, standardised logits",
    lambda d, c: KD(temperature=2.0, weight=0.9, form="hinton", standardise=True, ignore_label=c["ignore_label"]),
    paper="Sun et al. 2024", matches="P^τ of z-scored logits: no shift or scale (τ = 2, a = 0.9)", unlabelled=True,
    presets=("full", "labels5"), compared=True))
register(Variant(
    "dist", "DIST", lambda d, c: DIST(beta=2.0, gamma=2.0, temperature=4.0, ignore_label=c["ignore_label"]),
    paper="Huang et al. 2022", matches="correlations of P^τ per sample and per class (β = γ = 2, τ = 4)",
    unlabelled=True, presets=("full", "labels5"), compared=True))
register(Variant(
    "adv-conditional", "adv. KD, conditional (z-scored + label, L1)",
    lambda d, c: ConditionalAdversarialKD(d, beta=0.1, ramp_steps=c["steps_per_epoch"], logit_weight=1.0,
                                          logit_loss="l1", ignore_label=c["ignore_label"]),
    _CONDITIONAL_D, "Xu, Hsu & Huang 2017; Belagiannis et al. 2018",
    matches="logits (L1) and a class-conditional D on z-scored logits (β = 0.1)", unlabelled=True,
    presets=("full", "labels5"), compared=True))
# on request only (--variants): Sun et al.'s own loss weights, their control, KD from an ensemble teacher, and
# adv-conditional without its D
register(Variant(
    "kd-standardised-sun", "KD, standardised logits, Sun et al.'s weights (CE 0.1 : KD 9)",
    lambda d, c: KD(temperature=2.0, weight=90 / 91, form="hinton", standardise=True, ignore_label=c["ignore_label"]),
    paper="Sun et al. 2024", matches="P^τ of z-scored logits, τ = 2, CE : KD = 0.1 : 9 as Sun et al.'s code",
    unlabelled=True, compared=True))
register(Variant(
    "kd-sun-weights", "KD, τ = 2, CE 0.1 : KD 9 (the control for kd-standardised-sun)",
    lambda d, c: KD(temperature=2.0, weight=90 / 91, form="hinton", ignore_label=c["ignore_label"]),
    paper="control", matches="P^τ of raw logits, τ = 2, CE : KD = 0.1 : 9", unlabelled=True, compared=True))
register(Variant(
    "kd-ensemble", "KD from an ensemble of 3 teachers",
    lambda d, c: KD(temperature=4.0, weight=0.9, form="hinton", ignore_label=c["ignore_label"]),
    paper="Hinton, Vinyals & Dean 2015, §1", matches="the mean of 3 teachers' P^τ (seeds 0–2 of the teacher's "
    "recipe; τ = 4, a = 0.9)", unlabelled=True, compared=True, teachers=3))
register(Variant(
    "l1-logits", "CE + L1 on logits (adv-conditional with β = 0)",
    lambda d, c: ConditionalAdversarialKD(d, beta=0.0, logit_weight=1.0, logit_loss="l1",
                                          ignore_label=c["ignore_label"]),
    _CONDITIONAL_D, "ablation of adv-conditional",
    matches="logits (L1) only: the discriminator trains but the student ignores it", unlabelled=True, compared=True))
