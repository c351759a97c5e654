"""``python -m tinykd.report``: the command that regenerates ``docs/results.md``, the README's headline table and the
figures from the records (``tinykd/experiments/regenerate.py``)."""
import sys

from .experiments.regenerate import main

if __name__ == "__main__":
    sys.exit(main())
