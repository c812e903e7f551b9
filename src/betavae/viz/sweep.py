"""Figures over several runs: each metric against a hyper-parameter (seeds as separate points)
and the reconstruction–disentanglement trade-off (Higgins et al. 2017, Fig. 6; Locatello et al.
2019)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from betavae.viz.figures import plain, pyplot, save_small

MARKERS = "osD^v<>pP*Xh"
#: Colour of runs without the hyper-parameter that colours the trade-off plot.
GREY = "0.6"
#: Runs are named in the trade-off plot when there are at most this many.
LABEL_RUNS = 12


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _seed_style(seeds: Sequence[Any]) -> dict[Any, tuple[str, str]]:
    """(colour, marker) per distinct seed, in sorted order."""
    return {s: (f"C{i % 10}", MARKERS[i % len(MARKERS)]) for i, s in enumerate(sorted(set(seeds), key=str))}


def _log_if_wide(ax: Any, x: np.ndarray) -> None:
    if len(x) and x.min() > 0 and x.max() / x.min() >= 10:
        ax.set_xscale("log")


def applicable_metrics(points: Sequence[dict[str, Any]],
                       metrics: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """The (key, label) pairs of ``metrics`` that at least one point has a finite value for, at a
    finite ``x``: the panels worth drawing (the rest would be empty)."""
    return [(key, label) for key, label in metrics
            if any(_is_num(p.get(key)) and _is_num(p.get("x")) for p in points)]


def metrics_vs_hyper_figure(points: Sequence[dict[str, Any]], metrics: Sequence[tuple[str, str]],
                            xlabel: str) -> Any:
    """The figure of :func:`plot_metrics_vs_hyper`: one panel per applicable metric
    (:func:`applicable_metrics`), 3 panels a row; unused grid cells are switched off."""
    plt = pyplot()
    metrics = applicable_metrics(points, metrics)
    n = max(1, len(metrics))
    cols = min(3, n)
    nrows = math.ceil(n / cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(3.6 * cols, 2.6 * nrows + 0.6), squeeze=False,
                             layout="constrained")
    style = _seed_style([p["seed"] for p in points])
    for ax, (key, label) in zip(axes.flat, metrics, strict=False):
        have = [p for p in points if _is_num(p.get(key)) and _is_num(p.get("x"))]
        for seed, (colour, marker) in style.items():
            mine = [p for p in have if p["seed"] == seed]
            if mine:
                ax.scatter([p["x"] for p in mine], [p[key] for p in mine], color=colour, marker=marker,
                           s=28, label=f"seed {seed}", zorder=3)
        xs = np.asarray(sorted({p["x"] for p in have}), float)
        if len(xs) > 1:
            means = [np.mean([p[key] for p in have if p["x"] == x]) for x in xs]
            ax.plot(xs, means, color="0.5", ls="--", lw=1, label="mean over seeds")
        _log_if_wide(ax, xs)
        if len(xs) <= 8:
            ax.set_xticks(xs, [f"{x:g}" for x in xs])
            ax.minorticks_off()
        ax.set_xlabel(plain(xlabel))
        ax.set_ylabel(plain(label), fontsize=8)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(metrics):]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="outside upper right", fontsize=7, ncol=min(4, len(labels)))
    fig.suptitle(f"Final figures and metrics against {plain(xlabel)} (one point per run)", fontsize=9,
                 x=0.02, ha="left")
    return fig


def plot_metrics_vs_hyper(points: Sequence[dict[str, Any]], metrics: Sequence[tuple[str, str]],
                          xlabel: str, out: str | Path) -> Path:
    """One panel per metric that some point has a value for: its value against the hyper-parameter,
    one point per run.

    points: dicts with ``x`` (the hyper-parameter), ``seed`` and metric values by key; metrics:
    (key, axis label) pairs. Seeds get their own colour and marker; a dashed line joins the mean
    over seeds at each x.
    """
    return save_small(metrics_vs_hyper_figure(points, metrics, xlabel), out)


def tradeoff_figure(points: Sequence[dict[str, Any]], ykey: str, ylabel: str, hyper_label: str) -> Any:
    """The figure of :func:`plot_tradeoff`: one marker per point with both values (seeds by marker
    shape), coloured by ``x``; points without ``x`` are grey, not dropped."""
    import matplotlib.colors as mcolors
    from matplotlib.cm import ScalarMappable
    from matplotlib.lines import Line2D

    plt = pyplot()
    have = [p for p in points if _is_num(p.get("recon")) and _is_num(p.get(ykey))]
    fig, ax = plt.subplots(figsize=(6.4, 4.4), layout="constrained")
    hx = np.asarray([p["x"] if _is_num(p.get("x")) else np.nan for p in have], float)
    values = np.unique(hx[np.isfinite(hx)])
    cmap, norm = plt.get_cmap("viridis"), None
    if len(values) > 1:
        lo, hi = values[0], values[-1]
        norm = mcolors.LogNorm(lo, hi) if lo > 0 and hi / lo >= 10 else mcolors.Normalize(lo, hi)
    grey = mcolors.to_rgba(GREY)
    colours = [grey if not np.isfinite(h) else cmap(norm(h)) if norm is not None else mcolors.to_rgba("C0")
               for h in hx]
    style = _seed_style([p["seed"] for p in have])
    handles = []
    for seed, (_, marker) in style.items():
        idx = [i for i, p in enumerate(have) if p["seed"] == seed]
        ax.scatter([have[i]["recon"] for i in idx], [have[i][ykey] for i in idx], color=[colours[i] for i in idx],
                   marker=marker, s=44, edgecolors="k", linewidths=0.5, zorder=3)
        handles.append(Line2D([], [], ls="", marker=marker, mfc="white", mec="k", label=f"seed {seed}"))
    if norm is not None:
        fig.colorbar(ScalarMappable(norm, cmap), ax=ax, label=plain(hyper_label))
    elif len(values):
        handles.append(Line2D([], [], ls="", marker="s", color="C0", label=f"{plain(hyper_label)} = {values[0]:g}"))
    if np.isnan(hx).any():
        handles.append(Line2D([], [], ls="", marker="s", color=GREY, label=f"{plain(hyper_label)} not set"))
    if len(have) <= LABEL_RUNS:
        for p in have:
            ax.annotate(plain(p.get("run", "")), (p["recon"], p[ykey]), xytext=(5, 4), textcoords="offset points",
                        fontsize=6.5, color="0.25")
        ax.margins(0.2)
    if not have:
        ax.text(0.5, 0.5, "no runs with both values", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("final reconstruction NLL (nats / image, lower is better)")
    ax.set_ylabel(plain(ylabel))
    ax.set_title("Reconstruction–disentanglement trade-off", fontsize=9)
    ax.grid(alpha=0.3)
    if handles:
        ax.legend(handles=handles, fontsize=7)
    return fig


def plot_tradeoff(points: Sequence[dict[str, Any]], ykey: str, ylabel: str, hyper_label: str,
                  out: str | Path) -> Path:
    """Reconstruction NLL (x, nats / image; lower is better) against ``ykey`` (y), one point per run
    (named when there are at most :data:`LABEL_RUNS`), coloured by the hyper-parameter ``x`` (log
    colour scale when it spans a factor ≥ 10; grey: a run without it)."""
    return save_small(tradeoff_figure(points, ykey, ylabel, hyper_label), out)
