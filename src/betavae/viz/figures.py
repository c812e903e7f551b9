"""Run figures from files on disk: training curves, KL per latent (heatmap and bars), posterior
statistics and reconstructions (Higgins et al. 2017; Burgess et al. 2018, Fig. 3-4).

Every ``plot_*`` function draws one figure with labelled axes (units) and a legend, writes it
atomically as a PNG no larger than :data:`MAX_BYTES`, and returns the path. Nothing prints.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from betavae.viz.save import save_figure

#: Largest PNG a report figure may be (bytes); :func:`save_small` lowers the dpi to fit.
MAX_BYTES = 300_000
#: A latent is active when its mean KL exceeds this many nats (spec/disentanglement.md §9).
ACTIVE_NATS = 0.01


def pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend (never opens a window)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plain(text: str) -> str:
    """Text shown literally by matplotlib (a '$' would start mathtext)."""
    return str(text).replace("$", r"\$")


def save_small(fig: Any, out: str | Path, dpi: int = 100, max_bytes: int = MAX_BYTES) -> Path:
    """Save ``fig`` as PNG at ``dpi``, lowering the dpi until the file is at most ``max_bytes``."""
    while dpi > 40:
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=dpi)
        if buf.tell() <= max_bytes:
            break
        dpi = int(dpi * 0.8)
    return save_figure(fig, out, dpi=dpi)


def to_display(x: np.ndarray) -> np.ndarray:
    """Images for imshow: (..., C, H, W) in [0, 1] -> (..., H, W) for C = 1, (..., H, W, 3) for C = 3."""
    x = np.clip(np.asarray(x, dtype=np.float32), 0.0, 1.0)
    if x.shape[-3] == 1:
        return x[..., 0, :, :]
    return np.moveaxis(x[..., :3, :, :], -3, -1)


def mosaic(cells: np.ndarray, pad: int = 2, fill: float = 1.0) -> np.ndarray:
    """Tile images: (R, K, C, H, W) in [0, 1] -> (R·(H+pad)−pad, K·(W+pad)−pad[, 3]) display array."""
    rows, cols, _, h, w = cells.shape
    img = to_display(cells)
    out = np.full((rows * (h + pad) - pad, cols * (w + pad) - pad, *img.shape[4:]), fill, np.float32)
    for r in range(rows):
        for k in range(cols):
            out[r * (h + pad) : r * (h + pad) + h, k * (w + pad) : k * (w + pad) + w] = img[r, k]
    return out


def imshow(ax: Any, image: np.ndarray) -> None:
    """Show a display array (grey if 2-D) without interpolation."""
    ax.imshow(image, cmap="gray" if image.ndim == 2 else None, vmin=0.0, vmax=1.0, interpolation="nearest")


def column(rows: Sequence[dict[str, Any]], key: str) -> tuple[np.ndarray, np.ndarray]:
    """(steps, values) of the rows that hold a finite number under ``key``."""
    pairs = [(r.get("step"), r.get(key)) for r in rows]
    pairs = [(s, v) for s, v in pairs if isinstance(s, (int, float)) and isinstance(v, (int, float))
             and np.isfinite(v)]
    if not pairs:
        return np.zeros(0), np.zeros(0)
    steps, values = zip(*pairs, strict=True)
    return np.asarray(steps, float), np.asarray(values, float)


def kl_matrix(rows: Sequence[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    """KL per latent over training: (steps (T,), kl (T, D)) from rows whose ``kl_per_dim`` has the
    most common length D (rows with another length, e.g. a torn row, are left out)."""
    lengths = [len(r["kl_per_dim"]) for r in rows if isinstance(r.get("kl_per_dim"), list)]
    if not lengths:
        return np.zeros(0), np.zeros((0, 0))
    d = max(set(lengths), key=lengths.count)
    keep = [r for r in rows if isinstance(r.get("kl_per_dim"), list) and len(r["kl_per_dim"]) == d
            and isinstance(r.get("step"), (int, float))]
    return (np.asarray([r["step"] for r in keep], float),
            np.asarray([r["kl_per_dim"] for r in keep], float).reshape(len(keep), d))


def plot_curves(rows: Sequence[dict[str, Any]], out: str | Path, objective: str = "beta",
                scores: bool = False) -> Path:
    """Reconstruction, KL and total loss against the step (three panels), β_t (γ_t for the
    capacity objective) on a second axis; C_t (nats) is drawn on the KL axis it is compared with.
    ``scores``: a fourth panel with the scores logged during training (``eval.*`` rows), if any."""
    plt = pyplot()
    weight = "γ_t" if objective == "capacity" else "β_t"
    panels = [("recon", "reconstruction NLL\n(nats / image)"), ("kl", "KL (nats / image)"),
              ("loss", "total loss\n(nats / image)")]
    score_keys = sorted({k for r in rows for k in r if k.startswith("eval.")}) if scores else []
    fig, axes = plt.subplots(3 + bool(score_keys), 1, figsize=(7, 6.6 + 2.2 * bool(score_keys)), sharex=True)
    if score_keys:
        ax = axes[-1]
        for i, key in enumerate(score_keys):
            steps, values = column(rows, key)
            ax.plot(steps, values, color=f"C{i}", lw=1.2, marker=".", label=key.removeprefix("eval."))
        ax.set_ylabel("scores during training")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="best")
    for ax, (key, label) in zip(axes[:3], panels, strict=True):
        steps, values = column(rows, key)
        lines = ax.plot(steps, values, color="C0", lw=1.4, label=key)
        if key == "kl":
            cs, cv = column(rows, "capacity")
            if len(cs):
                lines += ax.plot(cs, cv, color="C2", lw=1.2, ls="--", label="C_t (nats)")
        if len(values) and values.min() > 0 and values.max() / values.min() > 30:
            ax.set_yscale("log")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        bs, bv = column(rows, "beta")
        if len(bs):
            twin = ax.twinx()
            lines += twin.plot(bs, bv, color="C3", lw=1.0, ls=":", label=f"{weight} (right axis)")
            twin.set_ylabel(f"{weight} (weight)", color="C3")
        ax.legend(lines, [ln.get_label() for ln in lines], fontsize=7, loc="best")
    axes[-1].set_xlabel("optimiser step")
    fig.suptitle("Training curves (batch means over each logging window)", fontsize=9)
    fig.tight_layout()
    return save_small(fig, out)


def plot_kl_heatmap(steps: np.ndarray, kl: np.ndarray, out: str | Path) -> Path:
    """KL_j over training as a heatmap: steps (T,), kl (T, D) nats -> rows z_0..z_{D−1}."""
    plt = pyplot()
    t, d = kl.shape
    fig, ax = plt.subplots(figsize=(7, 0.9 + 0.28 * d))
    edges = np.concatenate([steps[:1] - (steps[1] - steps[0] if t > 1 else 1), steps]) if t else steps
    mesh = ax.pcolormesh(edges, np.arange(d + 1) - 0.5, kl.T, cmap="viridis", shading="flat")
    fig.colorbar(mesh, ax=ax, label="KL_j (nats)")
    ax.set_yticks(range(d), [f"z{j}" for j in range(d)], fontsize=7)
    ax.set_xlabel("optimiser step")
    ax.set_ylabel("latent")
    ax.set_title("KL per latent over training", fontsize=9)
    fig.tight_layout()
    return save_small(fig, out)


def plot_kl_bars(kl: np.ndarray, out: str | Path, title: str = "KL per latent at the end") -> Path:
    """Bars of KL_j (D,) in nats (log scale), active latents (> 0.01 nats) coloured, threshold drawn."""
    plt = pyplot()
    kl = np.asarray(kl, float)
    d = len(kl)
    active = kl > ACTIVE_NATS
    fig, ax = plt.subplots(figsize=(max(4.0, 0.45 * d + 1.5), 3.2))
    shown = np.maximum(kl, 1e-5)
    ax.bar(np.flatnonzero(active), shown[active], color="C0", label=f"active (KL_j > {ACTIVE_NATS} nats)")
    if (~active).any():
        ax.bar(np.flatnonzero(~active), shown[~active], color="0.7", label="inactive")
    ax.axhline(ACTIVE_NATS, color="C3", ls="--", lw=1, label=f"{ACTIVE_NATS} nats")
    ax.set_yscale("log")
    ax.set_xticks(range(d), [f"z{j}" for j in range(d)], fontsize=7)
    ax.set_xlabel("latent")
    ax.set_ylabel("KL_j (nats, log scale)")
    ax.set_title(f"{title}: {int(active.sum())} of {d} active", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return save_small(fig, out)


def plot_posterior_stats(mu: np.ndarray, logvar: np.ndarray, kl: np.ndarray, out: str | Path) -> Path:
    """Posterior mean and variance per latent over a batch: mu, logvar (N, D); kl (D,) nats.

    Left: mean of μ_j over the batch with ± its spread (std); right: mean σ²_j with the
    prior's σ² = 1. Used latents have σ² → 0; unused ones sit at μ ≈ 0, σ² ≈ 1 (Burgess et al. 2018).
    """
    plt = pyplot()
    n, d = mu.shape
    active = np.asarray(kl) > ACTIVE_NATS
    colours = np.where(active, "C0", "0.6")
    x = np.arange(d)
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(max(7.0, 0.7 * d + 2), 3.2))
    a1.errorbar(x, mu.mean(0), yerr=mu.std(0), fmt="none", ecolor="0.3", capsize=3, label="± std over batch")
    a1.scatter(x, mu.mean(0), c=list(colours), zorder=3, label="mean μ_j")
    a1.axhline(0, color="k", lw=0.6)
    a1.set_ylabel("posterior mean μ_j (latent units)")
    var = np.exp(logvar)
    a2.bar(x, var.mean(0), color=list(colours), label="mean σ²_j")
    a2.axhline(1.0, color="C3", ls="--", lw=1, label="prior σ² = 1")
    a2.set_ylim(0, max(1.15, float(var.mean(0).max()) * 1.05))
    a2.set_ylabel("posterior variance σ²_j (latent units²)")
    for ax in (a1, a2):
        ax.set_xticks(x, [f"z{j}" for j in range(d)], fontsize=7)
        ax.set_xlabel("latent (blue: active, grey: inactive)")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3, axis="y")
    fig.suptitle(f"Posterior statistics over {n} images", fontsize=9)
    fig.tight_layout()
    return save_small(fig, out)


def plot_reconstructions(inputs: np.ndarray, recons: np.ndarray, out: str | Path) -> Path:
    """Inputs (top row) beside mean reconstructions E[x|z=μ] (bottom): both (K, C, H, W) in [0, 1]."""
    plt = pyplot()
    k = len(inputs)
    fig, ax = plt.subplots(figsize=(0.8 * k + 1.2, 2.2))
    imshow(ax, mosaic(np.stack([inputs, recons])))
    h = inputs.shape[-2]
    ax.set_yticks([h / 2, 1.5 * h + 2], ["input", "reconstruction"], fontsize=8)
    ax.set_xticks([])
    ax.set_xlabel(f"{k} images sampled uniformly from the factor grid; reconstruction = decoder mean at z = μ")
    ax.xaxis.label.set_fontsize(7)
    fig.tight_layout()
    return save_small(fig, out)
