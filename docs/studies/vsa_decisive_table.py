"""The dSprites-VSA decisive study (docs/vsa.md, "The decisive study"; issue #23): every run's scores at
each in-training evaluation, and each row's latest scores over its seeds.

Usage:
    python docs/studies/vsa_decisive_table.py RUNS_DIR [--at STEP ...] [--contrast 14-13 ...] [--out docs/studies/vsa_decisive]

Reads each run folder of the sweep directory (``config.yaml`` for the row and seed, ``metrics.jsonl``
for the ``eval.vsa.*`` lines that ``train.eval_every`` writes, ``meta.json`` for ``stopped``). Prints
one line per (run, evaluation step) and, per source row, the scores of each run's latest
evaluation (and, with ``--at STEP``, at one step for every run that reached it): mean over the
runs with a 95 % t interval when two or more have one, and the Good and collapsed counts. With ``--out`` it writes ``trajectories.csv`` (every evaluation of every run),
``trajectories.png`` (IoU and changed accuracy against steps per row), ``table.md`` and ``evals.json`` (the values of each finished run's end-of-run ``eval.json``) there. A run still training shows its latest evaluation; the ``steps`` column says
how far each got.
"""

from __future__ import annotations

import argparse
import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

#: (eval key without ``eval.vsa.``, column title): the stage's IoU first, then the classifier's scores
SCORES = [("iou", "swap/scene IoU"), ("swap_acc.changed", "changed acc"), ("scene.count_acc", "count acc"),
          ("latent.kl", "KL (nats)"), ("empty", "empty")]


def row_of(run_dir: Path) -> int | None:
    """The source row (spec §6) of a run folder's resolved config; None for settings the source did not try."""
    from betavae.experiments.rundir import read_run_config
    from betavae.vsa.study import source_row

    row = source_row(read_run_config(run_dir))
    return None if row is None else row.id


def evaluations(run_dir: Path) -> list[dict[str, Any]]:
    """The run's in-training evaluations: ``{"step", "iou", "swap_acc.changed", ..., "good", "collapsed"}``;
    ``iou`` and ``empty`` are the stage's own (swap for PD, scene for PSD)."""
    out = []
    metrics = run_dir / "metrics.jsonl"
    for line in metrics.read_text().splitlines() if metrics.is_file() else []:
        raw = json.loads(line)
        found = {k[len("eval.vsa."):]: v for k, v in raw.items() if k.startswith("eval.vsa.")}
        if not found:
            continue
        stage = "swap" if "swap.iou" in found else "scene"
        found["iou"], found["empty"] = found.get(f"{stage}.iou"), found.get(f"{stage}.empty")
        out.append({"step": raw["step"], **found})
    return out


def collect(root: Path) -> list[dict[str, Any]]:
    """One dict per run folder: run_id, row, seed, steps (the last logged step), stopped, evaluations."""
    runs = []
    for run_dir in sorted(p for p in root.iterdir() if (p / "config.yaml").is_file()):
        config = yaml.safe_load((run_dir / "config.yaml").read_text())
        meta = json.loads((run_dir / "meta.json").read_text()) if (run_dir / "meta.json").is_file() else {}
        runs.append({"run_id": run_dir.name, "row": row_of(run_dir), "seed": config["seed"],
                     "steps": meta.get("step"), "stopped": meta.get("stopped"), "evals": evaluations(run_dir)})
    return runs


def interval(values: Sequence[float]) -> str:
    """mean [95 % t interval] (the mean alone for one value)."""
    from betavae.report.lessons import t_interval

    mean, low, high = t_interval(values)
    return f"{mean:.3f} (one run)" if low is None else f"{mean:.3f} [{low:.3f}, {high:.3f}]"


def pick(evals: list[dict[str, Any]], at: int | None) -> dict[str, Any] | None:
    """The evaluation at step ``at`` (None: the latest one); None when the run has none there."""
    if at is None:
        return evals[-1] if evals else None
    return next((e for e in evals if e["step"] == at), None)


def row_table(runs: list[dict[str, Any]], at: int | None = None) -> str:
    """Per source row: runs evaluated, their steps, Good / collapsed counts and each score's mean
    over the runs' latest evaluations (``at``: their evaluations at that step, so that rows are
    compared at one length)."""
    head = f"| row | runs evaluated | {'latest evaluation' if at is None else 'evaluation'} (steps) | Good | collapsed | " + \
        " | ".join(t for _, t in SCORES) + " |"
    lines = [head, "|---|---|---|---|---|" + "---|" * len(SCORES)]
    for row in sorted({r["row"] for r in runs if r["row"] is not None}):
        latest = [e for e in (pick(r["evals"], at) for r in runs if r["row"] == row) if e is not None]
        if not latest:
            continue
        cells = []
        for key, _ in SCORES:
            values = [e[key] for e in latest if isinstance(e.get(key), (int, float)) and not isinstance(e.get(key), bool)]
            cells.append(interval(values) if values else "–")
        good = sum(e.get("good") is True for e in latest)
        judged = sum(isinstance(e.get("good"), bool) for e in latest)
        lines.append(f"| {row} | {len(latest)} | {', '.join(str(e['step']) for e in latest)} | {good} of {judged} judged "
                     f"| {sum(e.get('collapsed') is True for e in latest)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def contrast_table(runs: list[dict[str, Any]], pairs: Sequence[tuple[int, int]], at: int | None = None) -> str:
    """Per pair of source rows (a, b): mean(a) − mean(b) of the stage's IoU and of the changed-feature
    accuracy over the runs' evaluations at step ``at`` (None: their latest), with the Welch 95 %
    interval and two-sided p (the seeds of two rows are separate runs: not paired)."""
    from betavae.report.lessons import welch

    lines = ["| contrast | runs | score | difference [95 % Welch interval] | p |", "|---|---|---|---|---|"]
    for a, b in pairs:
        evals = {row: [e for e in (pick(r["evals"], at) for r in runs if r["row"] == row) if e is not None] for row in (a, b)}
        for key, title in SCORES[:2]:
            values = {row: [e[key] for e in found if isinstance(e.get(key), (int, float))] for row, found in evals.items()}
            if min(len(v) for v in values.values()) < 2:
                lines.append(f"| {a} − {b} | {len(values[a])} + {len(values[b])} | {title} | – (needs ≥ 2 runs each) | – |")
                continue
            w = welch(values[a], values[b])
            lines.append(f"| {a} − {b} | {len(values[a])} + {len(values[b])} | {title} | "
                         f"{w['diff']:+.3f} [{w['lo']:+.3f}, {w['hi']:+.3f}] | {w['p']:.2g} |")
    return "\n".join(lines)


def figure(runs: list[dict[str, Any]], path: Path, good: float = 0.8) -> None:
    """Swap/scene IoU and changed-feature accuracy against steps, one colour per source row: thin
    lines are seeds, the thick line their mean at the steps all of them reached; dotted: the Good
    rule's threshold ``good`` on both (spec §6)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    colours = plt.get_cmap("tab10")
    for i, row in enumerate(sorted({r["row"] for r in runs if r["row"] is not None})):
        mine = [r for r in runs if r["row"] == row and r["evals"]]
        if not mine:
            continue
        kind = "PSD" if "scene.iou" in mine[0]["evals"][0] else "PD"
        for ax, key in zip(axes, ("iou", "swap_acc.changed"), strict=True):
            for r in mine:
                points = [(e["step"], e[key]) for e in r["evals"] if isinstance(e.get(key), (int, float))]
                if points:
                    ax.plot(*zip(*points, strict=True), color=colours(i), lw=0.7, alpha=0.5)
            shared = sorted(set.intersection(*({e["step"] for e in r["evals"]} for r in mine)))
            means = [(step, sum(pick(r["evals"], step)[key] for r in mine) / len(mine)) for step in shared
                     if all(isinstance(pick(r["evals"], step).get(key), (int, float)) for r in mine)]
            if means:
                ax.plot(*zip(*means, strict=True), color=colours(i), lw=2.2, marker="o", ms=3,
                        label=f"row {row} ({kind}, {len(mine)} seed{'s' if len(mine) > 1 else ''})")
    for ax, title in zip(axes, ("swap IoU (PD) / scene IoU (PSD)", "changed-feature accuracy"), strict=True):
        ax.axhline(good, color="grey", ls=":", lw=1)
        ax.set(xlabel="step", title=f"{title} (dotted: Good ≥ {good})")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def parse_contrast(text: str) -> tuple[int, int]:
    """``"14-13"`` → (14, 13)."""
    try:
        a, b = (int(part) for part in text.split("-"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"a contrast is two source rows as A-B (e.g. 14-13), got {text!r}") from None
    return a, b


def trajectory_rows(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"run_id": r["run_id"], "row": r["row"], "seed": r["seed"], "stopped": r["stopped"] or "",
             **{k: e.get(k) for k in ("step", *(key for key, _ in SCORES), "good", "collapsed")}}
            for r in runs for e in r["evals"]]


def main(argv: Sequence[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="the sweep directory")
    parser.add_argument("--out", type=Path, help="write trajectories.csv and table.md here")
    parser.add_argument("--at", type=int, action="append", default=[],
                        help="also a table of every run's evaluation at this step (repeatable)")
    parser.add_argument("--contrast", type=parse_contrast, action="append", default=[], metavar="A-B",
                        help="row A minus row B (Welch) at each --at step, or at the latest evaluations (repeatable)")
    args = parser.parse_args(argv)
    if not args.source.is_dir():
        parser.error(f"{args.source} is not a sweep directory")
    runs = collect(args.source)
    rows = trajectory_rows(runs)
    lines = [f"{r['run_id']} (row {r['row']}, seed {r['seed']}) step {r['step']}: IoU {r['iou']:.3f}, changed acc "
             f"{r['swap_acc.changed'] if r['swap_acc.changed'] is None else round(r['swap_acc.changed'], 3)}, "
             f"KL {r['latent.kl']:.1f}, Good {r['good']}, collapsed {r['collapsed']}" for r in rows]
    text = "Latest evaluation of each run:\n\n" + row_table(runs)
    for step in args.at:
        text += f"\n\nEvery run at step {step:,}:\n\n" + row_table(runs, step)
    for step in (args.at or [None]) if args.contrast else []:
        where = "latest evaluations" if step is None else f"step {step:,}"
        text += f"\n\nContrasts at {where}:\n\n" + contrast_table(runs, args.contrast, step)
    print("\n".join(lines) + "\n\n" + text)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        with (args.out / "trajectories.csv").open("w", newline="") as fh:
            writer = csv.DictWriter(fh, list(rows[0]) if rows else ["run_id"])
            writer.writeheader()
            writer.writerows(rows)
        (args.out / "table.md").write_text(text + "\n")
        figure(runs, args.out / "trajectories.png")
        finished = {r["run_id"]: json.loads((args.source / r["run_id"] / "eval.json").read_text())["values"]
                    for r in runs if (args.source / r["run_id"] / "eval.json").is_file()}
        (args.out / "evals.json").write_text(json.dumps(finished, indent=1, sort_keys=True) + "\n")
    return text


if __name__ == "__main__":
    main()
