"""Pictures of the exchange (matplotlib, Agg): source, target and result, one row per item."""

from __future__ import annotations

from pathlib import Path

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
