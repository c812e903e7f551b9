"""The multi-run index: ``RUNS_DIR/index.html`` and ``index.md`` with figures in ``RUNS_DIR/index/``.

A sortable table of runs (status, seed, hyper-parameters, final figures, every eval metric, a
link to each run's report), each metric against every hyper-parameter that varies (β; γ and C_max
for capacity runs) with seeds as separate points, and the reconstruction–disentanglement
trade-off: reconstruction against the first disentanglement metric found (:data:`TRADEOFF_KEYS`),
or against the KL (the rate) when no run has one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from betavae.errors import BetavaeError
from betavae.experiments.rundir import now
from betavae.experiments.summary import summarise_run
from betavae.report.configs import hyper_label, hyper_params
from betavae.report.inputs import is_number, is_run_dir, read_eval, read_run_files
from betavae.report.render import write_pages

log = logging.getLogger(__name__)

INDEX_DIR = "index"
#: Disentanglement metrics tried, in order, for the trade-off plot's y axis.
TRADEOFF_KEYS = ("mig", "dci.disentanglement", "sap", "modularity", "factor_vae.eval_accuracy",
                 "beta_vae.eval_accuracy", "irs")
#: Final figures from metrics.jsonl shown and plotted for every run: (key, label).
BASE_METRICS = (("recon", "reconstruction NLL (nats / image)"), ("kl", "KL (nats / image)"),
                ("loss", "total loss (nats / image)"), ("active", "active latents (KL_j > 0.01 nats)"))


def find_runs(runs_dir: Path) -> list[Path]:
    """Sub-folders of ``runs_dir`` that hold run files, sorted by name."""
    return [p for p in sorted(runs_dir.iterdir()) if is_run_dir(p)] if runs_dir.is_dir() else []


def run_row(run_dir: Path) -> dict[str, Any]:
    """One index row: summary figures, seed, objective, hyper-parameters and flat eval values."""
    files = read_run_files(run_dir)
    row = summarise_run(run_dir)
    row.update(seed=None, objective=None, hyper={}, eval=read_eval(run_dir / "eval.json")[0] or {},
               report=f"{run_dir.name}/report.html" if (run_dir / "report.html").is_file() else None,
               missing=len(files.notes))
    if files.config is not None:
        row.update(seed=files.config.seed, objective=files.config.objective.kind,
                   hyper=hyper_params(files.config))
    return row


def plotted_hypers(rows: list[dict[str, Any]]) -> list[str]:
    """Hyper-parameters that take more than one value, plus the first one of every run that has
    none of those (so each run appears in at least one plot)."""
    names: list[str] = []
    for r in rows:
        names += [n for n in r["hyper"] if n not in names]
    plotted = [n for n in names if len({r["hyper"].get(n) for r in rows if n in r["hyper"]}) > 1]
    for r in rows:
        if r["hyper"] and not any(n in plotted for n in r["hyper"]):
            plotted.append(next(iter(r["hyper"])))
    return plotted


def _figures(rows: list[dict[str, Any]], eval_keys: list[str], fig_dir: Path) -> tuple[list[dict[str, str]], list[str]]:
    from betavae.viz.sweep import plot_metrics_vs_hyper, plot_tradeoff

    figs, notes = [], []
    metrics = [(k, label) for k, label in BASE_METRICS] + [(k, k) for k in eval_keys]
    hypers = plotted_hypers(rows)
    if not hypers:
        notes.append("no run has a readable config: no hyper-parameter plots")
    for name in hypers:
        points = [{"x": r["hyper"][name], "seed": r["seed"], **r["eval"], **r} for r in rows if name in r["hyper"]]
        path = plot_metrics_vs_hyper(points, metrics, hyper_label(name), fig_dir / f"metrics_vs_{name}.png")
        figs.append({"src": f"{INDEX_DIR}/{path.name}", "title": f"Metrics against {hyper_label(name)}",
                     "caption": f"Each panel: one final figure or eval metric against {hyper_label(name)}; "
                                "one point per run, seeds in their own colour and marker; dashed: mean over seeds."})
    ykey = next((k for k in TRADEOFF_KEYS if any(is_number(r["eval"].get(k)) for r in rows)), None)
    ylabel = ykey if ykey else "KL (nats / image): the rate"
    if ykey is None:
        notes.append("no run has a disentanglement metric in eval.json: the trade-off plot shows "
                     "reconstruction against the KL (rate–distortion) instead")
    hyper = hypers[0] if hypers else "beta"
    points = [{"x": r["hyper"].get(hyper), "seed": r["seed"], **r, **r["eval"]} for r in rows]
    path = plot_tradeoff(points, ykey or "kl", ylabel, hyper_label(hyper), fig_dir / "tradeoff.png")
    figs.append({"src": f"{INDEX_DIR}/{path.name}", "title": "Reconstruction–disentanglement trade-off",
                 "caption": f"Final reconstruction NLL against {ylabel}, one point per run, coloured by "
                            f"{hyper_label(hyper)}."})
    return figs, notes


def write_index(runs_dir: str | Path, build_runs: bool = False, progress: Callable[[str], None] | None = None,
                **report_options: Any) -> Path:
    """Write ``index.html`` and ``index.md`` for every run folder in ``runs_dir``; returns the HTML path.

    build_runs: first (re)write each run's report with ``write_report(run, **report_options)``.
    Raises :class:`~betavae.errors.BetavaeError` when ``runs_dir`` holds no run folders.
    """
    from betavae.report.build import write_report

    runs_dir = Path(runs_dir)
    runs = find_runs(runs_dir)
    if not runs:
        raise BetavaeError(f"{runs_dir} holds no run folders (sub-folders with config.yaml or metrics.jsonl)")
    notes: list[str] = []
    for i, run in enumerate(runs):
        if build_runs:
            if progress is not None:
                progress(f"[{i + 1}/{len(runs)}] report for {run.name}")
            write_report(run, progress=None, **report_options)
    rows = [run_row(run) for run in runs]
    eval_keys: list[str] = []
    for r in rows:
        eval_keys += [k for k, v in r["eval"].items() if k not in eval_keys and is_number(v)]
    hyper_names = sorted({n for r in rows for n in r["hyper"]})
    if progress is not None:
        progress("index figures")
    try:
        figs, fig_notes = _figures(rows, eval_keys, runs_dir / INDEX_DIR)
    except Exception as exc:  # the table must still be written; the log keeps the traceback
        log.exception("index figures failed")
        figs, fig_notes = [], [f"index figures could not be drawn ({type(exc).__name__}: {exc})"]
    notes += fig_notes
    from betavae.report.lessons import load_lessons

    lessons, lesson_notes = load_lessons(runs_dir, rows)
    notes += lesson_notes
    notes += [f"{r['run']}: {r['missing']} file problem(s); see its report" for r in rows if r["missing"]]
    context = {
        "title": runs_dir.resolve().name,
        "runs_dir": str(runs_dir.resolve()),
        "generated": now(),
        "rows": rows,
        "hyper_names": [(n, hyper_label(n)) for n in hyper_names],
        "base_metrics": BASE_METRICS,
        "eval_keys": eval_keys,
        "figures": figs,
        "notes": notes,
        "lessons": lessons,
    }
    return write_pages(runs_dir / "index.html", runs_dir / "index.md", "index", context)
