"""Benchmark the dSprites renderers: images/s for batches of random factors, and how far the fast
renderer is from the exact reference.

    python bench/bench_render.py [--batch 64] [--runs 30] [--compare 3000] [--subpixel 32]

Prints, from one run: template build time (cold start), fast-renderer and source images/s
(median over ``--runs`` batches after warm-up), exact-reference images/s, their ratio, and the
pixel disagreement fast vs exact on ``--compare`` random images. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import numpy as np
import torch

from betavae.data.dsprites import FACTOR_SIZES, DSprites, RendererConfig
from betavae.data.render import TemplateRenderer, render_exact, shared_template_renderer


def images_per_second(fn, batches: list[np.ndarray]) -> float:
    times = []
    for f in batches:
        t0 = time.perf_counter()
        fn(f)
        times.append(time.perf_counter() - t0)
    return len(batches[0]) / statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--exact-runs", type=int, default=5)
    ap.add_argument("--compare", type=int, default=3000)
    ap.add_argument("--subpixel", type=int, default=32)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    cfg = RendererConfig(subpixel=args.subpixel)
    print(f"# {platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, "
          f"numpy {np.__version__}; batch {args.batch}; subpixel {args.subpixel}")

    def batches(k: int) -> list[np.ndarray]:
        return [rng.integers(0, FACTOR_SIZES, size=(args.batch, 5)) for _ in range(k)]

    cold = TemplateRenderer(cfg)
    t0 = time.perf_counter()
    first = [cold(f) for f in batches(10)]
    cold_rate = 10 * args.batch / (time.perf_counter() - t0)
    del first
    t0 = time.perf_counter()
    cold.warm()
    warm_s = time.perf_counter() - t0
    print(f"cold start: first 10 batches {cold_rate:,.0f} images/s (templates built on demand); "
          f"remaining templates built in {warm_s:.2f} s; store {cold._store.nbytes / 2**20:.0f} MiB")

    fast = images_per_second(cold, batches(3) + batches(args.runs))
    src = DSprites(cfg)  # uses the process-wide renderer for cfg
    shared_template_renderer(cfg).warm()
    source = images_per_second(src.observations, batches(args.runs))
    exact = images_per_second(lambda f: render_exact(f, cfg), batches(1) + batches(args.exact_runs))
    print(f"fast renderer   : {fast:12,.0f} images/s (median of {args.runs} batches)")
    print(f"DSprites.observations (fast): {source:,.0f} images/s")
    print(f"exact reference : {exact:12,.0f} images/s (median of {args.exact_runs} batches)")
    print(f"ratio fast/exact: {fast / exact:12,.0f}x")

    if args.compare:
        f = rng.integers(0, FACTOR_SIZES, size=(args.compare, 5))
        diff = (cold(f) != render_exact(f, cfg)).reshape(len(f), -1).sum(1)
        ref_on = render_exact(f[:500], cfg).reshape(500, -1).sum(1).mean()
        print(f"fast vs exact on {args.compare} random images: {diff.mean():.3f} differing pixels "
              f"per image (max {diff.max()}, p99 {np.percentile(diff, 99):.0f}, "
              f"{(diff > 0).mean():.1%} of images differ; mean object size {ref_on:.0f} px)")
        for k, name in enumerate(("square", "ellipse", "heart")):
            sel = f[:, 0] == k
            print(f"  {name:8s}: {diff[sel].mean():.3f} px/image, max {diff[sel].max()}")


if __name__ == "__main__":
    main()
