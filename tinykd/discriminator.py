"""The logistic discriminator of adversarial KD: is this logit vector the teacher's (label 0) or the student's (1)?

``D(a) = σ(f(φ(a)))`` where ``f`` is an affine map (logistic regression, the founding report's choice) or a
one-hidden-layer ReLU net, and ``φ`` chooses what the discriminator sees:

- ``"raw"``: the logits themselves (the report's form). Softmax is shift-invariant, so a student can fool a
  linear D on raw logits by adding one constant c to every logit: ``f`` moves by ``c Σ_k w_k`` while no
  prediction changes. Nothing bounds that drift;
- ``"centred"``: ``a − mean_k(a)``, which removes exactly that shift;
- ``"logprob"``: ``log softmax(a/τ)``, shift-invariant too, and scaled like the probabilities KD matches.

The gradient w.r.t. the logits runs through ``f`` (hand-written MLP backward) and ``φ``:
raw ``g``; centred ``g − mean_k(g)``; logprob ``log_softmax_backward``. Derivation: ``docs/derivations.md``.
"""
import numpy as np

from . import functional as F
from .backend import default_rng, get_array_module, to_device
from .batches import batches
from .checks import check_int, is_real
from .layers import MLP
from .optim import Adam

FEATURES = ("raw", "centred", "logprob")


class Discriminator:
    """Logistic discriminator on logit vectors, with its own Adam optimiser."""

    def __init__(self, n_classes, hidden=0, features="raw", temperature=1.0, lr=1e-3, seed=0, backend=None,
                 dtype=np.float32):
        if features not in FEATURES:
            raise ValueError(f"features must be one of {FEATURES}, got {features!r}")
        F.check_temperature(temperature)
        hidden = check_int("hidden", hidden, 0)  # 0: logistic regression
        self.features, self.temperature, self.hidden = features, float(temperature), hidden
        self.n_classes = n_classes
        sizes = [n_classes, hidden, 1] if hidden else [n_classes, 1]
        self.net = MLP(sizes, seed=seed, backend=backend, dtype=dtype, input_grad=True)
        self.opt = Adam(self.net, lr=lr)

    def _phi(self, a):
        if self.features == "raw":
            return a
        if self.features == "centred":
            return a - a.mean(axis=1, keepdims=True)
        return F.log_softmax(a, self.temperature)

    def _phi_backward(self, phi, dphi):
        if self.features == "raw":
            return dphi
        if self.features == "centred":
            return dphi - dphi.mean(axis=1, keepdims=True)
        return F.log_softmax_backward(phi, dphi, self.temperature)

    def logit(self, a):
        """The discriminator's logit z = f(φ(a)), shape (batch,); D(a) = σ(z) is P(student | a)."""
        return self.net.forward(self._phi(a))[:, 0]

    def _backprop(self, a, targets):
        """Forward and backward of the mean logistic loss of calling the rows of ``a`` ``targets`` (0 teacher,
        1 student; shape (batch,)): fills the discriminator's parameter gradients, returns (loss, φ(a), dloss/dφ)."""
        phi = self._phi(a)
        z = self.net.forward(phi, train=True)
        value, dz = F.logistic_loss(z, targets[:, None])
        return value, phi, self.net.backward(dz)

    def loss(self, a, label):
        """``L_class(a | x=label)``: the mean logistic loss of calling the logits ``a`` class ``label``.

        Returns (loss, dloss/da); the discriminator's own parameter gradients are filled too, and left unused.
        """
        xp = get_array_module(a)
        value, phi, dphi = self._backprop(a, xp.full(a.shape[0], label, dtype=a.dtype))
        return value, self._phi_backward(phi, dphi)

    def step(self, teacher_logits, student_logits):
        """One Adam step on a balanced batch: teacher logits labelled 0, student logits labelled 1."""
        xp = get_array_module(teacher_logits)
        a = xp.concatenate([teacher_logits, student_logits])
        labels = xp.concatenate([xp.zeros(teacher_logits.shape[0], a.dtype), xp.ones(student_logits.shape[0], a.dtype)])
        value, _, _ = self._backprop(a, labels)
        self.opt.step()
        return value

    def accuracy(self, teacher_logits, student_logits):
        """Fraction of teacher logits called 0 and student logits called 1 (a balanced accuracy)."""
        t = float((self.logit(teacher_logits) < 0).mean())
        s = float((self.logit(student_logits) >= 0).mean())
        return (t + s) / 2

    def fit(self, teacher_logits, student_logits, epochs=5, batch_size=256, holdout=0.2, seed=0):
        """Train on paired logits of the training set, holding out a fraction; returns the held-out accuracy.

        Arguments are checked first (shapes, types, and once that the logits are finite): a bad one would otherwise
        train on nothing, or on truncated pairs, without a word.
        """
        for name, a in (("teacher_logits", teacher_logits), ("student_logits", student_logits)):
            F.check_logits_shape(a, name)
            if a.shape[1] != self.n_classes:
                raise ValueError(f"{name} must have {self.n_classes} columns, the discriminator's n_classes, "
                                 f"got shape {a.shape}")
        if teacher_logits.shape != student_logits.shape:
            raise ValueError(f"teacher_logits {teacher_logits.shape} and student_logits {student_logits.shape} must "
                             "pair row by row: compute both on the same inputs")
        for name, a in (("teacher_logits", teacher_logits), ("student_logits", student_logits)):
            if not F.all_finite(a):  # once per call, where the data enters: the steps themselves read no values
                raise ValueError(f"{name} contains NaN or inf; every logit must be finite")
        check_int("epochs", epochs, 0)
        check_int("batch_size", batch_size, 1)
        if not is_real(holdout) or not 0 <= holdout <= 1:
            raise ValueError(f"holdout must be a fraction in [0, 1], got {holdout!r}")
        xp = get_array_module(teacher_logits)
        n = teacher_logits.shape[0]
        n_out = int(n * holdout)
        if n_out == n:
            raise ValueError(f"holdout={holdout} holds out all {n} rows and leaves none to train on; lower holdout")
        perm = to_device(default_rng(seed).permutation(n), xp)
        held, used = perm[:n_out], perm[n_out:]
        pairs = (teacher_logits[used], student_logits[used])
        rng = default_rng(seed + 1)
        for _ in range(epochs):
            for t, s in batches(*pairs, batch_size=batch_size, rng=rng):
                self.step(t, s)
        if n_out == 0:
            return self.accuracy(teacher_logits, student_logits)
        return self.accuracy(teacher_logits[held], student_logits[held])
