"""The cross-modal β-VAE's training curves (Bangarwaa 2025): accuracy, KLs against the capacity, loss and β per epoch."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from betavae.viz.figures import pyplot, save_small


def _series(rows: Sequence[dict[str, Any]], key: str, scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """(epochs, values) of the rows holding a finite number under ``key``."""
    pairs = [(r["epoch"], r[key]) for r in rows if isinstance(r.get("epoch"), (int, float))
             and isinstance(r.get(key), (int, float)) and np.isfinite(r[key])]
    if not pairs:
        return np.zeros(0), np.zeros(0)
    e, v = zip(*pairs, strict=True)
    return np.asarray(e, float), scale * np.asarray(v, float)


def plot_crossmodal_curves(rows: Sequence[dict[str, Any]], out: str | Path) -> Path:
    """Three panels against the epoch (one ``metrics.jsonl`` row per epoch): train and validation
    accuracy (percent: 100·½(cos_v + cos_a), sampled z), KL_v and KL_a with the capacity C(e), and
    the total loss with β(e) on a second axis."""
    plt = pyplot()
    fig, axes = plt.subplots(3, 1, figsize=(7, 6.6), sharex=True)
    for key, label in (("train_acc", "train (training mode)"), ("val_acc", "validation (eval mode)")):
        axes[0].plot(*_series(rows, key, 100.0), lw=1.4, label=label)
    axes[0].set_ylabel("accuracy (%)")
    for key, style in (("kl_v", "-"), ("kl_a", "-"), ("capacity", "--")):
        axes[1].plot(*_series(rows, key), lw=1.2, ls=style, label="C(e) (nats)" if key == "capacity" else key)
    axes[1].set_ylabel("KL per latent dim (nats)")
    axes[2].plot(*_series(rows, "loss"), color="C0", lw=1.4, label="loss")
    axes[2].set_ylabel("total loss")
    epochs, beta = _series(rows, "beta")
    if len(beta):
        twin = axes[2].twinx()
        twin.plot(epochs, beta, color="C3", lw=1.0, ls=":", label="β(e)")
        twin.set_ylabel("β(e)", color="C3")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="best")
    axes[-1].set_xlabel("epoch")
    fig.suptitle("Training curves (epoch means; validation at the epoch's end)", fontsize=9)
    fig.tight_layout()
    return save_small(fig, out)
