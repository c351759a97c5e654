"""FitNets (Romero et al. 2014), stage 1: a student's hidden layer, through a regressor, learns a teacher's hidden
layer ("hint"); stage 2 is KD on the whole student (``tinykd.distill.KD``).

``HintNet`` is the student up to its guided layer plus a linear regressor, ``HintLoss`` the half squared distance
to the teacher's hint, ``teacher_hidden`` the teacher's hint layer as a function for ``train.fit``.
Derivation: ``docs/derivations.md`` §12.
"""
from .backend import default_rng
from .layers import Dense


class HintLoss:
    """FitNets stage 1 (Romero et al. 2014): ``L = (1/(2N)) Σ_n ‖h_R,n − h_T,n‖²``, half the squared distance summed
    over the units, mean over the batch.

    ``h_T`` is the teacher's hint layer, ``h_R = R(h_S)`` the regressor's map of the student's guided layer.
    Gradient w.r.t. the regressor's output: ``dh_R = (h_R − h_T) / N``.
    """

    needs_teacher = True

    def __call__(self, outputs, labels, teacher_hidden):
        if outputs.shape != teacher_hidden.shape:
            raise ValueError(f"regressor output {outputs.shape} and teacher hint {teacher_hidden.shape} differ")
        diff = outputs - teacher_hidden
        n = outputs.dtype.type(outputs.shape[0])
        loss = (diff * diff).sum() / (2 * n)
        diff /= n
        return loss, diff

    def describe(self):
        return {"method": "fitnets_hint"}


class HintNet:
    """The student up to its guided hidden layer, followed by a linear regressor onto the teacher's hint layer
    (FitNets asks for the hint layer's non-linearity at the regressor's output; this one is linear:
    docs/derivations.md §12).

    Training this with ``HintLoss`` is FitNets' stage 1; the student's lower layers are trained in place (the
    arrays are shared), so stage 2 (KD on the whole student) starts from them.
    """

    def __init__(self, student, guided_layer, hint_width, seed=0):
        self.student = student
        self.stop = student.hidden_index(guided_layer)
        width = student.sizes[guided_layer]
        self.regressor = Dense(width, hint_width, init="glorot", rng=default_rng(seed), backend=student.xp,
                               dtype=student.dtype)
        self.sizes, self.dtype, self.xp = student.sizes, student.dtype, student.xp

    def forward(self, x, train=False):
        return self.regressor.forward(self.student.forward(x, train, stop=self.stop), train)

    def backward(self, dy):
        self.student.backward(self.regressor.backward(dy), start=self.stop)

    def _below(self, named):
        """The entries of ``named`` (the student's named parameters or buffers) whose array belongs to a layer below
        the guided one: picked by array, not by count, so any layer with parameters (BatchNorm's scale and shift) is
        placed."""
        mine = {id(a) for layer in self.student.layers[:self.stop] for a in (*layer.params.values(),
                                                                               *layer.buffers().values())}
        return [entry for entry in named if id(entry[1]) in mine]

    def named_parameters(self):
        """The student's parameters below the guided layer, under their names in the student, then the regressor's."""
        return (self._below(self.student.named_parameters())
                + [(f"regressor.{k}", self.regressor.params[k], self.regressor.grads[k]) for k in ("W", "b")])

    def named_buffers(self):
        """The student's buffers below the guided layer (BatchNorm's statistics), which its forward updates."""
        return self._below(self.student.named_buffers())

    def named_generators(self):
        """The student's random generators (its dropout masks'): a run checkpoint of the hint stage keeps them, so a
        resumed stage draws the masks an uninterrupted one would."""
        return self.student.named_generators()


def teacher_hidden(teacher, hint_layer):
    """A function x -> the teacher's hint layer (inference mode), for ``train.fit``'s ``teacher`` argument."""
    stop = teacher.hidden_index(hint_layer)
    return lambda x: teacher.forward(x, stop=stop)
