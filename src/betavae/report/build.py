"""The per-run report: ``RUN_DIR/report.html`` and ``RUN_DIR/report.md`` with figures in
``RUN_DIR/report/``.

Built only from files on disk, so it works for a run still training (what exists so far) and for
a damaged run folder: every missing or unreadable file becomes a note on the page, never an
exception. Figures that need the model (posterior statistics, reconstructions, traversals) are
drawn when ``weights.safetensors`` loads; the rest needs only ``metrics.jsonl`` and the config.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from betavae.errors import BetavaeError
from betavae.experiments.rundir import now
from betavae.experiments.summary import run_status
from betavae.report.configs import config_diff
from betavae.report.inputs import RunFiles, is_number, read_run_files
from betavae.report.render import write_pages
from betavae.report.sections import SectionOptions, sections_for
from betavae.viz import figures as F

log = logging.getLogger(__name__)

REPORT_DIR = "report"
Progress = Callable[[str], None]

#: Final-figure rows of the summary table: (metrics key, label, unit).
SUMMARY_KEYS = (
    ("loss", "total loss", "nats / image"),
    ("recon", "reconstruction NLL", "nats / image"),
    ("kl", "KL", "nats / image"),
    ("beta", "β_t (γ_t for capacity)", "weight"),
    ("beta_norm", "β normalised (β·D/N_x)", "weight"),
    ("capacity", "C_t", "nats"),
    ("lr", "learning rate", ""),
    ("images_per_s", "throughput", "images / s"),
)


@dataclass
class Figure:
    """src: path relative to the page; title; caption (what the figure shows)."""

    src: str
    title: str
    caption: str


@dataclass
class Table:
    """A table a section adds: column headers, rows of cells, title and caption."""

    title: str
    columns: list[str]
    rows: list[list[Any]]
    caption: str = ""


@dataclass
class Builder:
    """Collects figures and notes while drawing; each drawing step is isolated by :meth:`attempt`."""

    run_dir: Path
    files: RunFiles
    progress: Progress | None = None
    notes: list[str] = field(default_factory=list)
    #: what a section found worth saying at the top of the report (not failures: those are notes)
    findings: list[str] = field(default_factory=list)
    sections: dict[str, list[Figure | Table]] = field(default_factory=dict)
    #: per-latent statistics of an encoded batch, when a section computed them (the latent table)
    stats: dict[str, Any] | None = None
    #: the folder (below ``run_dir``) figures are drawn into: ``report``, or ``index`` for an index
    figures: str = REPORT_DIR

    @property
    def fig_dir(self) -> Path:
        return self.run_dir / self.figures

    def say(self, message: str) -> None:
        if self.progress is not None:
            self.progress(message)

    def attempt(self, what: str, fn: Callable[[], Any]) -> Any:
        """Run ``fn``; on failure add a note (a BetavaeError's message, or the exception's) and return None."""
        try:
            return fn()
        except BetavaeError as exc:
            self.notes.append(f"{what}: {exc}")
        except Exception as exc:  # a report must not fail on one figure; the log keeps the traceback
            log.exception("report: %s failed", what)
            self.notes.append(f"{what} could not be drawn ({type(exc).__name__}: {exc})")
        return None

    def add(self, section: str, path: Path | None, title: str, caption: str) -> None:
        if path is not None:
            rel = path.relative_to(self.run_dir).as_posix()
            self.sections.setdefault(section, []).append(Figure(rel, title, caption))

    def add_table(self, section: str, title: str, columns: list[str], rows: list[list[Any]],
                  caption: str = "") -> None:
        if rows:
            self.sections.setdefault(section, []).append(Table(title, list(columns), [list(r) for r in rows], caption))


def _metric_figures(b: Builder) -> None:
    rows, config = b.files.rows, b.files.config
    if not any("recon" in r or "kl" in r for r in rows):  # a system logging other terms draws its own
        return
    b.say("curves")
    objective = config.objective.kind if config is not None else "beta"
    b.add("Training", b.attempt("curves", lambda: F.plot_curves(rows, b.fig_dir / "curves.png", objective)),
          "Training curves", "Reconstruction NLL, KL and total loss per image against the step (batch means "
          "over each logging window); the KL weight β_t (γ_t) on the right axis; C_t on the KL axis.")
    steps, kl = F.kl_matrix(rows)
    if kl.size:
        b.add("Training", b.attempt("KL heatmap", lambda: F.plot_kl_heatmap(steps, kl, b.fig_dir / "kl_heatmap.png")),
              "KL per latent over training", "KL_j (nats) of each latent at each logged step: latents switch on "
              "one at a time as the pressure on the KL allows.")
    final = b.files.last.get("kl_per_dim")
    if isinstance(final, list) and final and all(is_number(v) for v in final):
        b.add("Training", b.attempt("KL bars", lambda: F.plot_kl_bars(np.asarray(final), b.fig_dir / "kl_bars.png")),
              "KL per latent at the end", f"KL_j at the last logged step; active latents (KL_j > {F.ACTIVE_NATS} "
              "nats) in blue.")


def _summary(files: RunFiles) -> list[tuple[str, Any, str]]:
    last, config = files.last, files.config
    rows: list[tuple[str, Any, str]] = []
    if "step" in last:
        total = f" of {config.train.steps}" if config is not None and config.train.steps else ""
        rows.append(("step", last["step"], f"optimiser steps{total}"))
    if "epoch" in last:
        of = f" of {config.train.epochs}" if config is not None and config.train.epochs else ""
        rows.append(("epoch", last["epoch"], f"epochs completed{of}" if of else "epochs (0-based)"))
    rows += [(label, last[key], unit) for key, label, unit in SUMMARY_KEYS if key in last]
    return rows


def _latents(files: RunFiles, stats: dict[str, Any] | None) -> list[dict[str, Any]]:
    final = files.last.get("kl_per_dim")
    final = final if isinstance(final, list) else []
    d = max(len(final), len(stats["kl"]) if stats else 0)
    out = []
    for j in range(d):
        kl = final[j] if j < len(final) and is_number(final[j]) else None
        row = {"name": f"z{j}", "kl": kl, "active": None if kl is None else kl > F.ACTIVE_NATS}
        if stats:
            row.update(batch_kl=float(stats["kl"][j]), mu_mean=float(stats["mu_mean"][j]),
                       mu_std=float(stats["mu_std"][j]), var=float(stats["var"][j]),
                       information=float(stats["information"][j]))
        out.append(row)
    return out


def _meta_rows(meta: dict[str, Any]) -> list[tuple[str, Any]]:
    from betavae.report.inputs import flatten

    flat = flatten({k: v for k, v in meta.items() if k != "sessions"})
    if isinstance(meta.get("sessions"), list):
        flat["sessions"] = len(meta["sessions"])
    if isinstance(flat.get("argv"), list):
        flat["argv"] = " ".join(str(a) for a in flat["argv"])
    return sorted(flat.items())


def write_report(run_dir: str | Path, n_images: int = 512, n_seeds: int = 3, rng_seed: int = 0,
                 device: str = "cpu", progress: Progress | None = None) -> Path:
    """Write ``report.html``, ``report.md`` and the figures of one run; returns the HTML path.

    n_images: images encoded for posterior statistics, the KL order of traversal rows and the
    seed images (the first ``n_seeds``); rng_seed: seeds that draw. Raises
    :class:`~betavae.errors.BetavaeError` only when ``run_dir`` is not a folder.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise BetavaeError(f"{run_dir} is not a folder; give a run folder (runs/<name>-<hash>-s<seed>)")
    files = read_run_files(run_dir)
    b = Builder(run_dir, files, progress, notes=list(files.notes))
    b.fig_dir.mkdir(exist_ok=True)
    _metric_figures(b)
    options = SectionOptions(n_images=n_images, n_seeds=n_seeds, rng_seed=rng_seed, device=device)
    task = files.config.model.task if files.config is not None else "image"
    for section in sections_for(task):
        b.attempt(f"the {section.__name__.replace('_', ' ')} section", lambda s=section: s(b, options))
    stats = b.stats
    latents = _latents(files, stats)
    config = files.config
    status = run_status(run_dir, files.meta) if files.meta else "unknown"
    context = {
        "title": run_dir.name,
        "run_dir": str(run_dir.resolve()),
        "generated": now(),
        "status": status,
        "running": status in ("running", "created"),
        "resume": f"bvae train --resume {run_dir}" if status == "interrupted" else None,
        "notes": b.notes,
        "findings": b.findings,
        "summary": _summary(files),
        "latents": latents,
        "n_active": sum(1 for r in latents if r["active"]),
        "n_informative": sum(1 for r in latents if r.get("information", 0.0) > F.ACTIVE_NATS) if stats else None,
        "batch_n": stats["n"] if stats else None,
        "eval": sorted(files.eval_values.items()) if files.eval_values else [],
        "eval_present": files.eval_values is not None,
        "eval_intervals": files.eval_intervals,
        "sections": b.sections,
        "config_yaml": config.to_yaml() if config is not None else None,
        "diff": b.attempt("config difference", lambda: config_diff(config)) if config is not None else None,
        "meta": _meta_rows(files.meta),
    }
    b.say("writing pages")
    return write_pages(run_dir / "report.html", run_dir / "report.md", "run", context)
