"""``python -m tinykd.plots``: the command that draws the figures of a table's JSON
(``tinykd/experiments/plots.py``)."""
import sys

from .experiments.plots import main

if __name__ == "__main__":
    sys.exit(main())
