"""A run's identity and the one hash that names it.

An identity is a JSON-able dict of everything that shaped a network's weights (``tinykd.runs.spec.Spec.identity``
builds it); ``key`` hashes it, and a record and a checkpoint of one run carry the same key.
"""
import hashlib
import json

import numpy as np


def normalise(record):
    """``record`` as JSON would give it back (tuples become lists, NumPy scalars plain numbers), for comparing."""
    return json.loads(json.dumps(record, default=_json_default))


def _json_default(v):
    if isinstance(v, np.generic):
        return v.item()
    raise TypeError(f"cannot store {type(v).__name__} in an identity")


def key(identity):
    """16 hex digits of the SHA-256 of the identity as JSON, keys sorted: its record's and its checkpoint's name."""
    return hashlib.sha256(json.dumps(normalise(identity), sort_keys=True).encode()).hexdigest()[:16]


def differences(expected, found, prefix=""):
    """The keys (dotted paths) whose values differ between two identities."""
    if not (isinstance(expected, dict) and isinstance(found, dict)):
        return [] if expected == found else [prefix.rstrip(".") or "identity"]
    out = []
    for name in sorted(set(expected) | set(found), key=str):
        if name not in expected or name not in found:
            out.append(prefix + str(name))
        else:
            out += differences(expected[name], found[name], f"{prefix}{name}.")
    return out
