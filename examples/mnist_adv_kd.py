"""The founding report's MNIST row: teacher 784-1200-1200-10, student 784-800-800-10, and the student trained
further without KD, with KD, with adversarial KD (the report's recipe and variants that avoid its traps) and with
the newer methods (DKD, standardised KD, DIST, conditional adversarial KD), all from the same S (initial).

    python examples/mnist_adv_kd.py               # the full run (5 seeds per main variant, about an hour on 2 cores)
    python examples/mnist_adv_kd.py --few-labels  # 5% of the labels: S (initial) and KD vs the newer methods
    python examples/mnist_adv_kd.py --quick       # the quick preset: a few minutes
    python examples/mnist_adv_kd.py --data path/to/folder --quick    # your own MNIST-format data

5,000 training images (1/12) are held out, stratified, for validation. Every trained network leaves a record in
--records-dir (default runs/), named by the hash of its identity (the data's fingerprint and every setting that
shaped it); a rerun trains only the networks whose records are missing (a run stopped after its third seed resumes
at the fourth; more seeds or another variant train only what is new). The table is a view of the records, written
to --out-dir as results/mnist_table.md and .json (mnist_quick_table.* with --quick, mnist_labels5_table.* with
--few-labels; a run that differs from its preset says how in its table). Teacher and S (initial) are kept under
--checkpoint-dir and reused only for the same data fingerprint and settings.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _cli import main  # noqa: E402

from tinykd.experiments.table1 import run  # noqa: E402

if __name__ == "__main__":
    main(__doc__, run)
