"""One run at a time per checkpoint: a lock file beside a run's checkpoint, naming the process that holds it (two
processes training one identity would write the same files, the last writer's numbers replacing the other's)."""
import contextlib
import json
import os
import secrets
import socket
import sys
import time

from .checkpoints import CheckpointError, _stem


class RunLockedError(CheckpointError):
    """Another process holds the lock of the run asked for."""


_HELD = set()   # the absolute paths of the locks this process holds, which it may take again


def lock_path(path):
    """The lock beside the run checkpoint ``path``: ``x.run.npz`` -> ``x.run.lock``."""
    return _stem(path) + ".lock"


@contextlib.contextmanager
def run_lock(path, say=None):
    """Hold the lock of the run checkpointed at ``path`` for the ``with`` block: a file created exclusively
    (``O_CREAT | O_EXCL``) naming its holder. Held by a live process, or one on another host, it raises
    ``RunLockedError`` naming it; left by a process of this host that no longer runs, it is taken over and ``say``
    (default: stderr) says so. A process may take a lock it already holds (``Runner`` around ``fit``)."""
    lock = os.path.abspath(lock_path(path))
    if lock in _HELD:     # taken again: the outermost ``with`` releases it
        yield lock
        return
    token = _acquire(lock, say or (lambda line: print(line, file=sys.stderr, flush=True)))
    _HELD.add(lock)
    try:
        yield lock
    finally:
        _HELD.remove(lock)
        holder, _ = _holder(lock, tries=1)
        if holder is not None and holder.get("token") == token:
            os.remove(lock)


def _acquire(lock, say):
    os.makedirs(os.path.dirname(lock), exist_ok=True)
    me = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%d %H:%M:%S"),
          "token": secrets.token_hex(8), "command": " ".join(sys.argv)[:300]}
    for _ in range(5):
        try:
            fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            holder, text = _holder(lock)
            if text is None:          # released between our attempt and our look: try again
                continue
            if holder is None:
                raise RunLockedError(f"{lock} exists but does not say which process holds it; if no run with "
                                     "these settings is going on, delete it") from None
            who = f"process {holder['pid']} on {holder.get('host')} (since {holder.get('started')}: " \
                  f"{holder.get('command') or 'python'})"
            if not _gone(holder):
                where = "" if holder.get("host") == socket.gethostname() else " (on another host: cannot tell " \
                    "whether it still runs)"
                raise RunLockedError(f"a run with these settings is already going on in {who}{where}: wait for it, "
                                     f"or stop it; if it is gone, delete {lock}") from None
            if _remove_if_same(lock, text):
                say(f"took over {lock}, left by {who}, which no longer runs")
            continue
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(me, f)
        except BaseException:          # Ctrl-C between creating and filling it: leave no nameless lock
            os.remove(lock)
            raise
        return me["token"]
    raise RunLockedError(f"could not take {lock}: other processes keep taking it; start one run at a time")


def _holder(lock, tries=20):
    """(record, text) of a lock file; (None, None) when it is not there, (None, text) when it is unreadable (looked
    at again, briefly: an empty file may be a lock created and not yet filled)."""
    for attempt in range(tries):
        try:
            with open(lock, encoding="utf-8") as f:
                text = f.read()
        except FileNotFoundError:
            return None, None
        try:
            record = json.loads(text)
            if isinstance(record, dict) and isinstance(record.get("pid"), int):
                return record, text
        except json.JSONDecodeError:
            pass
        if attempt + 1 < tries:
            time.sleep(0.05)
    return None, text


def _gone(holder):
    """True when the holder ran on this host and runs no longer: its pid is free, a zombie, or this process's own
    (which holds no such lock: a pid reused after a crash)."""
    if holder.get("host") != socket.gethostname() or os.name == "nt":   # on Windows os.kill(pid, 0) is Ctrl-C
        return False
    pid = holder["pid"]
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:      # PermissionError: the pid is someone else's live process
        return False
    return _zombie(pid)


def _zombie(pid):
    """True when ``pid`` has exited but its parent has not reaped it yet (Linux: state Z or X in
    ``/proc/<pid>/stat``), which ``os.kill(pid, 0)`` reports alive."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8", errors="replace") as f:
            stat = f.read()
    except OSError:      # no /proc (macOS), or the process went meanwhile: os.kill's answer stands
        return False
    # "pid (command) state ...": the command may hold spaces and parentheses, the state follows the last ')'
    fields = stat[stat.rfind(")") + 1:].split()
    return bool(fields) and fields[0] in ("Z", "X")


def _remove_if_same(lock, text):
    """Remove a stale lock only if it still is the one read (moved aside atomically, compared, put back when
    another process had replaced it meanwhile); True when it was removed."""
    aside = f"{lock}.stale-{secrets.token_hex(6)}"
    try:
        os.rename(lock, aside)
    except FileNotFoundError:
        return False                      # another process took it over first
    with open(aside, encoding="utf-8") as f:
        same = f.read() == text
    if not same:
        try:
            os.link(aside, lock)          # put back, unless a third process has made a new one meanwhile
        except OSError:
            pass
    os.remove(aside)
    return same
