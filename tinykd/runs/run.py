"""The one path from a run specification to its record: ``Runner.run(spec, ...)``.

1. Build the objects from the specification and take its identity from them (``Spec.build``, ``Spec.identity``).
2. Its record found (``Store.find``) and its network not needed: done, nothing is loaded or trained.
3. Else its checkpoint found (``<checkpoint_dir>/<data>-<role>-<sizes>-<key>.npz``, the record's key): load it.
4. Else train it: holding the run's lock, continuing an interrupted run from its run file (or a shorter finished
   run of the same exponential schedule), ``fit``, then save the checkpoint with what produced it.
5. Its record missing: test and validation errors, parameters, time and history, what ``measure(model)`` adds,
   and the provenance of the process that trained it (kept in the checkpoint), written to the store.

An ensemble teacher (``EnsembleSpec``) takes the same path without steps 3 and 4: ``Runner.assemble`` averages
its members' networks (each one a record of its own) and records what the ensemble makes.
"""
import os
import time

from ..backend import to_host
from ..ensemble import Ensemble, select
from ..layers import load_network_arrays, network_arrays
from ..train import errors, fit
from . import checkpoints as ckpt
from . import locks
from .identity import key
from .provenance import provenance
from .runstate import RunFile


class Runner:
    """Where one experiment's runs go: its records (``store``), its checkpoints (``checkpoint_dir``, file names
    starting with ``label``, the data's name) and the data's record written beside each result (``data``)."""

    def __init__(self, store, checkpoint_dir, label, data, say=print):
        self.store, self.checkpoint_dir, self.label, self.data, self.say = store, checkpoint_dir, label, data, say
        self._built = {}    # repr(spec) -> (parts, identity): each specification is built once

    def find(self, spec, parts=None):
        """The record of ``spec`` (None when there is none) and its parts: (record, parts, identity). A
        specification is built once: asking again (for its key, its record, to train it) reuses the same objects."""
        if parts is None and repr(spec) in self._built:
            parts, ident = self._built[repr(spec)]
        else:
            parts = parts or spec.build()
            ident = spec.identity(parts)
            self._built[repr(spec)] = parts, ident
        return self.store.find(ident), parts, ident

    def key(self, spec):
        """The key of ``spec``'s record and checkpoint."""
        return key(self.find(spec)[2])

    def path(self, ident):
        """``<checkpoint_dir>/<data>-<role>-<sizes>-<key>.npz``: other data or settings never find it."""
        sizes = "x".join(str(s) for s in ident["model"]["sizes"])
        return os.path.join(self.checkpoint_dir, f"{self.label}-{ident['role']}-{sizes}-{key(ident)}.npz")

    def run(self, spec, rows, test, parts=None, need_model=False, teacher=None, image_shape=None, start=None,
            before=None, measure=None, links=None, held_out=True, asked=None, **fit_options):
        """The network ``spec`` asks for, trained on ``rows`` = (x, y, x_val, y_val) and counted on ``test`` =
        (x_test, y_test): (model, record). ``need_model=False`` and a record present: (None, record), nothing built
        beyond the description. ``teacher``: its outputs or a function (``fit``'s); ``start``: a network whose
        weights it starts from; ``before(parts)``: a stage before ``fit`` (a discriminator's pretraining, FitNets'
        hints), returning fields for the result; ``measure(model)``: fields for the result after training.
        ``held_out=False``: the network trained on the validation rows too, so it has no validation errors.
        ``parts``: the objects ``spec.build()`` made, when the caller needs them too (e.g. a discriminator).
        ``links`` and any other keyword of ``Store.put`` go into the record; the rest to ``fit``."""
        rec, parts, ident = self.find(spec, parts)
        if rec is not None and not need_model:
            return None, rec
        path = self.path(ident)
        loaded = os.path.exists(path)
        model, info = (self._load(path, parts, ident, test) if loaded else
                       self._train(spec, parts, ident, path, rows, test, teacher, image_shape, start, before,
                                   fit_options))
        if rec is not None:
            self._check_against(rec, info["test_errors"], path, loaded)
        else:
            result = {**self._result(model, rows, info["test_errors"], held_out), **info.pop("before", {}),
                      **{k: v for k, v in info.items() if k not in ("provenance", "test_errors")},
                      **(measure(model) if measure else {})}
            rec = self.store.put(ident, result, links=links, data=self.data,
                                 provenance=info.get("provenance"), **({"asked": asked} if asked else {}))
        return model, rec

    def assemble(self, spec, members, test, val=None, need_model=False, measure=None, links=None):
        """The ensemble ``spec`` (an ``EnsembleSpec``) asks for: (model, record), nothing trained. ``members(keys)``
        gives {record key: trained network} for those keys, called only when the record is missing or the model is
        needed (and then, the record found, for the chosen members only). ``val`` = (x_val, y_val): where members
        and average are chosen when ``spec.average`` is None (``ensemble.select``; the record keeps the choice, so
        a rerun reads it and loads nothing). Its test and validation errors are counted as any network's (the
        validation errors flatter an ensemble chosen on them); a record found is checked against the ensemble."""
        ident = spec.identity()
        rec = self.store.find(ident)
        if rec is not None and not need_model:
            return None, rec
        if rec is not None:    # the choice was made: only the chosen members are loaded
            average, chosen, steps = rec["result"]["average"], rec["result"]["members"], None
            nets = members(chosen)
        elif spec.average is None:
            if val is None:
                raise ValueError(f"{spec.role}: its members and average are chosen on validation rows, and none were "
                                 "given: pass val=(x_val, y_val), or fix the average (EnsembleSpec(average=...))")
            nets = members(spec.members)
            average, chosen, steps = select({k: to_host(nets[k].logits(val[0])) for k in spec.members},
                                            to_host(val[1]))
        else:
            average, chosen, steps, nets = spec.average, list(spec.members), None, members(spec.members)
        model = Ensemble([nets[k] for k in chosen], average)
        now = errors(model, *test)
        if rec is not None:
            self._check_against(rec, now, None, loaded=False)
            return model, rec
        result = {"errors": now, "validation_errors": errors(model, *val) if val is not None else None,
                  "params": model.count_params(biases=False), "params_with_biases": model.count_params(),
                  "average": average, "members": chosen, "seconds": 0.0,
                  **({"selection": steps} if steps else {}), **(measure(model) if measure else {})}
        return model, self.store.put(ident, result, links=links, data=self.data)

    def _check_against(self, rec, now, path, loaded):
        """The network in hand is the one its record describes: its test errors are the record's. A checkpoint that
        is not (damaged, or replaced by hand) is refused; a network trained again because its checkpoint was gone
        (another machine's BLAS sums in another order) is said to differ, since what learns from it now is not
        what its record describes. ``now``: the network's test errors, counted once when it was loaded or trained."""
        then = rec["result"]["errors"]
        if now == then:
            return
        if loaded:
            raise ckpt.CheckpointError(f"{path} does not hold the network its record describes ({now} test errors, "
                                       f"the record {self.store.path(rec['identity'])} says {then}): delete the "
                                       "checkpoint (the network trains again)")
        self.say(f"WARNING: {rec['identity']['role']} made again (no checkpoint of it or its members) makes {now} "
                 f"test errors where its record says {then}: the networks trained from it now learn from this one")

    def _result(self, model, rows, test_errors, held_out):
        _, _, xv, yv = rows
        return {"errors": test_errors,
                "validation_errors": errors(model, xv, yv) if xv is not None and held_out else None,
                "params": model.count_params(biases=False), "params_with_biases": model.count_params()}

    def _load(self, path, parts, ident, test):
        """Load the checkpoint: its weights must make the test errors it was saved with (a file whose weights were
        changed but whose settings were kept is refused, even where no record is left to compare with)."""
        ckpt.load_model(path, parts.model, ident)
        info = ckpt.meta_of(path)["info"]
        saved, now = info.get("test_errors"), errors(parts.model, *test)   # saved None: before checkpoints kept it
        if saved is not None and now != saved:
            raise ckpt.CheckpointError(f"{path} does not hold the network it was saved with ({now} test errors, "
                                       f"{saved} when it was saved): delete it (the network trains again)")
        self.say(f"{ident['role']}: loaded {path} (same data fingerprint and settings)")
        return parts.model, {**info, "test_errors": now, "checkpoint": path}

    def _train(self, spec, parts, ident, path, rows, test, teacher, image_shape, start, before, fit_options):
        """Train under the run's lock (a second process with the same identity stops, naming the first), from
        the run file of an interrupted run when there is one; save the checkpoint, remove the run files."""
        x, y, xv, yv = rows
        run_path = ckpt.run_path(path)
        with locks.run_lock(run_path, say=lambda line: self.say(f"{spec.role}: {line}")):
            if os.path.exists(path):         # finished by another process between the look and the lock
                return self._load(path, parts, ident, test)
            model = parts.model
            if start is not None:
                load_network_arrays(model, network_arrays(start))
            t0 = time.perf_counter()
            done_before = before(parts) if before else {}
            before_seconds = time.perf_counter() - t0
            continued = self._continue_prefix(spec, ident, run_path)
            resumed = ckpt.meta_of(run_path)["epoch"] if os.path.exists(run_path) and not continued else None
            options = {"label": spec.role, **fit_options}
            history = fit(model, parts.objective, parts.optimizer, x, y, spec.epochs, spec.batch_size, teacher=teacher,
                          x_val=xv, y_val=yv, lr_schedule=parts.schedule, jitter_pixels=spec.jitter or 0,
                          image_shape=image_shape, seed=ident["seed"], checkpoint=RunFile(run_path, ident),
                          resume=True, **options)
            # the epochs' own times: a resumed run's total includes the epochs trained before the interruption
            info = {"seconds": before_seconds + sum(h["seconds"] for h in history), "history": history,
                    "final_loss": history[-1]["loss"] if history else None, "resumed_after_epoch": resumed,
                    **({"continued_from_epoch": continued} if continued else {}), "before": done_before,
                    "provenance": provenance(), "test_errors": errors(model, *test)}
            ckpt.save_model(path, model, ident, **info)
            if spec.decay is not None and os.path.exists(run_path):   # a longer run may continue from here
                os.replace(run_path, _state_path(path))
            if os.path.exists(run_path):
                os.remove(run_path)
        return model, {**info, "checkpoint": path}

    def _continue_prefix(self, spec, ident, run_path):
        """A run on an exponential schedule (no length: its first E epochs are a run of E epochs, bit for bit)
        starts from the longest finished shorter run of the same recipe, when one left its training state: that
        state, under this run's identity, becomes its run file, and ``fit`` resumes from it as from an
        interruption. Returns the epochs continued from (None: none)."""
        if spec.decay is None or os.path.exists(run_path):
            return None
        for epochs in range(spec.epochs - 1, 0, -1):
            state = _state_path(self.path({**ident, "epochs": epochs}))
            if os.path.exists(state):
                ckpt.relabel(state, run_path, ident)
                self.say(f"{spec.role}: continues the finished run of its first {epochs} epochs ({state})")
                return epochs
        return None


def _state_path(path):
    """Where a finished run on an exponential schedule keeps its last training state: ``x.npz`` -> ``x.state.npz``."""
    return path[:-4] + ".state.npz"
