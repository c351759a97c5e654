"""Table 1 of the founding report for one data set, with the report's network sizes:
MNIST 784-1200-1200-10 vs 784-800-800-10; notMNIST 3x1200 vs 3x800; SVHN (28x28 grey) 2x4096 vs 2x3072.

    python examples/reproduce_table.py --dataset notmnist --split-test 0.5
    python examples/reproduce_table.py --dataset svhn       # downloads SVHN (~600 MB) on first use

Records and tables as examples/mnist_adv_kd.py: one record per trained network in --records-dir, the table in
results/<dataset>_table.md and .json.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _cli import main  # noqa: E402

from tinykd.experiments.table1 import run  # noqa: E402

if __name__ == "__main__":
    main(__doc__, run, dataset_choice=True)
