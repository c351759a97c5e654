"""One migration of a records folder, and of the checkpoints beside it, to what the code writes now:

    python -m tinykd.runs.migrate RECORDS_DIR [--checkpoint-dir DIR]

1. An optimiser's description names its max-norm bound always (``"max_norm": null`` when it has none); records
   written before the bound existed leave it out, so their identities, and keys, change.
2. A record's data ``source`` inside the folder the command runs in is named relative to it (records are committed
   files: never an absolute path of one machine).
3. A Table 1 record with a discriminator's held-out accuracy and no ``d_pretrain_epochs`` (those converted from the
   results files of their time) gets the 3 epochs that code pretrained every discriminator for.

A key that changes changes every identity that names it (a student's teacher, a variant's start, a selection's
candidates, an ensemble's members), so the new keys are found to a fixed point. Each record is written again under
its new key (the old file removed) and says what was done to it (``migrated``); each checkpoint of an old key is
relabelled to the new identity and renamed. A second run finds nothing to do.
"""
import argparse
import os

from . import checkpoints, records
from .identity import key
from .provenance import relative

PRETRAIN_EPOCHS = 3


def identity_now(ident, new_keys):
    """``ident`` as the code writes it now: every optimiser's description with its bound, every old key replaced."""
    if isinstance(ident, dict):
        out = {k: identity_now(v, new_keys) for k, v in ident.items()}
        if out.get("optimizer") in ("Adam", "SGD"):
            out.setdefault("max_norm", None)
        return out
    if isinstance(ident, list):
        return [identity_now(v, new_keys) for v in ident]
    return new_keys.get(ident, ident) if isinstance(ident, str) else ident


def new_keys_of(recs):
    """{old key: new key} for every record whose key changes, directly or through a key it names."""
    new_keys = {}
    while True:
        found = {r["key"]: key(identity_now(r["identity"], new_keys)) for r in recs}
        found = {old: new for old, new in found.items() if old != new}
        if found == new_keys:
            return new_keys
        new_keys = found


def migrate(folder, checkpoint_dir=None, say=print):
    """Migrate every record in ``folder`` and every checkpoint in ``checkpoint_dir``; returns the number of records
    written again."""
    store = records.Store(folder)
    recs = store.all()
    new_keys = new_keys_of(recs)
    written = 0
    for r in recs:
        rec = {k: v for k, v in r.items() if k != "checksum"}
        rec["identity"] = identity_now(r["identity"], new_keys)
        rec["key"] = key(rec["identity"])
        rec["links"], rec["result"] = identity_now(r["links"], new_keys), identity_now(r["result"], new_keys)
        done = [f"key {r['key']} -> {rec['key']}: max_norm named in every optimiser's description"] \
            if rec["key"] != r["key"] else []
        source = (r.get("data") or {}).get("source")
        if source and relative(source) != source:
            rec["data"] = {**r["data"], "source": relative(source)}
            done.append("data source named relative to the folder the migration ran in")
        if "d_heldout_accuracy" in r["result"] and "d_pretrain_epochs" not in r["result"]:
            rec["result"] = {**rec["result"], "d_pretrain_epochs": PRETRAIN_EPOCHS}
            done.append(f"d_pretrain_epochs {PRETRAIN_EPOCHS}, as every discriminator was pretrained then")
        if rec == {k: v for k, v in r.items() if k != "checksum"}:
            continue
        rec["migrated"] = r.get("migrated", []) + (done or ["the keys it names"])
        records.write(store.path(rec["identity"]), rec)
        if store.path(rec["identity"]) != store.path(r["identity"]):
            os.remove(store.path(r["identity"]))
        written += 1
    moved = _checkpoints(checkpoint_dir, new_keys) if checkpoint_dir and os.path.isdir(checkpoint_dir) else 0
    say(f"{folder}: {written} of {len(recs)} records written again ({len(new_keys)} new keys); "
        f"{moved} checkpoints relabelled")
    return written


def _checkpoints(folder, new_keys):
    """Relabel and rename every checkpoint (model, run or training state) whose name holds an old key."""
    moved = 0
    for name in sorted(os.listdir(folder)):
        old = next((k for k in new_keys if f"-{k}." in name), None)
        if old is None or not name.endswith(".npz"):
            continue
        path = os.path.join(folder, name)
        checkpoints.relabel(path, os.path.join(folder, name.replace(f"-{old}.", f"-{new_keys[old]}.")),
                            identity_now(checkpoints.meta_of(path)["identity"], new_keys))
        os.remove(path)
        moved += 1
    return moved


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("records_dir")
    p.add_argument("--checkpoint-dir", help="the checkpoints of those records (default: none migrated)")
    a = p.parse_args()
    migrate(a.records_dir, a.checkpoint_dir)
