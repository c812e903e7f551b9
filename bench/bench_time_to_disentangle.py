"""Time to a disentangled model (issue 8): MIG and reconstruction against wall-clock training time.

Trains a shipped config (default: the capacity-controlled β-VAE, dsprites_capacity) on the
built-in dSprites for a fixed wall-clock budget and, every --interval minutes of training,
prints the step, the step rate, the schedule values, MIG (the metrics' `fast` preset: 5,000
train / 2,500 test points) and the reconstruction NLL (nats per image, z = posterior mean) on a
fixed set of 1,000 images. Evaluation time is not counted in the budget.

Usage: python bench/bench_time_to_disentangle.py [--budget 20] [--interval 2] [--config dsprites_capacity]
       [--speed fastest] [--metrics mig,dci] [dotted.key=value ...]
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time

import numpy as np
import torch

from betavae.config import load_config
from betavae.experiments.evaluate import evaluate_encoder
from betavae.experiments.run import Trainer
from betavae.experiments.rundir import create_run_dir, write_meta
from betavae.shipped import resolve_config_path
from betavae.train.callbacks import Callback


class BudgetReached(Exception):
    """Raised by the clock to end training when the budget is spent."""


class Clock(Callback):
    """Counts training wall-clock time (evaluations excluded) and evaluates at intervals."""

    def __init__(self, trainer: Trainer, budget_s: float, interval_s: float, metrics: list[str]) -> None:
        self.trainer, self.budget_s, self.interval_s, self.metrics = trainer, budget_s, interval_s, metrics
        self.trained_s, self.next_eval = 0.0, interval_s
        self.t0: float | None = None
        self.prev = (0.0, 0)  # (trained seconds, step) at the last evaluation
        self.hyper: dict[str, float] = {}
        rng = np.random.default_rng(123)
        source = trainer.task.source
        obs = source.observations(source.sample_factors(1000, rng))
        self.x_eval = torch.from_numpy(np.ascontiguousarray(obs)).float() / source.pixel_max
        self.rows: list[dict] = []

    def on_start(self, run_dir, start_step: int, total_steps: int) -> None:  # noqa: ANN001
        self.t0 = time.perf_counter()

    def on_log(self, row: dict) -> None:
        self.hyper = {k: row[k] for k in ("beta", "capacity", "kl") if k in row}

    def on_step(self, step: int) -> None:
        now = time.perf_counter()
        self.trained_s += now - self.t0
        if self.trained_s >= self.next_eval or self.trained_s >= self.budget_s:
            self.evaluate(step, self.trained_s)
            self.next_eval += self.interval_s
        if self.trained_s >= self.budget_s:
            raise BudgetReached
        self.t0 = time.perf_counter()

    @torch.no_grad()
    def reconstruction(self) -> float:
        model, device = self.trainer.task.model, self.trainer.device
        likelihood = self.trainer.configs[0].model.likelihood
        model.eval()
        try:
            nll = [likelihood.nll(model(x.to(device), sample=False).logits.float(), x.to(device)).cpu()
                   for x in self.x_eval.split(250)]
        finally:
            model.train()
        return float(torch.cat(nll).mean())

    def evaluate(self, step: int, trained_s: float) -> None:
        model, device, source = self.trainer.task.model, self.trainer.device, self.trainer.task.source
        model.eval()

        @torch.no_grad()
        def encode(obs: np.ndarray) -> np.ndarray:
            x = torch.from_numpy(np.ascontiguousarray(obs)).to(device, torch.float32) / source.pixel_max
            return model.encode(x)[0].float().cpu().numpy()

        try:
            values = evaluate_encoder(encode, source, self.metrics, "fast", seed=0)["values"]
        finally:
            model.train()
        rate = (step - self.prev[1]) / max(trained_s - self.prev[0], 1e-9)
        self.prev = (trained_s, step)
        row = {"minutes": trained_s / 60, "step": step, "steps_per_s": rate, "recon": self.reconstruction(),
               **self.hyper, **values}
        self.rows.append(row)
        hyper = "  ".join(f"{k}={v:.3g}" for k, v in self.hyper.items())
        scores = "  ".join(f"{k}={v:.3f}" for k, v in values.items())
        print(f"{row['minutes']:6.1f} min  step {step:7d}  {rate:6.1f} steps/s  recon {row['recon']:7.1f}  "
              f"{hyper}  {scores}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=20.0, help="training minutes")
    parser.add_argument("--interval", type=float, default=2.0, help="minutes between evaluations")
    parser.add_argument("--config", default="dsprites_capacity", help="a YAML path or a shipped config name")
    parser.add_argument("--speed", default="fastest", choices=["plain", "fast", "fastest"])
    parser.add_argument("--metrics", default="mig", help="comma-separated array metrics")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("overrides", nargs="*", help="dotted.key=value config overrides")
    args = parser.parse_args()
    overrides = [f"train.speed={args.speed}", f"seed={args.seed}", "train.report=false", *args.overrides]
    cfg = load_config(resolve_config_path(args.config), overrides)
    print(f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, "
          f"torch {torch.__version__}; config {args.config} ({cfg.objective.kind}), speed {args.speed}, "
          f"batch {cfg.train.batch_size}, lr {cfg.train.lr}, budget {args.budget} min")
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = create_run_dir(cfg, tmp)
        write_meta(run_dir, status="created")
        trainer = Trainer(cfg, run_dir)
        clock = Clock(trainer, args.budget * 60, args.interval * 60, [m for m in args.metrics.split(",") if m])
        trainer.callbacks.append(clock)
        try:
            trainer.run(resume=False)
        except BudgetReached:
            pass
    if clock.rows:
        best = max(clock.rows, key=lambda r: r.get("mig", float("-inf")))
        print(f"best MIG {best.get('mig', float('nan')):.3f} after {best['minutes']:.1f} min (step {best['step']}); "
              f"final recon {clock.rows[-1]['recon']:.1f} nats/image")


if __name__ == "__main__":
    main()
