"""Print the correlated-dSprites study table (docs/objectives.md) from a sweep directory.

Usage: python docs/studies/correlated_table.py runs/correlated-study

Mean ± sd over seeds for each (strength, objective): the evaluation values in each run's
``eval.json`` and the last logged training ``recon`` and ``kl``, and how many runs had left the
early collapsed phase (training recon < ``ESCAPED_RECON`` nats; a decoder that ignores z and
draws the mean image costs ≈ 495-540). Then the same scores over those runs only, and the
final β of the learned and per-latent objectives.
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

import yaml

COLUMNS = [("mig", "MIG"), ("dci.disentanglement", "DCI D"), ("dci.completeness", "DCI C"),
           ("dci.informativeness_test", "DCI I (test)"), ("factor_vae.eval_accuracy", "FactorVAE score"),
           ("recon", "recon (nats)"), ("kl", "KL (nats)")]
ESCAPED_RECON = 400.0
ORDER = ["beta", "capacity", "per_latent", "learned", "betatcvae", "factorvae"]


def read_runs(root: Path) -> dict[tuple[float, str], list[dict]]:
    groups: dict[tuple[float, str], list[dict]] = {}
    for run in sorted(root.iterdir()):
        if not (run / "eval.json").is_file():
            continue
        cfg = yaml.safe_load((run / "config.yaml").read_text())
        last = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
        row = dict(json.loads((run / "eval.json").read_text())["values"])
        row.update(recon=last["recon"], kl=last["kl"], beta=last["beta"], step=last["step"])
        row["betas"] = [v for k, v in last.items() if k.startswith("beta.")]
        groups.setdefault((cfg["data"]["pairs"][0]["strength"], cfg["objective"]["kind"]), []).append(row)
    return groups


def cell(values: list[float], digits: int) -> str:
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.mean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def table(groups: dict[tuple[float, str], list[dict]], columns: list[tuple[str, str]]) -> None:
    print("| strength | objective | runs | steps | left collapse | " + " | ".join(name for _, name in columns) + " |")
    print("|---|---|---|---|---|" + "---|" * len(columns))
    for strength, kind in sorted(groups, key=lambda g: (g[0], ORDER.index(g[1]))):
        rows = groups[(strength, kind)]
        cells = [cell([float(r[key]) for r in rows], 1 if key in ("recon", "kl") else 3) for key, _ in columns]
        steps = "/".join(sorted({str(r["step"]) for r in rows}))
        escaped = sum(r["recon"] < ESCAPED_RECON for r in rows)
        print(f"| {strength} | {kind} | {len(rows)} | {steps} | {escaped} | " + " | ".join(cells) + " |")
    print()


def main(root: Path) -> None:
    groups = read_runs(root)
    table(groups, COLUMNS)
    escaped = {g: [r for r in rows if r["recon"] < ESCAPED_RECON] for g, rows in groups.items()}
    table({g: rows for g, rows in escaped.items() if rows}, COLUMNS[:5])
    for (strength, kind), rows in sorted(groups.items()):
        if kind == "learned":
            print(f"learned, strength {strength}: final β_eff", ", ".join(f"{r['beta']:.3f}" for r in rows))
        if kind == "per_latent":
            ranges = ", ".join(f"{min(r['betas']):.2f}–{max(r['betas']):.2f}" for r in rows)
            print(f"per_latent, strength {strength}: final β_j range {ranges}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
