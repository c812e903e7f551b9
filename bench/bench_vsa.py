"""dSprites-VSA benchmark (issue 6): data generation and training speed.

Prints, from one run on this machine:
  - Paired-dSprites pairs/s, Scene-dSprites scenes/s and Paired-Scene-dSprites items/s generated
    (items rendered on demand from their seeds, batches of --items, templates warmed first);
  - training steps/s of the feature-vector VAE (d = 1024, as in the source) for PD swap training,
    SD scenes and PSD with the item memory, at --batch (one torch thread by default: the
    machine is shared);
  - wall and CPU time per step, so a loaded machine can be told apart.
Figures are medians of --reps repetitions after warm-up. The load average is printed before
and after. Usage: python bench/bench_vsa.py [--items N] [--batch B] [--steps S] [--reps R]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import torch

from betavae.config import build_config
from betavae.data.render import make_renderer
from betavae.train.loop import Loop
from betavae.vsa.study import STAGE_DATA


def config(stage: str, batch: int = 64, steps: int = 1):
    return build_config({"data": {"kind": STAGE_DATA[stage]}, "model": {"kind": "feature_vae"},
                         "objective": {"kind": "vsa"},
                         "train": {"batch_size": batch, "device": "cpu", "speed": "plain", "steps": steps,
                                   "log_every": steps, "checkpoint_every": steps, "threads": torch.get_num_threads()}})


def generation_rate(stage: str, items: int, reps: int) -> float:
    ds = config(stage).data.build("train")
    ds.batch(range(64))
    rates = []
    for r in range(reps):
        start = (r + 1) * 100_000
        t = time.perf_counter()
        ds.batch(range(start, start + items))
        rates.append(items / (time.perf_counter() - t))
    return statistics.median(rates)


def step_rate(stage: str, batch: int, steps: int, reps: int) -> tuple[float, float]:
    """(steps/s wall, CPU s per step) of the one loop's steps (vsa task, plain numerics with the
    fast transposed convolutions), data generation excluded: the steps cycle 4 prepared batches."""
    loop = Loop(config(stage, batch, steps))
    batches = list(loop.task.batches(0, 4))
    loop.task.batches = lambda start, stop: (batches[s % len(batches)] for s in range(start, stop))

    def run() -> None:
        loop.step = 0
        loop.fit(lambda k, row: None, lambda k, state: None)

    run()  # warm-up
    walls, cpus = [], []
    for _ in range(reps):
        t, c = time.perf_counter(), time.process_time()
        run()
        walls.append(steps / (time.perf_counter() - t))
        cpus.append((time.process_time() - c) / steps)
    return statistics.median(walls), statistics.median(cpus)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--items", type=int, default=2048)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"{a.threads} thread(s); load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    make_renderer().warm()
    names = {"pd": "Paired-dSprites pairs/s", "sd": "Scene-dSprites scenes/s", "psd": "Paired-Scene-dSprites items/s"}
    for stage, name in names.items():
        print(f"{name:34s} {generation_rate(stage, a.items, a.reps):10.0f}   (batches of {a.items}, median of {a.reps})")
    for stage in names:
        wall, cpu = step_rate(stage, a.batch, a.steps, a.reps)
        print(f"train {stage.upper():3s} steps/s (batch {a.batch}, d=1024) {wall:8.2f}   CPU {1e3 * cpu:.0f} ms/step")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
