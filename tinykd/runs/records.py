"""Runs as records: every trained network leaves a small JSON record named by the hash of its identity.

A record holds the identity that names it, what training produced (``result``), where it came from
(``provenance``) and the keys of the records it started from (``links``). A table is a record too (role "table":
the keys of the networks its runs asked for, ``Store.plan``). Like a build system: the identity
is the key, the record the artefact, a table a view of the records (``tinykd.report``).
"""
import json
import os
import stat

from .checkpoints import atomic_open
from .identity import key, normalise
from .provenance import provenance as this_process

FORMAT = "tinykd-record-2"
OLD_FORMAT = "tinykd-record-1"   # before every optimiser named its max-norm bound: ``tinykd.runs.migrate`` rewrites it


class RecordError(ValueError):
    """A record that cannot be used as it is (unreadable, of another identity than its name says)."""


class Store:
    """The records in one folder: ``<folder>/<name>-<key>.json``, one per identity, ``<name>`` its variant's id or
    its role (``teacher``, ``student``, ...), for a reader listing the folder."""

    def __init__(self, folder):
        self.folder = os.fspath(folder)

    def path(self, identity):
        role = str(identity.get("variant") or identity.get("role", "run")).replace("/", "-")
        return os.path.join(self.folder, f"{role}-{key(identity)}.json")

    def find(self, identity):
        """The record of exactly this identity, or None when there is none."""
        path = self.path(identity)
        if not os.path.exists(path):
            return None
        rec = read(path)
        if normalise(rec["identity"]) != normalise(identity):   # a hash collision or a hand-edited file
            raise RecordError(f"{path} holds another identity than its name says; remove it and run again")
        return rec

    def put(self, identity, result, links=None, provenance=None, **extra):
        """Write the record of ``identity`` (see the module docstring); ``provenance`` defaults to this process's."""
        rec = {"format": FORMAT, "key": key(identity), "identity": identity, "links": links or {},
               "result": result, "provenance": provenance or this_process(), **extra}
        return write(self.path(identity), rec)

    def plan(self, table, links, keys):
        """Record that the table ``table`` (its tag: experiment, name, preset, settings, deviations) of the networks
        ``links`` names shows the networks of ``keys``, after those an earlier run of the same table asked for (more
        seeds or variants join it). This record (role "table") is how a table is found: it shows exactly the
        networks its runs asked for, whichever run trained them."""
        ident = normalise({"role": "table", "table": table, "links": links})
        old = self.find(ident)
        known = old["result"]["keys"] if old else []
        new = known + [k for k in dict.fromkeys(keys) if k not in known]
        if old is None or new != known:
            self.put(ident, {"keys": new})

    def all(self, formats=(FORMAT,)):
        """Every record in the folder, in name order (none without the folder): each ``.json`` but a write under
        way (``.tmp-*``) must be a record (``read``) of one of ``formats``."""
        if not os.path.isdir(self.folder):
            return []
        return [read(os.path.join(self.folder, name), formats) for name in sorted(os.listdir(self.folder))
                if name.endswith(".json") and not name.startswith(".tmp-")]


def checksum(rec):
    """The hash (``identity.key``) of everything in a record but its checksum: a record edited by hand or damaged
    no longer matches it, so a changed number is never read as a result."""
    return key({k: v for k, v in rec.items() if k != "checksum"})


def write(path, rec):
    """Write one record atomically (``atomic_open``), keys sorted, with its ``checksum``; returns it as ``read`` would."""
    rec = normalise(rec)
    rec["checksum"] = checksum(rec)
    with atomic_open(path, "w") as f:
        f.write(json.dumps(rec, indent=1, sort_keys=True) + "\n")
    return rec


REMOVE = "remove it (the network it records trains again on the next run)"


def read(path, formats=(FORMAT,)):
    """The record in ``path``; ``RecordError`` saying why in one line when it is not one of ``formats`` or not as
    written: its ``key`` must be its identity's hash and the file's name, its checksum its contents' (an old-format
    record is refused with the command that migrates it)."""
    try:
        mode = os.stat(path).st_mode   # asked first: a plain open of a FIFO named like a record would block
        if not stat.S_ISREG(mode):
            kind = "a folder" if stat.S_ISDIR(mode) else "a FIFO" if stat.S_ISFIFO(mode) else "not a regular file"
            raise RecordError(f"{path}: {kind}, not a record file; move it out of the records folder")
        with open(path, encoding="utf-8") as f:
            rec = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise RecordError(f"{path}: not a readable record ({' '.join(str(e).split())}); a damaged record: {REMOVE}; "
                          "a file of yours: move it out of the records folder") from None
    if isinstance(rec, dict) and rec.get("format") == OLD_FORMAT and OLD_FORMAT not in formats:
        raise RecordError(f"{path}: a record written before every optimiser named its max-norm bound; migrate its "
                          f"folder once: python -m tinykd.runs.migrate {os.path.dirname(path) or '.'} --checkpoint-dir "
                          "<its checkpoints folder>")
    if not isinstance(rec, dict) or rec.get("format") not in formats or not isinstance(rec.get("identity"), dict):
        raise RecordError(f"{path}: not a tinykd record (expected format {FORMAT!r}); move it out of the records "
                          "folder")
    if rec.get("key") != key(rec["identity"]) or not os.path.basename(path).endswith(f"-{rec.get('key')}.json"):
        raise RecordError(f"{path}: its key is not the hash of its identity and its file name: edited by hand or "
                          f"damaged; {REMOVE}")
    if rec.get("checksum") != checksum(rec) or not isinstance(rec.get("result"), dict):
        raise RecordError(f"{path}: its contents do not match its checksum: edited by hand or damaged; {REMOVE}")
    return rec
