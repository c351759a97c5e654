"""One run specification for every trained network: the objects that train it and the identity that names its
record and checkpoint both come from it, so what is described is what trains.

A ``Spec`` is plain data: the role, the network (sizes, initial seed, dropout, or a binary mode), the objective as
a class (or factory) with its keyword arguments, the optimiser's settings (Adam's rate and max-norm), the schedule
(cosine over the run, or exponential decay), epochs, the loop's shuffling seed, batch size and backend, the data's
fingerprint, and ``extra``: what else makes it this run (the record keys of its teacher and start, what was done to
its rows). ``build()`` makes the objects once; ``identity(parts)`` asks those same objects to describe themselves,
never a second build, so a changed default changes the identity.
"""
from dataclasses import dataclass, field

from ..backend import resolve
from ..binary import BinaryMLP
from ..distill import Supervised
from ..layers import MLP
from ..optim import Adam
from ..schedules import ExponentialSchedule, cosine_lr


@dataclass
class Parts:
    """What trains one network, built once from its ``Spec``."""
    model: object
    optimizer: object
    schedule: object
    objective: object


@dataclass(frozen=True)
class Spec:
    """One trained network as asked for. ``objective``: (class or factory, keyword arguments), called once by
    ``build``; ``mode``: "bwn" or "xnor" for a ``BinaryMLP``, None for an ``MLP``; ``decay``: an
    ``ExponentialSchedule`` with this decay per epoch (None: cosine over the run; a run of 0 epochs has none);
    ``jitter``: pixels of random shift per batch, for a network whose input is jittered (None: a network that never
    jitters, whose identity has no jitter); ``shuffle_seed``: the loop's (None: ``seed``)."""
    role: str
    sizes: tuple
    epochs: int
    lr: float
    data: str
    batch_size: int
    backend: str
    seed: int = 0
    objective: tuple = (Supervised, ())
    mode: str = None
    dropout: float = 0.0
    input_dropout: float = 0.0
    max_norm: float = None
    decay: float = None
    jitter: int = None
    shuffle_seed: int = None
    extra: dict = field(default_factory=dict)

    def build(self):
        """The objects that train this network, built before anything trains."""
        xp = resolve(self.backend)
        if self.mode is None:
            model = MLP(list(self.sizes), dropout=self.dropout, input_dropout=self.input_dropout, seed=self.seed,
                        backend=xp)
        else:
            model = BinaryMLP(list(self.sizes), mode=self.mode, seed=self.seed, backend=xp)
        schedule = None if not self.epochs else cosine_lr(self.lr, self.epochs) if self.decay is None else \
            ExponentialSchedule(self.lr, self.decay)       # a decay of 0 or above 1 is refused there, not ignored
        make, kwargs = self.objective
        return Parts(model, Adam(model, lr=self.lr, max_norm=self.max_norm), schedule, make(**dict(kwargs)))

    def identity(self, parts):
        """The data's fingerprint, what each object that shapes the weights says of itself (the model's
        architecture, initialisation and seeds; the optimiser's settings; the schedule's base rate, length and
        floor; the objective's settings), the loop's own settings (epochs, batch size, jitter, the shuffling seed,
        the backend), then ``extra``: without its ``teacher`` for a network on the labels alone (``Supervised``),
        which no teacher shapes, so a new teacher finds it instead of training it again."""
        model = parts.model
        ident = {"data": self.data, "role": self.role,
                 "model": model.describe() if self.mode is None else {**model.config(), "seed": self.seed},
                 "optimizer": parts.optimizer.describe(),
                 "schedule": parts.schedule.describe() if parts.schedule else None,
                 "objective": parts.objective.describe(), "epochs": self.epochs, "batch_size": self.batch_size,
                 "seed": self.seed if self.shuffle_seed is None else self.shuffle_seed, "backend": self.backend}
        if self.jitter is not None:
            ident["jitter"] = self.jitter
        alone = isinstance(parts.objective, Supervised)
        return {**ident, **{k: v for k, v in self.extra.items() if not (alone and k == "teacher")}}


@dataclass(frozen=True)
class EnsembleSpec:
    """A teacher made of trained networks, nothing trained (``tinykd.ensemble``): ``members`` the record keys of
    the networks it may average, in the order that breaks ties; ``average`` "probabilities" or "logits", or None:
    which members and which average are chosen on the validation rows (``ensemble.select``), and the record says
    what was chosen. Its identity links the members' records, so it names exactly those networks."""
    role: str
    members: tuple
    data: str
    backend: str
    average: str = None
    extra: dict = field(default_factory=dict)

    def identity(self):
        return {"data": self.data, "role": self.role, "backend": self.backend,
                "model": {"kind": "ensemble", "members": list(self.members),
                          "average": self.average or "members and average chosen on validation"}, **self.extra}
