"""Training-loop benchmark (issue 3): full loop vs bare step, and renderer vs consumption.

Prints, from one run on this machine:
  - bare step: forward + backward + Adam step of the Burgess model at batch 64 on a pre-made batch;
  - full loop: `betavae.train.loop` on the built-in dSprites (rendering, schedules, logging,
    NaN checks, checkpoints) at the same batch size;
  - the loop's efficiency = full / bare (target >= 0.9, i.e. overhead <= 10 %), in the steady
    state: the renderer's templates are built before the timed window (see the next line);
  - the one-time cost the renderer pays on first use of each (shape, scale, orientation):
    building all 702 template cells, which a run pays over its first ~hundred steps;
  - the dSprites renderer's images/s on one thread of its own and its ratio to what the loop
    consumes (target >= 10x).
Each figure is the median of several timed repetitions after warm-up, interleaved so that
machine noise hits all of them alike. Usage: python bench/bench_train.py [--steps N] [--reps R]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time

import numpy as np
import torch

from betavae.config import build_config
from betavae.data.render import shared_template_renderer
from betavae.experiments.run import train
from betavae.train.batches import make_batch
from betavae.train.callbacks import Callback


def bare_steps_per_s(cfg, steps: int) -> float:
    torch.manual_seed(0)
    source = cfg.data.build()
    model = cfg.model.build(source.observation_shape)
    objective = cfg.objective.build(cfg.model.likelihood, cfg.model.latent_dim)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.train.lr)
    x = make_batch(source, cfg.train.batch_size, 0, 0)
    for _ in range(5):  # warm-up
        loss = objective(model(x), x, objective.hyper(0, 0))["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    t0 = time.perf_counter()
    for _ in range(steps):
        loss = objective(model(x), x, objective.hyper(0, 0))["loss"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return steps / (time.perf_counter() - t0)


class StepClock(Callback):
    """Times the steps after a warm-up, excluding set-up and the final report."""

    def __init__(self, warmup: int) -> None:
        self.warmup, self.t0, self.t1, self.n = warmup, 0.0, 0.0, 0

    def on_step(self, step: int) -> None:
        if step == self.warmup:
            self.t0 = time.perf_counter()
        elif step > self.warmup:
            self.t1, self.n = time.perf_counter(), self.n + 1


def loop_steps_per_s(cfg_tree: dict, steps: int, warmup: int = 10) -> float:
    tree = {**cfg_tree, "train": {**cfg_tree["train"], "steps": steps + warmup}}
    cfg = build_config(tree)
    clock = StepClock(warmup)
    with tempfile.TemporaryDirectory() as tmp:
        train(cfg, tmp, callbacks=[clock])
    return clock.n / (clock.t1 - clock.t0)


def render_images_per_s(cfg, batches: int) -> float:
    source = cfg.data.build()
    rng = np.random.default_rng(0)
    for _ in range(3):
        source.observations(source.sample_factors(64, rng))
    t0 = time.perf_counter()
    for _ in range(batches):
        source.observations(source.sample_factors(64, rng))
    return 64 * batches / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    # Defaults of the shipped configs: log every 100 steps, checkpoint every 100 here so that the
    # timed window includes checkpoint writes (the default of 1000 costs ten times less).
    tree = {"model": {"kind": "burgess"}, "objective": {"kind": "beta", "beta": 4},
            "train": {"batch_size": 64, "log_every": 100, "checkpoint_every": 100, "report": False,
                      "speed": "plain"}}  # the same eager fp32 step as the bare loop
    cfg = build_config(tree)
    t0 = time.perf_counter()
    shared_template_renderer(cfg.data.renderer).warm()  # the loop's source shares these templates
    template_s = time.perf_counter() - t0
    bare, loop, render = [], [], []
    for _ in range(args.reps):
        bare.append(bare_steps_per_s(cfg, args.steps))
        loop.append(loop_steps_per_s(tree, args.steps))
        render.append(render_images_per_s(cfg, 50))
    b, f, r = (statistics.median(v) for v in (bare, loop, render))
    print(f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, "
          f"torch {torch.__version__}")
    print(f"bare step (Burgess, batch 64):   {b:7.2f} steps/s  {64 * b:8.0f} images/s   (runs: {', '.join(f'{v:.2f}' for v in bare)})")
    print(f"full loop (betavae.train):       {f:7.2f} steps/s  {64 * f:8.0f} images/s   (runs: {', '.join(f'{v:.2f}' for v in loop)})")
    print(f"loop efficiency full/bare:       {f / b:7.3f}   (target >= 0.9; steady state, templates built)")
    print(f"template build, once per process: {template_s:6.2f} s = {template_s * f:.0f} steps' time "
          f"(spread over a run's first ~100 steps)")
    print(f"dSprites renderer:               {r:8.0f} images/s   (runs: {', '.join(f'{v:.0f}' for v in render)})")
    print(f"renderer / training consumption: {r / (64 * f):7.1f}x  (target >= 10x)")


if __name__ == "__main__":
    main()
