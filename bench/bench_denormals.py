"""Denormal weights: training steps per second with and without flush-to-zero (one run).

Weight decay pulls the weights of units that get no gradient towards 0 until they are denormal
floats (< 1.2e-38); on many x86 CPUs every operation on a denormal takes a slow microcode path.
A trained cross-modal β-VAE of the full-size study had 92 % of its first video layer denormal.
This bench builds the cross-modal β-VAE (one member, real shapes, random inputs) and times
optimiser steps (forward, backward, fused Adam with weight decay) four ways per speed level:
fresh weights or a fraction ``--fraction`` of every weight tensor set to denormals, each with the
CPU's denormals kept or flushed (``torch.set_flush_denormal``, what ``fast``/``fastest`` do while
training: betavae.train.speed.Speed.numerics). ``--state PATH`` loads a real member's weights
(a run's ``state.pt``) instead of the synthetic denormals.

    python bench/bench_denormals.py [--fraction 0.9] [--steps 20] [--state RUN/state.pt]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
import torch


def denormal_share(model: torch.nn.Module) -> float:
    """Fraction of the model's weight entries that are nonzero and below float32's smallest normal."""
    tiny, n, d = torch.finfo(torch.float32).tiny, 0, 0
    for p in model.parameters():
        n += p.numel()
        d += int(((p != 0) & (p.abs() < tiny)).sum())
    return d / n


def make_denormal(model: torch.nn.Module, fraction: float, seed: int = 0) -> None:
    """Replace a random ``fraction`` of every weight tensor's entries by denormals (±1e-39 · U(0.5, 1))."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            mask = torch.rand(p.shape, generator=g) < fraction
            values = (torch.rand(p.shape, generator=g) * 0.5 + 0.5) * 1e-39
            p[mask] = torch.where(torch.rand(p.shape, generator=g) < 0.5, values, -values)[mask]


def time_steps(level: str, weights: str, flush: bool, args: argparse.Namespace) -> tuple[float, float]:
    """Median ms per optimiser step after 5 warm-up steps, and the denormal share before timing."""
    from betavae.crossmodal.train import VAESettings
    from betavae.data.audiovisual import AudiovisualArrays
    from betavae.models.crossmodal import CrossModalVAEConfig
    from betavae.train.tasks.audiovisual import AudiovisualTask

    rng = np.random.default_rng(0)
    n = 64 * (args.steps + 6)
    video, audio = rng.random((n, 30, 17), dtype=np.float32), rng.random((n, 30, 5), dtype=np.float32)
    cfg = VAESettings(epochs=1, speed=level)
    task = AudiovisualTask.on_arrays(AudiovisualArrays(video, audio, np.arange(n), np.arange(0)),
                                     CrossModalVAEConfig(variant="separate"), [cfg.objective(6)], [0],
                                     cfg.train_config())
    if weights == "denormal":
        if args.state:
            task.load_member_state_dicts([torch.load(args.state, weights_only=True, map_location="cpu")["model"]])
        else:
            make_denormal(task.model, args.fraction)
    share = denormal_share(task.model)
    optimizer = task.speed.adam(task.model.parameters(), lr=1e-6, weight_decay=1e-4)
    times = []
    torch.set_flush_denormal(flush)
    try:
        for i, batch in enumerate(task.batches(0, args.steps + 5)):
            start = time.perf_counter()
            loss = task.loss(task.terms(batch, task.hypers(0, 0)))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if i >= 5:
                times.append(time.perf_counter() - start)
    finally:
        torch.set_flush_denormal(False)
    return statistics.median(times) * 1e3, share


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fraction", type=float, default=0.9, help="share of every weight tensor made denormal")
    ap.add_argument("--steps", type=int, default=20, help="timed steps per case (after 5 warm-up steps)")
    ap.add_argument("--state", help="a run's state.pt (one member) to time instead of synthetic denormals")
    args = ap.parse_args()
    torch.set_num_threads(1)
    print(f"load: {os.getloadavg()[0]:.2f} (1-min), cores: {os.cpu_count()}, torch threads: 1, batch 64, "
          f"cross-modal β-VAE `separate`, one member")
    for level in ("fast", "fastest"):
        ms = {}
        for weights in ("fresh", "denormal"):
            for flush in (False, True):
                ms[weights, flush], share = time_steps(level, weights, flush, args)
                print(f"{level:8s} {weights:8s} ({100 * share:4.1f} % denormal) "
                      f"{'flushed' if flush else 'kept   '}: {ms[weights, flush]:7.1f} ms/step", flush=True)
        print(f"{level:8s} denormal weights: kept / flushed = {ms['denormal', False] / ms['denormal', True]:.2f}x; "
              f"flushed denormal / fresh = {ms['denormal', True] / ms['fresh', True]:.2f}x")


if __name__ == "__main__":
    main()
