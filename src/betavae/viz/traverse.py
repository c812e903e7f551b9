"""Latent traversals (Higgins et al. 2017, Fig. 7; Burgess et al. 2018, Fig. 3;
spec/disentanglement.md §9).

From a seed image's posterior mean μ (D,), one latent z_j at a time is set to each of 10 evenly
spaced values in [−3, 3] (the prior's ±3σ range) while every other latent stays at the seed's
mean; the decoder mean of each code is drawn. Rows are the latents sorted by mean KL_j
(largest first), with KL_j printed beside each row; the first two columns are the seed image and
its reconstruction. ``relative=True`` traverses μ_j + linspace(−3, 3, 10) instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from betavae.io import atomic_write
from betavae.objectives.terms import kl_per_latent
from betavae.viz.figures import imshow, mosaic, pyplot, save_small

if TYPE_CHECKING:
    from betavae.experiments.load import ImageRun

#: The traversed values: 10 evenly spaced values in [−3, 3].
VALUES = np.linspace(-3.0, 3.0, 10)

Decode = Callable[[np.ndarray], np.ndarray]
"""Decoder mean: codes (n, D) float32 -> images (n, C, H, W) float in [0, 1]."""


@dataclass
class PosteriorBatch:
    """Images with their posterior: images (N, C, H, W) in [0, 1]; mu, logvar (N, D)."""

    images: np.ndarray
    mu: np.ndarray
    logvar: np.ndarray

    @property
    def kl(self) -> np.ndarray:
        """Mean KL(q(z_j|x) ‖ N(0, 1)) over the batch per latent: (D,) nats."""
        mu, logvar = torch.from_numpy(self.mu).double(), torch.from_numpy(self.logvar).double()
        return kl_per_latent(mu, logvar).mean(0).numpy()


@dataclass
class Traversal:
    """A computed traversal.

    seeds, recons: (S, C, H, W) seed images and their reconstructions; images: (S, R, V, C, H, W)
    decoded codes (row r varies latent ``order[r]``); order: (R,) latent indices, largest KL first;
    kl: (D,) mean KL per latent (nats); values: (V,) traversed values (offsets if ``relative``).
    """

    seeds: np.ndarray
    recons: np.ndarray
    images: np.ndarray
    order: np.ndarray
    kl: np.ndarray
    values: np.ndarray
    relative: bool = False


def kl_order(kl: np.ndarray) -> np.ndarray:
    """Latent indices sorted by KL, largest first (ties keep index order): (D,) -> (D,) int."""
    return np.argsort(-np.asarray(kl, dtype=np.float64), kind="stable")


def traversal_codes(mu: np.ndarray, order: np.ndarray, values: np.ndarray = VALUES,
                    relative: bool = False) -> np.ndarray:
    """Codes of a traversal: mu (S, D), order (R,), values (V,) -> (S, R, V, D) float32.

    ``codes[s, r, v]`` equals ``mu[s]`` except latent ``order[r]``, which is ``values[v]``
    (or ``mu[s, order[r]] + values[v]`` when ``relative``).
    """
    mu = np.asarray(mu, dtype=np.float32)
    s, d = mu.shape
    r, v = len(order), len(values)
    codes = np.broadcast_to(mu[:, None, None, :], (s, r, v, d)).copy()
    for row, j in enumerate(order):
        codes[:, row, :, j] = np.asarray(values, np.float32)[None, :] + (mu[:, j:j + 1] if relative else 0)
    return codes


def traverse(decode: Decode, batch: PosteriorBatch, n_seeds: int = 3, values: np.ndarray = VALUES,
             relative: bool = False) -> Traversal:
    """Traverse every latent from the first ``n_seeds`` images of ``batch`` (one decoder call)."""
    kl = batch.kl
    order = kl_order(kl)
    s = min(n_seeds, len(batch.images))
    mu = batch.mu[:s]
    codes = traversal_codes(mu, order, values, relative)
    flat = codes.reshape(-1, codes.shape[-1])
    decoded = np.asarray(decode(np.concatenate([mu.astype(np.float32), flat])))
    recons, images = decoded[:s], decoded[s:]
    images = images.reshape(*codes.shape[:3], *images.shape[1:])
    return Traversal(batch.images[:s], recons, images, order, kl, np.asarray(values), relative)


def _value_labels(tr: Traversal) -> list[str]:
    prefix = "μ" if tr.relative else ""
    return [f"{prefix}{v:+.1f}" if tr.relative else f"{v:.1f}" for v in tr.values]


def _row_labels(tr: Traversal) -> list[str]:
    return [f"z{j}  KL {tr.kl[j]:.2f}" for j in tr.order]


def grid_cells(tr: Traversal, seed: int) -> np.ndarray:
    """The cells of one seed's grid: (R, 2 + V, C, H, W); columns: seed image, reconstruction, values."""
    r = tr.images.shape[1]
    lead = np.stack([tr.seeds[seed], tr.recons[seed]]).astype(tr.images.dtype)
    return np.concatenate([np.broadcast_to(lead, (r, *lead.shape)), tr.images[seed]], axis=1)


def plot_traversal(tr: Traversal, seed: int, out: str | Path) -> Path:
    """PNG grid for one seed: rows = latents by KL; columns = input, reconstruction, V values."""
    plt = pyplot()
    r, v = tr.images.shape[1:3]
    cells = grid_cells(tr, seed)
    h, w = tr.images.shape[-2:]
    fig, ax = plt.subplots(figsize=(0.55 * (v + 2) + 1.8, 0.55 * r + 1.0))
    imshow(ax, mosaic(cells))
    ax.axvline(2 * (w + 2) - 1.5, color="C1", lw=2)
    ax.set_yticks([(h + 2) * i + h / 2 for i in range(r)], _row_labels(tr), fontsize=7)
    ax.set_xticks([(w + 2) * i + w / 2 for i in range(v + 2)], ["input", "recon", *_value_labels(tr)],
                  fontsize=6, rotation=90)
    what = "μ_j + offset" if tr.relative else "value of z_j"
    ax.set_xlabel(f"{what} (other latents fixed at the seed's posterior mean)", fontsize=7)
    ax.set_ylabel("latent, mean KL (nats)", fontsize=7)
    ax.set_title(f"Latent traversal, seed image {seed}", fontsize=8)
    fig.tight_layout()
    return save_small(fig, out)


def gif_frames(tr: Traversal, dpi: int = 100) -> list[np.ndarray]:
    """One RGB frame (H, W, 3) uint8 per value: columns = seed images; rows = the seed, its
    reconstruction, then the latents by KL, each set to that value."""
    plt = pyplot()
    r, v = tr.images.shape[1:3]
    h, w = tr.images.shape[-2:]
    s = len(tr.seeds)
    labels = ["input", "recon", *_row_labels(tr)]
    frames = []
    for k in range(v):
        cells = np.concatenate([tr.seeds[None], tr.recons[None], tr.images[:, :, k].swapaxes(0, 1)], axis=0)
        fig, ax = plt.subplots(figsize=(0.62 * s + 1.1, 0.62 * (r + 2) + 0.5), dpi=dpi)
        imshow(ax, mosaic(cells))
        ax.axhline(2 * (h + 2) - 1.5, color="C1", lw=1.5)
        ax.set_yticks([(h + 2) * i + h / 2 for i in range(r + 2)], labels, fontsize=6)
        ax.set_xticks([(w + 2) * i + w / 2 for i in range(s)], [f"seed {i}" for i in range(s)], fontsize=6)
        label = f"μ_j {tr.values[k]:+.2f}" if tr.relative else f"z_j = {tr.values[k]:+.2f}"
        ax.set_title(label, fontsize=8)
        fig.tight_layout(pad=0.3)
        fig.canvas.draw()
        frames.append(np.asarray(fig.canvas.buffer_rgba())[..., :3].copy())
        plt.close(fig)
    return frames


def write_gif(tr: Traversal, out: str | Path, frame_ms: int = 250, dpi: int = 100) -> Path:
    """Animated GIF sweeping the values forth and back, looping forever (written atomically)."""
    import imageio.v3 as iio

    frames = [f // 8 * 8 for f in gif_frames(tr, dpi)]  # 32 levels per channel: a third of the bytes
    sweep = frames + frames[-2:0:-1]
    out = Path(out)
    atomic_write(out, lambda tmp: iio.imwrite(tmp, np.stack(sweep), extension=".gif",
                                              duration=frame_ms, loop=0))
    return out


def write_traversal_files(tr: Traversal, out_dir: str | Path, prefix: str = "traverse") -> dict[str, Path]:
    """``{prefix}_seed{i}.png`` per seed and ``{prefix}.gif``: keys ``seed0``, ..., ``gif``."""
    out_dir = Path(out_dir)
    paths = {f"seed{i}": plot_traversal(tr, i, out_dir / f"{prefix}_seed{i}.png") for i in range(len(tr.seeds))}
    paths["gif"] = write_gif(tr, out_dir / f"{prefix}.gif")
    return paths


def posterior_batch(run: ImageRun, n_images: int = 512, rng_seed: int = 0) -> PosteriorBatch:
    """Encode ``n_images`` images drawn uniformly from the run's factor grid (seeded)."""
    rng = np.random.default_rng(rng_seed)
    obs = run.source.observations(run.source.sample_factors_uniform(n_images, rng))
    mu, logvar = run.encode(obs)
    return PosteriorBatch(obs.astype(np.float32) / run.source.pixel_max, mu, logvar)


def write_traversals(run_dir: str | Path, out_dir: str | Path | None = None, n_seeds: int = 3,
                     rng_seed: int = 0, n_images: int = 512, relative: bool = False,
                     run: ImageRun | None = None, batch: PosteriorBatch | None = None) -> dict[str, Path]:
    """Traversal PNGs (one per seed image) and a GIF for a trained run.

    Rows are sorted by the mean KL_j over ``n_images`` images drawn uniformly from the factor grid
    (seeded by ``rng_seed``); the seed images are the first ``n_seeds`` of them. Files go to
    ``out_dir`` (default ``RUN_DIR/report``). Pass ``run``/``batch`` to reuse a loaded run.
    Raises :class:`~betavae.errors.BetavaeError` when the run has no readable weights.
    """
    from betavae.experiments.load import load_run

    run = run if run is not None else load_run(run_dir)
    batch = batch if batch is not None else posterior_batch(run, max(n_images, n_seeds), rng_seed)
    tr = traverse(run.decode_mean, batch, n_seeds, VALUES, relative)
    return write_traversal_files(tr, Path(out_dir) if out_dir is not None else Path(run_dir) / "report")
