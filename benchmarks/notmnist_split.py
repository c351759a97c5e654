"""notMNIST's verified test file (the only split this machine has) split into training and test images, written
as an .npz for ``--data``: the second data set of the Hinton paper preset (docs/guide.md, "On other data").

    python benchmarks/notmnist_split.py results/notmnist_split.npz          # 8,000 training and 2,000 test images
    python examples/hinton_paper.py --data results/notmnist_split.npz --teacher-epochs 30 --student-epochs 30

The split is ``tinykd.data.load("notmnist", split_test=...)``'s (seeded, stratified), the images stored as the
uint8 pixels they were read from, so ``--data`` reads back exactly the arrays ``load`` gives.
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tinykd import data  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out", help="the .npz to write")
    p.add_argument("--split-test", type=float, default=0.2, help="the fraction of the file kept for testing")
    p.add_argument("--data-dir", help="the folder holding notMNIST's files (default: the README's search order)")
    a = p.parse_args()

    def fail(line):     # one line, no usage block, as every tinykd command says a mistake
        p.exit(2, f"{p.prog}: error: {line}\n")
    if not a.out.endswith(".npz") or os.path.isdir(a.out):
        fail(f"{a.out}: give the .npz file to write, e.g. results/notmnist_split.npz")
    try:
        ds = data.load("notmnist", data_dir=a.data_dir, split_test=a.split_test)
    except (ValueError, OSError) as e:      # data.DataError is a ValueError: one line, as every example says it
        fail(" ".join(str(e).split()))
    arrays = {}
    for split in ("train", "test"):
        x = np.asarray(getattr(ds, f"x_{split}"), dtype=np.float64) * 255
        pixels = np.rint(x)
        if np.abs(x - pixels).max() > 1e-3:
            fail("the loaded images are not whole pixel values / 255: they cannot be stored as uint8 exactly")
        arrays[f"x_{split}"] = pixels.astype(np.uint8).reshape(-1, *ds.input_shape)
        arrays[f"y_{split}"] = np.asarray(getattr(ds, f"y_{split}"), dtype=np.int64)
    np.savez_compressed(a.out, **arrays)
    print(f"{a.out}: notMNIST's test file split {1 - a.split_test:g}/{a.split_test:g}: "
          f"{len(arrays['y_train']):,} training and {len(arrays['y_test']):,} test images")


if __name__ == "__main__":
    main()
