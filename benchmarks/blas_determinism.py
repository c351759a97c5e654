"""How exactly does a run reproduce? S (initial)'s recipe trained under several BLAS settings, weights compared.

The same code, data and seeds give bit-identical weights only when the float32 matrix products sum in the same
order, which OpenBLAS sets by its kernel (chosen per processor at run time; ``OPENBLAS_CORETYPE`` overrides it)
and its thread count (``OPENBLAS_NUM_THREADS``). Each setting runs in its own process (OpenBLAS reads both when it
loads) and trains the Table 1 protocol's S (initial): 784-800-800-10, Adam 1e-3 with the cosine schedule, batch
128, seed 0, on MNIST's 55,000 training images after the stratified 5,000-image validation split. It reports a
hash of the weights and the validation and test errors, and writes them to
``benchmarks/results/blas_determinism.json`` (``blas_determinism_<N>_epochs.json`` for a shorter run).

    python benchmarks/blas_determinism.py                       # 20 epochs (S (initial)'s budget), 3 settings
    python benchmarks/blas_determinism.py --epochs 1            # a minute: the weights already differ
"""
import argparse
import hashlib
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SETTINGS = [{"OPENBLAS_NUM_THREADS": "2"}, {"OPENBLAS_NUM_THREADS": "1"},
            {"OPENBLAS_NUM_THREADS": "2", "OPENBLAS_CORETYPE": "Haswell"}]


def train(epochs):
    """One S (initial) run in this process; prints one JSON line."""
    import numpy as np

    from tinykd import data

    from tinykd.runs import provenance
    from tinykd.distill import Supervised
    from tinykd.layers import MLP
    from tinykd.optim import Adam
    from tinykd.schedules import cosine_lr
    from tinykd.train import errors, fit
    ds = data.load("mnist", val=5000, seed=0)
    model = MLP([784, 800, 800, 10], seed=0)
    t0 = time.perf_counter()
    schedule = cosine_lr(1e-3, 20)   # S (initial)'s schedule; --epochs below 20 runs its first epochs only

    def first_epochs_of_schedule(epoch):
        return schedule(epoch)
    fit(model, Supervised(), Adam(model, lr=1e-3), ds.x_train, ds.y_train, epochs, 128, x_val=ds.x_val,
        y_val=ds.y_val, lr_schedule=first_epochs_of_schedule, seed=0, progress=False)
    h = hashlib.sha256()
    for _, p, _ in model.named_parameters():
        h.update(np.ascontiguousarray(p).tobytes())
    m = provenance.machine()
    print(json.dumps({"weights_sha256": h.hexdigest()[:16], "val_errors": errors(model, ds.x_val, ds.y_val),
                      "test_errors": errors(model, ds.x_test, ds.y_test), "seconds": time.perf_counter() - t0,
                      "blas_kernel": m["blas_kernel"], "blas_threads": m["blas_threads"]}))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=20, help="epochs of S (initial)'s 20-epoch schedule to train")
    p.add_argument("--one", action="store_true", help=argparse.SUPPRESS)   # the child process
    args = p.parse_args(argv)
    if not 1 <= args.epochs <= 20:
        p.error(f"--epochs must lie in 1..20 (S (initial)'s schedule), got {args.epochs}")
    if args.one:
        return train(args.epochs)
    from tinykd.runs import provenance
    runs = []
    for setting in SETTINGS:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENBLAS_", "OMP_"))}
        out = subprocess.run([sys.executable, __file__, "--one", "--epochs", str(args.epochs)], env={**env, **setting},
                             capture_output=True, text=True, check=True)
        runs.append({"setting": setting, **json.loads(out.stdout.strip().splitlines()[-1])})
        print(runs[-1], flush=True)
    result = {"epochs": args.epochs, "machine": provenance.machine(), "runs": runs,
              "identical": len({r["weights_sha256"] for r in runs}) == 1}
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    name = "blas_determinism" + ("" if args.epochs == 20 else f"_{args.epochs}_epochs")   # never over the full one
    with open(os.path.join(HERE, "results", name + ".json"), "w", encoding="utf-8") as f:
        json.dump(result, f, indent=1)
    return result


if __name__ == "__main__":
    main()
