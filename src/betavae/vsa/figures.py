"""Pictures (matplotlib, Agg): the exchange (source, target and result, one row per item), a data
set's items, and the loss terms a vsa run logged."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from betavae.data.dsprites import FACTOR_NAMES
from betavae.io import atomic_write


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -30, 30)))


def exchange_figure(pics: dict[str, np.ndarray], path: str | Path, stage: str, rows: int = 6) -> Path:
    """Columns source | target | result (scene | reconstruction for SD); written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = ["scene", "result"] if stage == "sd" else ["source", "target", "result"]
    n = min(rows, len(pics[cols[0]]))
    fig, axes = plt.subplots(n, len(cols), figsize=(1.6 * len(cols), 1.6 * n), squeeze=False)
    for r in range(n):
        for c, name in enumerate(cols):
            img = pics[name][r, 0]
            ax = axes[r, c]
            ax.imshow(_sigmoid(img) if name == "result" else img, cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(name, fontsize=8)
        if "k" in pics and pics["k"][r] >= 0:
            axes[r, 0].set_ylabel(f"swap {FACTOR_NAMES[int(pics['k'][r])]}", fontsize=7)
    fig.tight_layout()
    path = Path(path)
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=80))
    plt.close(fig)
    return path


def dataset_pictures(stage: str, batch: Any) -> tuple[list[np.ndarray], list[str]]:
    """The images of a batch of the stage's data set to show side by side, and their titles."""
    if stage == "pd":
        return [batch.x1, batch.x2], ["x1", "x2"]
    if stage == "sd":
        return [batch.x, *(batch.objects[:, m] for m in range(3))], ["scene", "obj 1", "obj 2", "obj 3"]
    return [batch.s1, batch.s2, batch.a, batch.a2, batch.b], ["scene", "pair scene", "A", "A'", "B"]


#: the loss terms a vsa run logs (metrics.jsonl), in the order they are drawn
TERMS = ("loss", "image", "swap", "direct", "kl", "cos", "log_sigma")


def terms_figure(rows: list[dict[str, Any]], path: str | Path) -> Path | None:
    """One panel per logged term of :data:`TERMS` against the step (None when none was logged)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [k for k in TERMS if any(isinstance(r.get(k), (int, float)) for r in rows)]
    if not keys:
        return None
    fig, axes = plt.subplots(len(keys), 1, figsize=(6.5, 1.5 * len(keys) + 0.6), sharex=True, squeeze=False)
    for ax, key in zip(axes[:, 0], keys, strict=True):
        pts = [(r["step"], r[key]) for r in rows if isinstance(r.get(key), (int, float)) and "step" in r]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], lw=1.2)
        ax.set_ylabel(key, fontsize=8)
        ax.grid(alpha=0.3)
    axes[-1, 0].set_xlabel("optimiser step")
    fig.tight_layout()
    path = Path(path)
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=80))
    plt.close(fig)
    return path


def dataset_figure(images: list[np.ndarray], titles: list[str], path: str | Path, rows: int = 4) -> Path:
    """A grid of dataset images: one column per entry of ``images`` ((N, 1, 64, 64) each)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = min(rows, len(images[0]))
    fig, axes = plt.subplots(n, len(images), figsize=(1.5 * len(images), 1.5 * n), squeeze=False)
    for r in range(n):
        for c, imgs in enumerate(images):
            axes[r, c].imshow(imgs[r, 0], cmap="gray", vmin=0, vmax=1)
            axes[r, c].set_xticks([])
            axes[r, c].set_yticks([])
            if r == 0:
                axes[r, c].set_title(titles[c], fontsize=7)
    fig.tight_layout()
    path = Path(path)
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=80))
    plt.close(fig)
    return path
