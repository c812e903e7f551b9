"""A ground-truth source over a complete factor grid whose images are stored in grid order.

Shapes3D, MPI3D and Cars3D all store one image per factor combination as a mixed-radix counter,
last factor fastest: ``index = classes @ bases`` with ``bases = grid_bases(factor_sizes)``.
:class:`GridImages` serves them from a (usually memory-mapped) (N, C, H, W) uint8 array.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from betavae.data.dsprites import grid_bases
from betavae.data.filecache import Builder, open_cache
from betavae.errors import BetavaeError


def grid_order_mismatch(classes: np.ndarray, sizes: tuple[int, ...]) -> int | None:
    """First row whose classes (N, K) are not at their grid position ``classes @ bases``, or None."""
    bad = np.flatnonzero(classes.astype(np.int64) @ grid_bases(sizes) != np.arange(len(classes)))
    return int(bad[0]) if bad.size else None


class GridImages:
    """Images of every combination of ``factor_sizes``, row ``i`` = grid index ``i``.

    Implements :class:`~betavae.data.base.GroundTruthData`: factors are (n, K) int64 classes,
    observations (n, C, H, W) uint8 in [0, 255]. ``pixels`` is (N, C, H, W) uint8 with
    N = prod(factor_sizes); a cache memmap is re-opened, not copied, when the source is pickled.
    """

    pixel_max: int = 255
    ground_truth: bool = True  # False: no factors to score (metrics refuse the source)

    def __init__(self, name: str, factor_names: tuple[str, ...], factor_sizes: tuple[int, ...],
                 pixels: np.ndarray) -> None:
        if len(factor_names) != len(factor_sizes):
            raise ValueError("one name per factor")
        n = int(np.prod(factor_sizes))
        if pixels.ndim != 4 or len(pixels) != n or pixels.dtype != np.uint8:
            raise BetavaeError(f"{name}: expected ({n}, C, H, W) uint8 images for factor sizes "
                               f"{factor_sizes}, got {pixels.shape} {pixels.dtype}")
        self.name = name
        self.factor_names = tuple(factor_names)
        self.factor_sizes = tuple(int(s) for s in factor_sizes)
        self.observation_shape = tuple(int(s) for s in pixels.shape[1:])
        self.pixels = pixels
        self._bases = grid_bases(self.factor_sizes)

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        if isinstance(self.pixels, np.memmap):
            state["pixels"] = ("memmap", str(self.pixels.filename), self.pixels.shape)
        return state

    def __setstate__(self, state: dict) -> None:
        pixels = state["pixels"]
        if isinstance(pixels, tuple):
            state["pixels"] = np.memmap(pixels[1], dtype=np.uint8, mode="r", shape=pixels[2])
        self.__dict__.update(state)

    def __len__(self) -> int:
        return len(self.pixels)

    def sample_factors_uniform(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """i.i.d. uniform factor classes over the grid: (n, K) int64."""
        sizes = np.asarray(self.factor_sizes)
        return rng.integers(0, sizes, size=(n, len(sizes)), dtype=np.int64)

    def sample_factors(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Training-distribution factors (uniform over the grid): (n, K) int64."""
        return self.sample_factors_uniform(n, rng)

    def index(self, factors: np.ndarray) -> np.ndarray:
        """Grid indices of factor classes: (n, K) -> (n,) int64, ``factors @ bases``."""
        factors = np.asarray(factors)
        k = len(self.factor_sizes)
        if factors.ndim != 2 or factors.shape[1] != k:
            raise BetavaeError(f"{self.name}: expected factor classes of shape (n, {k}), got {factors.shape}")
        factors = factors.astype(np.int64, copy=False)
        bad = (factors < 0) | (factors >= np.asarray(self.factor_sizes))
        if bad.any():
            row, col = np.argwhere(bad)[0]
            raise BetavaeError(f"{self.name}: class {factors[row, col]} of factor "
                               f"{self.factor_names[col]!r} (row {row}) is outside 0..{self.factor_sizes[col] - 1}")
        return factors @ self._bases

    def factors(self, indices: np.ndarray) -> np.ndarray:
        """Factor classes of grid indices by repeated divmod: (n,) -> (n, K) int64."""
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        return (idx[:, None] // self._bases) % np.asarray(self.factor_sizes, dtype=np.int64)

    def images(self, indices: np.ndarray) -> np.ndarray:
        """Images by grid index: (n,) -> (n, C, H, W) uint8."""
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        if idx.size and (idx.min() < 0 or idx.max() >= len(self.pixels)):
            raise BetavaeError(f"{self.name}: index out of range 0..{len(self.pixels) - 1}")
        return np.asarray(self.pixels[idx])

    def observations(self, factors: np.ndarray) -> np.ndarray:
        """Images of (n, K) factor classes: (n, C, H, W) uint8 in [0, 255]."""
        return self.images(self.index(factors))


def cached_grid(kind: str, name: str, source: Path, stamp: dict[str, Any], factor_names: tuple[str, ...],
                factor_sizes: tuple[int, ...], row_shape: tuple[int, ...], build: Builder) -> GridImages:
    """The grid images of ``source`` from the cache (built by ``build`` in grid order if needed)."""
    stamp = {**stamp, "factor_sizes": list(factor_sizes)}
    pixels, _ = open_cache(kind, source, stamp, row_shape, build)
    return GridImages(name, factor_names, factor_sizes, pixels)
