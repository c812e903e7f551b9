"""The study's figures (after Langer et al. 2024, Figs. 4–6), matplotlib Agg, written atomically.

- ``training.png``: prediction error, reconstruction loss, latent KL and loss over training,
  one column per schedule (mean over seeds, band = min…max);
- ``baseline.png``: the baseline B^all over training per schedule;
- ``measures.png``: SME^mod, SME^all, LoP^mod, LoP^all per modality and schedule (mean over
  seeds of the final-window average, error bar = min … max over seeds);
- ``measure_curves.png``: SME/LoP per modality over training, one row per schedule (median over
  seeds, log scale: the measures span orders of magnitude).

Every function takes the records of :mod:`betavae.multimodal.study` (one run's, or a study's).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from betavae.multimodal.summary import curves, modalities_in, schedules_in, window_means
from betavae.viz.save import save_figure

MEASURE_TITLES = {"sme_mod": "SME (modality)", "sme_all": "SME (all)", "lop_mod": "LoP (modality)",
                  "lop_all": "LoP (all)"}


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _band(ax, epochs: np.ndarray, mean: np.ndarray, lo: np.ndarray, hi: np.ndarray, label: str | None = None) -> None:
    ax.plot(epochs, mean, lw=1.2, label=label)
    if len(epochs) > 1:
        ax.fill_between(epochs, lo, hi, alpha=0.25, lw=0)


def history_stats(hist: dict[str, np.ndarray], term: str) -> tuple[np.ndarray, ...]:
    """(epochs, mean, min, max over seeds) of a history term (rows, seeds); the epochs are the
    history's ``epoch`` column (1..E when it has none)."""
    v = hist[term]
    epochs = hist["epoch"][:, 0] if "epoch" in hist else np.arange(1, len(v) + 1)
    return epochs, v.mean(1), v.min(1), v.max(1)


def training_figure(records: list[dict], histories: dict[str, dict[str, np.ndarray]], out: Path) -> Path:
    plt = _plt()
    scheds = list(dict.fromkeys([*schedules_in(records), *histories]))  # records: only with measures
    pe = curves(records, "prediction_error")
    rows = [("prediction error", None)] * bool(pe) + [
        ("reconstruction loss", "recon"), ("latent loss (KL)", "kl"), ("loss", "loss"), ("KL weight α", "alpha")]
    fig, axes = plt.subplots(len(rows), len(scheds), figsize=(3.2 * len(scheds), 2.0 * len(rows)),
                             squeeze=False, sharex=True)
    for c, s in enumerate(scheds):
        axes[0, c].set_title(s)
        for r, (name, term) in enumerate(rows):
            ax = axes[r, c]
            if term is None:
                if s in pe:
                    _band(ax, pe[s]["epoch"], pe[s]["mean"], pe[s]["min"], pe[s]["max"])
            else:
                _band(ax, *history_stats(histories[s], term))
            if c == 0:
                ax.set_ylabel(name, fontsize=8)
            ax.tick_params(labelsize=7)
    for ax in axes[-1]:
        ax.set_xlabel("epoch", fontsize=8)
    fig.tight_layout()
    return save_figure(fig, out, dpi=110)


def baseline_figure(records: list[dict], out: Path) -> Path:
    plt = _plt()
    base = curves(records, "baseline_all")
    fig, ax = plt.subplots(figsize=(5.5, 3.2))
    for s, c in base.items():
        _band(ax, c["epoch"], c["mean"], c["min"], c["max"], label=s)
    ax.set_xlabel("epoch")
    ax.set_ylabel("baseline B^all (nats)")
    ax.set_yscale("symlog", linthresh=1e-3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return save_figure(fig, out, dpi=110)


def measures_figure(records: list[dict], epochs: int, out: Path, window: str = "final") -> Path:
    plt = _plt()
    table = window_means(records, epochs, window)
    scheds, mods = schedules_in(records), modalities_in(records)
    fig, axes = plt.subplots(1, len(MEASURE_TITLES), figsize=(4.0 * len(MEASURE_TITLES), 3.2), sharey=True)
    width = 0.8 / max(1, len(scheds))
    x = np.arange(len(mods))
    top = max([t["max"] for t in table.values() if np.isfinite(t["max"])], default=1.0)
    for ax, (measure, title) in zip(axes, MEASURE_TITLES.items(), strict=True):
        for k, s in enumerate(scheds):
            nan = {"mean": np.nan, "min": np.nan, "max": np.nan}
            stats = [table.get((s, measure, m), nan) for m in mods]
            mean = np.array([t["mean"] for t in stats])
            spread = [mean - [t["min"] for t in stats], np.array([t["max"] for t in stats]) - mean]
            ax.bar(x + (k - (len(scheds) - 1) / 2) * width, mean, width, yerr=spread, capsize=2, label=s)
        ax.set_xticks(x, mods, fontsize=8, rotation=30)
        ax.set_title(title, fontsize=9)
        ax.set_yscale("symlog", linthresh=1e-2)
    axes[0].set_ylim(0, 2.0 * top)
    axes[0].set_ylabel(f"nats ({window} window mean)")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    return save_figure(fig, out, dpi=110)


def measure_curves_figure(records: list[dict], out: Path) -> Path:
    """SME^mod, SME^all, LoP^mod, LoP^all of every modality against the epoch, one row per
    schedule: the median over seeds, log y axis (values at or below 0 are left out)."""
    plt = _plt()
    scheds, mods = schedules_in(records), modalities_in(records)
    fig, axes = plt.subplots(len(scheds), len(MEASURE_TITLES), figsize=(3.4 * len(MEASURE_TITLES), 2.6 * len(scheds)),
                             squeeze=False, sharex=True)
    for r, s in enumerate(scheds):
        own = [x for x in records if x["schedule"] == s and x["measure"] in MEASURE_TITLES]
        for c, (measure, title) in enumerate(MEASURE_TITLES.items()):
            ax = axes[r, c]
            for mod in mods:
                curve = curves(own, measure, mod).get(s)
                if curve is not None:
                    keep = curve["median"] > 0
                    ax.plot(curve["epoch"][keep], curve["median"][keep], lw=1.1, label=mod)
            ax.set_yscale("log")
            ax.set_title(f"{title}: {s}", fontsize=8)
            ax.tick_params(labelsize=7)
            if c == 0:
                ax.set_ylabel("nats (median over seeds)", fontsize=7)
    for ax in axes[-1]:
        ax.set_xlabel("epoch", fontsize=8)
    axes[0, 0].legend(fontsize=6)
    fig.tight_layout()
    return save_figure(fig, out, dpi=110)
