"""Where a record comes from: the commit of the code that trained it, the machine (and its BLAS kernel and
threads, which shape float32 sums), the command line and the date."""
import ctypes
import datetime
import os
import platform
import subprocess
import sys

import numpy as np


def machine():
    """Where a run ran, as far as it shapes the numbers: Python, NumPy, the processor, and the BLAS library with the
    kernel it chose at run time and its thread count (which set the order of a float32 product's sums)."""
    blas = dict(np.show_config(mode="dicts").get("Build Dependencies", {}).get("blas", {}))
    return {"python": platform.python_version(), "numpy": np.__version__, "processor": platform.machine(),
            "cpu": _cpu_model(), "cpus": os.cpu_count(), "blas": f"{blas.get('name')} {blas.get('version')}",
            **_openblas_runtime()}


def _cpu_model():
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "not known"


def _openblas_runtime():
    """{"blas_kernel", "blas_threads"} asked of the OpenBLAS that NumPy loaded (Linux), or saying they are not
    known: a record never guesses them."""
    unknown = {"blas_kernel": "not known", "blas_threads": "not known"}
    try:
        with open("/proc/self/maps", encoding="utf-8") as f:
            libs = {line.split()[-1] for line in f if "openblas" in line and line.split()[-1].startswith("/")}
    except OSError:
        return unknown
    for path in sorted(libs):
        lib = ctypes.CDLL(path)
        for prefix, suffix in (("scipy_openblas", "64_"), ("openblas", "64_"), ("openblas", "")):
            name, threads = getattr(lib, f"{prefix}_get_corename{suffix}", None), \
                getattr(lib, f"{prefix}_get_num_threads{suffix}", None)
            if name is not None and threads is not None:
                name.restype, threads.restype = ctypes.c_char_p, ctypes.c_int
                return {"blas_kernel": name().decode(), "blas_threads": int(threads())}
    return unknown


def _code_commit():
    """The git commit of the code as this process loaded it (``+dirty`` when tracked files differ; None outside a
    git checkout), asked once at import: the checkout may move on while a long run goes."""
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True,
                                timeout=10).stdout.strip() or None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + "+dirty" if commit and dirty else commit


CODE_COMMIT = _code_commit()


def provenance():
    """This process's provenance: ``CODE_COMMIT``, ``machine()``, the command line and the date (UTC)."""
    command = " ".join([os.path.basename(sys.argv[0])] + sys.argv[1:])
    return {"commit": CODE_COMMIT, "machine": machine(), "command": command,
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


REPOSITORY = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def relative(source):
    """A data source as a record names it: each of its ``"; "``-joined paths that lies inside the repository made
    relative to it (records are committed; an absolute path names one machine), anything else as given."""
    def one(path):
        inside = os.path.isabs(path) and os.path.commonpath([os.path.abspath(path), REPOSITORY]) == REPOSITORY
        return os.path.relpath(path, REPOSITORY) if inside else path
    return "; ".join(one(p) for p in source.split("; "))
