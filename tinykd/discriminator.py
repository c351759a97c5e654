"""The logistic discriminator of adversarial KD: is this row of logits the teacher's (target 0) or the student's (1)?

In the notation of ``docs/derivations.md`` §11: ``D = σ(q)`` with ``q = f(φ(z))``, where ``z`` is a row of logits
(the methods' argument ``a``, after the founding report's ``a_S``), ``f`` an affine map ``φ W + b`` (logistic
regression, the report's choice) or a ReLU MLP with the hidden widths given (``hidden``: one width or a list), and
``φ`` chooses what the discriminator sees:

- ``"raw"``: the logits themselves (the report's form). Softmax is shift-invariant, so a student can fool a
  linear D on raw logits by adding one constant κ to every logit of a row: ``q`` moves by ``κ Σ_k W_k`` while no
  prediction changes. Nothing bounds that drift (§11 writes out its rate);
- ``"centred"``: ``z − mean_k(z)·1``, which removes exactly that shift;
- ``"logprob"``: ``log softmax(z/τ_D)``, shift-invariant too, and scaled like the probabilities KD matches;
- ``"standardised"``: the z-scored logits ``z̃`` (``F.standardise``, §16), blind to shift AND scale.

A *conditional* discriminator (Xu, Hsu & Huang 2017; §19) also sees each row's class, as a one-hot vector after
φ(z): it judges whether these logits are the teacher's *for this class*, which a student cannot pass by looking like
the teacher on average. ``smoothing`` > 0 is one-sided label smoothing (Salimans et al. 2016): the teacher's rows
get the target ``c_T`` (``smoothing``) instead of 0, so D never grows fully sure of the teacher's logits.

The gradient w.r.t. the logits runs through ``f`` (hand-written MLP backward) and ``φ`` (the one-hot columns
carry none); with ``g = dφ``: raw ``dz = g``; centred ``dz = g − mean_k(g)·1``; logprob ``log_softmax_backward``;
standardised ``standardise_backward``. Derivations: ``docs/derivations.md`` §4 (the logistic loss), §11, §16
(standardisation), §19 (the conditional discriminator).
"""
import numpy as np

from . import functional as F
from .backend import default_rng, get_array_module, to_device, training_step
from .batches import batches
from .checks import check_int, check_label_vector, check_seed, is_real
from .layers import MLP
from .optim import Adam

FEATURES = ("raw", "centred", "logprob", "standardised")


class Discriminator:
    """Logistic discriminator on logit vectors, with its own Adam optimiser."""

    def __init__(self, n_classes, hidden=0, features="raw", temperature=1.0, lr=1e-3, seed=0, backend=None,
                 dtype=np.float32, conditional=False, smoothing=0.0):
        if features not in FEATURES:
            raise ValueError(f"features must be one of {FEATURES}, got {features!r}")
        F.check_temperature(temperature)
        n_classes = check_int("n_classes", n_classes, 1)
        widths = list(hidden) if isinstance(hidden, (list, tuple)) else [hidden]
        widths = [check_int("each hidden width", h, 0) for h in widths]   # [0]: logistic regression
        if len(widths) > 1 and 0 in widths:
            raise ValueError(f"hidden widths must be >= 1 when there are several, got {list(hidden)}")
        if not isinstance(conditional, bool):
            raise TypeError(f"conditional must be True or False, got {conditional!r}")
        if not is_real(smoothing) or not 0 <= smoothing < 0.5:
            raise ValueError(f"smoothing must be a number in [0, 0.5), got {smoothing!r}")
        self.features, self.temperature = features, float(temperature)
        self.hidden = widths[0] if len(widths) == 1 else widths
        self.n_classes, self.conditional, self.smoothing = n_classes, conditional, float(smoothing)
        self.seed = check_seed(seed)
        sizes = [n_classes * (2 if conditional else 1)] + [h for h in widths if h] + [1]
        self.net = MLP(sizes, seed=self.seed, backend=backend, dtype=dtype, input_grad=True)
        self.opt = Adam(self.net, lr=lr)
        self.fits = []   # the settings of each fit call, in order: they shape the weights too (describe)

    def describe(self):
        """Every setting that shapes this discriminator's weights, as plain JSON values: each constructor argument
        (the backend by its module's name), Adam's defaults that the constructor does not expose (``betas``, ``eps``),
        and the settings of every ``fit`` so far. Part of the identity of a student trained against it."""
        return {"n_classes": self.n_classes, "hidden": self.hidden, "features": self.features,
                "temperature": self.temperature, "lr": self.opt.lr, "seed": self.seed,
                "backend": self.net.xp.__name__, "dtype": self.net.dtype.name, "conditional": self.conditional,
                "smoothing": self.smoothing, "adam_betas": [self.opt.beta1, self.opt.beta2], "adam_eps": self.opt.eps,
                "fits": [dict(f) for f in self.fits]}

    def _phi(self, a):
        """φ(z) of the logits ``a``, and what ``_phi_backward`` needs (the standardised features' σ_z, or None)."""
        if self.features == "raw":
            return a, None
        if self.features == "centred":
            return a - a.mean(axis=1, keepdims=True), None
        if self.features == "standardised":
            return F.standardise(a)
        return F.log_softmax(a, self.temperature), None

    def _phi_backward(self, phi, sigma, dphi):
        if self.features == "raw":
            return dphi
        if self.features == "centred":
            return dphi - dphi.mean(axis=1, keepdims=True)
        if self.features == "standardised":
            return F.standardise_backward(phi, sigma, dphi)
        return F.log_softmax_backward(phi, dphi, self.temperature)

    def _check_classes(self, classes):
        """Raise unless ``classes`` are given exactly when the discriminator is conditional."""
        if self.conditional != (classes is not None):
            raise ValueError("a conditional discriminator needs each row's class (classes=...)" if self.conditional
                             else "this discriminator is not conditional: give no classes")

    def _input(self, a, classes):
        """The network's input: φ(z) of the logits ``a``, then (conditional) the one-hot classes; and φ's own results
        for backward."""
        self._check_classes(classes)
        phi, sigma = self._phi(a)
        if classes is None:
            return phi, phi, sigma
        F.check_labels(classes, a.shape[0], self.n_classes, "classes")
        xp = get_array_module(a)
        onehot = (xp.arange(self.n_classes)[None, :] == classes[:, None]).astype(a.dtype)
        return xp.concatenate([phi, onehot], axis=1), phi, sigma

    def logit(self, a, classes=None):
        """The discriminator's logit ``q = f(φ(z))`` of the logits ``a`` (a conditional D sees the one-hot class after
        φ(z)), shape (batch,); ``D = σ(q)`` is the probability that they are the student's."""
        return self.net.forward(self._input(a, classes)[0])[:, 0]

    def _backprop(self, a, targets, classes):
        """Forward and backward of the mean logistic loss of calling the rows of ``a`` the ``targets`` ``c`` (0 teacher,
        1 student; shape (batch,)): fills the discriminator's parameter gradients, returns ``(L, φ(z), σ_z, dφ)``
        (``σ_z`` for standardised features, else None)."""
        inputs, phi, sigma = self._input(a, classes)
        z = self.net.forward(inputs, train=True)
        value, dz = F.logistic_loss(z, targets[:, None])
        dphi = self.net.backward(dz)[:, :a.shape[1]]    # the one-hot columns are no function of a
        return value, phi, sigma, dphi

    def loss(self, a, label, classes=None):
        """``L_class(z ∣ c)`` (§11): the mean logistic loss of calling the logits ``a`` class ``c = label`` (the
        target is exactly ``label``: smoothing applies to the discriminator's own steps only).

        Returns ``(L_class, dz)``, ``dz`` its gradient w.r.t. the logits; the discriminator's own parameter gradients
        are filled too, and left unused.
        """
        xp = get_array_module(a)
        value, phi, sigma, dphi = self._backprop(a, xp.full(a.shape[0], label, dtype=a.dtype), classes)
        return value, self._phi_backward(phi, sigma, dphi)

    def step(self, teacher_logits, student_logits, classes=None):
        """One Adam step on a balanced batch (§19): teacher logits get the target 0 (``c_T``, ``smoothing``, with
        one-sided label smoothing), student logits 1; ``classes``: each row's class (a conditional D), the same for
        both."""
        xp = get_array_module(teacher_logits)
        a = xp.concatenate([teacher_logits, student_logits])
        both = None if classes is None else xp.concatenate([classes, classes])
        labels = xp.concatenate([xp.full(teacher_logits.shape[0], self.smoothing, a.dtype),
                                 xp.ones(student_logits.shape[0], a.dtype)])
        value = self._backprop(a, labels, both)[0]
        self.opt.step()
        return value

    def accuracy(self, teacher_logits, student_logits, classes=None):
        """Fraction of teacher logits called 0 and student logits called 1 (a balanced accuracy)."""
        t = float((self.logit(teacher_logits, classes) < 0).mean())
        s = float((self.logit(student_logits, classes) >= 0).mean())
        return (t + s) / 2

    def fit(self, teacher_logits, student_logits, epochs=5, batch_size=256, holdout=0.2, seed=0, classes=None):
        """Train on paired logits of the training set, holding out a fraction; returns the held-out accuracy.
        ``classes``: each pair's class, for a conditional discriminator. Every argument is checked first, the
        logits' values once (the steps read none).
        """
        for name, a in (("teacher_logits", teacher_logits), ("student_logits", student_logits)):
            F.check_logits_shape(a, name)
            if a.shape[1] != self.n_classes:
                raise ValueError(f"{name} must have {self.n_classes} columns, the discriminator's n_classes, "
                                 f"got shape {a.shape}")
            F.check_finite(name, a)
        if teacher_logits.shape != student_logits.shape:
            raise ValueError(f"teacher_logits {teacher_logits.shape} and student_logits {student_logits.shape} must "
                             "pair row by row: compute both on the same inputs")
        self._check_classes(classes)
        check_int("epochs", epochs, 0)
        check_int("batch_size", batch_size, 1)
        seed = check_seed(seed, allow_none=False)
        if not is_real(holdout) or not 0 <= holdout <= 1:
            raise ValueError(f"holdout must be a fraction in [0, 1], got {holdout!r}")
        xp = get_array_module(teacher_logits)
        n = teacher_logits.shape[0]
        n_out = int(n * holdout)
        if n_out == n:
            raise ValueError(f"holdout={holdout} holds out all {n} rows and leaves none to train on; lower holdout")
        perm = to_device(default_rng(seed).permutation(n), xp)
        if classes is not None:
            check_label_vector("classes", classes, rows=n)
            # the range once, where the data enters: a class out of range would be an all-zero one-hot, silently
            F.check_label_range(classes, self.n_classes, "classes")
        self.fits.append({"rows": n, "epochs": int(epochs), "batch_size": int(batch_size), "holdout": float(holdout),
                          "seed": seed})
        held, used = perm[:n_out], perm[n_out:]
        pairs = (teacher_logits[used], student_logits[used]) + (() if classes is None else (classes[used],))
        rng = default_rng(seed + 1)
        with training_step():        # the classes were checked above: the steps read nothing back
            for _ in range(epochs):
                for batch in batches(*pairs, batch_size=batch_size, rng=rng):
                    self.step(*batch)
        if n_out == 0:
            return self.accuracy(teacher_logits, student_logits, classes)
        return self.accuracy(teacher_logits[held], student_logits[held], None if classes is None else classes[held])
