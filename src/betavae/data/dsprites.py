"""dSprites (Matthey et al. 2017; used by Higgins et al. 2017): factor grid, config and source.

The grid has six columns ``(color, shape, scale, orientation, posX, posY)`` of sizes
``(1, 3, 6, 40, 32, 32)``: 737,280 binary 64×64 images ordered as a mixed-radix counter with
posY fastest, ``index = classes @ (737280, 245760, 40960, 1024, 32, 1)``. The source exposes the
five *varying* factors (colour dropped, K = 5), as disentanglement_lib's ``dsprites_full``.

The grid arithmetic lives in :mod:`betavae.data.dsprites_grid` (re-exported here). Observations
come from the procedural renderer (:mod:`betavae.data.render`, the default) or, when ``path`` is
given, from the official file (:mod:`betavae.data.dsprites_file`). Layers, bottom up:
``dsprites_grid`` → ``render`` → ``dsprites_file`` → ``dsprites``; none imports one above it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field

from betavae.data import DATA
from betavae.data.base import DataConfig
from betavae.data.dsprites_file import open_grid_cache, unpack_images
from betavae.data.dsprites_grid import (  # noqa: F401  (re-exported: the public dSprites names)
    BASES,
    FACTOR_NAMES,
    FACTOR_SIZES,
    FULL_FACTOR_NAMES,
    FULL_FACTOR_SIZES,
    IMAGE_SIZE,
    NUM_IMAGES,
    SHAPE_NAMES,
    factors_to_index,
    grid_bases,
    index_to_factors,
    latents_values,
    to_full,
    to_varying,
    value_tables,
)
from betavae.data.render import RendererConfig, make_renderer
from betavae.errors import BetavaeError


class DSprites:
    """The dSprites ground-truth source (Matthey et al. 2017): K = 5 varying factors.

    Implements :class:`~betavae.data.base.GroundTruthData`. Factors are (n, 5) int64 classes of
    ``(shape, scale, orientation, posX, posY)``; observations are (n, 1, 64, 64) uint8 in {0, 1}.
    Images come from ``official`` (an object with ``images(indices)``, e.g. the result of
    :func:`betavae.data.dsprites_file.load_dsprites_file`), else from the rendered grid cache
    when ``grid_cache``, else from the procedural renderer on demand (the default).
    """

    factor_names: tuple[str, ...] = FACTOR_NAMES
    factor_sizes: tuple[int, ...] = FACTOR_SIZES
    observation_shape: tuple[int, int, int] = (1, IMAGE_SIZE, IMAGE_SIZE)
    pixel_max: int = 1

    def __init__(
        self,
        renderer: RendererConfig | None = None,
        *,
        official: object | None = None,
        grid_cache: bool = False,
        progress: bool = False,
    ) -> None:
        self.renderer_config = renderer or RendererConfig()
        self.official = official
        self.grid_cache = grid_cache
        self._setup(progress)

    def _setup(self, progress: bool = False) -> None:
        self._rows = self._draw = None
        if self.official is None and self.grid_cache:
            self._rows = open_grid_cache(self.renderer_config, progress=progress)
        elif self.official is None:
            self._draw = make_renderer(self.renderer_config)

    def __getstate__(self) -> dict:
        """Pickle the description only (for spawned data-loader workers); renderers, templates
        and memory maps are re-created, or re-opened, on unpickling."""
        return {k: self.__dict__[k] for k in ("renderer_config", "official", "grid_cache")}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._setup()

    def _by_index(self, idx: np.ndarray) -> np.ndarray:
        if self.official is not None:
            return self.official.images(idx)  # type: ignore[attr-defined]
        if self._rows is not None:
            return unpack_images(self._rows[idx])
        return self._draw(index_to_factors(idx)[:, 1:])  # type: ignore[misc]

    def __len__(self) -> int:
        return NUM_IMAGES

    def sample_factors_uniform(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """i.i.d. uniform factor classes over the grid: (n, 5) int64."""
        return rng.integers(0, np.asarray(FACTOR_SIZES), size=(n, len(FACTOR_SIZES)), dtype=np.int64)

    def sample_factors(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Training-distribution factors (uniform over the grid): (n, 5) int64."""
        return self.sample_factors_uniform(n, rng)

    def index(self, factors: np.ndarray) -> np.ndarray:
        """Grid indices of (n, 5) factor classes: (n,) int64."""
        return to_full(factors) @ BASES

    def factors(self, indices: np.ndarray) -> np.ndarray:
        """The 5 varying factor classes of grid indices: (n,) -> (n, 5) int64."""
        return index_to_factors(indices)[:, 1:]

    def images(self, indices: np.ndarray) -> np.ndarray:
        """Images by grid index: (n,) int -> (n, 1, 64, 64) uint8 in {0, 1}."""
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        if idx.size and (idx.min() < 0 or idx.max() >= NUM_IMAGES):
            raise BetavaeError(f"dSprites index out of range 0..{NUM_IMAGES - 1}: {idx.min()}..{idx.max()}")
        out = np.asarray(self._by_index(idx), dtype=np.uint8)
        return out.reshape(len(idx), *self.observation_shape)

    def observations(self, factors: np.ndarray) -> np.ndarray:
        """Images of (n, 5) factor classes: (n, 1, 64, 64) uint8 in {0, 1}."""
        return self.images(self.index(factors))


@DATA.register("dsprites")
class DSpritesConfig(DataConfig):
    """Config of the dSprites source. ``path`` selects the official file (loaded by path,
    validated, never downloaded); otherwise images come from the procedural ``renderer``.
    ``cache`` memory-maps a copy under the cache dir: the decoded official images, or the whole
    rendered grid (built once, blocking ≈ 15 s with the fast renderer). ``storage`` keeps the
    official images bit-packed (≈ 0.37 GB) or as uint8 (≈ 3 GB)."""

    kind: Literal["dsprites"] = "dsprites"
    path: Path | None = None
    trust_pickle: bool = False
    storage: Literal["packed", "uint8"] = "packed"
    cache: bool = False
    renderer: RendererConfig = Field(default_factory=RendererConfig)

    def build(self, progress: bool = False) -> DSprites:
        """The source this config describes (``progress`` shows tqdm bars for slow one-offs)."""
        if self.path is None:
            return DSprites(self.renderer, grid_cache=self.cache, progress=progress)
        from betavae.data import dsprites_file

        official = dsprites_file.load_dsprites_file(
            self.path, trust_pickle=self.trust_pickle, storage=self.storage, cache=self.cache,
            progress=progress,
        )
        return DSprites(self.renderer, official=official)


def calibrate(
    official_source: object, renderer_cfg: RendererConfig, n: int, rng: np.random.Generator,
    batch: int = 4096,
) -> dict[str, float]:
    """Per-shape mean IoU of the renderer against reference images (spec §4.2).

    ``official_source`` has ``images(indices) -> (n, [1,] 64, 64)`` over the full grid (the
    official file, or another renderer). Draws ``n`` grid indices uniformly with ``rng`` and
    returns ``iou.square``, ``iou.ellipse``, ``iou.heart``, ``iou.mean`` (IoU of two empty images
    is 1), ``n.<shape>`` counts and the mean pixel value of both sides.
    """
    draw = make_renderer(renderer_cfg)
    idx = rng.integers(0, NUM_IMAGES, size=n)
    ious, ref_mean, our_mean = [], 0.0, 0.0
    for start in range(0, n, batch):
        part = idx[start : start + batch]
        ref = np.asarray(official_source.images(part)).reshape(len(part), -1) > 0  # type: ignore[attr-defined]
        ours = draw(index_to_factors(part)[:, 1:]).reshape(len(part), -1) > 0
        union = (ref | ours).sum(1)
        ious.append(np.where(union > 0, (ref & ours).sum(1) / np.maximum(union, 1), 1.0))
        ref_mean += ref.sum() / ref.shape[1]
        our_mean += ours.sum() / ours.shape[1]
    iou = np.concatenate(ious) if ious else np.zeros(0)
    shapes = index_to_factors(idx)[:, 1]
    out: dict[str, float] = {"n": float(n), "iou.mean": float(iou.mean()) if n else float("nan")}
    for k, name in enumerate(SHAPE_NAMES):
        sel = shapes == k
        out[f"iou.{name}"] = float(iou[sel].mean()) if sel.any() else float("nan")
        out[f"n.{name}"] = float(sel.sum())
    out["pixel_mean.reference"] = float(ref_mean) / max(n, 1)
    out["pixel_mean.renderer"] = float(our_mean) / max(n, 1)
    return out
