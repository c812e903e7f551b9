"""Keep a sweep's finished runs in the repository, without their weights, so a later session resumes it.

Usage: python docs/studies/keep_runs.py SWEEP_DIR DEST

Copies every finished, measured and reported run folder of SWEEP_DIR (``meta.json`` status
``finished``, ``eval.json`` and ``report.html`` present) to DEST/<run>/ with the files its
results live in: ``config.yaml``, ``meta.json``, ``metrics.jsonl`` and ``eval.json`` (the
weights, the checkpoint and the generated report stay behind). Copied back into a sweep folder,
these runs are not trained or measured again: ``bvae sweep`` only writes their reports (from
these files, in seconds), so a study longer than a session goes on in the next one even when the
sweep folder outside the repository is gone:

    mkdir -p runs/crossmodal-study-full && cp -r docs/studies/crossmodal_full/study/. runs/crossmodal-study-full/
    bvae sweep sweep_crossmodal_study_full          # trains only the runs not kept

Runs still training are left out (they resume from their checkpoints only where their folder
survives). Prints what it copied.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

KEPT = ("config.yaml", "meta.json", "metrics.jsonl", "eval.json")


def finished_runs(sweep_dir: Path) -> list[Path]:
    """Run folders of ``sweep_dir`` that are finished, measured and reported."""
    runs = []
    for run in sorted(p for p in sweep_dir.iterdir() if p.is_dir()):
        try:
            status = json.loads((run / "meta.json").read_text(encoding="utf-8")).get("status")
        except (OSError, ValueError):
            continue
        if status == "finished" and (run / "eval.json").is_file() and (run / "report.html").is_file():
            runs.append(run)
    return runs


def keep(sweep_dir: Path, dest: Path) -> list[str]:
    """Copy the kept files of every finished run to ``dest``; return the run names copied."""
    names = []
    for run in finished_runs(sweep_dir):
        target = dest / run.name
        target.mkdir(parents=True, exist_ok=True)
        for name in KEPT:
            if (run / name).is_file():
                shutil.copy2(run / name, target / name)
        names.append(run.name)
    return names


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sweep_dir", type=Path)
    ap.add_argument("dest", type=Path)
    args = ap.parse_args()
    names = keep(args.sweep_dir, args.dest)
    print(f"kept {len(names)} finished run(s) of {args.sweep_dir} in {args.dest}")
    for name in names:
        print(" ", name)


if __name__ == "__main__":
    main()
