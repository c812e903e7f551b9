"""What separates the full training loop from the bare step at a speed level, part by part (issue 22).

Prints, from one run on this machine, for ``--speed`` (default ``fastest``):
  - the bare step: forward + objective + backward + Adam step of the Burgess model at batch 64 on
    one fixed batch, with the speed plan applied exactly as the loop applies it
    (``Speed.prepare_model`` / ``adam`` / ``batch`` / ``forward`` / ``backward`` / ``step``:
    channels-last, fast transposed convolutions, in-place ReLUs, fused Adam, malloc tuning and,
    at ``fastest``, bf16 autocast);
  - the full loop (``betavae.experiments.run.Trainer`` on the same config: batch rendering,
    schedules, logging windows, NaN checks, metrics rows, checkpoints) with every part timed;
  - a table of milliseconds per step for each part, in wall time and in CPU time of the main
    thread (``time.thread_time``; with ``--threads 1`` all of torch's work runs on it, so CPU
    time does not count the time other processes take the core: the robust figure on a loaded
    machine), and the loop's rate against the bare step's.
Checkpoints are timed per call and amortised over ``train.checkpoint_every`` (1,000 by default);
the metrics rows fall inside the timed window at their real rate (every ``log_every`` = 100).
Every figure is the median over ``--reps`` fresh processes per variant, bare and loop
interleaved so that machine noise hits both alike; ``uptime`` is printed before and after.

Usage: python bench/bench_loop_parts.py [--speed fastest] [--steps 300] [--warmup 20] [--reps 3] [--threads 1]
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
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

#: the parts of one step, in the order the loop runs them (``loop`` is what none of them covers)
PARTS = ("batch", "hypers", "forward+objective", "zero_grad", "backward", "log window", "NaN check",
         "optimizer step", "callbacks", "metrics row", "loop")


def config_tree(level: str, steps: int, threads: int) -> dict:
    """bench_speed.py's config: Burgess, β = 4, batch 64, lr 5e-4, log every 100, checkpoint every 1000."""
    sys.path.insert(0, str(HERE))
    from bench_speed import config_tree as speed_tree

    tree = speed_tree(level, steps)
    tree["train"]["threads"] = threads
    return tree


class Clocks:
    """Wall and main-thread CPU seconds accumulated per part while ``on``."""

    def __init__(self) -> None:
        self.wall: dict[str, float] = defaultdict(float)
        self.cpu: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self.on = False

    def wrap(self, name: str, fn: Callable) -> Callable:
        def timed(*args: Any, **kwargs: Any) -> Any:
            w, c = time.perf_counter(), time.thread_time()
            try:
                return fn(*args, **kwargs)
            finally:
                if self.on:
                    self.wall[name] += time.perf_counter() - w
                    self.cpu[name] += time.thread_time() - c
                    self.calls[name] += 1
        return timed

    def wrap_iter(self, name: str, it: Iterator) -> Iterator:
        while True:
            w, c = time.perf_counter(), time.thread_time()
            try:
                item = next(it)
            except StopIteration:
                return
            if self.on:
                self.wall[name] += time.perf_counter() - w
                self.cpu[name] += time.thread_time() - c
                self.calls[name] += 1
            yield item


def work_bare(level: str, steps: int, warmup: int, threads: int) -> dict:
    import torch

    from betavae.config import build_config
    from betavae.train.batches import make_batch
    from betavae.train.speed import Speed, plan_for

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    cfg = build_config(config_tree(level, steps + warmup, threads))
    device = torch.device("cpu")
    speed = Speed(plan_for(level, device, steps + warmup), device)
    source = cfg.data.build()
    model = speed.prepare_model(cfg.model.build(source.observation_shape))
    objective = cfg.objective.build(cfg.model.likelihood, cfg.model.latent_dim)
    opt = speed.adam(model.parameters(), lr=cfg.train.lr)
    x = speed.batch(make_batch(source, cfg.train.batch_size, 0, 0))
    hyper = objective.hyper(0, 0)
    w = c = 0.0
    for i in range(warmup + steps):
        if i == warmup:
            w, c = time.perf_counter(), time.thread_time()
        loss = objective(speed.forward(model, x), x, hyper)["loss"]
        opt.zero_grad(set_to_none=True)
        speed.backward(loss)
        speed.step(opt)
    return {"wall_ms": 1000 * (time.perf_counter() - w) / steps, "cpu_ms": 1000 * (time.thread_time() - c) / steps}


def work_loop(level: str, steps: int, warmup: int, threads: int) -> dict:
    import torch

    from betavae.config import build_config
    from betavae.data.render import shared_template_renderer
    from betavae.experiments.run import Trainer
    from betavae.experiments.rundir import create_run_dir, write_meta
    from betavae.train import loop as loop_module
    from betavae.train.callbacks import Callback

    torch.set_num_threads(threads)
    cfg = build_config(config_tree(level, steps + warmup, threads))
    shared_template_renderer(cfg.data.renderer).warm()  # templates are built once per process
    clocks = Clocks()
    marks: dict[str, tuple[float, float]] = {}

    class Window(Callback):
        def on_step(self, step: int) -> None:
            if step == warmup:
                marks["start"] = (time.perf_counter(), time.thread_time())
                clocks.on = True
            elif step == warmup + steps:
                marks["end"] = (time.perf_counter(), time.thread_time())
                clocks.on = False

    ckpt_wall: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = create_run_dir(cfg, tmp)
        write_meta(run_dir, status="created")
        # the timing callback runs inside "callbacks"; the parts are wrapped on the instances
        trainer = Trainer(cfg, run_dir, [Window()])
        task, speed, opt = trainer.task, trainer.speed, trainer.optimizer
        batches = task.batches
        task.batches = lambda start, stop: clocks.wrap_iter("batch", batches(start, stop))
        task.hypers = clocks.wrap("hypers", task.hypers)
        task.terms = clocks.wrap("forward+objective", task.terms)
        opt.zero_grad = clocks.wrap("zero_grad", opt.zero_grad)
        speed.backward = clocks.wrap("backward", speed.backward)
        task.log_values = clocks.wrap("log window", task.log_values)
        task.examples = clocks.wrap("log window", task.examples)
        window_add = loop_module.Window.add
        loop_module.Window.add = clocks.wrap("log window", window_add)
        trainer._check_finite = clocks.wrap("NaN check", trainer._check_finite)
        speed.step = clocks.wrap("optimizer step", speed.step)
        trainer._log = clocks.wrap("metrics row", trainer._log)
        checkpoint = trainer._checkpoint

        def timed_checkpoint(save: Any) -> None:
            t = time.perf_counter()
            checkpoint(save)
            ckpt_wall.append(time.perf_counter() - t)

        trainer._checkpoint = timed_checkpoint
        callbacks = list(trainer.callbacks)
        trainer.callbacks = [_TimedCallbacks(clocks, callbacks)]
        try:
            trainer.run(resume=False)
        finally:
            loop_module.Window.add = window_add
    (w0, c0), (w1, c1) = marks["start"], marks["end"]
    wall_ms, cpu_ms = 1000 * (w1 - w0) / steps, 1000 * (c1 - c0) / steps
    parts = {name: {"wall_ms": 1000 * clocks.wall.get(name, 0.0) / steps, "cpu_ms": 1000 * clocks.cpu.get(name, 0.0) / steps}
             for name in PARTS if name != "loop"}
    parts["loop"] = {"wall_ms": wall_ms - sum(p["wall_ms"] for p in parts.values()),
                     "cpu_ms": cpu_ms - sum(p["cpu_ms"] for p in parts.values())}
    every = cfg.train.checkpoint_every
    return {"wall_ms": wall_ms, "cpu_ms": cpu_ms, "parts": parts,
            "checkpoint_ms_per_call": 1000 * statistics.median(ckpt_wall), "checkpoint_every": every}


class _TimedCallbacks:
    """Stands in for the loop's callbacks: times their ``on_step`` under "callbacks"."""

    def __init__(self, clocks: Clocks, callbacks: list) -> None:
        self.callbacks = callbacks
        self.on_step = clocks.wrap("callbacks", self._on_step)

    def _on_step(self, step: int) -> None:
        for cb in self.callbacks:
            cb.on_step(step)

    def __getattr__(self, name: str) -> Callable:
        def call(*args: Any) -> None:
            for cb in self.callbacks:
                getattr(cb, name)(*args)
        return call


# ---------------------------------------------------------------- driver


def run_worker(kind: str, args: argparse.Namespace) -> dict:
    cmd = [sys.executable, __file__, "--worker", kind, "--speed", args.speed, "--steps", str(args.steps),
           "--warmup", str(args.warmup), "--threads", str(args.threads)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False, env=os.environ.copy())
    for line in out.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"{kind} failed:\n{out.stderr[-3000:]}")


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return "load unknown"


def breakdown(bare: list[dict], loops: list[dict]) -> list[tuple[str, float, float]]:
    """(part, median wall ms/step, median CPU ms/step) rows: the bare step, the loop's parts (the
    amortised checkpoint included), the loop's total and the gap loop − bare."""
    med = statistics.median
    rows = [("bare step (fixed batch)", med(r["wall_ms"] for r in bare), med(r["cpu_ms"] for r in bare))]
    for name in PARTS:
        rows.append((name, med(r["parts"][name]["wall_ms"] for r in loops), med(r["parts"][name]["cpu_ms"] for r in loops)))
    ckpt = med(r["checkpoint_ms_per_call"] / r["checkpoint_every"] for r in loops)
    rows.append((f"checkpoint (amortised over {loops[0]['checkpoint_every']} steps)", ckpt, float("nan")))
    loop_wall, loop_cpu = med(r["wall_ms"] for r in loops), med(r["cpu_ms"] for r in loops)
    rows.append(("full loop (+ amortised checkpoint)", loop_wall + ckpt, loop_cpu))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--speed", default="fastest", choices=("plain", "fast", "fastest"))
    ap.add_argument("--steps", type=int, default=300, help="timed steps per run")
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--worker", choices=("bare", "loop"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        work = work_bare if args.worker == "bare" else work_loop
        print("RESULT " + json.dumps(work(args.speed, args.steps, args.warmup, args.threads)))
        return

    import torch

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"threads {args.threads}; speed={args.speed}, Burgess, batch 64, {args.steps} timed steps after "
          f"{args.warmup}, median of {args.reps} interleaved fresh-process runs")
    print(f"load before: {uptime()}")
    bare, loops = [], []
    for rep in range(args.reps):
        bare.append(run_worker("bare", args))
        loops.append(run_worker("loop", args))
        print(f"  rep {rep + 1}: bare {bare[-1]['wall_ms']:.2f} ms ({bare[-1]['cpu_ms']:.2f} cpu), "
              f"loop {loops[-1]['wall_ms']:.2f} ms ({loops[-1]['cpu_ms']:.2f} cpu)", file=sys.stderr, flush=True)
    print(f"load after:  {uptime()}")
    rows = breakdown(bare, loops)
    print()
    print("| part | wall ms/step | CPU ms/step (main thread) |")
    print("|---|---|---|")
    for name, wall, cpu in rows:
        print(f"| {name} | {wall:.3f} | {'—' if cpu != cpu else f'{cpu:.3f}'} |")
    b_wall, b_cpu = rows[0][1], rows[0][2]
    l_wall, l_cpu = rows[-1][1], rows[-1][2]
    print(f"\nloop / bare rate: {b_wall / l_wall:.3f} (wall), {b_cpu / l_cpu:.3f} (CPU); "
          f"bare {1000 / b_wall:.2f} steps/s, loop {1000 / l_wall:.2f} steps/s (wall)")


if __name__ == "__main__":
    main()
