"""FitNets (Romero et al. 2014) on MNIST: hint training of the student's first hidden layer against the teacher's,
then KD on the whole student, compared with KD alone from the same random start and the same total budget.

    python examples/mnist_fitnets.py [--quick]

The teacher is the one of examples/mnist_adv_kd.py (its checkpoint is reused when data and settings match).
Validation errors are recorded per epoch; test errors are counted once per final model. Each of the two students
leaves a record in --records-dir (a rerun trains only a student whose record is missing); the table, a view of the
records, is written to results/mnist_fitnets.md and .json (mnist_fitnets_quick.* with --quick; with --data, named
after your data) with its learning-curve figure beside it; python -m tinykd.report regenerates it from the records.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _cli import Option, count, main  # noqa: E402

from tinykd.experiments.fitnets_kd import FitNetsKD, run  # noqa: E402

OPTIONS = [Option("--hint-epochs", "stage 1 epochs", count(0)),
           Option("--kd-epochs", "stage 2 epochs", count(1)),
           Option("--hint-layer", "teacher hidden layer giving the hint", count(1), "H"),
           Option("--guided-layer", "student hidden layer it guides", count(1), "H")]

if __name__ == "__main__":
    main(__doc__, run, FitNetsKD, OPTIONS)
