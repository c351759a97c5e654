"""Hinton, Vinyals & Dean (2015) §3 on MNIST at the paper's fidelity, each number beside the paper's:

1. the teacher 784-1200-1200-10 with dropout (0.2 input, 0.5 hidden), a max-norm bound on each unit's incoming
   weights and ±2-pixel jitter; its learning rate, norm bound and epochs chosen on the 5,000 validation images
   (and whether jitter and how much dropout help: on any data, the same candidates compete), then retrained with
   the chosen recipe on all 60,000 training images (paper: 67 test errors);
2. the student 784-800-800-10 alone on the labels (paper 146) and distilled at τ = 20 on the un-jittered transfer
   set (paper 74), one budget for both chosen on validation, 3 seeds each (every choice for the students is made
   with the chosen recipe trained on the training split only, the validation split held out; then the students
   train with those choices on every labelled row, from the final teacher);
3. the mythical 3 and the 7s and 8s from that teacher, the bias shifts chosen on validation (paper: 109 errors,
   14 on the test 3s; 13.2%);
4. an ensemble teacher: the candidates, the held-out teacher and its recipe from 2 more initial seeds (none has
   seen the validation images), which of them to average and how (probabilities or logits) chosen on validation,
   and its students distilled at τ = 20, 3 seeds (goals: the paper's 67 and 74).

    python examples/hinton_paper.py            # the whole preset (at most 2.5 hours on 2 cores; resumes)
    python examples/hinton_paper.py --quick    # every step, small
    python examples/hinton_paper.py --data path/to/folder   # your data: the selection chooses its own recipe
    python examples/hinton_paper.py --search grid --halvings 2   # every combination, the budget halved twice

Every network leaves a record in --records-dir; an interrupted run, run again, trains only what is missing (a
network that was training continues from its last epoch). Nothing is chosen on the test set. The table, a view of
the records, is written to results/mnist_hinton_paper.md and .json with the learning curves beside it; the
experiments are tinykd/experiments/hinton_paper.py's.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _cli import Option, count, decay, main, rate  # noqa: E402

from tinykd.experiments.hinton_paper import HintonPaper, run  # noqa: E402

OPTIONS = [Option("--lr", "the teacher's learning rates, the first the base recipe's", rate, "LR", nargs="+"),
           Option("--max-norm", "the teacher's max-norm bounds, the first the base recipe's", rate, "C", nargs="+"),
           Option("--teacher-decay", "the teacher's learning rate is multiplied by this after every epoch", decay,
                  "D"),
           Option("--student-epochs", "the students' longest run (their budget is chosen on its curves)", count(1)),
           Option("--student-lr", "the students' learning rate", rate, "LR"),
           Option("--student-decay", "the students' decay per epoch", decay, "D"),
           Option("--seeds", "seeds per student", count(1)),
           Option("--search", "the teacher recipes compared: changes (the base recipe, then one setting changed at a "
                  "time) or grid (every combination of those changes)", str, "HOW", choices=["changes", "grid"]),
           Option("--halvings", "rounds of successive halving: every candidate first trains teacher-epochs / 2^N "
                  "epochs, the better half on validation twice as long, ... (0: all the whole budget)", count(0))]

if __name__ == "__main__":
    main(__doc__, run, HintonPaper, OPTIONS)
