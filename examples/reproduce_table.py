"""Table 1 of the founding report for one data set, with the report's network sizes:
MNIST 784-1200-1200-10 vs 784-800-800-10; notMNIST 3x1200 vs 3x800; SVHN (28x28 grey) 2x4096 vs 2x3072.

    python examples/reproduce_table.py --dataset notmnist --split-test 0.5
    python examples/reproduce_table.py --dataset svhn       # downloads SVHN (~600 MB) on first use
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _cli import config, parser  # noqa: E402

from tinykd.experiment import run  # noqa: E402

if __name__ == "__main__":
    run(config(parser(__doc__.splitlines()[0], dataset_choice=True).parse_args()))
