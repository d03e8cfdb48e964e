"""Held still for checkpointing: a fork-start multiprocessing pool whose
workers read a large numpy array inherited copy-on-write from the parent.
Started by workloads/apps/numpy-pool; writes READY_PATH when every worker
has read the whole array, then sleeps until killed."""
import multiprocessing as mp
import os
import signal
import sys

import numpy as np

ARRAY = None


def read_all(_):
    # Reading touches every page without writing it: the pages stay shared.
    return os.getpid(), float(ARRAY.sum())


def main():
    global ARRAY
    size_mib, workers, ready_path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    rng = np.random.default_rng(1)
    ARRAY = rng.random(size_mib * (1 << 20) // 8)  # unique, non-zero pages
    pool = mp.get_context("fork").Pool(workers)
    seen = set()
    while len(seen) < workers:  # until every worker has read it once
        seen.update(pid for pid, _ in pool.map(read_all, range(workers * 4), chunksize=1))
    tmp = ready_path + ".tmp"
    with open(tmp, "w") as f:
        f.write(" ".join(str(p) for p in sorted(seen)) + "\n")
    os.rename(tmp, ready_path)
    while True:
        signal.pause()


if __name__ == "__main__":
    main()
