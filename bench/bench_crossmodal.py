"""Cross-modal benchmark: data generation clips/s, β-VAE and translator epochs/s (one run).

Prints medians of a few repetitions. Generation is timed on a fresh cache (espeak-ng when the
'speech' extra is installed, else pseudo-speech) at 180-px video; a "clip" is one unique
video or audio clip (features included). Training is timed on random inputs of the real shapes
with one torch thread: the β-VAE at the full symbol-grounding training size per epoch would be
20,736 rows; here ``--rows`` rows (default 2,048) are timed and the full-size epoch time is
extrapolated linearly. The β-VAE is timed at each speed level (plain, fast, fastest) and the
ratios to plain are printed, with the full study's β-VAE time extrapolated from the fastest rates.

    python bench/bench_crossmodal.py [--rows 2048] [--reps 3] [--no-generation]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import numpy as np
import torch


def gen_rate(speech: str, reps: int) -> float:
    from betavae.cache import set_cache_dir
    from betavae.data.audiovisual_generate import GenerationConfig, generate

    rates = []
    for _ in range(reps):
        with tempfile.TemporaryDirectory() as tmp:
            set_cache_dir(tmp)
            cfg = GenerationConfig(n_sets=6, n_voices=1, speech=speech)
            start = time.perf_counter()
            generate(cfg)
            rates.append(2 * 6 * 50 / (time.perf_counter() - start))  # 300 video + 300 audio clips
    set_cache_dir(None)
    return statistics.median(rates)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=2048)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--no-generation", action="store_true", help="Skip the data generation timing.")
    args = ap.parse_args()
    torch.set_num_threads(1)
    from betavae.crossmodal.train import (
        TranslatorSettings,
        VAESettings,
        train_translator,
        train_vae,
    )

    try:
        import espeakng_loader  # noqa: F401

        speech = "espeak"
    except ImportError:
        speech = "tones"
    print(f"load: {os.getloadavg()[0]:.2f} (1-min), cores: {os.cpu_count()}, torch threads: 1")
    if not args.no_generation:
        print(f"generation ({speech}, 180 px): {gen_rate(speech, args.reps):.1f} clips/s")
    rng = np.random.default_rng(0)
    n = args.rows
    v, a = rng.random((n, 30, 17), dtype=np.float32), rng.random((n, 30, 5), dtype=np.float32)
    train, val = np.arange(int(0.8 * n)), np.arange(int(0.8 * n), n)
    per_row: dict[tuple[str, str, int], float] = {}  # seconds per member per training row (val included)
    for variant in ("separate", "joint"):
        for m in (1, 3, 9):
            for level in ("plain", "fast", "fastest"):
                times = []
                for rep in range(args.reps + 1):  # the first is a warm-up
                    start = time.perf_counter()
                    train_vae(v, a, train, val, variant, [6] * m, list(range(m)), VAESettings(epochs=1, speed=level))
                    if rep:
                        times.append(time.perf_counter() - start)
                per_row[variant, level, m] = statistics.median(times) / len(train) / m
            p = per_row[variant, "plain", m]
            print(f"β-VAE {variant:8s} M={m}: " + ", ".join(
                f"{lvl} {per_row[variant, lvl, m] * 1e3:.3f} ms ({p / per_row[variant, lvl, m]:.2f}x)"
                for lvl in ("plain", "fast", "fastest")) + " per member-row; fastest "
                f"{1 / (per_row[variant, 'fastest', m] * 20_736 * m):.3f} ensemble epochs/s at 20,736 rows")
    # the default study: symbol split 2 variants × 9 members × 70 epochs × 20,736 rows (M = 9);
    # compositional 2 variants × 5 objects × 3 seeds × 70 epochs × 25,920 rows (M = 3)
    for level in ("plain", "fastest"):
        work = sum(per_row[var, level, 9] * 9 * 70 * 20_736 + per_row[var, level, 3] * 5 * 3 * 70 * 25_920
                   for var in ("separate", "joint"))
        print(f"default study, β-VAE training at {level}: {work / 3600:.2f} h in one process, "
              f"{work / 7200:.2f} h in two workers (no contention assumed)")
    x, y = rng.standard_normal((9, n, 1, 8)).astype(np.float32), rng.standard_normal((9, n, 1, 8)).astype(np.float32)
    times = []
    for _ in range(args.reps):
        start = time.perf_counter()
        train_translator(x, y, train, [0], TranslatorSettings(epochs=1))
        times.append(time.perf_counter() - start)
    print(f"translator M=9: {1 / statistics.median(times):.2f} epochs/s on {len(train)} rows")
    xv, ya = np.broadcast_to(v[None], (3, *v.shape)), np.broadcast_to(a[None], (3, *a.shape))
    times = []
    for _ in range(args.reps):
        start = time.perf_counter()
        train_translator(xv, ya, train, [0], TranslatorSettings(epochs=1, hidden=64), lr=1e-3)
        times.append(time.perf_counter() - start)
    print(f"raw Seq2Seq baseline M=3: {1 / statistics.median(times):.2f} epochs/s on {len(train)} rows")


if __name__ == "__main__":
    main()
