"""The MNIST experiments of Hinton, Vinyals & Dean (2015), "Distilling the knowledge in a neural network", §3,
on tinykd's engine, each beside the paper's number:

1. soft targets carry generalisation: the 784-800-800-10 student from scratch, distilled at τ = 20 from the
   784-1200-1200-10 teacher on the un-jittered transfer set, against the same student on the labels alone
   (paper: teacher 67, student alone 146, distilled 74 test errors);
2. the mythical digit: no 3 in the transfer set; then the 3's output bias raised by a shift chosen on validation
   (paper: 206 errors, 133 on the 1,010 test 3s; +3.5 gives 109 errors, 14 on 3s; chosen on the test set);
3. only 7s and 8s in the transfer set; then their biases lowered (paper: 47.3% test error, 13.2% after −7.6);
4. temperature and width: τ ∈ {1, 2, 2.5, 4, 8, 20} for students with 800 and 30 units per layer (paper: above
   300 units all τ > 8 alike; at 30 units τ in 2.5–4 best);
5. few labels: hard labels on 1%, 5%, 20% of the training set, with and without soft targets on all of it.

    python examples/dark_knowledge.py            # the full run (about 70 min on 2 idle cores)
    python examples/dark_knowledge.py --quick    # every experiment small

The teacher is the Table 1 teacher of examples/mnist_adv_kd.py (its checkpoint is reused when data and settings
match). Students: Adam, lr 10⁻³ with cosine decay, batch 128; KD in Hinton's form (1 − a)·H(y, P_S) + a·τ²·H(P_T^τ,
P_S^τ) with a = 0.9 (mostly soft targets). Validation: 5,000 training images held out (stratified); every choice
(bias shifts) is made on it, and test errors are counted once per final model. A teacher that is not better than
the student alone on validation is flagged, as in Table 1. Before any training the data is checked for what the
experiments need (a test image of 2, 3, 7 and 9; 3s, 7s and 8s in the transfer set and the validation split; at
least one hard label per class at 1%), and a transfer set larger than the training images is refused (--quick's
10,000 with a smaller --subset: give --transfer-size). The experiments are tinykd/experiments/dark_knowledge.py's. Every student leaves
a record in --records-dir (a rerun trains only the students whose records are missing); the table, a view of the
records, is written to results/dark_knowledge.md and .json (dark_knowledge_quick.* with --quick; with --data,
<name>_dark_knowledge*), and figures beside them; python -m tinykd.report regenerates them from the records.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _cli import Option, count, main  # noqa: E402

from tinykd.experiments.dark_knowledge import DarkKnowledge, run  # noqa: E402

OPTIONS = [Option("--epochs", "epochs of the headline, omit-3 and 7/8 students", count(1)),
           Option("--seeds", "seeds of the headline rows", count(1)),
           Option("--sweep-epochs", "epochs per temperature-sweep student", count(1)),
           Option("--few-epochs", "epochs per few-labels student", count(1)),
           Option("--transfer-size", "use the first N training images as the transfer set (0: all)", count(0))]

if __name__ == "__main__":
    main(__doc__, run, DarkKnowledge, OPTIONS)
