"""Trajectories of the Table 1 study (docs/studies/table1.md) from its sweep directory.

Usage: python docs/studies/table1_trajectories.py RUNS_DIR [--out docs/studies/table1]

Reads every run's metrics.jsonl, writes OUT/trajectories.csv (objective, seed, step, SSE per image,
KL, KL per latent, the capacity target C_t where there is one), OUT/summary.csv and
OUT/trajectories.png (SSE and KL against steps: one thin line per seed, the mean over seeds thick,
the report's values as dashed lines), and prints, at each logged step every run reached, the mean
SSE and KL of each objective over its seeds with a 95 % t interval, and how many seeds still draw
the mean image.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
from pathlib import Path

from betavae.report.lessons import t_interval as library_t_interval

#: a run whose SSE is above this share of the pixel-mean image's SSE has not left the collapsed phase
#: (it draws about the same image for every input: the training loss's batch noise is ≈ ±1 SSE there)
AT_MEAN_IMAGE = 0.97
#: the report's reconstruction errors after up to 2M iterations (seed 002, Table 1)
REPORT_SSE = {"vae": 11.28, "capacity": 17.44, "beta": 23.77}
COLOURS = {"vae": "tab:blue", "beta": "tab:orange", "capacity": "tab:green"}
LABELS = {"vae": "VAE", "beta": "β-VAE, β = 4", "capacity": "capacity, γ = 100"}


def t_interval(values: list[float]) -> tuple[float, float, float]:
    """(mean, low, high): the library's 95 % Student-t interval over seeds (nan bounds for one seed)."""
    mean, low, high = library_t_interval(values)
    return mean, math.nan if low is None else low, math.nan if high is None else high


def mean_image_sse(images: int = 20_000, seed: int = 0) -> float:
    """The mean over ``images`` built-in dSprites images (factors drawn uniformly, ``seed``) of the
    summed squared error of their pixel-mean image: the SSE of a decoder that draws the best single
    image for every input (152.7 at 20,000 images, seed 0). For binary images it equals Σ_p m_p(1 − m_p).
    (Until 2026-12-05 this script used 170, the value of the first design's collapsed runs, whose
    sigmoid output had not reached the pixel means.)"""
    import numpy as np

    from betavae.data.dsprites import DSprites

    data = DSprites()
    x = np.asarray(data.observations(data.sample_factors(images, np.random.default_rng(seed))), dtype=np.float64)
    x = x.reshape(images, -1)
    return float(((x - x.mean(0)) ** 2).sum(1).mean())


def read_runs(runs_dir: Path) -> list[dict]:
    rows = []
    for run in sorted(p for p in runs_dir.iterdir() if (p / "config.yaml").is_file()):
        import yaml

        config = yaml.safe_load((run / "config.yaml").read_text())
        for line in (run / "metrics.jsonl").read_text().splitlines():
            if line.strip():
                r = json.loads(line)
                rows.append({"objective": config["objective"]["kind"], "seed": config["seed"], "step": r["step"],
                             "sse": r["recon"], "kl": r["kl"], "kl_per_dim": r["kl_per_dim"],
                             "capacity": r.get("capacity")})
    return rows


def summary(rows: list[dict], mean_image: float) -> list[dict]:
    """Per (step, objective) over seeds: mean and 95 % t interval of SSE and KL, and the seeds at the
    mean image (SSE above ``AT_MEAN_IMAGE`` × ``mean_image``); only steps that every run reached."""
    runs = {(r["objective"], r["seed"]) for r in rows}
    last = min(max(r["step"] for r in rows if (r["objective"], r["seed"]) == k) for k in runs)
    out = []
    for step in sorted({r["step"] for r in rows if r["step"] <= last}):
        for objective in sorted({o for o, _ in runs}):
            at = [r for r in rows if r["step"] == step and r["objective"] == objective]
            sse, kl = t_interval([r["sse"] for r in at]), t_interval([r["kl"] for r in at])
            out.append({"step": step, "objective": objective, "seeds": len(at),
                        "sse": sse[0], "sse_low": sse[1], "sse_high": sse[2],
                        "kl": kl[0], "kl_low": kl[1], "kl_high": kl[2],
                        "at_mean_image": sum(r["sse"] > AT_MEAN_IMAGE * mean_image for r in at)})
    return out


def figure(rows: list[dict], path: Path, mean_image: float) -> None:
    """SSE per image (log scale) and KL against steps, one colour per objective: thin lines are seeds,
    the thick line their mean at the steps all of them reached; dashed: the report's SSE and C_t."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_sse, ax_kl) = plt.subplots(1, 2, figsize=(11, 4.2))
    for objective in [o for o in COLOURS if any(r["objective"] == o for r in rows)]:
        mine = [r for r in rows if r["objective"] == objective]
        colour = COLOURS[objective]
        for seed in sorted({r["seed"] for r in mine}):
            run = sorted((r for r in mine if r["seed"] == seed), key=lambda r: r["step"])
            for ax, key in ((ax_sse, "sse"), (ax_kl, "kl")):
                ax.plot([r["step"] for r in run], [r[key] for r in run], color=colour, lw=0.7, alpha=0.5)
        means = summary(mine, mean_image)
        for ax, key in ((ax_sse, "sse"), (ax_kl, "kl")):
            ax.plot([m["step"] for m in means], [m[key] for m in means], color=colour, lw=2.2, label=LABELS[objective])
        ax_sse.axhline(REPORT_SSE[objective], color=colour, ls="--", lw=1)
        targets = sorted({(r["step"], r["capacity"]) for r in mine if r["capacity"] is not None})
        if targets:
            ax_kl.plot(*zip(*targets, strict=True), color=colour, ls="--", lw=1, label="C_t (capacity target)")
    ax_sse.axhline(mean_image, color="grey", ls=":", lw=1, label="the pixel-mean image")
    ax_sse.set(yscale="log", xlabel="step", ylabel="SSE per image",
               title="Reconstruction error (dashed: the report's, after ≤ 2M iterations)")
    ax_kl.set(xlabel="step", ylabel="KL (nats per image)", title="KL")
    ax_sse.legend(fontsize=8)
    ax_kl.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs_dir", type=Path)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "table1")
    args = parser.parse_args()
    rows = read_runs(args.runs_dir)
    mean_image = mean_image_sse()
    print(f"the pixel-mean image's SSE: {mean_image:.2f} (20,000 images, seed 0)")
    args.out.mkdir(parents=True, exist_ok=True)
    with (args.out / "trajectories.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["objective", "seed", "step", "sse", "kl", "kl_per_dim", "capacity"])
        for r in rows:
            w.writerow([r["objective"], r["seed"], r["step"], f"{r['sse']:.4f}", f"{r['kl']:.4f}",
                        " ".join(f"{v:.4f}" for v in r["kl_per_dim"]), "" if r["capacity"] is None else r["capacity"]])
    with (args.out / "summary.csv").open("w", newline="") as fh:
        table = summary(rows, mean_image)
        w = csv.DictWriter(fh, fieldnames=list(table[0]))
        w.writeheader()
        w.writerows(table)
    figure(rows, args.out / "trajectories.png", mean_image)
    for s in table:
        print(f"{s['step']:6d} {s['objective']:9s} SSE {s['sse']:7.1f} [{s['sse_low']:7.1f}, {s['sse_high']:7.1f}]  "
              f"KL {s['kl']:6.2f} [{s['kl_low']:6.2f}, {s['kl_high']:6.2f}]  at the mean image {s['at_mean_image']}/{s['seeds']}")


if __name__ == "__main__":
    main()
