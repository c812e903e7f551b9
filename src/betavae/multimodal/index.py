"""The findings of a multimodal study for the sweep's index (Langer et al. 2024, §3): figures
and tables over schedules, with Student-t intervals over seeds.

:func:`index_section` reads the study's run folders (:func:`betavae.multimodal.study.load_study`),
draws the figures of :mod:`betavae.multimodal.figures` into the index folder and returns the
tables: the training terms and baseline in Langer's two windows, every measure per modality and
schedule in the final window, and the test protocols' normalised errors.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from betavae.multimodal import figures as F
from betavae.multimodal.study import Study, load_study
from betavae.multimodal.summary import WINDOWS, modalities_in, window_intervals
from betavae.report.render import fmt

OVERALL = (("prediction_error", "prediction error"), ("train_recon", "reconstruction loss"),
           ("train_kl", "latent loss (KL)"), ("train_loss", "loss"), ("baseline_all", "baseline B^all"))
PER_MODALITY = ("sme_mod", "sme_all", "lop_mod", "lop_all", "baseline_mod")


def interval_cell(stats: dict[str, Any] | None) -> str:
    """``mean [low, high]`` (4 significant digits); the mean alone for one seed; — if missing."""
    if stats is None:
        return "—"
    if stats["low"] is None:
        return fmt(stats["mean"], 4)
    return f"{fmt(stats['mean'], 4)} [{fmt(stats['low'], 4)}, {fmt(stats['high'], 4)}]"


def window_bounds(window: str, epochs: int) -> str:
    lo, hi = WINDOWS[window]
    return f"{lo * epochs:g}–{min(hi, 1.0) * epochs:g}"


def findings_tables(study: Study) -> list[dict[str, Any]]:
    """The study's tables: {title, columns, rows, caption} each (cells are strings)."""
    scheds, mods, e = study.schedules, modalities_in(study.records), study.epochs
    n = {s: sum(1 for label, _ in study.runs if label == s) for s in scheds}
    tables = []
    for window in ("final", "pre"):
        t = window_intervals(study.records, e, window)
        tables.append({"title": f"{window} window (epochs {window_bounds(window, e)}): training terms and baseline",
                       "columns": ["schedule", "seeds", *(label for _, label in OVERALL)],
                       "rows": [[s, n[s], *(interval_cell(t.get((s, k, "all"))) for k, _ in OVERALL)] for s in scheds],
                       "caption": "Per seed, the mean of its checkpoints in the window; then the mean over seeds "
                                  "and its 95 % Student-t interval [low, high]. Nats; prediction error in the "
                                  "data's units."})
    t = window_intervals(study.records, e, "final")
    for measure in PER_MODALITY:
        tables.append({"title": f"{measure} per modality (final window)", "columns": ["schedule", *mods],
                       "rows": [[s, *(interval_cell(t.get((s, measure, m))) for m in mods)] for s in scheds],
                       "caption": "Mean over seeds of the final-window average [95 % Student-t interval], nats."})
    if study.protocols:
        keys = [k for k in study.protocols[0] if ".nrmse" in k]
        from betavae.report.lessons import t_interval

        rows = []
        for key in keys:
            cells = []
            for s in scheds:
                vals = [p[key] for p in study.protocols if p["schedule"] == s and p.get(key) is not None]
                cells.append(interval_cell(dict(zip(("mean", "low", "high"), t_interval(vals), strict=True)))
                             if vals else "—")
            if any(c != "—" for c in cells):
                rows.append([key, *cells])
        tables.append({"title": "Test protocols after training: normalised RMSE", "columns": ["test.metric.modality", *scheds],
                       "rows": rows,
                       "caption": "RMSE on the muted columns (rollout j: on the t block, against row k+j−1) divided "
                                  "by the RMS deviation of those columns from their means: 1 = predicting the mean, "
                                  "0 = exact. Mean over seeds [95 % Student-t interval]; test rows 100–1099."})
    return tables


def index_section(run_dirs: Sequence[Path], rows: Sequence[dict[str, Any]], fig_dir: Path) -> dict[str, Any]:
    """Figures (written to ``fig_dir``, ``src`` relative to the index page), tables and notes of
    the multimodal study in ``run_dirs`` (``rows``: the index rows, in the same order)."""
    study = load_study(run_dirs)
    notes = []
    missing = [r["run"] for r in rows if not r["eval"]]
    if missing:
        notes.append(f"{len(missing)} run(s) have no eval.json yet (no protocols): {', '.join(missing[:5])}")
    figs = []
    rel = f"{fig_dir.name}/"
    if study.histories:
        p = F.training_figure(study.records, study.histories, fig_dir / "mm_training.png")
        figs.append({"src": rel + p.name, "title": "Training per schedule", "caption":
                     "Prediction error (at the evaluation epochs), reconstruction loss, KL, loss and α per epoch; "
                     "mean over seeds, band = min … max."})
    if any(r["measure"] == "baseline_all" for r in study.records):
        p = F.baseline_figure(study.records, fig_dir / "mm_baseline.png")
        figs.append({"src": rel + p.name, "title": "Baseline B^all over training", "caption":
                     "KL of the reconstruction of a fully muted input from that of the full input; mean over "
                     "seeds, band = min … max (symlog)."})
        p = F.measures_figure(study.records, study.epochs, fig_dir / "mm_measures.png")
        figs.append({"src": rel + p.name, "title": "Measures per modality and schedule (final window)", "caption":
                     "SME and LoP, mean over seeds of the final-window average; bars: min … max over seeds."})
        p = F.measure_curves_figure(study.records, fig_dir / "mm_measure_curves.png")
        figs.append({"src": rel + p.name, "title": "Measures through training", "caption":
                     "SME and LoP per modality against the epoch: the median over seeds on a log scale."})
    return {"figures": figs, "tables": findings_tables(study), "notes": notes}
