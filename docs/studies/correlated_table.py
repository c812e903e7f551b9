"""The correlated-dSprites study (docs/studies/correlated.md): its table with intervals, its figure,
and its pilot's trajectories.

Usage:
    python docs/studies/correlated_table.py study RUNS_DIR [--out docs/studies/correlated] [--sweep FILE]
    python docs/studies/correlated_table.py study docs/studies/correlated/runs.csv   # from the committed CSV
    python docs/studies/correlated_table.py pilot RUNS_DIR [--every 250]

``study`` reads the sweep directory (``sweep.json`` lists every planned run; each run folder's
``config.yaml``, ``metrics.jsonl`` and ``eval.json`` with its per-factor/per-pair breakdown), prints
one row per (strength, arm): how many of the planned runs finished, and for each score the mean over
seeds with its 95 % t interval; then the smallest difference in the pair score the design detects
(docs/studies/README.md, rule 2) at the measured spread. With ``--out`` it writes ``runs.csv``
(every run's scores, one row per planned run, unfinished ones included), ``evals.json`` (each
finished run's ``eval.json``, breakdown included), ``table.md`` and ``pair_score.png`` there.
``--sweep FILE`` lists the planned runs from the sweep file while the sweep still runs. The table is
followed by the study's pre-set comparisons: in each condition every arm minus β-VAE (pair MIG, MIG
shared, MIG), and each arm's correlated conditions minus its independent one, with Welch intervals and
Holm-adjusted p over each family. ``pilot`` prints each run's trajectory: training recon and KL, the
arm's own mechanism (C_t, learned β, per-latent β_j range, pairwise λ_max) and the in-training MIG.

The pair score (fixed before the study ran): **pair MIG** = the mean of the posX and posY MIG terms,
(largest − second largest MI of the factor with one code dimension) / H(factor), so 1 when each of
the two factors has a code dimension of its own. Beside it, ``mig.shared[posX,posY]`` and
``dci.shared[posX,posY]``: how much of both factors one code dimension holds (0: none, 1: one
dimension holds both; lower is better).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import statistics
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from scipy import stats

from betavae.report.lessons import holm, t_interval, welch

PAIR = ("posX", "posY")
#: (column, label, True when higher is better) of the table, the pair score first
SCORES = [("pair_mig", "pair MIG (posX, posY) ↑", True),
          (f"mig.shared[{PAIR[0]},{PAIR[1]}]", "MIG shared ↓", False),
          (f"dci.shared[{PAIR[0]},{PAIR[1]}]", "DCI shared ↓", False),
          ("mig", "MIG ↑", True), ("dci.disentanglement", "DCI D ↑", True),
          ("recon", "recon (nats)", False), ("kl", "KL (nats)", False)]
PRIMARY = "pair_mig"
ARMS = ["beta", "capacity", "betatcvae", "factorvae", "per_latent", "pairwise", "learned"]
ARM_LABELS = {"beta": "β-VAE", "capacity": "capacity", "betatcvae": "β-TCVAE", "factorvae": "FactorVAE",
              "per_latent": "per-latent β", "pairwise": "pairwise β", "learned": "learned β"}
#: training recon (nats/image) below which a run has left the mean image (which costs ≈ 495-540)
LEFT_MEAN_IMAGE = 400.0
CSV_COLUMNS = ["run_id", "strength", "arm", "seed", "status", "step", "recon", "kl", "beta",
               "pair_mig", f"mig[{PAIR[0]}]", f"mig[{PAIR[1]}]", f"mig.shared[{PAIR[0]},{PAIR[1]}]",
               f"dci.completeness[{PAIR[0]}]", f"dci.completeness[{PAIR[1]}]",
               f"dci.shared[{PAIR[0]},{PAIR[1]}]", "mig", "dci.disentanglement", "dci.completeness",
               "dci.informativeness_test"]
#: the in-training MIG (``eval.mig`` in metrics.jsonl, ``train.eval_every``) kept as ``mig@STEP``
EVAL_STEPS = (1000, 2000, 3000)
CSV_COLUMNS += [f"mig@{step}" for step in EVAL_STEPS]


# ------------------------------------------------------------------ reading runs


def strength_of(data: dict[str, Any]) -> float:
    """The posX–posY correlation strength of a run's ``data`` config; 0 for independent dSprites."""
    for pair in data.get("pairs") or []:
        if sorted(pair["factors"]) == sorted(PAIR):
            return float(pair["strength"])
    return 0.0


def read_run(run_dir: Path) -> dict[str, Any]:
    """One run's row: strength, arm, seed, last logged training figures, every ``eval.json`` value
    and breakdown entry, and the pair MIG (blank where the run has no evaluation yet)."""
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    row: dict[str, Any] = {"run_id": run_dir.name, "strength": strength_of(config["data"]),
                           "arm": config["objective"]["kind"], "seed": int(config["seed"])}
    metrics = run_dir / "metrics.jsonl"
    lines = metrics.read_text().splitlines() if metrics.is_file() else []
    if lines:
        logged = [json.loads(line) for line in lines]
        last = logged[-1]
        row.update(step=last["step"], recon=last["recon"], kl=last["kl"], beta=last.get("beta"))
        row.update({f"mig@{r['step']}": r["eval.mig"] for r in logged if isinstance(r.get("eval.mig"), (int, float))})
    eval_file = run_dir / "eval.json"
    if eval_file.is_file():
        result = json.loads(eval_file.read_text())
        row.update({k: v for k, v in result.get("values", {}).items() if isinstance(v, (int, float))})
        row.update(result.get("breakdown", {}))
        terms = [row.get(f"mig[{f}]") for f in PAIR]
        if all(isinstance(t, (int, float)) for t in terms):
            row["pair_mig"] = sum(terms) / len(terms)
    return row


def planned_runs(sweep_file: Path) -> list[dict[str, Any]]:
    """The sweep file's planned runs as ``sweep.json``-like entries (run id, seed, ``data`` and
    ``objective``), for a sweep still running (its ``sweep.json`` is written at the end)."""
    from betavae.experiments.sweep import load_sweep

    entries = []
    for run in load_sweep(sweep_file).expand():
        tree = run.config.to_dict()
        entries.append({"run_id": run.run_id, "seed": run.config.seed, "data": tree["data"],
                        "objective": tree["objective"]})
    return entries


def collect(root: Path, planned: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """One row per planned run of a sweep directory (``sweep.json``'s list, or every run folder when
    there is none yet, or ``planned`` from :func:`planned_runs`); ``status`` from ``sweep.json``
    (``finished`` when the run has ``eval.json``).
    A run not started yet is placed in its cell by the swept ``data`` and ``objective`` of its
    ``sweep.json`` row."""
    listing = root / "sweep.json"
    if planned is None:
        planned = json.loads(listing.read_text()) if listing.is_file() else [
            {"run_id": p.name} for p in sorted(root.iterdir()) if (p / "config.yaml").is_file()]
    rows = []
    for entry in planned:
        run_dir = root / entry["run_id"]
        if (run_dir / "config.yaml").is_file():
            row = read_run(run_dir)
        elif isinstance(entry.get("data"), dict) and isinstance(entry.get("objective"), dict):
            # not started: its cell from the swept keys that sweep.json lists
            row = {"run_id": entry["run_id"], "strength": strength_of(entry["data"]),
                   "arm": entry["objective"]["kind"], "seed": entry.get("seed")}
        else:
            row = {"run_id": entry["run_id"]}
        row["status"] = "finished" if (run_dir / "eval.json").is_file() else entry.get("status", "missing")
        rows.append(row)
    return rows


def write_csv(rows: Sequence[dict[str, Any]], path: Path) -> None:
    """``runs.csv``: :data:`CSV_COLUMNS` for every row (blank where a run has no value)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, CSV_COLUMNS, restval="", extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def read_csv(path: Path) -> list[dict[str, Any]]:
    """Rows of a ``runs.csv`` written by :func:`write_csv`, numbers as floats (seed, step as int)."""
    rows = []
    with path.open(newline="") as fh:
        for raw in csv.DictReader(fh):
            row: dict[str, Any] = {}
            for key, value in raw.items():
                if value == "":
                    continue
                if key in ("run_id", "arm", "status"):
                    row[key] = value
                elif key in ("seed", "step"):
                    row[key] = int(float(value))
                else:
                    row[key] = float(value)
            rows.append(row)
    return rows


# ------------------------------------------------------------------ statistics


def bootstrap_interval(values: Sequence[float], level: float = 0.95, n_boot: int = 10_000,
                       seed: int = 0) -> tuple[float, float, float]:
    """(mean, low, high): the percentile bootstrap interval of the mean over seeds."""
    x = np.asarray(values, dtype=np.float64)
    means = x[np.random.default_rng(seed).integers(0, len(x), (n_boot, len(x)))].mean(axis=1)
    lo, hi = np.quantile(means, [0.5 - level / 2, 0.5 + level / 2])
    return float(x.mean()), float(lo), float(hi)


def min_detectable(sd: float, n: int, power: float | None = 0.8, alpha: float = 0.05) -> float:
    """Smallest difference between two arms of n seeds each that a two-sided t-test at ``alpha``
    detects with ``power`` (None: half the time), for a between-seed sd (docs/studies/README.md)."""
    df = 2 * n - 2
    t = stats.t.ppf(1 - alpha / 2, df) + (stats.t.ppf(power, df) if power is not None else 0.0)
    return float(t * sd * math.sqrt(2 / n))


def groups(rows: Iterable[dict[str, Any]]) -> dict[tuple[float, str], list[dict[str, Any]]]:
    """Rows by (strength, arm), in strength then :data:`ARMS` order."""
    out: dict[tuple[float, str], list[dict[str, Any]]] = {}
    for row in rows:
        if "arm" in row:
            out.setdefault((float(row["strength"]), row["arm"]), []).append(row)
    order = sorted(out, key=lambda g: (g[0], ARMS.index(g[1]) if g[1] in ARMS else len(ARMS), g[1]))
    return {g: out[g] for g in order}


def summarise(rows: Sequence[dict[str, Any]], key: str) -> dict[str, Any]:
    """n, mean, t interval and sd of ``key`` over the finished rows that have it."""
    values = [float(r[key]) for r in rows if r.get("status") == "finished" and isinstance(r.get(key), (int, float))]
    if not values:
        return {"n": 0}
    mean, lo, hi = t_interval(values)
    sd = statistics.stdev(values) if len(values) > 1 else math.nan
    return {"n": len(values), "mean": mean, "lo": lo, "hi": hi, "sd": sd}


def pooled_sd(rows: Sequence[dict[str, Any]], key: str = PRIMARY) -> tuple[float, int]:
    """(pooled within-cell sd of ``key``, the degrees of freedom it rests on) over all cells."""
    ss, df = 0.0, 0
    for cell in groups(rows).values():
        values = [float(r[key]) for r in cell if r.get("status") == "finished" and isinstance(r.get(key), (int, float))]
        if len(values) > 1:
            ss += float(np.var(values, ddof=1)) * (len(values) - 1)
            df += len(values) - 1
    return (math.sqrt(ss / df) if df else math.nan), df


def finished_values(cell: Sequence[dict[str, Any]], key: str) -> list[float]:
    return [float(r[key]) for r in cell if r.get("status") == "finished" and isinstance(r.get(key), (int, float))]


def contrasts(rows: Sequence[dict[str, Any]], key: str = PRIMARY, baseline: str = "beta") -> list[dict[str, Any]]:
    """The study's pre-set family of comparisons of ``key``: in each condition, every arm minus
    ``baseline``; with Welch intervals and Holm-adjusted p over the whole family (cells with fewer
    than two finished seeds on either side are left out)."""
    cells = groups(rows)
    out = []
    for (strength, arm), cell in cells.items():
        base = finished_values(cells.get((strength, baseline), []), key)
        values = finished_values(cell, key)
        if arm == baseline or len(base) < 2 or len(values) < 2:
            continue
        out.append({"strength": strength, "arm": arm, **welch(values, base)})
    for row, adjusted in zip(out, holm([r["p"] for r in out]), strict=True):
        row["p_holm"] = adjusted
    return out


def correlation_effects(rows: Sequence[dict[str, Any]], key: str = PRIMARY) -> list[dict[str, Any]]:
    """Per arm, ``key`` at each correlation strength minus its value on independent data (Welch,
    Holm over the family): does the correlation in the training data cost the arm anything?"""
    cells = groups(rows)
    out = []
    for (strength, arm), cell in cells.items():
        base = finished_values(cells.get((0.0, arm), []), key)
        values = finished_values(cell, key)
        if strength == 0 or len(base) < 2 or len(values) < 2:
            continue
        out.append({"strength": strength, "arm": arm, **welch(values, base)})
    for row, adjusted in zip(out, holm([r["p"] for r in out]), strict=True):
        row["p_holm"] = adjusted
    return out


def budget_lines(rows: Sequence[dict[str, Any]], first: int = EVAL_STEPS[-2], last: int = EVAL_STEPS[-1]) -> list[str]:
    """Rule 1 (budget from evidence): per arm, the in-training MIG at each evaluation step (mean over
    every finished run of the arm, all conditions) and its change from step ``first`` to ``last``
    within each run, with a t interval; an interval above 0 means the score was still rising."""
    lines = ["| arm | runs | " + " | ".join(f"MIG at {s:,}" for s in EVAL_STEPS) +
             f" | change {first:,} → {last:,} [95 % t interval] |", "|---|---|" + "---|" * (len(EVAL_STEPS) + 1)]
    for arm in ARMS:
        done = [r for r in rows if r.get("arm") == arm and r.get("status") == "finished"
                and all(isinstance(r.get(f"mig@{s}"), (int, float)) for s in EVAL_STEPS)]
        if len(done) < 2:
            continue
        means = [statistics.fmean(float(r[f"mig@{s}"]) for r in done) for s in EVAL_STEPS]
        change = t_interval([float(r[f"mig@{last}"]) - float(r[f"mig@{first}"]) for r in done])
        lines.append(f"| {ARM_LABELS[arm]} | {len(done)} | " + " | ".join(f"{m:.3f}" for m in means) +
                     f" | {change[0]:+.3f} [{change[1]:+.3f}, {change[2]:+.3f}] |")
    return lines if len(lines) > 2 else []


def contrast_table(found: Sequence[dict[str, Any]], against: str) -> str:
    lines = [f"| strength | arm | difference vs {against} [95 % Welch interval] | t | p | p (Holm, {len(found)} tests) |",
             "|---|---|---|---|---|---|"]
    for r in found:
        label = "independent" if r["strength"] == 0 else f"{r['strength']:g}"
        lines.append(f"| {label} | {ARM_LABELS.get(r['arm'], r['arm'])} | {r['diff']:+.3f} [{r['lo']:+.3f}, {r['hi']:+.3f}] "
                     f"| {r['t']:.2f} | {r['p']:.3f} | {r['p_holm']:.3f} |")
    return "\n".join(lines)


# ------------------------------------------------------------------ output


def fmt(s: dict[str, Any], digits: int) -> str:
    if not s["n"]:
        return "—"
    if s["n"] == 1:
        return f"{s['mean']:.{digits}f} (one run)"
    return f"{s['mean']:.{digits}f} [{s['lo']:.{digits}f}, {s['hi']:.{digits}f}]"


def markdown_table(rows: Sequence[dict[str, Any]]) -> str:
    """One line per (strength, arm): finished/planned runs, runs that left the mean image, and each
    score's mean [95 % t interval] over seeds."""
    head = "| strength | arm | finished / planned | left mean image | " + " | ".join(label for _, label, _ in SCORES) + " |"
    lines = [head, "|---|---|---|---|" + "---|" * len(SCORES)]
    for (strength, arm), cell in groups(rows).items():
        done = [r for r in cell if r.get("status") == "finished"]
        left = sum(1 for r in done if isinstance(r.get("recon"), (int, float)) and r["recon"] < LEFT_MEAN_IMAGE)
        scores = [fmt(summarise(cell, key), 1 if key in ("recon", "kl") else 3) for key, _, _ in SCORES]
        label = "independent" if strength == 0 else f"{strength:g}"
        lines.append(f"| {label} | {ARM_LABELS.get(arm, arm)} | {len(done)} / {len(cell)} | {left} | " + " | ".join(scores) + " |")
    return "\n".join(lines)


def power_lines(rows: Sequence[dict[str, Any]]) -> list[str]:
    sd, df = pooled_sd(rows)
    if not df:
        return ["pair MIG: no cell has two finished seeds yet, so no measured spread"]
    ns = sorted({sum(1 for r in cell if r.get("status") == "finished") for cell in groups(rows).values()} - {0})
    out = [f"pair MIG: pooled between-seed sd {sd:.4f} ({df} degrees of freedom)"]
    for n in sorted({*ns, 5, 10, 20} - {0, 1}):  # an interval needs two seeds per arm
        out.append(f"  n = {n:2d} seeds per arm: detects {min_detectable(sd, n, None):.4f} half the time, "
                   f"{min_detectable(sd, n):.4f} with 80 % power (two-sided t-test, α = 0.05)")
    return out


def plot(rows: Sequence[dict[str, Any]], out: Path, key: str = PRIMARY) -> Path:
    """Pair score by arm (x) and strength (colour): each seed a dot, the mean with its 95 % t interval."""
    from betavae.viz.figures import pyplot, save_small

    plt = pyplot()
    cells = groups(rows)
    strengths = sorted({g[0] for g in cells})
    arms = [a for a in ARMS if any(g[1] == a for g in cells)]
    fig, ax = plt.subplots(figsize=(8, 4))
    width = 0.8 / max(len(strengths), 1)
    for i, strength in enumerate(strengths):
        x0 = np.arange(len(arms)) + (i - (len(strengths) - 1) / 2) * width
        label = "independent" if strength == 0 else f"posX–posY strength {strength:g}"
        colour = f"C{i}"
        for x, arm in zip(x0, arms, strict=True):
            cell = cells.get((strength, arm), [])
            values = [float(r[key]) for r in cell if r.get("status") == "finished" and isinstance(r.get(key), (int, float))]
            ax.plot([x] * len(values), values, ".", color=colour, alpha=0.5)
            s = summarise(cell, key)
            if s["n"]:
                err = None if s["n"] < 2 else [[s["mean"] - s["lo"]], [s["hi"] - s["mean"]]]
                ax.errorbar([x], [s["mean"]], yerr=err, fmt="o", color=colour, capsize=3, label=label)
    ax.set_xticks(range(len(arms)), [ARM_LABELS[a] for a in arms])
    ax.set_ylabel("pair MIG (posX, posY): mean of the two MIG terms")
    ax.set_title("Correlated dSprites: pair score by arm (dots: seeds; bars: 95 % t interval)")
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles, strict=True))  # one entry per strength
    ax.legend(unique.values(), unique.keys(), fontsize=8)
    fig.tight_layout()
    path = save_small(fig, out)
    plt.close(fig)
    return path


def pilot_lines(root: Path, every: int = 250) -> list[str]:
    """Each run's trajectory every ``every`` steps: recon, KL, the arm's own mechanism, in-training MIG."""
    out = []
    for run_dir in sorted(p for p in root.iterdir() if (p / "metrics.jsonl").is_file()):
        row = read_run(run_dir)
        logged = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
        left = next((r["step"] for r in logged if r["recon"] < LEFT_MEAN_IMAGE), None)
        out.append(f"{ARM_LABELS.get(row['arm'], row['arm'])} ({run_dir.name}, seed {row['seed']}, "
                   f"strength {row['strength']:g}); recon < {LEFT_MEAN_IMAGE:g} from step {left}; final pair MIG "
                   f"{row.get('pair_mig', float('nan')):.3f}, MIG {row.get('mig', float('nan')):.3f}")
        for r in logged:
            if r["step"] % every:
                continue
            parts = [f"step {r['step']:>6}", f"recon {r['recon']:7.1f}", f"KL {r['kl']:6.2f}"]
            if "capacity" in r:
                parts.append(f"C_t {r['capacity']:5.2f}")
            if row["arm"] == "learned":
                parts.append(f"β {r['beta']:.3f}")
            betas = [v for k, v in r.items() if k.startswith("beta.")]
            if betas:
                parts.append(f"β_j {min(betas):.2f}–{max(betas):.2f}")
            if "pair_lambda_max" in r:
                parts.append(f"λ_max {r['pair_lambda_max']:.3f}, pair MI {r['pair_mi']:.2f}")
            if "tc_d" in r:
                parts.append(f"TC_D {r['tc_d']:.2f}")
            if "eval.mig" in r:  # logged at the in-training evaluations only
                parts.append(f"MIG {r['eval.mig']:.3f}")
            out.append("  " + ", ".join(parts))
    return out


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["study", "pilot"])
    parser.add_argument("source", type=Path, help="a sweep directory, or (study) a runs.csv")
    parser.add_argument("--out", type=Path, help="study: write runs.csv, table.md and pair_score.png here")
    parser.add_argument("--every", type=int, default=250, help="pilot: steps between trajectory lines")
    parser.add_argument("--sweep", type=Path, help="study: the sweep file, to list every planned run while "
                        "the sweep still runs (sweep.json is written at its end)")
    args = parser.parse_args(argv)
    if args.what == "pilot":
        print("\n".join(pilot_lines(args.source, args.every)))
        return
    planned = planned_runs(args.sweep) if args.sweep else None
    rows = read_csv(args.source) if args.source.suffix == ".csv" else collect(args.source, planned)
    text = markdown_table(rows) + "\n\n" + "\n".join(power_lines(rows))
    for key, label in ((PRIMARY, "pair MIG"), (f"mig.shared[{PAIR[0]},{PAIR[1]}]", "MIG shared (lower is better)"),
                       ("mig", "MIG")):
        found = contrasts(rows, key)
        if found:
            text += f"\n\n{label}, each arm minus β-VAE in its condition:\n\n" + contrast_table(found, "β-VAE")
    budget = budget_lines(rows)
    if budget:
        text += "\n\nIn-training MIG (independent grid, `fast` preset) by arm, all conditions:\n\n" + "\n".join(budget)
    found = correlation_effects(rows)
    if found:
        text += "\n\npair MIG, each correlated condition minus the same arm on independent data:\n\n" + \
            contrast_table(found, "independent")
    print(text)
    if args.out:
        if args.source.suffix != ".csv":
            write_csv(rows, args.out / "runs.csv")
            evals = {r["run_id"]: json.loads((args.source / r["run_id"] / "eval.json").read_text())
                     for r in rows if r.get("status") == "finished"}
            (args.out / "evals.json").write_text(json.dumps(evals, indent=1) + "\n")
        (args.out / "table.md").write_text(text + "\n")
        plot(rows, args.out / "pair_score.png")


if __name__ == "__main__":
    main()
