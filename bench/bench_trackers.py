"""Training rate with each experiment tracker on against none (issue #24).

The dsprites_quick config (Burgess model, batch 64, speed fast, CPU) at the default logging
interval (train.log_every = 100) with a checkpoint every --checkpoint-every steps (the
non-live trackers, MLflow and W&B, get their rows at checkpoints, so the window must hold some).
Each window times --steps steps after --warmup steps (the set-up, tracker start included, is not
timed; a tracker's background work, e.g. W&B's service process, is), every window in a fresh
process, the variants interleaved (none, tensorboard, mlflow, wandb, none, ...) so that the
machine's noise hits them alike. Prints each variant's median steps/s, its ratio to `none` from
the same repetition (median and range over --reps), and `uptime` before and after.

Usage: python bench/bench_trackers.py [--steps 400] [--warmup 20] [--reps 3] [--checkpoint-every 200]
       [--threads N] [--batch 64]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
VARIANTS = ("none", "tensorboard", "mlflow", "wandb")


def measure(tracker: str, steps: int, warmup: int, checkpoint_every: int, threads: int | None,
            batch: int) -> float:
    """Steps/s of one window, in this process, with ``tracker`` on (or none)."""
    import yaml

    sys.path.insert(0, str(HERE))
    from bench_train import StepClock

    from betavae.config import build_config
    from betavae.experiments.run import train

    tree = yaml.safe_load((HERE.parent / "src" / "betavae" / "configs" / "dsprites_quick.yaml").read_text())
    tree["name"] = f"bench-trackers-{tracker}"
    tree["train"].update(steps=steps + warmup, log_every=100, checkpoint_every=checkpoint_every, report=False,
                         device="cpu", threads=threads, batch_size=batch, trackers=[] if tracker == "none" else [tracker])
    clock = StepClock(warmup)
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)  # MLflow's store goes beside the runs folder
        train(build_config(tree), Path(tmp) / "runs", callbacks=[clock])
    return clock.n / (clock.t1 - clock.t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--checkpoint-every", type=int, default=200)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--batch", type=int, default=64, help="smaller: cheaper steps, so a harsher test")
    ap.add_argument("--one", help=argparse.SUPPRESS)  # internal: measure one variant, print JSON
    args = ap.parse_args()
    if args.one:
        print(json.dumps(measure(args.one, args.steps, args.warmup, args.checkpoint_every, args.threads,
                                 args.batch)))
        return
    env = {**os.environ, "WANDB_MODE": "offline"}
    env.pop("MLFLOW_TRACKING_URI", None)
    print("load before:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    rates: dict[str, list[float]] = {v: [] for v in VARIANTS}
    for rep in range(args.reps):
        for variant in VARIANTS:
            cmd = [sys.executable, __file__, "--one", variant, "--steps", str(args.steps), "--warmup",
                   str(args.warmup), "--checkpoint-every", str(args.checkpoint_every), "--batch", str(args.batch)]
            if args.threads:
                cmd += ["--threads", str(args.threads)]
            out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True).stdout
            rates[variant].append(json.loads(out.strip().splitlines()[-1]))
        print(f"rep {rep + 1}: " + ", ".join(f"{v} {rates[v][-1]:.2f}" for v in VARIANTS), flush=True)
    print("load after:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    print(f"\nbatch {args.batch}, {args.steps} steps after {args.warmup} warm-up, log_every 100, checkpoint_every "
          f"{args.checkpoint_every}, {args.reps} reps (steps/s; ratio to none in the same rep)")
    for v in VARIANTS:
        ratios = [r / n for r, n in zip(rates[v], rates["none"], strict=True)]
        print(f"  {v:12s} {statistics.median(rates[v]):7.2f} steps/s   ratio {statistics.median(ratios):.3f} "
              f"(range {min(ratios):.3f}-{max(ratios):.3f})")


if __name__ == "__main__":
    main()
