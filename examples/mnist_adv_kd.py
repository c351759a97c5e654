"""The founding report's MNIST row: teacher 784-1200-1200-10, student 784-800-800-10, and the student trained
further without KD, with KD and with adversarial KD (the report's recipe and variants that avoid its traps).

    python examples/mnist_adv_kd.py            # the full run (3 seeds per student variant)
    python examples/mnist_adv_kd.py --quick    # a few minutes

Writes results/mnist_table.json and results/mnist_table.md (results/mnist_quick_table.* with --quick).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _cli import config, parser  # noqa: E402

from tinykd.experiment import run  # noqa: E402

if __name__ == "__main__":
    run(config(parser(__doc__.splitlines()[0]).parse_args(), "mnist"))
