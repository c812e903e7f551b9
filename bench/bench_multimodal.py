"""Multimodal VAE training benchmark (issue 9): one model vs a batched ensemble of seeds.

Prints, from one run on this machine (simulator data at the original sizes: 7380 rows, batch
1000, 7 Adam steps per epoch; the Zambelli et al. 2020 model, 29,150 parameters):
  - epochs/s of one model and of an ensemble of E models trained together, per precision
    (float64 = the reference, float32, bf16 = float32 weights with bfloat16 autocast);
  - the speed-up of the ensemble over training the E models one after another
    (E x time of one model / time of the ensemble);
  - the projected wall time of the full study of Langer et al. (2024): 4 schedules x 20 seeds x
    80,000 epochs, as 4 ensembles of 20;
  - the effect of the precision on the measures: the same seeds trained for a short run in
    float32 and bf16 (and float64), and the relative difference of every measure.
Timings are medians of interleaved repetitions after warm-up. The machine is shared: the load
average is printed before and after. Usage: python bench/bench_multimodal.py [--epochs N] [--reps R]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import numpy as np
import torch

from betavae.config import build_config
from betavae.data.sensorimotor import simulate
from betavae.metrics.integration import integration_measures
from betavae.multimodal.schedules import study_schedule
from betavae.multimodal.scoring import reconstructor
from betavae.multimodal.settings import MeasureSettings, eval_points
from betavae.train.loop import Loop

FULL = {"schedules": 4, "seeds": 20, "epochs": 80_000}


def loop(n: int, precision: str, epochs: int, device: str, schedule: str = "dyn_plateau0",
         lr: float = 5e-5, callbacks=()) -> Loop:
    """The one loop over n members of the sensorimotor task (simulator at the original sizes)."""
    alpha = study_schedule(schedule, 80_000 if schedule == "dyn_plateau0" else epochs).model_dump()
    tree = {"name": "bench", "data": {"kind": "sensorimotor"}, "model": {"kind": "zambelli", "precision": precision},
            "objective": {"kind": "multimodal_elbo", "alpha": alpha},
            "train": {"epochs": epochs, "batch_size": 1000, "lr": lr, "log_every": 1, "checkpoint_every": epochs,
                      "device": device, "report": False}}
    return Loop([build_config(tree | {"seed": s}) for s in range(n)], callbacks)


class Clock:
    """Wall and CPU time at the end of step ``mark`` and of step ``last`` (a loop callback)."""

    def __init__(self, mark: int, last: int, device: str) -> None:
        self.mark, self.last, self.device, self.times = mark, last, device, []

    def on_step(self, step: int) -> None:
        if step in (self.mark, self.last):
            if self.device.startswith("cuda"):
                torch.cuda.synchronize()
            self.times.append((time.perf_counter(), time.process_time()))

    def __getattr__(self, name):  # the other callback hooks: nothing to do
        return lambda *a, **k: None


def epoch_seconds(n: int, precision: str, epochs: int, device: str) -> tuple[float, float]:
    """(wall, CPU) seconds per epoch of an ensemble of n models through the loop, after 2 warm-up
    epochs. CPU time (this process) is robust to other jobs on a shared machine; wall time is
    what a user waits."""
    steps = 7  # 7380 rows, batch 1000
    clock = Clock(2 * steps, (epochs + 2) * steps, device)
    loop(n, precision, epochs + 2, device, callbacks=[clock]).fit(lambda k, r: None, lambda k, s: None)
    (w0, c0), (w1, c1) = clock.times
    return (w1 - w0) / epochs, (c1 - c0) / epochs


def measure_effect(data, epochs: int, seeds: int, device: str) -> dict[str, dict[str, np.ndarray]]:
    """Train the same seeds per precision at lr 1e-3 (so a short run moves); every measure per
    seed, {precision: {key: (seeds,)}}. Also ``f32_eval_bf16``: the float32-trained models
    evaluated under bf16 autocast (the numerics of evaluation alone, same weights)."""
    points = eval_points(data, MeasureSettings())
    out = {}
    for precision in ("float64", "float32", "bf16"):
        lp = loop(seeds, precision, epochs, device, schedule="const0", lr=1e-3)
        lp.fit(lambda k, r: None, lambda k, s: None)
        out[precision] = integration_measures(reconstructor(lp.task.model), points, data.layout)
        if precision == "float32":
            fn = reconstructor(lp.task.model)

            def bf16_eval(x, fn=fn, dev=lp.device.type):
                with torch.autocast(dev, dtype=torch.bfloat16):
                    return fn(x)

            out["f32_eval_bf16"] = integration_measures(bf16_eval, points, data.layout)
    return out


def print_effect(eff: dict[str, dict[str, np.ndarray]], epochs: int) -> None:
    keys = ["prediction_error", "baseline_all", "sme_all.vision", "lop_all.vision", "sme_mod.touch", "lop_mod.joints"]
    print(f"\neffect of precision on the measures (4 seeds, const0, lr 1e-3, {epochs} epochs): mean (std over seeds)")
    print(f"{'measure':18s} {'float64':>20s} {'float32':>20s} {'bf16':>20s} {'f32 weights, bf16 eval':>24s}")
    for k in keys:
        cells = [f"{eff[p][k].mean():.4g} ({eff[p][k].std():.2g})" for p in ("float64", "float32", "bf16")]
        ev = eff["f32_eval_bf16"][k].mean()
        print(f"{k:18s} {cells[0]:>20s} {cells[1]:>20s} {cells[2]:>20s} {ev:>17.4g} ({100 * (ev / eff['float32'][k].mean() - 1):+.2f}%)")
    z_bf = [abs(eff["bf16"][k].mean() - eff["float32"][k].mean()) / max(eff["float32"][k].std(), 1e-12) for k in eff["float32"]]
    z_64 = [abs(eff["float32"][k].mean() - eff["float64"][k].mean()) / max(eff["float64"][k].std(), 1e-12) for k in eff["float32"]]
    ev = [abs(eff["f32_eval_bf16"][k].mean() / eff["float32"][k].mean() - 1) for k in eff["float32"]]
    print(f"all {len(z_bf)} measures, |mean difference| in units of the seed std: bf16 vs float32 median {np.median(z_bf):.2f} "
          f"(max {np.max(z_bf):.2f}); float32 vs float64 median {np.median(z_64):.2f} (max {np.max(z_64):.2f})")
    print(f"evaluation numerics alone (same float32 weights, bf16 autocast): median relative change {100 * np.median(ev):.2f}% "
          f"(max {100 * np.max(ev):.2f}%)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=5, help="timed epochs per repetition")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--ensemble", type=int, default=16)
    ap.add_argument("--precisions", default="float64,float32,bf16")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1: one core per ensemble)")
    ap.add_argument("--effect-epochs", type=int, default=150, help="0 skips the precision-effect run")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    data = simulate(seed=0)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}, "
          f"load {os.getloadavg()[0]:.2f}")
    if not torch.cuda.is_available():
        print("no GPU available in this session: CPU figures only")
    sizes = sorted({1, args.ensemble, FULL["seeds"]})
    results: dict[tuple[str, int], list[tuple[float, float]]] = {}
    for _ in range(args.reps):  # interleave so machine noise hits every configuration alike
        for precision in args.precisions.split(","):
            for n in sizes:
                results.setdefault((precision, n), []).append(epoch_seconds(n, precision, args.epochs, args.device))
    e = args.ensemble
    precisions = args.precisions.split(",")
    base = "float32" if "float32" in precisions else precisions[0]
    for clock, idx in (("wall", 0), ("CPU", 1)):
        med = {k: statistics.median(v[idx] for v in vals) for k, vals in results.items()}
        print(f"\n{clock} time: {'precision':9s} {'1 model ep/s':>13s} {f'{e} models ep/s':>15s} {'model-ep/s':>11s} "
              f"{'speed-up':>9s} {f'vs {base} x1':>12s} {'full study':>11s}")
        for p in precisions:
            one, ens, full = med[(p, 1)], med[(p, e)], med[(p, FULL["seeds"])]
            study_h = FULL["schedules"] * FULL["epochs"] * full / 3600
            print(f"{'':10s} {p:9s} {1 / one:13.2f} {1 / ens:15.2f} {e / ens:11.1f} {e * one / ens:8.2f}x "
                  f"{e * med[(base, 1)] / ens:11.2f}x {study_h:9.1f} h")
    print(f"\nspeed-up = {e} x (time per epoch of one model) / (time per epoch of the ensemble of {e}), same precision;")
    print(f"'vs {base} x1' compares with training {e} {base} models one after another;")
    print(f"full study = 4 ensembles of {FULL['seeds']} seeds x 80,000 epochs, one after another at {args.threads} "
          f"thread(s); with one ensemble per core, divide by the number of cores")
    if args.effect_epochs:
        print_effect(measure_effect(data, args.effect_epochs, 4, args.device), args.effect_epochs)
    print(f"load after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
