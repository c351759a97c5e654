"""Binary students distilled from the float MNIST teacher: BWN (binary weights) and XNOR (binary weights and
activations), each trained with and without KD, then packed 64 signs to a word for XNOR-popcount inference.

    python examples/mnist_xnor_kd.py [--quick] [--seeds 2]

The student is 784-1200-1200-10, the teacher's own shape: binarisation is the only difference, and its weights
take 2,392,800 bits (299 KB) against the float teacher's 9.6 MB. The teacher is examples/mnist_adv_kd.py's (its
checkpoint is reused when data and settings match, else trained). Validation errors are recorded per epoch; test
errors are counted once per final model. Every trained student leaves a record in --records-dir (a rerun trains
only the students whose records are missing; more seeds train only the new ones); the table, a view of the
records, is written to results/mnist_xnor_kd.md and .json (mnist_xnor_kd_quick.* with --quick; with --data, named
after your data), and python -m tinykd.report regenerates it from the records.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _cli import Option, count, main, rate  # noqa: E402

from tinykd.experiments.xnor_kd import XnorKD, run  # noqa: E402

OPTIONS = [Option("--seeds", "seeds per student", count(1)),
           Option("--epochs", "epochs per student", count(1)),
           Option("--sizes", "the students' layer sizes", count(1), nargs="+"),
           Option("--lr", "the students' Adam learning rate (cosine decay)", rate, "LR")]

if __name__ == "__main__":
    main(__doc__, run, XnorKD, OPTIONS)
