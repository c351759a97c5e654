"""One objective per method: ``objective(outputs, labels, teacher_outputs) -> (loss, d loss / d outputs)``.

The training loop knows nothing about any method: it feeds each objective the student's outputs on a batch, the
batch's labels and, when ``objective.needs_teacher``, the teacher's outputs on the same inputs. A new method is a
new objective. Derivations: ``docs/derivations.md``; finite-difference checks: ``tests/test_distill.py``.

Two rules hold for every objective. Its weights cannot all be 0 (``checks.check_weights``: such a loss is 0 and
cannot move the student; KD's forms always keep a hard or soft term). Its labels are class indices in [0, C), and
−1 (or any negative label) marks an unlabelled row only where the objective's ``ignore_label`` says so: the range is
read on a direct call and, inside a training step, only with ``TINYKD_DEBUG=1`` (``functional.check_labels``;
``train.fit`` checks it once for the whole data set).
"""
import numpy as np

from . import functional as F
from . import logit_losses as L
from .backend import get_array_module
from .checks import check_int, check_label_vector, check_real, check_weights, is_int


def _label(name, value):
    if value is not None and not is_int(value, high=-1):
        raise ValueError(f"{name} must be a negative integer (a label no class has, e.g. -1) or None, got {value!r}")
    return None if value is None else int(value)


class Supervised:
    """Cross-entropy on the labels, ``H(y, P_S)``: the student (or teacher) trained alone.

    ``ignore_label`` (e.g. −1) marks unlabelled rows, which the cross-entropy skips (``F.cross_entropy``).
    """

    needs_teacher = False

    def __init__(self, ignore_label=None):
        self.ignore_label = _label("ignore_label", ignore_label)

    def __call__(self, logits, labels, teacher_logits=None):
        return F.cross_entropy(logits, labels, self.ignore_label)

    def describe(self):
        return {"method": "supervised", "ignore_label": self.ignore_label}


class KD:
    """Knowledge distillation (Hinton, Vinyals & Dean 2015), in one of two weightings.

    - ``form="additive"`` (the founding report's): ``H(y, P_S) + λ_KD · H(P_T^τ, P_S^τ)``, with ``weight = λ_KD``;
      gradient ``(P_S − onehot y)/N + λ_KD (P_S^τ − P_T^τ)/(τN)``;
    - ``form="hinton"``: ``(1 − a) · H(y, P_S) + a · τ² · H(P_T^τ, P_S^τ)``, with ``weight = a ∈ [0, 1]``;
      gradient ``(1 − a)(P_S − onehot y)/N + a τ (P_S^τ − P_T^τ)/N``: the τ² keeps the soft term's gradient from
      shrinking as 1/τ² at high temperature.

    ``P^τ = softmax(z/τ)`` for logits ``z``. The soft term's value is reported as ``KL(P_T^τ ‖ P_S^τ) =
    H(P_T^τ, P_S^τ) − H(P_T^τ)``: the same gradient (the teacher's entropy does not depend on the student), and 0
    when the student matches the teacher.
    ``ignore_label`` (e.g. −1) marks unlabelled rows: they get the soft term only, the hard term averaging over the
    labelled rows. ``standardise=True`` computes the soft term on the z-scored logits of both networks (Sun et al.
    2024, ``F.standardise``): the student then matches the teacher's logits up to their shift and scale only.
    Derivation: ``docs/derivations.md`` §3, §10, §16.
    """

    needs_teacher = True

    def __init__(self, temperature=4.0, weight=1.0, form="additive", ignore_label=None, standardise=False):
        F.check_temperature(temperature)
        self.standardise = _flag("standardise", standardise)
        if form not in ("additive", "hinton"):
            raise ValueError(f"form must be 'additive' or 'hinton', got {form!r}")
        self.temperature, self.weight = float(temperature), check_real("weight", weight)
        self.form = form
        if form == "hinton" and self.weight > 1:
            raise ValueError(f"the hinton form's weight a must lie in [0, 1], got {weight}")
        self.ignore_label = _label("ignore_label", ignore_label)

    def __call__(self, logits, labels, teacher_logits):
        # checked once here; the functions below skip their own dtype and shape checks (checked=True)
        F.check_logit_pair(logits, teacher_logits)
        check_label_vector("labels", labels, rows=logits.shape[0])
        hard, g_hard = F.cross_entropy(logits, labels, self.ignore_label, checked=True)
        soft, g_soft = _soft_term(lambda s, t: F.kl_divergence(s, t, self.temperature, t_squared=self.form == "hinton",
                                                               checked=True),
                                  logits, teacher_logits, self.standardise, checked=True)
        c_hard = 1.0 - self.weight if self.form == "hinton" else 1.0
        dt = logits.dtype.type
        g_hard *= dt(c_hard)
        g_hard += dt(self.weight) * g_soft
        return dt(c_hard) * hard + dt(self.weight) * soft, g_hard

    def describe(self):
        return {"method": "kd", "form": self.form, "temperature": self.temperature, "weight": self.weight,
                "ignore_label": self.ignore_label, "standardise": self.standardise}


def _check_discriminator(discriminator, methods):
    """Raise unless ``discriminator`` has every method the objective calls (``describe`` for its identity)."""
    missing = [m for m in methods if not callable(getattr(discriminator, m, None))]
    if missing:
        raise TypeError(f"discriminator must have {', '.join(methods[:-1])} and {methods[-1]} methods (a tinykd."
                        f"discriminator.Discriminator); {discriminator!r} lacks {', '.join(missing)}")


def _flag(name, value):
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return value


def _cross_entropy(weight, logits, labels, ignore_label=None):
    """``weight · H(y, P_S)`` and its gradient (``F.cross_entropy``): the hard term of every objective but KD's."""
    dt = logits.dtype.type
    hard, grad = F.cross_entropy(logits, labels, ignore_label)
    grad *= dt(weight)
    return dt(weight) * hard, grad


def _soft_term(loss, logits, teacher_logits, standardise, checked=False):
    """``loss(student, teacher)`` on the raw logits, or on both z-scored (``F.on_standardised``); ``checked``: the
    caller has checked both logits."""
    if standardise:
        return F.on_standardised(loss, logits, teacher_logits, checked=checked)
    return loss(logits, teacher_logits)


def row_classes(labels, teacher_logits, ignore_label):
    """Each row's class for a method that needs one on every row: its label, or for an unlabelled row the
    teacher's prediction (computed on the device; nothing is read back)."""
    if ignore_label is None:
        return labels
    xp = get_array_module(labels)
    return xp.where(labels == ignore_label, teacher_logits.argmax(axis=1), labels)


class DKD:
    """Decoupled KD (Zhao et al., CVPR 2022): ``λ_CE · H(y, P_S) + τ² (α · TCKD + β · NCKD)``
    (``logit_losses.decoupled_kd``; paper defaults α = 1, β = 8, τ = 4, λ_CE = 1).

    ``standardise=True`` computes TCKD and NCKD on z-scored logits (Sun et al. 2024). ``ignore_label`` marks
    unlabelled rows: the cross-entropy skips them and their target class (which DKD needs to split the classes) is
    the teacher's prediction. Derivation: ``docs/derivations.md`` §17.
    """

    needs_teacher = True

    def __init__(self, alpha=1.0, beta=8.0, temperature=4.0, ce_weight=1.0, standardise=False, ignore_label=None):
        F.check_temperature(temperature)
        self.alpha, self.beta, self.ce_weight = check_weights("DKD", alpha=alpha, beta=beta, ce_weight=ce_weight)
        self.temperature = float(temperature)
        self.standardise = _flag("standardise", standardise)
        self.ignore_label = _label("ignore_label", ignore_label)

    def __call__(self, logits, labels, teacher_logits):
        if logits.shape[1] < 2:
            raise ValueError(f"DKD needs at least 2 classes (a target and the rest), got {logits.shape[1]}")
        loss, grad = _cross_entropy(self.ce_weight, logits, labels, self.ignore_label)
        if not (self.alpha or self.beta):           # the cross-entropy alone (decoupled_kd refuses two 0 weights)
            return loss, grad
        targets = row_classes(labels, teacher_logits, self.ignore_label)
        soft, g_soft = _soft_term(lambda s, t: L.decoupled_kd(s, t, targets, self.temperature, self.alpha,
                                                              self.beta), logits, teacher_logits, self.standardise)
        grad += g_soft
        return loss + soft, grad

    def describe(self):
        return {"method": "dkd", "alpha": self.alpha, "beta": self.beta, "temperature": self.temperature,
                "ce_weight": self.ce_weight, "standardise": self.standardise, "ignore_label": self.ignore_label}


class DIST:
    """DIST (Huang et al., NeurIPS 2022): ``λ_CE · H(y, P_S) + τ² [β (1 − mean inter-class ρ) + γ (1 − mean
    intra-class ρ)]`` (``logit_losses.dist_loss``; defaults β = γ = 2, τ = 4, the paper's CIFAR-100 setting).

    The intra-class term correlates each class across the batch, so every batch needs at least 2 rows (checked per
    call from the shape, and by ``train.fit`` before training: ``min_batch_rows``). ``ignore_label``: the
    cross-entropy skips unlabelled rows; DIST needs no labels. The correlations are the authors' (ε added to the
    product of the norms: ``logit_losses.pearson``), which ``describe()`` names as ``"guard": "outside"``.
    Derivation: ``docs/derivations.md`` §18.
    """

    needs_teacher = True

    def __init__(self, beta=2.0, gamma=2.0, temperature=4.0, ce_weight=1.0, ignore_label=None):
        F.check_temperature(temperature)
        self.beta, self.gamma, self.ce_weight = check_weights("DIST", beta=beta, gamma=gamma, ce_weight=ce_weight)
        self.temperature = float(temperature)
        self.ignore_label = _label("ignore_label", ignore_label)
        self.min_batch_rows = 2 if self.gamma else 1   # the intra-class correlation runs across the batch

    def __call__(self, logits, labels, teacher_logits):
        loss, grad = _cross_entropy(self.ce_weight, logits, labels, self.ignore_label)
        if not (self.beta or self.gamma):           # the cross-entropy alone (dist_loss refuses two 0 weights)
            return loss, grad
        soft, g_soft = L.dist_loss(logits, teacher_logits, self.temperature, self.beta, self.gamma)
        grad += g_soft
        return loss + soft, grad

    def describe(self):
        return {"method": "dist", "beta": self.beta, "gamma": self.gamma, "temperature": self.temperature,
                "ce_weight": self.ce_weight, "ignore_label": self.ignore_label, "guard": "outside"}


class AdversarialKD:
    """Adversarial KD, the founding report's method: fool a discriminator that tells teacher from student logits.

    The student minimises ``α · H(y, P_S) − β · L_class(a_S | x=1)`` (``form="minimax"``, the report's), where
    ``L_class(a | x=1) = −log D(a)`` is the discriminator's loss for calling student logits "student". Or, with
    ``form="nonsaturating"``, ``α · H(y, P_S) + β · L_class(a_S | x=0)``: the student minimises the loss of
    being called "teacher" (Goodfellow et al. 2014); the minimax form saturates where the student most needs a
    signal and is unbounded once D is fooled (``docs/derivations.md`` §11).
    ``kd_weight = λ > 0`` adds ``λ · KL(P_T^τ ‖ P_S^τ)`` (an adversarial term on top of KD; reported as the KL,
    which has the soft cross-entropy's gradient and is 0 when the student matches: see ``KD``).

    ``updates="fixed"`` keeps the discriminator as pre-trained (the report's recipe); ``"alternating"`` takes
    ``d_steps`` discriminator steps on the batch's teacher and student logits before each student step (GAN
    style). The discriminator's input (``features``) decides what it can be fooled by: see ``discriminator.py``.
    """

    def __init__(self, discriminator, alpha=1.0, beta=0.1, form="minimax", updates="fixed", d_steps=1,
                 kd_weight=0.0, temperature=4.0):
        _check_discriminator(discriminator, ("loss", "step", "describe"))
        if form not in ("minimax", "nonsaturating"):
            raise ValueError(f"form must be 'minimax' or 'nonsaturating', got {form!r}")
        if updates not in ("fixed", "alternating"):
            raise ValueError(f"updates must be 'fixed' or 'alternating', got {updates!r}")
        d_steps = check_int("d_steps", d_steps, 1)
        F.check_temperature(temperature)
        if getattr(discriminator, "conditional", False):
            raise ValueError("this discriminator is conditional (it needs each row's class): use "
                             "ConditionalAdversarialKD")
        self.discriminator = discriminator
        self.alpha, self.beta, self.kd_weight = check_weights("AdversarialKD", alpha=alpha, beta=beta,
                                                              kd_weight=kd_weight)
        self.form, self.updates, self.d_steps, self.temperature = form, updates, d_steps, float(temperature)
        self.needs_teacher = updates == "alternating" or self.kd_weight > 0

    def __call__(self, logits, labels, teacher_logits=None):
        if self.updates == "alternating":
            for _ in range(self.d_steps):
                self.discriminator.step(teacher_logits, logits)
        dt = logits.dtype.type
        loss, grad = _cross_entropy(self.alpha, logits, labels)
        label, sign = (1, -1) if self.form == "minimax" else (0, 1)   # − L_class(a_S | x=1), or + L_class(a_S | x=0)
        adv, g_adv = self.discriminator.loss(logits, label)
        loss += dt(sign * self.beta) * adv
        grad += dt(sign * self.beta) * g_adv
        if self.kd_weight:
            soft, g_soft = F.kl_divergence(logits, teacher_logits, self.temperature)
            loss += dt(self.kd_weight) * soft
            grad += dt(self.kd_weight) * g_soft
        return loss, grad

    def describe(self):
        return {"method": "adversarial_kd", "form": self.form, "updates": self.updates, "d_steps": self.d_steps,
                "alpha": self.alpha, "beta": self.beta, "kd_weight": self.kd_weight, "temperature": self.temperature,
                "discriminator": self.discriminator.describe()}


class ConditionalAdversarialKD:
    """Adversarial KD as the literature made it work (Xu, Hsu & Huang 2017; Belagiannis et al. 2018).

    A *conditional* discriminator (``Discriminator(conditional=True)``, e.g. ``features="standardised"``, hidden
    ``(64, 64)``, its own smaller learning rate, one-sided label smoothing) sees each row's z-scored logits and its
    class. Every call first takes one discriminator step on the batch's teacher and student logits (alternating
    1:1), then returns the student's loss

    ``λ_CE · H(y, P_S) + λ_logit · d(z_S, z_T) + λ_adv(s) · L_class(a_S | x=0)``

    with ``d`` the L1 or L2 logit distance (``logit_losses.logit_distance``), the non-saturating adversarial term
    (the loss of being called "teacher", Goodfellow et al. 2014), and its weight ramped linearly from 0:
    ``λ_adv(s) = β · min(1, s/ramp_steps)`` at the s-th call (s = 0, 1, …; ``ramp_steps=0``: β from the start).
    The call count is kept on the host (a Python int): it reads nothing from the device. It is not checkpointed, so
    a resumed run restarts the ramp. ``ignore_label`` marks unlabelled rows: the cross-entropy skips them and the
    discriminator is conditioned on the teacher's prediction there. Derivation: ``docs/derivations.md`` §19.
    """

    needs_teacher = True

    def __init__(self, discriminator, beta=0.1, ramp_steps=0, logit_weight=1.0, logit_loss="l1", ce_weight=1.0,
                 ignore_label=None):
        _check_discriminator(discriminator, ("loss", "step", "describe"))
        if not getattr(discriminator, "conditional", False):
            raise ValueError("ConditionalAdversarialKD needs a conditional discriminator "
                             "(tinykd.discriminator.Discriminator(..., conditional=True))")
        if logit_loss not in L.LOGIT_DISTANCES:
            raise ValueError(f"logit_loss must be one of {L.LOGIT_DISTANCES}, got {logit_loss!r}")
        self.discriminator = discriminator
        self.beta, self.logit_weight, self.ce_weight = check_weights("ConditionalAdversarialKD", beta=beta,
                                                                     logit_weight=logit_weight, ce_weight=ce_weight)
        self.ramp_steps = check_int("ramp_steps", ramp_steps, 0)
        self.logit_loss = logit_loss
        self.ignore_label = _label("ignore_label", ignore_label)
        self.calls = 0

    def adversarial_weight(self):
        """λ_adv at the next call: β · min(1, calls/ramp_steps)."""
        return self.beta * min(1.0, self.calls / self.ramp_steps) if self.ramp_steps else self.beta

    def __call__(self, logits, labels, teacher_logits):
        F.check_logit_pair(logits, teacher_logits)   # before the discriminator moves
        d = self.discriminator
        if logits.shape[1] != d.n_classes or logits.dtype != d.net.dtype:
            raise ValueError(f"the discriminator was built for {d.n_classes} classes in {np.dtype(d.net.dtype)}; "
                             f"these logits have {logits.shape[1]} in {logits.dtype}")
        F.check_labels(labels, logits.shape[0], logits.shape[1], ignore_label=self.ignore_label)
        dt = logits.dtype.type
        classes = row_classes(labels, teacher_logits, self.ignore_label)
        self.discriminator.step(teacher_logits, logits, classes)
        loss, grad = _cross_entropy(self.ce_weight, logits, labels, self.ignore_label)
        dist, g_dist = L.logit_distance(logits, teacher_logits, self.logit_loss)
        loss += dt(self.logit_weight) * dist
        grad += dt(self.logit_weight) * g_dist
        weight = dt(self.adversarial_weight())
        self.calls += 1
        adv, g_adv = self.discriminator.loss(logits, 0, classes)
        loss += weight * adv
        grad += weight * g_adv
        return loss, grad

    def describe(self):
        return {"method": "conditional_adversarial_kd", "beta": self.beta, "ramp_steps": self.ramp_steps,
                "logit_weight": self.logit_weight, "logit_loss": self.logit_loss, "ce_weight": self.ce_weight,
                "ignore_label": self.ignore_label, "discriminator": self.discriminator.describe()}


def check_pair(teacher, student):
    """Raise before training when a teacher and student cannot be paired."""
    if teacher.sizes[0] != student.sizes[0] or teacher.sizes[-1] != student.sizes[-1]:
        raise ValueError(f"teacher {teacher.sizes} and student {student.sizes} must agree on input size and "
                         "number of classes")
    if teacher.dtype != student.dtype:
        raise TypeError(f"teacher dtype {teacher.dtype} differs from student dtype {student.dtype}")
    if get_array_module(teacher.layers[-1].params["W"]) is not get_array_module(student.layers[-1].params["W"]):
        raise ValueError("teacher and student live on different backends; build both with the same backend")

