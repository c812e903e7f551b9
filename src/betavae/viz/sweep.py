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


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _seed_style(seeds: Sequence[Any]) -> dict[Any, tuple[str, str]]:
    """(colour, marker) per distinct seed, in sorted order."""
    return {s: (f"C{i % 10}", MARKERS[i % len(MARKERS)]) for i, s in enumerate(sorted(set(seeds), key=str))}


def _log_if_wide(ax: Any, x: np.ndarray) -> None:
    if len(x) and x.min() > 0 and x.max() / x.min() >= 10:
        ax.set_xscale("log")


def plot_metrics_vs_hyper(points: Sequence[dict[str, Any]], metrics: Sequence[tuple[str, str]],
                          xlabel: str, out: str | Path) -> Path:
    """One panel per metric: its value against the hyper-parameter, one point per run.

    points: dicts with ``x`` (the hyper-parameter), ``seed`` and metric values by key; metrics:
    (key, axis label) pairs. Seeds get their own colour and marker; a dashed line joins the mean
    over seeds at each x.
    """
    plt = pyplot()
    n = max(1, len(metrics))
    cols = min(3, n)
    nrows = math.ceil(n / cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(3.6 * cols, 2.8 * nrows), squeeze=False)
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
        if 1 < len(xs) <= 8:
            ax.set_xticks(xs, [f"{x:g}" for x in xs])
            ax.minorticks_off()
        ax.set_xlabel(plain(xlabel))
        ax.set_ylabel(plain(label), fontsize=8)
        ax.grid(alpha=0.3)
        if not have:
            ax.text(0.5, 0.5, "no values", ha="center", va="center", transform=ax.transAxes, color="0.5")
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="upper right", fontsize=7, ncol=min(4, len(labels)))
    fig.suptitle(f"Final figures and metrics against {plain(xlabel)} (one point per run)", fontsize=9, x=0.02, ha="left")
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    return save_small(fig, out)


def plot_tradeoff(points: Sequence[dict[str, Any]], ykey: str, ylabel: str, hyper_label: str,
                  out: str | Path) -> Path:
    """Reconstruction NLL (x, nats / image; lower is better) against ``ykey`` (y), one point per run,
    coloured by the hyper-parameter ``x`` (log colour scale when it spans a factor ≥ 10)."""
    import matplotlib.colors as mcolors

    plt = pyplot()
    have = [p for p in points if _is_num(p.get("recon")) and _is_num(p.get(ykey))]
    fig, ax = plt.subplots(figsize=(5.6, 4.0))
    hx = np.asarray([p["x"] if _is_num(p.get("x")) else np.nan for p in have], float)
    finite = hx[np.isfinite(hx)]
    norm = None
    if len(finite):
        lo, hi = finite.min(), finite.max()
        wide = lo > 0 and hi / lo >= 10
        norm = mcolors.LogNorm(lo, hi) if wide else mcolors.Normalize(lo, hi if hi > lo else lo + 1)
    style = _seed_style([p["seed"] for p in have])
    cmap = plt.get_cmap("viridis").with_extremes(bad="0.55")  # grey: runs without this hyper-parameter
    mappable = None
    for seed, (_, marker) in style.items():
        idx = [i for i, p in enumerate(have) if p["seed"] == seed]
        mappable = ax.scatter([have[i]["recon"] for i in idx], [have[i][ykey] for i in idx], c=hx[idx],
                              cmap=cmap, norm=norm, marker=marker, s=40, edgecolors="k",
                              linewidths=0.5, label=f"seed {seed}", zorder=3)
    if mappable is not None and len(finite):
        fig.colorbar(mappable, ax=ax, label=plain(hyper_label) + (" (grey: not set)" if np.isnan(hx).any() else ""))
    if not have:
        ax.text(0.5, 0.5, "no runs with both values", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("final reconstruction NLL (nats / image, lower is better)")
    ax.set_ylabel(plain(ylabel))
    ax.set_title("Reconstruction–disentanglement trade-off", fontsize=9)
    ax.grid(alpha=0.3)
    if have:
        ax.legend(fontsize=7)
    fig.tight_layout()
    return save_small(fig, out)
