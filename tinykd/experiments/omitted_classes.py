"""What the two Hinton experiments (``dark_knowledge``, ``hinton_paper``) share: the paper's numbers, the classes left
out of or kept in a transfer set, and the bias shifts of §3 (Hinton, Vinyals & Dean 2015): a student that never saw
a 3 gets the 3's bias raised by a shift chosen on validation; one that saw only 7s and 8s gets theirs lowered.
"""
import numpy as np

from ..backend import to_host
from ..data import transfer
from ..data.formats import DataError

PAPER = {"teacher": 67, "student_alone": 146, "distilled": 74, "omit_3": [206, 133, 3.5, 109, 14],
         "only_7_8": [47.3, -7.6, 13.2]}
OMITTED, KEPT = [3], [7, 8]   # the mythical digit; the only digits of the third experiment


def kept_rows(y_host, rows):
    """The indices of the transfer set's rows a student keeps, as its identity's ``rows`` say (``without_classes``,
    ``only_classes``); None: every row."""
    if "without_classes" in rows:
        return transfer.without_classes(y_host, rows["without_classes"])
    if "only_classes" in rows:
        return transfer.only_classes(y_host, rows["only_classes"])
    return None


def check_classes(ds, rows):
    """3s, 7s and 8s in the transfer set (the first ``rows`` training images) and in the validation split, which
    choose the bias shifts; a ``DataError`` of one line otherwise."""
    for what, y, why, more in (
            (f"transfer set (the first {rows:,} training images)", ds.y_train[:rows],
             "the mythical-digit experiment leaves out the 3s and the next keeps only the 7s and 8s",
             "--subset, --transfer-size" if rows < ds.y_train.shape[0] else "--subset"),
            ("validation split", ds.y_val, "the bias shifts of 3, 7 and 8 are chosen on it", "--val, --subset")):
        absent = [ds.classes[c] for c in OMITTED + KEPT if not (to_host(y) == c).any()]
        if absent:
            raise DataError(f"{ds.name}: the {what} has no image of class {', '.join(absent)}; {why}: use more "
                            f"images ({more}) or data that has them")


def omit_3(val, test, yv, yt):
    """The 3's bias shift chosen on validation (``val``, ``yv``: logits and labels on the host), and the test
    errors (in total, on 3s) before and after it."""
    shift, curve = transfer.bias_shift_search(val, yv, OMITTED, np.arange(0, 10.01, 0.25))
    return {**omit_3_at(test, yt, shift), "n_val": int(yv.size),
            "search": [{"shift": c["shift"], "val_errors": c["val_errors"],
                        "val_errors_on_3": c["val_errors_on_classes"]} for c in curve]}


def omit_3_at(test, yt, shift):
    """The test errors (in total, on 3s) before and after raising the 3's bias by ``shift``, a shift chosen
    elsewhere (on validation: ``omit_3``)."""
    threes = yt == OMITTED[0]
    before = transfer.shifted_predictions(test, OMITTED, 0.0) != yt
    after = transfer.shifted_predictions(test, OMITTED, shift) != yt
    return {"errors_on_3": int(before[threes].sum()), "n_test_3": int(threes.sum()), "bias_shift": shift,
            "errors_after_shift": int(after.sum()), "errors_on_3_after_shift": int(after[threes].sum())}


def only_7_8(val, test, yv, yt):
    """The 7s' and 8s' bias shift chosen on validation, and the test error rate (%) before and after it."""
    shift, curve = transfer.bias_shift_search(val, yv, KEPT, -np.arange(0, 15.01, 0.25))
    return {**only_7_8_at(test, yt, shift), "search": curve}


def only_7_8_at(test, yt, shift):
    """The test error rate (%) before and after shifting the 7s' and 8s' biases by ``shift``, chosen elsewhere."""
    rate = [100 * float((transfer.shifted_predictions(test, KEPT, s) != yt).sum()) / yt.size for s in (0.0, shift)]
    return {"error_rate": rate[0], "bias_shift": shift, "error_rate_after_shift": rate[1]}
