"""Pure math: softmax with temperature, and the losses of distillation, each returning (value, gradient).

Every loss is a mean over the batch (axis 0) and returns ``(loss, grad)``: ``loss`` a 0-d array of the logits'
dtype (no hidden float64), ``grad`` of the logits' shape and dtype. Inside a training step nothing here reads a value
back to the host, so on the GPU a step only queues kernels: dtype and shape are checked on every call, values
(finite logits, targets in [0, 1]) only with ``TINYKD_DEBUG=1`` (``backend.debug``). Labels are the exception, since
one out of range trains on another class: their range is read on every direct call and, inside a training step
(``backend.training_step``), only in debug mode. A caller that checked its arrays once (an objective:
``distill.KD``) passes ``checked=True`` to skip the repeated dtype and shape checks. ``all_finite``,
``check_finite``, ``label_range`` and ``check_label_range`` read values: they serve those checks and the places
where data enters (``train.fit``, ``Discriminator.fit``).
The derivations are in ``docs/derivations.md`` (§1 softmax, §2 cross-entropy, §3 soft targets, §4 the logistic
loss, §16 standardisation), whose notation the docstrings use: ``z`` logits, ``τ`` temperature, ``P^τ`` tempered
probabilities, ``n`` the row, ``k`` the class, ``N`` rows, ``g`` the gradient arriving from above; the
finite-difference checks are in ``tests/test_functional.py``.
"""
import numbers

from . import backend
from .backend import get_array_module, to_host
from .checks import check_label_vector, check_real


# ----------------------------------------------------------------------------------------------- input checks
def check_logits_shape(logits, name="logits"):
    """Raise unless ``logits`` is a floating array of shape (batch, classes): dtype and shape only, so it reads no
    values and never synchronises the GPU."""
    if not hasattr(logits, "dtype") or not hasattr(logits, "ndim"):
        raise TypeError(f"{name} must be an array of shape (batch, classes), got {type(logits).__name__}")
    if logits.dtype.kind != "f":
        raise TypeError(f"{name} must be a floating array (float32 or float64), got dtype {logits.dtype}")
    if logits.ndim != 2 or logits.shape[0] < 1 or logits.shape[1] < 1:
        raise ValueError(f"{name} must have shape (batch, classes) with both >= 1, got shape {logits.shape}")


def all_finite(a):
    """True when no entry of ``a`` is NaN or ±inf: one read of device memory (a GPU synchronisation)."""
    return bool(get_array_module(a).isfinite(a).all())


def label_range(labels):
    """(smallest, largest) label as host ints, in one transfer (a GPU synchronisation); ``labels`` non-empty."""
    xp = get_array_module(labels)
    lo, hi = to_host(xp.stack([labels.min(), labels.max()]))
    return int(lo), int(hi)


def check_logits(logits, name="logits"):
    """Raise unless ``logits`` is a floating array of shape (batch, classes); with ``TINYKD_DEBUG=1`` also unless
    every logit is finite."""
    check_logits_shape(logits, name)
    if backend.debug() and not all_finite(logits):
        raise ValueError(f"{name} contains NaN or inf; every logit must be finite")


def check_temperature(temperature):
    """``temperature`` as a float when it is a finite real number > 0 (``checks.check_real``); ``TypeError`` for
    something that is not a number at all."""
    if isinstance(temperature, bool) or not isinstance(temperature, numbers.Real):
        raise TypeError(f"temperature must be a real number > 0, got {type(temperature).__name__}")
    return check_real("temperature", temperature, low_open=True)


def check_finite(name, a, fix="clean or drop those rows"):
    """Raise unless every entry of ``a`` is finite (``None`` or empty passes): the one rule for non-finite data,
    one read of device memory (a GPU synchronisation), so it runs where data enters (``train.fit``,
    ``train.errors``, ``Network.predict``, ``layers.load_network_arrays``), never per step. ``fix`` ends the
    message (what to do about it)."""
    if a is None or not a.size or all_finite(a):
        return
    xp = get_array_module(a)
    bad = xp.logical_not(xp.isfinite(a))
    if a.ndim >= 2:
        bad = bad.reshape(a.shape[0], -1).any(axis=1)
    where = to_host(xp.flatnonzero(bad))
    unit = "rows" if a.ndim >= 2 else "entries"
    raise ValueError(f"{name} contains NaN or inf; every value must be finite: {fix} ({where.size} of its "
                     f"{bad.shape[0]} {unit}, the first at index {int(where[0])})")


def check_labels(labels, batch, classes, name="labels", ignore_label=None):
    """Raise unless ``labels`` is an integer vector of length ``batch`` (``checks.check_label_vector``, the one
    label rule) whose values lie in [0, classes) (``check_label_range``; ``ignore_label`` allowed too). The range is
    read on a direct call; inside a training step only with ``TINYKD_DEBUG=1`` (``backend.check_values``).
    """
    check_label_vector(name, labels, rows=batch)
    if backend.check_values() and batch:
        check_label_range(labels, classes, name, ignore_label)


def check_label_range(labels, classes, name="labels", ignore_label=None, what=None):
    """Raise unless every value of the non-empty ``labels`` lies in [0, classes), or is ``ignore_label`` (an
    objective's mark of an unlabelled row) when one is given: the engine's one label-range rule, one read of device
    memory (a GPU synchronisation), so it runs where data enters, not per step. ``what`` names the classes in the
    message (default ``"<classes> classes"``)."""
    if ignore_label is not None:
        labels = get_array_module(labels).where(labels == ignore_label, 0, labels)
    lo, hi = label_range(labels)
    if lo < 0 or hi >= classes:
        besides = f" besides ignore_label={ignore_label}" if ignore_label is not None else ""
        unlabelled = ("; a negative label marks an unlabelled row only for an objective built with ignore_label "
                      "(e.g. ignore_label=-1)") if lo < 0 and ignore_label is None else ""
        raise ValueError(f"{name} must lie in [0, {classes}) for {what or f'{classes} classes'}, got values in "
                         f"[{lo}, {hi}]{besides}; labels are class indices: remap them, or give the model one "
                         f"output per class{unlabelled}")


# ----------------------------------------------------------------------------------------- softmax family
def log_softmax(logits, temperature=1.0, *, checked=False):
    """log P^τ along the last axis (§1): ``log softmax(z/τ) = z/τ − logsumexp(z/τ)``.

    Subtracting the row maximum first makes every exponent <= 0, so nothing overflows for any finite logits
    (``log(softmax(z))`` would turn an underflowed 0 into -inf). Integer logits raise: τ would be cast to the
    logits' dtype and rounded. ``checked=True``: the caller has checked both arguments.
    """
    if not checked:
        check_logits_shape(logits)
        check_temperature(temperature)
    xp = get_array_module(logits)
    z = logits / logits.dtype.type(temperature)
    z -= z.max(axis=-1, keepdims=True)
    z -= xp.log(xp.exp(z).sum(axis=-1, keepdims=True))
    return z


def softmax(logits, temperature=1.0):
    """P^τ = softmax(z/τ) along the last axis (§1; the row maximum subtracted first, so exp never overflows)."""
    check_logits_shape(logits)
    check_temperature(temperature)
    xp = get_array_module(logits)
    p = logits / logits.dtype.type(temperature)
    p -= p.max(axis=-1, keepdims=True)
    xp.exp(p, out=p)
    p /= p.sum(axis=-1, keepdims=True)
    return p


def softmax_backward(probs, grad, temperature=1.0):
    """Vector-Jacobian product of ``softmax`` (§1): given ``P^τ`` and ``g = ∂L/∂P``, ``dz = P ⊙ (g − ⟨g, P⟩·1) / τ``
    (⟨g, P⟩ one number per row)."""
    check_temperature(temperature)
    dz = grad - (grad * probs).sum(axis=-1, keepdims=True)
    dz *= probs
    dz /= probs.dtype.type(temperature)
    return dz


def log_softmax_backward(log_probs, grad, temperature=1.0):
    """Vector-Jacobian product of ``log_softmax`` (§1): given log P^τ and ``g = ∂L/∂log P``,
    ``dz = (g − P·Σ_k g_k) / τ``."""
    check_temperature(temperature)
    xp = get_array_module(log_probs)
    dz = grad - xp.exp(log_probs) * grad.sum(axis=-1, keepdims=True)
    dz /= log_probs.dtype.type(temperature)
    return dz


# ------------------------------------------------------------------------------------------------- losses
def cross_entropy(logits, labels, ignore_label=None, *, checked=False):
    """Mean cross-entropy against integer labels (§2), ``H(y, P) = −(1/N) Σ_n log P[n, y_n]``.

    Gradient: ``dz = (P − onehot(y)) / N``.
    ``ignore_label`` (e.g. −1) marks unlabelled rows: they add nothing, and the mean runs over the ``N_χ`` labelled
    rows of the batch, ``H = −(1/N_χ) Σ_n χ_n log P[n, y_n]`` (``χ_n`` 1 for a labelled row, else 0), gradient
    ``χ ⊙ (P − onehot(y)) / N_χ`` (both 0 when ``N_χ = 0``). ``N_χ`` stays on the device: nothing is read back. Without
    ``ignore_label`` every label is a class index in [0, C): −1 is refused, never read as class C − 1.
    ``checked=True``: the caller has checked the logits (``check_logits``) and the labels' shape; their range is
    checked here either way (``check_label_range``, when ``backend.check_values()``).
    """
    if not checked:
        check_logits(logits)
        check_label_vector("labels", labels, rows=logits.shape[0])
    n, c = logits.shape
    if backend.check_values():
        check_label_range(labels, c, ignore_label=ignore_label)
    xp = get_array_module(logits)
    dt = logits.dtype.type
    labelled, count = None, dt(n)
    if ignore_label is not None:
        labelled = labels != ignore_label             # unlabelled rows become class 0, then weigh nothing
        labels = xp.where(labelled, labels, 0)
        count = xp.maximum(labelled.sum(), 1).astype(logits.dtype)
    rows = xp.arange(n)
    logp = log_softmax(logits, checked=True)
    picked = logp[rows, labels]
    loss = -(picked if labelled is None else picked * labelled).sum() / count
    grad = xp.exp(logp, out=logp)
    grad[rows, labels] -= 1
    if labelled is not None:
        grad *= labelled[:, None]
    grad /= count
    return loss, grad


def check_logit_pair(student_logits, teacher_logits):
    """Raise unless student and teacher logits are each valid (``check_logits``) and share shape and dtype."""
    check_logits(student_logits, "student_logits")
    check_logits(teacher_logits, "teacher_logits")
    if teacher_logits.shape != student_logits.shape:
        raise ValueError(f"teacher_logits must have the student's shape {student_logits.shape}, "
                         f"got {teacher_logits.shape}")
    if teacher_logits.dtype != student_logits.dtype:
        raise TypeError(f"teacher_logits dtype {teacher_logits.dtype} differs from student_logits dtype "
                        f"{student_logits.dtype}; cast one so nothing upcasts silently")


def _soft_target_terms(student_logits, teacher_logits, temperature, t_squared, checked):
    if not checked:
        check_logit_pair(student_logits, teacher_logits)
        check_temperature(temperature)
    xp = get_array_module(student_logits)
    t = student_logits.dtype.type(temperature)
    n = student_logits.shape[0]
    weight = t * t / n if t_squared else student_logits.dtype.type(1.0) / n
    log_ps = log_softmax(student_logits, temperature, checked=True)
    log_pt = log_softmax(teacher_logits, temperature, checked=True)
    pt = xp.exp(log_pt)
    grad = xp.exp(log_ps)
    grad -= pt
    grad *= weight / t
    return log_ps, log_pt, pt, weight, grad


def soft_cross_entropy(student_logits, teacher_logits, temperature=1.0, t_squared=False, *, checked=False):
    """Soft-target cross-entropy of Hinton, Vinyals & Dean (2015), "Distilling the knowledge in a neural network" (§3).

    ``H(P_T^τ, P_S^τ) = −(1/N) Σ_n Σ_k P_T^τ[n,k] log P_S^τ[n,k]`` with ``P^τ = softmax(z/τ)``.

    Gradient w.r.t. the student logits: ``dz_S = (P_S^τ − P_T^τ) / (τ N)``. With ``t_squared=True`` the value and the
    gradient are multiplied by τ², Hinton's factor that keeps the soft term's gradient comparable across τ.
    ``checked=True``: the caller has checked the pair (``check_logit_pair``) and the temperature.
    """
    log_ps, _, pt, weight, grad = _soft_target_terms(student_logits, teacher_logits, temperature, t_squared, checked)
    loss = -(pt * log_ps).sum() * weight
    return loss, grad


def kl_divergence(student_logits, teacher_logits, temperature=1.0, t_squared=False, *, checked=False):
    """``KL(P_T^τ ‖ P_S^τ) = H(P_T^τ, P_S^τ) − H(P_T^τ)``, mean over the batch (optionally times τ²; §3).

    Same gradient as ``soft_cross_entropy`` (the teacher's entropy does not depend on the student); unlike it,
    the value is 0 exactly when the student's and teacher's distributions agree. ``checked``: as
    ``soft_cross_entropy``'s.
    """
    log_ps, log_pt, pt, weight, grad = _soft_target_terms(student_logits, teacher_logits, temperature, t_squared,
                                                          checked)
    loss = (pt * (log_pt - log_ps)).sum() * weight
    return loss, grad


def sigmoid(z):
    """The logistic sigmoid (§4), ``σ(q) = 1/(1 + exp(−q))``, computed from ``exp(−|q|)`` so neither branch
    overflows (the argument ``z`` is any array of logits ``q``)."""
    xp = get_array_module(z)
    e = xp.exp(-xp.abs(z))
    return xp.where(z >= 0, 1 / (1 + e), e / (1 + e))


def logistic_loss(z, targets):
    """Mean binary cross-entropy of a logistic output (§4): its logits ``q`` (the argument ``z``) against targets
    ``c ∈ [0, 1]`` (the argument ``targets``; 0 = teacher, 1 = student for the discriminator).

    ``ℓ(q, c) = −c log σ(q) − (1 − c) log(1 − σ(q)) = max(q, 0) − q c + log(1 + exp(−|q|))`` (the right-hand form
    is exact and never overflows); the loss is ``L = (1/N) Σ_n ℓ(q_n, c_n)``, its gradient
    ``dq_n = (σ(q_n) − c_n) / N``. With ``TINYKD_DEBUG=1`` it also checks that every logit is finite and every
    target lies in [0, 1].
    """
    xp = get_array_module(z)
    if not hasattr(z, "dtype") or z.dtype.kind != "f":
        raise TypeError(f"z must be a floating array of logits, got {getattr(z, 'dtype', type(z).__name__)}")
    if z.ndim not in (1, 2) or (z.ndim == 2 and z.shape[1] != 1) or z.shape[0] < 1:
        raise ValueError(f"z must have shape (batch,) or (batch, 1), got {z.shape}")
    if not hasattr(targets, "shape") or targets.shape != z.shape:
        raise ValueError(f"targets must have the logits' shape {z.shape}, got {getattr(targets, 'shape', None)}")
    if backend.debug():
        if not all_finite(z):
            raise ValueError("z contains NaN or inf; every logit must be finite")
        if bool(((targets < 0) | (targets > 1)).any()):
            raise ValueError("targets must lie in [0, 1] (0 = teacher, 1 = student for the discriminator)")
    t = targets.astype(z.dtype, copy=False)
    n = z.dtype.type(z.shape[0])
    loss = (xp.maximum(z, 0) - z * t + xp.log1p(xp.exp(-xp.abs(z)))).sum() / n
    grad = sigmoid(z)
    grad -= t
    grad /= n
    return loss, grad


# ------------------------------------------------------------------------------------------ logit transforms
STANDARDISE_EPS = 1e-12


def standardise(logits, eps=STANDARDISE_EPS, *, checked=False):
    """Per-row z-score of the logits (Sun et al. 2024, "Logit standardization in knowledge distillation"; §16):
    ``z̃ = (z − z̄·1)/σ_z`` with ``z̄ = mean_k z_k``, ``ν_z = mean_k (z_k − z̄)²`` and ``σ_z = √(ν_z + ε_z)``.

    The population variance (divide by C, not C − 1; Sun et al.'s code uses C − 1, a factor √(C/(C − 1)) that a
    temperature absorbs). ``ε_z`` (the argument ``eps``) keeps a row of equal logits finite (z̃ = 0 there) and is
    tiny beside any real spread. Returns ``(z̃, σ_z)``, σ_z of shape (batch, 1): what ``standardise_backward``
    needs.
    ``checked=True``: the caller has checked the logits' dtype and shape.
    """
    if not checked:
        check_logits_shape(logits)
    check_real("eps", eps, low_open=True)
    xp = get_array_module(logits)
    centred = logits - logits.mean(axis=-1, keepdims=True)
    sigma = xp.sqrt((centred * centred).mean(axis=-1, keepdims=True) + logits.dtype.type(eps))
    centred /= sigma
    return centred, sigma


def standardise_backward(standardised, sigma, grad):
    """Vector-Jacobian product of ``standardise``: given z̃, σ_z and ``g = ∂L/∂z̃``,
    ``dz = (g − mean_k(g)·1 − z̃ ⊙ mean_k(g ⊙ z̃)·1) / σ_z`` (exact for any ε_z: docs/derivations.md §16)."""
    dz = grad - grad.mean(axis=-1, keepdims=True)
    dz -= standardised * (grad * standardised).mean(axis=-1, keepdims=True)
    dz /= sigma
    return dz


def on_standardised(loss, student_logits, teacher_logits, *, checked=False):
    """``loss(z̃_S, z̃_T)`` on the z-scored logits of student and teacher, its gradient carried back to the raw
    student logits through ``standardise_backward`` (§16): the one place where KD and DKD get Sun et al.'s option.
    ``checked=True``: the caller has checked both logits' dtype and shape."""
    zs, sigma = standardise(student_logits, checked=checked)
    zt, _ = standardise(teacher_logits, checked=checked)
    value, grad = loss(zs, zt)
    return value, standardise_backward(zs, sigma, grad)
