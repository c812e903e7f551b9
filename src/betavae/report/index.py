"""The multi-run index: ``RUNS_DIR/index.html`` and ``index.md`` with figures in ``RUNS_DIR/index/``.

A compact sortable table of runs (run linked to its report, status, objective, seed,
hyper-parameters, final reconstruction / KL / active latents and the key disentanglement metrics
of :data:`KEY_METRICS`) that fits the page, a details table with everything else (step, loss,
every other eval metric), each metric against every hyper-parameter that varies (β; γ and C_max
for capacity runs) with seeds as separate points and only the panels some run has a value for,
and the reconstruction–disentanglement trade-off: reconstruction against the first
disentanglement metric found (:data:`TRADEOFF_KEYS`), or against the KL (the rate) when no run
has one. Those figures are the image VAEs'; runs of other tasks get the index sections their
system registers (:func:`betavae.report.sections.index_section`, e.g. the vsa grid's Good/Bad table).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from betavae.errors import BetavaeError
from betavae.experiments.rundir import now
from betavae.report.configs import hyper_label
from betavae.report.inputs import is_number
from betavae.report.render import write_pages
from betavae.report.rows import find_runs, run_row

log = logging.getLogger(__name__)

INDEX_DIR = "index"
#: Disentanglement metrics tried, in order, for the trade-off plot's y axis.
TRADEOFF_KEYS = ("mig", "dci.disentanglement", "sap", "modularity", "factor_vae.eval_accuracy",
                 "beta_vae.eval_accuracy", "irs")
#: Final figures from metrics.jsonl shown and plotted for every run: (key, label).
BASE_METRICS = (("recon", "reconstruction NLL (nats / image)"), ("kl", "KL (nats / image)"),
                ("loss", "total loss (nats / image)"), ("active", "active latents (KL_j > 0.01 nats)"))
#: Hyper-parameter columns first in this order (others follow alphabetically).
HYPER_ORDER = ("beta", "gamma", "capacity")
#: Columns of the compact runs table: final figures (key, header, tooltip) ...
MAIN_BASE = (("recon", "recon", "final reconstruction NLL (nats / image)"),
             ("kl", "KL", "final KL (nats / image)"), ("active", "active", "active latents (KL_j > 0.01 nats)"))
#: ... and the eval metrics (key, header) shown there when some run has them; the rest go to the
#: details table. "info" (`bvae eval`'s posterior metric: latents whose information bound
#: exceeds 0.01 nats) stands beside "active", which counts KL that can be a shared offset or width.
KEY_METRICS = (("posterior.informative_latents", "info"), ("mig", "MIG"), ("dci.disentanglement", "DCI D"),
               ("factor_vae.eval_accuracy", "FactorVAE"),
               ("beta_vae.eval_accuracy", "β-VAE"), ("sap", "SAP"))


def plotted_hypers(rows: list[dict[str, Any]]) -> list[str]:
    """Hyper-parameters that take more than one value, plus, for runs that have none of those,
    their first hyper-parameter when at least two such runs share it (their seeds side by side).

    A lone run whose hyper-parameters are all fixed gets no such figure (every panel would be a
    single point); it still appears in the table and the trade-off plot.
    """
    names: list[str] = []
    for r in rows:
        names += [n for n in r["hyper"] if n not in names]
    plotted = [n for n in names if len({r["hyper"].get(n) for r in rows if n in r["hyper"]}) > 1]
    alone = [next(iter(r["hyper"])) for r in rows if r["hyper"] and not any(n in plotted for n in r["hyper"])]
    return plotted + [n for n in dict.fromkeys(alone) if alone.count(n) > 1]


def hyper_points(rows: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    """The points of the figure against hyper-parameter ``name``: one per run that has it, with
    ``x`` (its value), ``seed``, the final figures and the eval metrics by key."""
    return [{**r["eval"], **r, "x": r["hyper"][name]} for r in rows if name in r["hyper"]]


def _figures(rows: list[dict[str, Any]], eval_keys: list[str], fig_dir: Path) -> tuple[list[dict[str, str]], list[str]]:
    from betavae.viz.sweep import plot_metrics_vs_hyper, plot_tradeoff

    figs, notes = [], []
    if rows and not any(is_number(r.get(k)) for r in rows for k in ("recon", "kl")):
        return [], ["the runs log no reconstruction NLL or KL per image (runs of another system): no "
                    "hyper-parameter or trade-off plots"]
    metrics = [(k, label) for k, label in BASE_METRICS] + [(k, k) for k in eval_keys]
    hypers = plotted_hypers(rows)
    if not any(r["hyper"] for r in rows):
        notes.append("no run has a readable config: no hyper-parameter plots")
    alone = [r["run"] for r in rows if r["hyper"] and not any(n in hypers for n in r["hyper"])]
    if alone:
        notes.append(f"no hyper-parameter of {', '.join(alone)} varies across runs: "
                     "compared in the table and the trade-off plot only")
    for name in hypers:
        path = plot_metrics_vs_hyper(hyper_points(rows, name), metrics, hyper_label(name),
                                     fig_dir / f"metrics_vs_{name}.png")
        figs.append({"src": f"{INDEX_DIR}/{path.name}", "title": f"Metrics against {hyper_label(name)}",
                     "caption": f"Each panel: one final figure or eval metric against {hyper_label(name)}; "
                                "one point per run, seeds in their own colour and marker; dashed: mean over seeds."})
    ykey = next((k for k in TRADEOFF_KEYS if any(is_number(r["eval"].get(k)) for r in rows)), None)
    ylabel = ykey if ykey else "KL (nats / image): the rate"
    if ykey is None:
        notes.append("no run has a disentanglement metric in eval.json: the trade-off plot shows "
                     "reconstruction against the KL (rate–distortion) instead")
    hyper = hypers[0] if hypers else next((n for r in rows for n in r["hyper"]), "beta")
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
    rows = [run_row(run, runs_dir) for run in runs]
    eval_keys: list[str] = []
    for r in rows:
        eval_keys += [k for k, v in r["eval"].items() if k not in eval_keys and is_number(v)]
    hyper_names = [n for n in HYPER_ORDER if any(n in r["hyper"] for r in rows)]
    hyper_names += sorted({n for r in rows for n in r["hyper"]} - set(hyper_names))
    key_metrics = [(k, label) for k, label in KEY_METRICS if k in eval_keys]
    detail_keys = [k for k in eval_keys if k not in dict(key_metrics)]
    if progress is not None:
        progress("index figures")
    image_rows = [r for r in rows if r["task"] in ("image", None)]  # None: unreadable config
    try:
        figs, fig_notes = _figures(image_rows, eval_keys, runs_dir / INDEX_DIR) if image_rows else ([], [])
    except Exception as exc:  # the table must still be written; the log keeps the traceback
        log.exception("index figures failed")
        figs, fig_notes = [], [f"index figures could not be drawn ({type(exc).__name__}: {exc})"]
    else:  # a figure of an earlier index whose hyper-parameter no longer applies would linger
        drawn = {Path(f["src"]).name for f in figs}
        for stale in (runs_dir / INDEX_DIR).glob("metrics_vs_*.png"):
            if stale.name not in drawn:
                stale.unlink()
    notes += fig_notes
    sections = _task_sections(runs_dir, rows, notes)
    from betavae.report.lessons import load_lessons

    lessons, lesson_notes = load_lessons(runs_dir, image_rows) if image_rows else (None, [])
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
        "main_base": MAIN_BASE,
        "key_metrics": key_metrics,
        "detail_keys": detail_keys,
        "figures": figs,
        "sections": sections,
        "notes": notes,
        "lessons": lessons,
    }
    return write_pages(runs_dir / "index.html", runs_dir / "index.md", "index", context)


def _task_sections(runs_dir: Path, rows: list[dict[str, Any]], notes: list[str]) -> dict[str, list[Any]]:
    """The index sections registered for the tasks of ``rows`` (each given its task's rows), in
    order of first appearance; a failing section becomes a note."""
    from betavae.report.build import Builder
    from betavae.report.inputs import RunFiles
    from betavae.report.sections import index_sections_for

    b = Builder(runs_dir, RunFiles(runs_dir), notes=notes, figures=INDEX_DIR)
    for task in dict.fromkeys(r["task"] for r in rows if r["task"] is not None):
        mine = [r for r in rows if r["task"] == task]
        for section in index_sections_for(task):
            b.attempt(f"the {section.__name__.replace('_', ' ')} section", lambda s=section, m=mine: s(b, m))
    return b.sections
