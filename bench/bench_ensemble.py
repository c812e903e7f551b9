"""K dSprites seeds trained as one ensemble against K runs one after another (issue 19).

Prints, from one run on this machine, for K = 4 and 8 at speed levels `fast` and `fastest`:
  - the single run's steps/s (the full loop of betavae.train.loop on the dsprites_quick config:
    Burgess model, batch 64); K runs one after another take K times as long per step each, so
    their throughput is that of one run;
  - the ensemble's steps/s (one step = a step of all K members) through
    betavae.train.loop (K members), and its throughput in member-steps/s and images/s;
  - the ratio ensemble / one-after-another (> 1: the ensemble finishes the K runs sooner).
Each figure is the median of --reps timed windows of --steps steps after --warmup steps, every
window in a fresh process (speed levels change process-wide settings), the variants interleaved
so that machine noise hits them alike. The machine is shared: `uptime`'s load is printed before
and after. The windows must be long: a single run's first few dozen steps are several times
slower than its steady rate (2026-12-05: 40 steps after 8 gave a single run 12.4 steps/s and the
ensemble 1.43x; 300 after 50 gave 36.8 steps/s and 0.46x), so short windows flatter the ensemble.

Usage: python bench/bench_ensemble.py [--steps 300] [--warmup 50] [--reps 1] [--ks 4,8]
       [--levels fast,fastest] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def config_tree(level: str, steps: int, threads: int | None) -> dict:
    import yaml

    tree = yaml.safe_load((HERE.parent / "configs" / "dsprites_quick.yaml").read_text())
    tree["name"] = f"bench-ens-{level}"
    tree["train"].update(steps=steps, speed=level, report=False, device="cpu", log_every=steps,
                         checkpoint_every=steps, threads=threads)
    return tree


def measure(kind: str, k: int, level: str, steps: int, warmup: int, threads: int | None) -> float:
    """Steps/s of one window (in this process): ``kind`` single or ensemble of ``k`` seeds."""
    sys.path.insert(0, str(HERE))
    from bench_train import StepClock

    from betavae.config import build_config
    from betavae.experiments.run import train, train_ensemble
    from betavae.train.ensemble import seed_configs

    config = build_config(config_tree(level, steps + warmup, threads))
    clock = StepClock(warmup)
    with tempfile.TemporaryDirectory() as tmp:
        if kind == "single":
            train(config, tmp, callbacks=[clock])
        else:
            train_ensemble(seed_configs(config, range(k)), tmp, callbacks=[clock])
    return clock.n / (clock.t1 - clock.t0)


def run_one(kind: str, k: int, level: str, args: argparse.Namespace) -> float:
    cmd = [sys.executable, __file__, "--one", kind, str(k), level, "--steps", str(args.steps),
           "--warmup", str(args.warmup)]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=os.environ.copy())
    return float(json.loads(out.stdout.strip().splitlines()[-1])["steps_per_s"])


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return "load unknown"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--reps", type=int, default=1)
    ap.add_argument("--ks", default="4,8")
    ap.add_argument("--levels", default="fast,fastest")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--one", nargs=3, metavar=("KIND", "K", "LEVEL"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        kind, k, level = args.one
        rate = measure(kind, int(k), level, args.steps, args.warmup, args.threads)
        print(json.dumps({"steps_per_s": rate}))
        return

    import torch

    ks = [int(v) for v in args.ks.split(",")]
    levels = args.levels.split(",")
    batch = config_tree("fast", 1, None)["train"]["batch_size"]
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch "
          f"{torch.__version__}, threads {args.threads or torch.get_num_threads()}")
    print(f"load before: {uptime()}")
    print(f"dsprites_quick (Burgess, batch {batch}); {args.steps} timed steps after {args.warmup}, "
          f"median of {args.reps} interleaved fresh-process windows")
    variants = [(level, "single", 1) for level in levels] + [(level, "ensemble", k) for level in levels for k in ks]
    rates: dict[tuple, list[float]] = {v: [] for v in variants}
    for _ in range(args.reps):
        for level, kind, k in variants:
            rates[(level, kind, k)].append(run_one(kind, k, level, args))
    print(f"load after:  {uptime()}")
    print()
    print("| speed | K | K runs one after another: member-steps/s, images/s | ensemble: steps/s, "
          "member-steps/s, images/s | ensemble / one after another |")
    print("|---|---|---|---|---|")
    for level in levels:
        single = statistics.median(rates[(level, "single", 1)])
        for k in ks:
            ens = statistics.median(rates[(level, "ensemble", k)])
            print(f"| {level} | {k} | {single:.2f}, {single * batch:.0f} | {ens:.2f}, {ens * k:.2f}, "
                  f"{ens * k * batch:.0f} | {ens * k / single:.2f}x |")


if __name__ == "__main__":
    main()
