"""One migration of a records folder, and of the checkpoints beside it, to what the code writes now:

    python -m tinykd.runs.migrate RECORDS_DIR [--checkpoint-dir DIR]

1. An optimiser's description names its max-norm bound always (``"max_norm": null`` when it has none); records
   written before the bound existed (format ``tinykd-record-1``, which ``records.read`` refuses with this command)
   leave it out, so their identities, and keys, change.
2. A record's data ``source`` inside the repository is named relative to it (``provenance.relative``).
3. A Table 1 record with a discriminator's held-out accuracy and no ``d_pretrain_epochs`` (those converted from the
   results files of their time) gets the 3 epochs that code pretrained every discriminator for.
4. A table's tag (the settings its rows share) names every setting its experiment has now (``SETTINGS_ADDED``: a
   setting added later, at the value every run before it had), so a run of the same settings finds the same table.
5. A table is a record of its own (role "table", ``Store.plan``: the keys of the networks it shows), no longer a
   tag on each network's record: every group of records that shared a tag and links becomes one table record of
   their keys, and the tags go.
6. A paper-preset teacher's identity no longer names the candidates it was chosen from (``selected_from``): they
   did not shape its weights, and a search that grew (more candidates, longer rungs) trained the same teacher, and
   everything that learnt from it, again.
7. A student on the labels alone (objective ``supervised``) no longer names a teacher (``Spec.identity``): none
   shaped it, and a new teacher trained it again, the same network.
8. The paper preset's held-out teacher is a candidate run (role ``teacher-candidate``, not ``teacher-held-out``):
   when the chosen epochs were the winner's last, it was the winning candidate trained a second time; an ensemble's
   pool names each network once.

Two records that become one identity must be one network: the same test errors and the same validation errors and
loss at every epoch (``RecordError`` otherwise). The record already under that key is kept (else the first), and
says which keys it answers for now.

A key that changes changes every identity that names it (a student's teacher, a variant's start, a selection's
candidates, an ensemble's members), so the new keys are found to a fixed point over every record and checkpoint
(a checkpoint without a record, such as an interrupted run's, is migrated by its own identity). Every new record is
written before any old one is removed, so an interrupted migration run again finishes the same way; each says what
was done to it (``migrated``); each checkpoint of an old key is relabelled and renamed. A second run does nothing.
"""
import argparse
import os
import re

from . import checkpoints, records
from .identity import key
from .provenance import relative

PRETRAIN_EPOCHS = 3
# {experiment: {setting: the value every run made before the setting existed}}
SETTINGS_ADDED = {"hinton_paper": {"search": "changes", "halvings": 0}}


def identity_now(ident, new_keys):
    """``ident`` as the code writes it now: every optimiser's description with its bound, no ``selected_from``, no
    teacher for a student on the labels alone, a held-out teacher as a candidate, an ensemble's pool without a
    network twice, every table tag with the settings added since, every old key replaced."""
    if isinstance(ident, dict):
        out = {k: identity_now(v, new_keys) for k, v in ident.items()}
        if out.get("optimizer") in ("Adam", "SGD"):
            out.setdefault("max_norm", None)
        out.pop("selected_from", None)
        if out.get("role") == "teacher-held-out":
            out["role"] = "teacher-candidate"
        if isinstance(out.get("objective"), dict) and out["objective"].get("method") == "supervised":
            out.pop("teacher", None)
        if isinstance(out.get("model"), dict) and out["model"].get("kind") == "ensemble":
            out["model"] = {**out["model"], "members": list(dict.fromkeys(out["model"]["members"]))}
        if isinstance(out.get("settings"), dict) and out.get("experiment") in SETTINGS_ADDED:
            out["settings"] = {**SETTINGS_ADDED[out["experiment"]], **out["settings"]}
        return out
    if isinstance(ident, list):
        return [identity_now(v, new_keys) for v in ident]
    return new_keys.get(ident, ident) if isinstance(ident, str) else ident


def new_keys_of(identities):
    """{old key: new key} for every identity whose key changes, directly or through a key it names."""
    new_keys = {}
    while True:
        found = {key(i): key(identity_now(i, new_keys)) for i in identities}
        found = {old: new for old, new in found.items() if old != new}
        if found == new_keys:
            return new_keys
        new_keys = found


def migrate(folder, checkpoint_dir=None, say=print):
    """Migrate every record in ``folder`` and every checkpoint in ``checkpoint_dir``; returns the number of records
    written again."""
    store = records.Store(folder)
    recs = store.all(formats=(records.OLD_FORMAT, records.FORMAT))
    kept = _checkpoints(checkpoint_dir)
    if not recs and not kept:
        raise records.RecordError(f"no records in {folder!r}: give the folder an experiment's --records-dir named")
    new_keys = new_keys_of([r["identity"] for r in recs] + [meta["identity"] for _, meta in kept])
    tables, now = {}, {}
    for r in recs:
        rec = {k: v for k, v in r.items() if k != "checksum"}
        rec.update(format=records.FORMAT, identity=identity_now(r["identity"], new_keys))
        rec["key"] = key(rec["identity"])
        rec["links"], rec["result"] = identity_now(r["links"], new_keys), identity_now(r["result"], new_keys)
        done = [f"format {records.FORMAT}: every optimiser names its max-norm bound"] \
            if r["format"] != records.FORMAT else []
        if rec["key"] != r["key"]:
            done.append(f"key {r['key']} -> {rec['key']}")
        source = (r.get("data") or {}).get("source")
        if source and relative(source) != source:
            rec["data"] = {**r["data"], "source": relative(source)}
            done.append("data source named relative to the repository")
        if "d_heldout_accuracy" in r["result"] and "d_pretrain_epochs" not in r["result"]:
            rec["result"] = {**rec["result"], "d_pretrain_epochs": PRETRAIN_EPOCHS}
            done.append(f"d_pretrain_epochs {PRETRAIN_EPOCHS}, as every discriminator was pretrained then")
        if "table" in rec:      # the table it belonged to is a record of its own now (below)
            tag = identity_now(rec.pop("table"), new_keys)
            if tag:
                ident = {"role": "table", "table": tag, "links": rec["links"]}
                tables.setdefault(key(ident), (ident, []))[1].append(rec["key"])
            done.append("its table tag gone: a table is a record of its own")
        now.setdefault(rec["key"], []).append((r, rec, done))
    for new_key, same in now.items():      # every twin checked before anything is written
        same.sort(key=lambda t: t[0]["key"] != new_key)      # the record already under this key first
        r = same[0][0]
        for other, _, _ in same[1:]:
            if _outcome(other) != _outcome(r):
                raise records.RecordError(
                    f"{store.path(r['identity'])} and {store.path(other['identity'])} become one identity "
                    f"({new_key}) but record other results ({r['result'].get('errors')} and "
                    f"{other['result'].get('errors')} test errors): remove the one that is wrong, then migrate")
    stale, written = [], 0
    for new_key, same in now.items():
        (r, rec, done), twins = same[0], same[1:]
        for other, _, _ in twins:
            stale.append(store.path(other["identity"]))
            done = done + [f"also key {other['key']}: the same network, trained again"]
        if not twins and rec == {k: v for k, v in r.items() if k != "checksum"}:
            continue
        rec["migrated"] = r.get("migrated", []) + (done or ["the keys it names"])
        records.write(store.path(rec["identity"]), rec)
        written += 1
        if r["key"] != new_key:
            stale.append(store.path(r["identity"]))
    for ident, keys in tables.values():
        store.plan(ident["table"], ident["links"], keys)
    for path in stale:          # only once every new record is written
        os.remove(path)
    moved = 0
    for path, meta in kept:
        ident = identity_now(meta["identity"], new_keys)
        if key(ident) == key(meta["identity"]):
            continue
        name = os.path.basename(path)     # <label>-<role>-<sizes>-<key>[.run|.state].npz, as Runner.path names it
        parts = re.fullmatch(rf"(.+)-{re.escape(meta['identity']['role'])}-(\d+(?:x\d+)*)-[0-9a-f]{{12,16}}"
                             r"((?:\.run|\.state)?\.npz)", name)
        if parts is None:
            raise checkpoints.CheckpointError(f"{path}: not named as a checkpoint of its identity is (<label>-<role>-"
                                              "<sizes>-<key>.npz); move it out of the checkpoints folder")
        to = os.path.join(os.path.dirname(path), f"{parts[1]}-{ident['role']}-{parts[2]}-{key(ident)}{parts[3]}")
        if not os.path.exists(to):     # there already: the same network's (its records agree), kept
            checkpoints.relabel(path, to, ident)
        os.remove(path)
        moved += 1
    say(f"{folder}: {written} of {len(recs)} records written again ({len(stale)} under new keys), {len(tables)} "
        f"tables recorded from their tags; {moved} checkpoints relabelled")
    return written


def _outcome(r):
    """What a record says its network did: its test errors and its validation errors and loss at every epoch."""
    res = r["result"]
    return res.get("errors"), [(h.get("val_errors"), h.get("loss")) for h in res.get("history") or []]


def _checkpoints(folder):
    """[(path, meta)] of every checkpoint (model, run or training state) in ``folder``."""
    if not folder or not os.path.isdir(folder):
        return []
    return [(os.path.join(folder, n), checkpoints.meta_of(os.path.join(folder, n))) for n in sorted(os.listdir(folder))
            if n.endswith(".npz") and not n.startswith(".tmp-")]


if __name__ == "__main__":
    p = argparse.ArgumentParser(prog="python -m tinykd.runs.migrate", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("records_dir")
    p.add_argument("--checkpoint-dir", help="the checkpoints of those records (default: none migrated)")
    a = p.parse_args()

    def fail(line):     # one line, no usage block, as every tinykd command says a mistake
        p.exit(2, f"{p.prog}: error: {line}\n")
    for folder, what, option in ((a.records_dir, "records folder", "--records-dir"),
                                 (a.checkpoint_dir, "--checkpoint-dir", "--checkpoint-dir")):
        if folder is not None and not os.path.isdir(folder):
            fail(f"no {what} {folder!r}: give the folder an experiment's {option} named")
    try:
        migrate(a.records_dir, a.checkpoint_dir)
    except (records.RecordError, checkpoints.CheckpointError) as e:
        fail(" ".join(str(e).split()))
