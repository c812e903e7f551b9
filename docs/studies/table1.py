"""Print the β-VAE report's Table 1 beside our reproduction (docs/datasets.md), from a sweep directory.

Usage: python docs/studies/table1.py runs/report-table1 [--n 10000]

For each run: reconstruction on ``--n`` seeded grid images (summed squared error per image
— our reading of the report's "MSE" —, per-pixel MSE and Bernoulli NLL, z = μ), KL per latent,
active latents (KL_j > 0.01 nats), informative latents (information bound I⁺_j > 0.01 nats: the
part of KL_j that can tell images apart, docs/metrics.md), and the scores in the run's ``eval.json``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from betavae.experiments.load import load_run
from betavae.experiments.reconstruction import reconstruction_stats

REPORT_MSE = {"vae": ("VAE", 11.28), "capacity": ("β-VAE [3] (γ = 100, C → 30)", 17.44),
              "beta": ("β-VAE [5] (β = 4)", 23.77)}
SCORES = [("mig", "MIG"), ("dci.disentanglement", "DCI D"), ("sap", "SAP"), ("modularity", "Modularity"),
          ("beta_vae.eval_accuracy", "BetaVAE score"), ("factor_vae.eval_accuracy", "FactorVAE score")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path)
    parser.add_argument("--n", type=int, default=10_000)
    args = parser.parse_args()
    rows = []
    for run_dir in sorted(p for p in args.root.iterdir() if (p / "weights.safetensors").is_file()):
        run = load_run(run_dir)
        stats = reconstruction_stats(run, n=args.n)
        eval_file = run_dir / "eval.json"
        values = json.loads(eval_file.read_text())["values"] if eval_file.is_file() else {}
        rows.append((run.config.objective.kind, run.step, stats, values))
    rows.sort(key=lambda r: list(REPORT_MSE).index(r[0]))
    print("| model | report MSE | steps | SSE / image | MSE / pixel | NLL (nats) | KL (nats) | active | informative | "
          + " | ".join(name for _, name in SCORES) + " |")
    print("|---|---|---|---|---|---|---|---|---|" + "---|" * len(SCORES))
    for kind, step, stats, values in rows:
        name, reported = REPORT_MSE[kind]
        scores = " | ".join(f"{values[key]:.3f}" if key in values else "—" for key, _ in SCORES)
        print(f"| {name} | {reported} | {step:,} | {stats['mse_sum']:.2f} | {stats['mse_pixel']:.5f} | "
              f"{stats['nll']:.1f} | {stats['kl']:.1f} | {stats['active']} | {stats['informative']} | {scores} |")
    print()
    for kind, _, stats, _ in rows:
        print(f"{REPORT_MSE[kind][0]}: KL per latent " + ", ".join(f"{k:.2f}" for k in stats["kl_per_latent"])
              + "; information ≤ " + ", ".join(f"{i:.2f}" for i in stats["information_per_latent"]))


if __name__ == "__main__":
    main()
