"""Is the KL of the Table 1 runs information? (docs/studies/table1.md, "Where the capacity runs' KL goes")

Usage: python docs/studies/table1_information.py RUN_DIR [RUN_DIR ...] [--images 2000] [--out CSV]

Encodes ``--images`` dSprites images (drawn uniformly from the factor grid, seed 0) with each run's
saved weights and splits the mean KL per image into its exact parts (betavae.metrics.posterior):
an upper bound on the information I(x; z) the latents carry, summed over latents and jointly, the
offset of the posterior means and the change of their width that every image shares; and the
encoder's least-alive and dead ReLU layers (betavae.models.diagnostics: a dead layer has no unit
positive for any image). Prints one row per run and, per setting (objective, learning rate,
decoder σ, step), the mean over seeds with a 95 % t interval; ``--out`` writes the per-run rows as
CSV.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import torch

from betavae.errors import BetavaeError
from betavae.experiments.load import load_run
from betavae.experiments.rundir import read_metrics
from betavae.metrics.posterior import active_units, information_bound, kl_parts
from betavae.models.diagnostics import dead_layers, relu_layers
from betavae.report.lessons import t_interval
from betavae.viz.traverse import posterior_batch

COLUMNS = ("kl", "information", "joint_information", "offset", "spread", "width", "active_units")


def run_row(run_dir: Path, images: int) -> dict:
    """One run's step, objective, seed, last logged reconstruction term (``recon``, nats per image:
    the summed squared error for the squared-error decoder with σ² = ½, the Bernoulli NLL for a
    Bernoulli decoder) and the KL split over ``images`` images."""
    run = load_run(run_dir)
    batch = posterior_batch(run, images, 0)
    parts = kl_parts(batch.mu, batch.logvar)
    last = read_metrics(run_dir)[-1]
    return {"run": run_dir.name, "objective": run.config.objective.kind, "lr": run.config.train.lr,
            "likelihood": run.config.model.likelihood.kind,
            "link": getattr(run.config.model.likelihood, "link", None),
            "sigma": getattr(run.config.model.likelihood, "sigma", None), "seed": run.config.seed,
            "step": run.step, "recon": last.get("recon"),
            **{k: float(parts[k].sum()) for k in ("kl", "information", "offset", "spread", "width")},
            "joint_information": information_bound(batch.mu, batch.logvar),
            "active_units": int(active_units(batch.mu).sum()),
            **least_alive(relu_layers(run.model, lambda: run.model.encode(torch.from_numpy(batch.images).to(run.device))))}


def least_alive(layers: list) -> dict:
    """The encoder's ReLU layer with the smallest fraction of units positive for some image, and
    the dead ones (none positive)."""
    low = min(layers, key=lambda layer: layer.alive)
    return {"least_alive_layer": low.name, "least_alive_fraction": low.alive,
            "dead_encoder_layers": " ".join(layer.name for layer in dead_layers(layers))}


def setting(row: dict) -> str:
    """What a run's seeds share here: objective, learning rate and decoder (σ, or Bernoulli)."""
    sigma = f", {row.get('likelihood', 'bernoulli')}" if row["sigma"] is None else f", σ {row['sigma']:.3g}"
    if row.get("link") == "identity":
        sigma += ", identity link"
    return f"{row['objective']} (lr {row['lr']:g}{sigma}, step {row['step']})"


def by_setting(rows: list[dict]) -> list[dict]:
    """Per setting (objective, lr, σ, step): seeds and (mean, low, high) of every column."""
    out = []
    for name in sorted({setting(r) for r in rows}):
        at = [r for r in rows if setting(r) == name]
        out.append({"setting": name, "seeds": len(at), **{k: t_interval([r[k] for r in at]) for k in COLUMNS}})
    return out


def fmt(interval: tuple) -> str:
    mean, low, high = interval
    return f"{mean:.3g}" if low is None else f"{mean:.3g} [{low:.3g}, {high:.3g}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=Path, nargs="+")
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    try:
        rows = [run_row(r, args.images) for r in args.runs]
    except (BetavaeError, OSError) as exc:
        sys.exit(f"table1_information.py: {exc}")
    for r in rows:
        print(f"{r['run']}: step {r['step']}, recon {r['recon']:.1f}, KL {r['kl']:.3f} = information ≤ {r['information']:.2g} "
              f"(joint ≤ {r['joint_information']:.2g}) + offset {r['offset']:.3f} + spread {r['spread']:.2g} "
              f"+ width {r['width']:.3f} nats; active units {r['active_units']}; "
              f"least alive encoder layer {r['least_alive_layer']} ({r['least_alive_fraction']:.1%} of units positive for "
              f"some image); dead: {r['dead_encoder_layers'] or 'none'}")
    print("| setting | seeds | KL | information ≤ (sum) | joint ≤ | offset | width | active units |")
    print("|---|---|---|---|---|---|---|---|")
    for s in by_setting(rows):
        print(f"| {s['setting']} | {s['seeds']} | " + " | ".join(
            fmt(s[k]) for k in ("kl", "information", "joint_information", "offset", "width", "active_units")) + " |")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with args.out.open("w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)


if __name__ == "__main__":
    main()
