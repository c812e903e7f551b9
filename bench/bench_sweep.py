"""Sweep throughput and scheduling overhead of the local and the Ray executor (issue 11).

For 8 short dSprites runs (Burgess model, batch 64) and each executor, prints the total wall time
with 1 worker × 1 thread, 2 workers × 1 thread and 1 worker × 2 threads, the throughput ratio
2×1 / 1×1, and the per-run scheduling overhead:

* overhead per run = (wall × workers − Σ in-worker run seconds) / runs: everything that is not
  training (pool or Ray worker start, task dispatch, result return, idle tails), spread over runs;
* no-op latency = wall / tasks for tasks whose run is already complete (the worker only checks
  the run folder): the steady-state cost of scheduling one task.

The overhead as a share of a 60 s run is reported against the ≤ 5 % target. Ray is started
(not timed) per layout, loopback only: without a loopback-only network namespace the script
re-runs itself inside ``unshare -n`` (root needed), as the tests do.

    python bench/bench_sweep.py [--steps 80] [--runs 8] [--executors local,ray]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from betavae.config import load_config
from betavae.experiments.executors import RunTask, make_executor

LAYOUTS = [(1, 1), (2, 1), (1, 2)]
CONFIG = Path(__file__).resolve().parents[1] / "src/betavae/configs/dsprites_quick.yaml"


def tasks(runs: int, steps: int, runs_dir: Path, threads: int) -> list[RunTask]:
    out = []
    for seed in range(runs):
        config = load_config(CONFIG, [f"seed={seed}", f"train.steps={steps}", "train.report=false",
                                      f"train.log_every={steps}", f"train.checkpoint_every={steps}"])
        out.append(RunTask(config.run_id(), config.to_dict(), str(runs_dir), None, False, threads))
    return out


def measure(kind: str, workers: int, threads: int, runs: int, steps: int) -> dict[str, float]:
    runs_dir = Path(tempfile.mkdtemp(prefix="bench_sweep_"))
    ex = make_executor(kind, workers, threads, 0)
    try:
        if kind == "ray":
            ex.connect()
        todo = tasks(runs, steps, runs_dir, threads)
        t0 = time.perf_counter()
        records = ex.run(todo)
        wall = time.perf_counter() - t0
        assert all(r["status"] == "finished" for r in records), records
        t0 = time.perf_counter()
        ex.run(todo)  # every run is complete now: no-op tasks
        noop = (time.perf_counter() - t0) / len(todo)
    finally:
        ex.close()
        shutil.rmtree(runs_dir, ignore_errors=True)
    busy = sum(r["seconds"] for r in records)
    return {"wall": wall, "run": busy / runs, "overhead": (wall * workers - busy) / runs, "noop": noop}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=80, help="training steps per run")
    p.add_argument("--runs", type=int, default=8)
    p.add_argument("--executors", default="local,ray")
    args = p.parse_args()
    kinds = args.executors.split(",")
    if "ray" in kinds and [n for _, n in socket.if_nameindex()] != ["lo"]:
        inner = f"ip link set lo up && exec {sys.executable} {' '.join(sys.argv)}"
        sys.exit(subprocess.call(["unshare", "-n", "sh", "-c", inner]))
    print(f"{args.runs} runs of {args.steps} steps (dsprites_quick, batch 64) on {os.cpu_count()} cores; "
          f"load average before: {os.getloadavg()[0]:.2f}")
    if os.getloadavg()[0] > 0.5:
        print("warning: other processes are using the CPUs; layouts with more threads than free cores "
              "suffer most, and the ratios below understate an idle machine's")
    print(f"{'executor':8s} {'layout':8s} {'wall s':>8s} {'run s':>7s} {'overhead s/run':>15s} "
          f"{'no-op ms':>9s} {'runs/min':>9s}")
    best: tuple[float, str] = (float("inf"), "")
    for kind in kinds:
        walls = {}
        for workers, threads in LAYOUTS:
            m = measure(kind, workers, threads, args.runs, args.steps)
            walls[(workers, threads)] = m["wall"]
            layout = f"{workers}x{threads}"
            print(f"{kind:8s} {layout:8s} {m['wall']:8.1f} {m['run']:7.1f} {m['overhead']:15.2f} "
                  f"{m['noop'] * 1e3:9.1f} {args.runs / m['wall'] * 60:9.2f}", flush=True)
            best = min(best, (m["wall"], f"{kind} {layout}"))
            if (workers, threads) == (2, 1):
                share = max(m["overhead"], 0.0) / 60.0
                print(f"{'':17s} overhead per run as a share of a 60 s run: {share:.2%} (target <= 5%)")
        print(f"{kind}: throughput 2x1 / 1x1 = {walls[(1, 1)] / walls[(2, 1)]:.2f}x (target >= 1.7x); "
              f"1x2 / 1x1 = {walls[(1, 1)] / walls[(1, 2)]:.2f}x")
    print(f"fastest layout: {best[1]} ({best[0]:.1f} s); load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
