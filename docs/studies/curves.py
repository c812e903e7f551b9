"""Print MIG and training reconstruction at each in-training evaluation of every run in a sweep directory.

Usage: python docs/studies/curves.py runs/capacity-defaults

One line per (run, evaluation step): the swept values from the run's config, the last logged
training recon / KL / C_t / β at or before that step, and the ``eval.*`` scores logged by
``train.eval_every``. Used for the capacity-defaults table in docs/speed.md.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml


def describe(config: dict) -> str:
    """A short label from a resolved config (schedules are mappings; constants have ``value``)."""
    objective = config["objective"]
    if objective["kind"] == "capacity":
        ramp = objective["capacity"]
        return (f"capacity γ={objective['gamma'].get('value', '?'):g} "
                f"C {ramp['c0']:g}→{ramp['c_max']:g} over {ramp['length']:,}")
    if objective["kind"] == "beta":
        return f"beta β={objective['beta'].get('value', '?')}"
    return objective["kind"]


def main(root: Path) -> None:
    print("| run | step | recon (nats) | KL | C_t | scores |")
    print("|---|---|---|---|---|---|")
    for run in sorted(root.iterdir()):
        log = run / "metrics.jsonl"
        if not log.is_file():
            continue
        name = describe(yaml.safe_load((run / "config.yaml").read_text()))
        last: dict = {}
        for line in log.read_text().splitlines():
            row = json.loads(line)
            if "recon" in row:
                last = row
            scores = {k[5:]: v for k, v in row.items() if k.startswith("eval.") and isinstance(v, float)}
            if scores:
                text = ", ".join(f"{k} {v:.3f}" for k, v in scores.items())
                print(f"| {name} | {row['step']:,} | {last.get('recon', float('nan')):.1f} | "
                      f"{last.get('kl', float('nan')):.2f} | {last.get('capacity', float('nan')):.2f} | {text} |")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
