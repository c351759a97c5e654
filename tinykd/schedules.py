"""Learning-rate schedules: epoch -> rate, each describing itself for a run's identity.

``CosineSchedule`` knows its run's length (``fit`` refuses one of another length); ``ExponentialSchedule`` has none:
the rate at epoch e depends on e alone, so the first E epochs of a long run are exactly a run of E epochs, which lets
a run's validation curve choose how many epochs to train (``tinykd.experiments.selection``).
"""
import math

from .checks import check_real, is_int, is_real


class CosineSchedule:
    """Cosine decay over a run of ``epochs``: ``lr(e) = base_lr · (f + (1 − f) · ½ (1 + cos(π e / E)))`` for the
    0-based epoch ``e < E``, ``f = final_fraction`` (Loshchilov & Hutter 2017, one cycle, no restarts): from
    ``base_lr`` towards ``f · base_lr``, reached at ``e = E`` just after the last epoch. An epoch past the run is
    refused: there the cosine climbs back up.
    """

    def __init__(self, base_lr, epochs, final_fraction=0.01):
        self.base_lr = check_real("base_lr", base_lr, low_open=True)
        if not is_int(epochs, 1):
            raise ValueError(f"a schedule's epochs must be an integer >= 1, got {epochs!r} (a run of 0 epochs needs "
                             "no schedule: pass lr_schedule=None)")
        self.epochs = int(epochs)
        if not (is_real(final_fraction) and 0 <= final_fraction <= 1):
            raise ValueError(f"final_fraction must be a number in [0, 1] (the rate reached at the end, as a "
                             f"fraction of base_lr), got {final_fraction!r}")
        self.final_fraction = float(final_fraction)

    def __call__(self, epoch):
        if not is_int(epoch, 0, self.epochs - 1):
            raise ValueError(f"this cosine schedule covers epochs 0 to {self.epochs - 1}, not {epoch!r}: build it "
                             "for as many epochs as the run trains")
        f = self.final_fraction
        return self.base_lr * (f + (1 - f) * 0.5 * (1 + math.cos(math.pi * epoch / self.epochs)))

    def describe(self):
        return {"schedule": "cosine", "base_lr": self.base_lr, "epochs": self.epochs,
                "final_fraction": self.final_fraction}


def cosine_lr(base_lr, epochs, final_fraction=0.01):
    """A ``CosineSchedule``: the rate for each epoch of a run of ``epochs``, from ``base_lr`` down towards
    ``final_fraction · base_lr``."""
    return CosineSchedule(base_lr, epochs, final_fraction)


class ExponentialSchedule:
    """Exponential decay: ``lr(e) = base_lr · decay^e`` for the 0-based epoch ``e`` (Hinton et al. 2012 multiplied
    the rate by 0.998 after every epoch); no length (see the module's docstring)."""

    def __init__(self, base_lr, decay):
        self.base_lr = check_real("base_lr", base_lr, low_open=True)
        if not (is_real(decay) and 0 < decay <= 1):
            raise ValueError(f"decay must be a number in (0, 1] (the factor applied after every epoch), got {decay!r}")
        self.decay = float(decay)

    def __call__(self, epoch):
        if not is_int(epoch, 0):
            raise ValueError(f"an epoch is an integer >= 0, got {epoch!r}")
        return self.base_lr * self.decay ** epoch

    def describe(self):
        return {"schedule": "exponential", "base_lr": self.base_lr, "decay": self.decay}
