"""The dSprites factor grid (Matthey et al. 2017): names, sizes, index arithmetic, factor values.

The grid has six columns ``(color, shape, scale, orientation, posX, posY)`` of sizes
``(1, 3, 6, 40, 32, 32)``: 737,280 binary 64×64 images ordered as a mixed-radix counter with
posY fastest, ``index = classes @ (737280, 245760, 40960, 1024, 32, 1)``. This module is the
bottom layer of the dSprites data: the renderer, the file loader and the source build on it.
"""

from __future__ import annotations

import numpy as np

from betavae.errors import BetavaeError

FULL_FACTOR_NAMES: tuple[str, ...] = ("color", "shape", "scale", "orientation", "posX", "posY")
FULL_FACTOR_SIZES: tuple[int, ...] = (1, 3, 6, 40, 32, 32)
FACTOR_NAMES: tuple[str, ...] = FULL_FACTOR_NAMES[1:]
FACTOR_SIZES: tuple[int, ...] = FULL_FACTOR_SIZES[1:]
SHAPE_NAMES: tuple[str, ...] = ("square", "ellipse", "heart")
NUM_IMAGES = 737_280
IMAGE_SIZE = 64


def grid_bases(sizes: tuple[int, ...] = FULL_FACTOR_SIZES) -> np.ndarray:
    """Mixed-radix place values, last factor fastest: (K,) int64; (737280, ..., 32, 1) for dSprites."""
    sizes_arr = np.asarray(sizes, dtype=np.int64)
    return np.concatenate([np.cumprod(sizes_arr[::-1])[::-1][1:], [1]]).astype(np.int64)


BASES = grid_bases()


def value_tables(sizes: tuple[int, ...] = FULL_FACTOR_SIZES) -> list[np.ndarray]:
    """``latents_values`` of each class, per column (§4.1): color 1, shape 1..3, scale
    linspace(0.5, 1, 6), orientation linspace(0, 2π, 40), posX/posY linspace(0, 1, 32)."""
    n_col, n_shape, n_scale, n_or, n_x, n_y = sizes
    return [
        np.ones(n_col),
        np.arange(1, n_shape + 1, dtype=np.float64),
        np.linspace(0.5, 1.0, n_scale),
        np.linspace(0.0, 2 * np.pi, n_or),
        np.linspace(0.0, 1.0, n_x),
        np.linspace(0.0, 1.0, n_y),
    ]


def _check_classes(classes: np.ndarray, sizes: tuple[int, ...], what: str) -> np.ndarray:
    classes = np.asarray(classes)
    if classes.ndim != 2 or classes.shape[1] != len(sizes):
        raise BetavaeError(
            f"{what}: expected factor classes of shape (n, {len(sizes)}), got {classes.shape}; "
            "pass one row of integer classes per image"
        )
    classes = classes.astype(np.int64, copy=False)
    bad = (classes < 0) | (classes >= np.asarray(sizes))
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise BetavaeError(
            f"{what}: class {classes[row, col]} of column {col} (row {row}) is outside "
            f"0..{sizes[col] - 1}; factor sizes are {sizes}"
        )
    return classes


def factors_to_index(classes: np.ndarray) -> np.ndarray:
    """Grid index of 6-column class vectors: (n, 6) int -> (n,) int64, ``classes @ BASES``."""
    return _check_classes(classes, FULL_FACTOR_SIZES, "factors_to_index") @ BASES


def index_to_factors(index: np.ndarray) -> np.ndarray:
    """Inverse of :func:`factors_to_index` by repeated divmod: (n,) int -> (n, 6) int64."""
    index = np.asarray(index, dtype=np.int64).reshape(-1)
    if index.size and (index.min() < 0 or index.max() >= NUM_IMAGES):
        raise BetavaeError(f"dSprites index out of range 0..{NUM_IMAGES - 1}: {index.min()}..{index.max()}")
    return (index[:, None] // BASES) % np.asarray(FULL_FACTOR_SIZES, dtype=np.int64)


def to_full(factors: np.ndarray) -> np.ndarray:
    """5 varying-factor columns (shape, scale, orientation, posX, posY) -> 6 columns (colour 0)."""
    factors = _check_classes(factors, FACTOR_SIZES, "dSprites factors")
    return np.concatenate([np.zeros((len(factors), 1), np.int64), factors], axis=1)


def to_varying(classes: np.ndarray) -> np.ndarray:
    """6 columns -> the 5 varying factors (drops colour): (n, 6) -> (n, 5) int64."""
    return _check_classes(classes, FULL_FACTOR_SIZES, "dSprites classes")[:, 1:]


def latents_values(classes: np.ndarray) -> np.ndarray:
    """Factor values of 6-column classes, as the official ``latents_values``: (n, 6) float64."""
    classes = _check_classes(classes, FULL_FACTOR_SIZES, "latents_values")
    tables = value_tables()
    return np.stack([tables[k][classes[:, k]] for k in range(6)], axis=1)
