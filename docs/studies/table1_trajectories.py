"""Trajectories of the Table 1 study (docs/studies/table1.md) from its sweep directory.

Usage: python docs/studies/table1_trajectories.py RUNS_DIR [--out docs/studies/table1]

Reads every run's metrics.jsonl, writes OUT/trajectories.csv (objective, seed, step, SSE per image,
KL, KL per latent) and prints, at each logged step every run reached, the mean SSE and KL of each
objective over its seeds with a 95 % t interval, and how many seeds still draw the mean image.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
from pathlib import Path

from betavae.report.lessons import t_interval as library_t_interval

#: the summed squared error of the mean image (σ_x² = ½: NLL = SSE) measured at the start: a run
#: whose SSE stays within 5 % of it has not left the collapsed phase
MEAN_IMAGE_SSE = 170.0


def t_interval(values: list[float]) -> tuple[float, float, float]:
    """(mean, low, high): the library's 95 % Student-t interval over seeds (nan bounds for one seed)."""
    mean, low, high = library_t_interval(values)
    return mean, math.nan if low is None else low, math.nan if high is None else high


def read_runs(runs_dir: Path) -> list[dict]:
    rows = []
    for run in sorted(p for p in runs_dir.iterdir() if (p / "config.yaml").is_file()):
        import yaml

        config = yaml.safe_load((run / "config.yaml").read_text())
        for line in (run / "metrics.jsonl").read_text().splitlines():
            if line.strip():
                r = json.loads(line)
                rows.append({"objective": config["objective"]["kind"], "seed": config["seed"], "step": r["step"],
                             "sse": r["recon"], "kl": r["kl"], "kl_per_dim": r["kl_per_dim"]})
    return rows


def summary(rows: list[dict]) -> list[dict]:
    """Per (step, objective) over seeds: mean and 95 % t interval of SSE and KL, and the seeds at the
    mean image; only steps that every run reached."""
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
                        "at_mean_image": sum(r["sse"] > 0.95 * MEAN_IMAGE_SSE for r in at)})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs_dir", type=Path)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "table1")
    args = parser.parse_args()
    rows = read_runs(args.runs_dir)
    args.out.mkdir(parents=True, exist_ok=True)
    with (args.out / "trajectories.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["objective", "seed", "step", "sse", "kl", "kl_per_dim"])
        for r in rows:
            w.writerow([r["objective"], r["seed"], r["step"], f"{r['sse']:.4f}", f"{r['kl']:.4f}",
                        " ".join(f"{v:.4f}" for v in r["kl_per_dim"])])
    with (args.out / "summary.csv").open("w", newline="") as fh:
        table = summary(rows)
        w = csv.DictWriter(fh, fieldnames=list(table[0]))
        w.writeheader()
        w.writerows(table)
    for s in table:
        print(f"{s['step']:6d} {s['objective']:9s} SSE {s['sse']:7.1f} [{s['sse_low']:7.1f}, {s['sse_high']:7.1f}]  "
              f"KL {s['kl']:6.2f} [{s['kl_low']:6.2f}, {s['kl_high']:6.2f}]  at the mean image {s['at_mean_image']}/{s['seeds']}")


if __name__ == "__main__":
    main()
