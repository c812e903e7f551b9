"""Langer et al. (2024)'s findings tested on a multimodal study's run folders, with intervals over seeds.

Usage: python docs/studies/multimodal_findings.py RUNS_DIR [--out docs/studies/multimodal] [--earlier OLD_SEEDS_CSV]

Reads the runs of a multimodal sweep (``bvae sweep sweep_multimodal_langer``) through
:func:`betavae.multimodal.study.load_study`. Per run and window ("pre": epochs 0.75–0.875·E,
"final": 0.875–1·E, Langer's 60k–70k and 70k–80k scaled) each measure is the mean of the run's
checkpoints in the window (:func:`betavae.multimodal.summary.seed_means`). Writes to OUT:

- ``seeds.csv``: those per-run window means (schedule, seed, window, measure, modality, value) and
  every number of each run's ``eval.json`` (window ``after``);
- ``cells.md``: per schedule and measure, the median over seeds with a 95 % bootstrap percentile
  interval (the measures span orders of magnitude, so medians, rule 3 of docs/studies/README.md);
- ``findings.md``: each finding as paired comparisons over seeds. Every schedule's run of seed s
  starts from the same weights and sees the same batches (the sweep's ensembles share the seed
  list), so the comparison is paired by seed: the per-seed difference of log10 values (a ratio of
  geometric means, for positive quantities) or of values (``scale: linear``), its mean and 95 %
  Student-t interval. Verdict: ``holds`` when the interval lies on the finding's side of 0,
  ``reversed`` when on the other side, ``not distinguished`` otherwise.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from betavae.multimodal.study import Study, load_study
from betavae.multimodal.summary import seed_means
from betavae.report.lessons import t_interval

SCHEDULES = ("const1", "const0", "dyn_plateau0", "dyn_plateau1")
MODALITIES = ("joints", "vision", "touch", "sound", "motor")


@dataclass(frozen=True)
class Cell:
    """One quantity per seed: a schedule's measure (of a modality) in a window."""

    schedule: str
    measure: str
    modality: str = "all"
    window: str = "final"

    def label(self) -> str:
        mod = "" if self.modality == "all" else f"[{self.modality}]"
        win = "" if self.window == "final" else f" ({self.window})"
        return f"{self.measure}{mod} {self.schedule}{win}"


@dataclass(frozen=True)
class Claim:
    """``left < right`` per seed (``less``) or ``left > right`` (``not less``)."""

    left: Cell
    right: Cell
    less: bool = True


def bootstrap_median(values: np.ndarray, draws: int = 10_000, seed: int = 0) -> tuple[float, float, float]:
    """(median, low, high): the 95 % percentile bootstrap interval of the median over seeds."""
    rng = np.random.default_rng(seed)
    meds = np.median(rng.choice(values, size=(draws, len(values))), axis=1)
    return float(np.median(values)), float(np.percentile(meds, 2.5)), float(np.percentile(meds, 97.5))


def per_seed(study: Study) -> dict[Cell, dict[int, float]]:
    """{cell: {seed: value}} for both windows."""
    out = {}
    for window in ("pre", "final"):
        for (schedule, measure, modality), seeds in seed_means(study.records, study.epochs, window).items():
            out[Cell(schedule, measure, modality, window)] = seeds
    return out


def compare(values: dict[Cell, dict[int, float]], claim: Claim) -> dict:
    """The paired comparison of a claim: n, scale, estimate [low, high] and verdict."""
    a, b = values.get(claim.left), values.get(claim.right)
    if not a or not b:
        return {"n": 0, "verdict": "no data"}
    seeds = sorted(set(a) & set(b))
    x, y = np.array([a[s] for s in seeds]), np.array([b[s] for s in seeds])
    log = bool((x > 0).all() and (y > 0).all())
    d = np.log10(x) - np.log10(y) if log else x - y
    mean, low, high = t_interval(d)
    if low is None:
        verdict = "one seed"
    elif (high < 0 and claim.less) or (low > 0 and not claim.less):
        verdict = "holds"
    elif high < 0 or low > 0:
        verdict = "reversed"
    else:
        verdict = "not distinguished"
    out = {"n": len(seeds), "scale": "log10" if log else "linear", "mean": mean, "low": low, "high": high,
           "verdict": verdict, "detectable": detectable(d)}
    if log:
        out.update(ratio=10**mean, ratio_low=10**low if low is not None else None,
                   ratio_high=10**high if high is not None else None)
    return out


def detectable(d: np.ndarray) -> float | None:
    """The paired difference a two-sided t-test at α = 0.05 detects with 80 % power at this seed
    count and the measured spread of the per-seed differences (docs/studies/README.md, rule 2, for
    a paired design: (t(0.975, n−1) + t(0.8, n−1)) · sd / √n); in the comparison's scale."""
    from scipy import stats

    n = len(d)
    if n < 2:
        return None
    return float((stats.t.ppf(0.975, n - 1) + stats.t.ppf(0.8, n - 1)) * d.std(ddof=1) / math.sqrt(n))


def against_others(schedule: str, measure: str, lower: bool, modality: str = "all") -> list[Claim]:
    return [Claim(Cell(schedule, measure, modality), Cell(o, measure, modality), lower)
            for o in SCHEDULES if o != schedule]


#: Langer et al. (2024)'s findings (as listed in docs/multimodal.md), each as claims that must all hold
FINDINGS: list[tuple[str, Callable[[], list[Claim]]]] = [
    ("const1 collapses: lowest KL", lambda: against_others("const1", "train_kl", True)),
    ("const1: highest reconstruction loss", lambda: against_others("const1", "train_recon", False)),
    ("const1: highest prediction error", lambda: against_others("const1", "prediction_error", False)),
    ("const1 has the lowest baseline B^all", lambda: against_others("const1", "baseline_all", True)),
    ("const0: lowest prediction error", lambda: against_others("const0", "prediction_error", True)),
    ("const0: lowest reconstruction loss", lambda: against_others("const0", "train_recon", True)),
    ("const0: by far the largest KL", lambda: against_others("const0", "train_kl", False)),
    ("dynamic schedules lie between const0 and const1 (prediction error)", lambda: [
        c for d in ("dyn_plateau0", "dyn_plateau1") for c in (
            Claim(Cell("const0", "prediction_error"), Cell(d, "prediction_error")),
            Claim(Cell(d, "prediction_error"), Cell("const1", "prediction_error")))]),
    ("dynamic schedules lie between const0 and const1 (KL)", lambda: [
        c for d in ("dyn_plateau0", "dyn_plateau1") for c in (
            Claim(Cell("const1", "train_kl"), Cell(d, "train_kl")),
            Claim(Cell(d, "train_kl"), Cell("const0", "train_kl")))]),
    ("after the plateau starts, dyn_plateau1's prediction error rises", lambda: [
        Claim(Cell("dyn_plateau1", "prediction_error", window="final"),
              Cell("dyn_plateau1", "prediction_error", window="pre"), False)]),
    ("... but stays below const1's", lambda: [
        Claim(Cell("dyn_plateau1", "prediction_error"), Cell("const1", "prediction_error"))]),
    ("dyn_plateau1's baseline drops once β = 1 (final vs pre window)", lambda: [
        Claim(Cell("dyn_plateau1", "baseline_all", window="final"), Cell("dyn_plateau1", "baseline_all", window="pre"))]),
    ("dyn_plateau1's baseline ends below dyn_plateau0's", lambda: [
        Claim(Cell("dyn_plateau1", "baseline_all"), Cell("dyn_plateau0", "baseline_all"))]),
    ("vision is the most informative modality: lowest SME^all, in every schedule", lambda: [
        Claim(Cell(s, "sme_all", "vision"), Cell(s, "sme_all", m)) for s in SCHEDULES for m in MODALITIES
        if m != "vision"]),
    ("const0: SME^all of vision < LoP^all of vision", lambda: [
        Claim(Cell("const0", "sme_all", "vision"), Cell("const0", "lop_all", "vision"))]),
    ("const0: joints and motor have high SME^all and low LoP^all (SME^all > LoP^all)", lambda: [
        Claim(Cell("const0", "sme_all", m), Cell("const0", "lop_all", m), False) for m in ("joints", "motor")]),
    ("const1: joints and motor have lower LoP^all than under const0", lambda: [
        Claim(Cell("const1", "lop_all", m), Cell("const0", "lop_all", m)) for m in ("joints", "motor")]),
]

#: pairs whose ratio the paper says is near 1: reported with the interval of the ratio, no verdict
COINCIDE = [(Cell(s, "sme_mod", m), Cell(s, "lop_mod", m)) for s in ("const0", "dyn_plateau1") for m in ("touch", "sound")]


def fmt(x: float | None, digits: int = 3) -> str:
    if x is None or not math.isfinite(x):
        return "—"
    return f"{x:.{digits}g}"


def estimate_text(r: dict) -> str:
    if r["n"] == 0:
        return "no data"
    if r["scale"] == "log10":
        return f"ratio {fmt(r['ratio'])} [{fmt(r['ratio_low'])}, {fmt(r['ratio_high'])}]"
    return f"difference {fmt(r['mean'])} [{fmt(r['low'])}, {fmt(r['high'])}]"


def detectable_text(r: dict) -> str:
    """The smallest effect detectable with 80 % power: a factor (log scale) or a difference."""
    if r.get("detectable") is None:
        return "—"
    return f"×{fmt(10 ** r['detectable'])}" if r["scale"] == "log10" else f"±{fmt(r['detectable'])}"


def after_values(study: Study) -> dict[Cell, dict[int, float]]:
    """{Cell(schedule, name, window='after'): {seed: value}} from each run's eval.json values."""
    out: dict[Cell, dict[int, float]] = {}
    for (schedule, seed), run in study.runs.items():
        try:
            values = json.loads((run / "eval.json").read_text())["values"]
        except (OSError, ValueError, KeyError):
            continue
        for name, v in values.items():
            if isinstance(v, (int, float)) and math.isfinite(v):
                out.setdefault(Cell(schedule, name, "all", "after"), {})[seed] = float(v)
    return out


def after_sections(after: dict[Cell, dict[int, float]]) -> list[str]:
    """After training (eval.json): the test protocols' normalised errors (mean [95 % t interval]
    over seeds; 1 = no better than predicting the block's mean) and the SME mask ablation (spec
    §6: both time steps against the older one, paired by seed)."""
    names = sorted({c.measure for c in after if c.measure.startswith("protocol.")})
    lines = []
    if names:
        lines += ["", "## Test protocols after training: normalised RMSE, mean [95 % t interval] over seeds", "",
                  "| protocol value | " + " | ".join(SCHEDULES) + " |", "|---|" + "---|" * len(SCHEDULES)]
        for name in names:
            cells = []
            for s in SCHEDULES:
                v = after.get(Cell(s, name, "all", "after"))
                if not v:
                    cells.append("—")
                    continue
                mean, low, high = t_interval(list(v.values()))
                cells.append(fmt(mean) if low is None else f"{fmt(mean)} [{fmt(low)}, {fmt(high)}]")
            lines.append(f"| {name.removeprefix('protocol.')} | " + " | ".join(cells) + " |")
    pairs = [(c, Cell(c.schedule, c.measure.replace("sme_mod", "sme_mod_both").replace("sme_all", "sme_all_both"),
                      c.modality, "after")) for c in after if c.measure.partition(".")[0] in ("sme_mod", "sme_all")]
    pairs = [(a, b) for a, b in pairs if b in after]
    if pairs:
        lines += ["", "## SME mask ablation after training: both time steps / the older one (paired by seed)", "",
                  "| measure | " + " | ".join(SCHEDULES) + " |", "|---|" + "---|" * len(SCHEDULES)]
        for measure in sorted({a.measure for a, _ in pairs}):
            cells = []
            for s in SCHEDULES:
                hit = [(a, b) for a, b in pairs if a.measure == measure and a.schedule == s]
                cells.append(estimate_text(compare(after, Claim(hit[0][1], hit[0][0]))) if hit else "—")
            lines.append(f"| {measure} | " + " | ".join(cells) + " |")
    return lines


def read_seeds_csv(path: Path) -> tuple[dict[Cell, dict[int, float]], dict[Cell, dict[int, float]]]:
    """(window means, after-training values) as written to a ``seeds.csv`` by :func:`write`."""
    values: dict[Cell, dict[int, float]] = {}
    after: dict[Cell, dict[int, float]] = {}
    with path.open(newline="") as f:
        for row in csv.DictReader(f):
            cell = Cell(row["schedule"], row["measure"], row["modality"], row["window"])
            (after if row["window"] == "after" else values).setdefault(cell, {})[int(row["seed"])] = float(row["value"])
    return values, after


def write(study: Study, out: Path, earlier: Path | None = None) -> None:
    """seeds.csv, findings.md and cells.md of the study's *finished* runs (those with eval.json).

    ``earlier``: a seeds.csv of the same study whose schedules are not among these runs (their run
    folders were trained in an earlier session and are gone): its rows join the tables as they are."""
    out.mkdir(parents=True, exist_ok=True)
    done = {key for key, run in study.runs.items() if (run / "eval.json").is_file()}
    study.records = [r for r in study.records if (r["schedule"], r["seed"]) in done]
    values = per_seed(study)
    after = after_values(study)
    if earlier is not None:
        here = {schedule for schedule, _ in done}
        old_values, old_after = read_seeds_csv(earlier)
        values.update({c: v for c, v in old_values.items() if c.schedule not in here})
        after.update({c: v for c, v in old_after.items() if c.schedule not in here})
        done |= {(c.schedule, seed) for c, seeds in old_after.items() if c.schedule not in here for seed in seeds}
    with (out / "seeds.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["schedule", "seed", "window", "measure", "modality", "value"])
        for cell, seeds in sorted({**values, **after}.items(), key=lambda kv: (kv[0].schedule, kv[0].window,
                                                                               kv[0].measure, kv[0].modality)):
            for seed, v in sorted(seeds.items()):
                w.writerow([cell.schedule, seed, cell.window, cell.measure, cell.modality, repr(v)])

    n_runs = {s: sum(1 for label, _ in done if label == s) for s in SCHEDULES}
    training = sum(1 for key in study.runs if key not in done)
    lines = [f"# Langer et al.'s findings on {len(done)} finished runs "
             f"({', '.join(f'{s} {n_runs[s]}' for s in SCHEDULES)}), {study.epochs} epochs"
             + (f"; {training} runs not finished (not in these tables)" if training else ""), "",
             "Paired by seed; ratio of geometric means (or difference) with its 95 % t interval over seeds; "
             "`holds` when the interval lies on the finding's side. Windows: final = epochs "
             f"{0.875 * study.epochs:g}–{study.epochs}, pre = {0.75 * study.epochs:g}–{0.875 * study.epochs:g}.", "",
             "Detectable: the ratio (or difference) a paired t-test detects with 80 % power at this n and "
             "the measured spread of the per-seed differences.", "",
             "| finding | comparison (left vs right) | n | estimate [95 %] | detectable | verdict |",
             "|---|---|---|---|---|---|"]
    summary = []
    for title, claims in FINDINGS:
        results = [(c, compare(values, c)) for c in claims()]
        verdicts = {r["verdict"] for _, r in results}
        overall = "holds" if verdicts == {"holds"} else ("reversed" if "reversed" in verdicts else
                                                         "not distinguished" if "not distinguished" in verdicts else
                                                         ", ".join(sorted(verdicts)))
        summary.append((title, overall, sum(r["verdict"] == "holds" for _, r in results), len(results)))
        for i, (c, r) in enumerate(results):
            op = "<" if c.less else ">"
            lines.append(f"| {title if i == 0 else ''} | {c.left.label()} {op} {c.right.label()} | {r['n']} | "
                         f"{estimate_text(r)} | {detectable_text(r)} | {r['verdict']} |")
    lines += ["", "## Ratios the paper says are near 1 (final window)", "",
              "| quantity | n | ratio [95 %] |", "|---|---|---|"]
    for left, right in COINCIDE:
        r = compare(values, Claim(left, right))
        lines.append(f"| {left.label()} / {right.label()} | {r['n']} | {estimate_text(r)} |")
    lines += ["", "## Summary", "", "| finding | verdict | claims that hold |", "|---|---|---|"]
    lines += [f"| {t} | **{v}** | {k} of {n} |" for t, v, k, n in summary]
    lines += after_sections(after)
    (out / "findings.md").write_text("\n".join(lines) + "\n")

    cells = ["# Medians over seeds, 95 % bootstrap interval (final window)", "",
             "| measure | modality | " + " | ".join(SCHEDULES) + " |", "|---|---|" + "---|" * len(SCHEDULES)]
    keys = sorted({(c.measure, c.modality) for c in values if c.window == "final"})
    for measure, modality in keys:
        row = []
        for s in SCHEDULES:
            v = values.get(Cell(s, measure, modality))
            if not v:
                row.append("—")
                continue
            med, lo, hi = bootstrap_median(np.array(list(v.values())))
            row.append(f"{fmt(med, 4)} [{fmt(lo, 3)}, {fmt(hi, 3)}]")
        cells.append(f"| {measure} | {modality} | " + " | ".join(row) + " |")
    (out / "cells.md").write_text("\n".join(cells) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs_dir", type=Path)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "multimodal")
    ap.add_argument("--earlier", type=Path, help="a seeds.csv holding schedules whose run folders are gone")
    args = ap.parse_args()
    runs = sorted(p for p in args.runs_dir.iterdir() if (p / "config.yaml").is_file())
    study = load_study(runs)
    write(study, args.out, args.earlier)
    print((args.out / "findings.md").read_text())


if __name__ == "__main__":
    main()
