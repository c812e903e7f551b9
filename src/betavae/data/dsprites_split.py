"""Train/test split of the dSprites grid, factor-name helpers and the settings every split
dSprites data kind shares (spec/dsprites-vsa.md §1).

A seeded permutation of the 737,280 grid indices reserves ``test_fraction`` of the single-object
factor combinations for the test split; every image of an item comes from one split. The data
kinds built on it (``paired_dsprites``, ``scene_dsprites``, ``paired_scene_dsprites``) all take
the fields of :class:`SplitDSpritesConfig`; each generator reads the ones it needs.
"""

from __future__ import annotations

import functools
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field, PositiveInt, model_validator

from betavae.bounds import NonNegative, Seed
from betavae.data.base import DataConfig
from betavae.data.dsprites import FACTOR_NAMES, FACTOR_SIZES, NUM_IMAGES, RendererConfig, grid_bases
from betavae.errors import BetavaeError

SPLITS = ("train", "test")
SIZES = np.asarray(FACTOR_SIZES, dtype=np.int64)  # (3, 6, 40, 32, 32)
STRIDES = grid_bases(FACTOR_SIZES)  # (245760, 40960, 1024, 32, 1)
ORIENT = 2  # column of orientation
N_ANGLES = 39  # orientation classes 0 and 39 are the same angle (0 ≡ 2π)


def factor_index(name: str) -> int:
    """Column of a factor name (shape, scale, orientation, posX, posY); clear error otherwise."""
    if name not in FACTOR_NAMES:
        raise BetavaeError(f"unknown dSprites factor {name!r}; valid factors: {', '.join(FACTOR_NAMES)}")
    return FACTOR_NAMES.index(name)


def split_id(split: str | int) -> int:
    if isinstance(split, int | np.integer) and int(split) in (0, 1):
        return int(split)
    if split in SPLITS:
        return SPLITS.index(split)  # type: ignore[arg-type]
    raise BetavaeError(f"unknown split {split!r}; use 'train' or 'test'")


def encode(classes: np.ndarray) -> np.ndarray:
    """Grid index of (…, 5) factor classes: Σ_f c_f·b_f, int64."""
    return np.asarray(classes, dtype=np.int64) @ STRIDES


def decode(index: np.ndarray) -> np.ndarray:
    """(…,) grid indices -> (…, 5) int64 factor classes."""
    index = np.asarray(index, dtype=np.int64)
    return (index[..., None] // STRIDES) % SIZES


@functools.lru_cache(maxsize=8)
def _split_tables(split_seed: int, test_fraction: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    perm = np.random.default_rng([split_seed, 0x5B1D]).permutation(NUM_IMAGES)
    n_test = int(round(test_fraction * NUM_IMAGES))
    member = np.zeros(NUM_IMAGES, dtype=np.int8)
    member[perm[:n_test]] = 1
    member.setflags(write=False)
    train, test = np.sort(perm[n_test:]), np.sort(perm[:n_test])
    train.setflags(write=False)
    test.setflags(write=False)
    return member, train, test


def membership(split_seed: int = 0, test_fraction: float = 0.1) -> np.ndarray:
    """(737280,) int8: 1 where the grid index is in the test split, 0 for train (read-only)."""
    return _split_tables(split_seed, float(test_fraction))[0]


def pool(split: str | int, split_seed: int = 0, test_fraction: float = 0.1) -> np.ndarray:
    """Sorted grid indices of one split (read-only int64 array)."""
    return _split_tables(split_seed, float(test_fraction))[1 + split_id(split)]


def orientation_distance(a: np.ndarray, b: np.ndarray, shape: np.ndarray) -> np.ndarray:
    """Angular distance in grid steps (2π/39) between orientation classes, reduced modulo the
    shape's symmetry period (square π/2, ellipse π, heart 2π): float array."""
    period = np.where(np.asarray(shape) == 0, N_ANGLES / 4, np.where(np.asarray(shape) == 1, N_ANGLES / 2, N_ANGLES))
    d = np.abs((np.asarray(a) % N_ANGLES) - (np.asarray(b) % N_ANGLES)).astype(np.float64)
    d = np.mod(d, period)
    return np.minimum(d, period - d)


class SplitDSpritesConfig(DataConfig):
    """Settings of the paired and scene dSprites kinds (spec/dsprites-vsa.md §1–4).

    ``feature_weights`` maps factor names to the probability weight of that feature being the
    one that changes (pairs); missing names get weight 0, ``None`` means uniform. ``stage`` names
    the training stage this kind of data drives (the vsa task's loss: pd, sd or psd).
    """

    stage: ClassVar[str] = ""

    seed: Seed = 0
    split_seed: Seed = 0
    test_fraction: float = Field(0.1, gt=0, lt=1)
    epoch_size: PositiveInt = 1_000_000
    # pairs: which feature changes and how
    feature_weights: dict[str, NonNegative] | None = None
    change: Literal["any", "adjacent"] = "any"
    exclude_symmetric: bool = True
    p_no_change: float = Field(0.0, ge=0, le=1)
    # scenes
    n_min: int = 2  # 2 <= n_min <= n_max <= 5: checked together below
    n_max: int = 5
    n_weights: list[NonNegative] | None = None
    gap: int = Field(1, ge=0)
    max_tries: PositiveInt = 100
    max_restarts: int = Field(10, ge=0)
    allow_overlap: bool = False
    renderer: RendererConfig = Field(default_factory=RendererConfig)

    @model_validator(mode="after")
    def _check(self) -> SplitDSpritesConfig:
        if not (2 <= self.n_min <= self.n_max <= 5):
            raise ValueError(f"scene sizes must satisfy 2 <= n_min <= n_max <= 5, got n_min={self.n_min}, "
                             f"n_max={self.n_max}")
        if self.n_weights is not None and (len(self.n_weights) != self.n_max - self.n_min + 1
                                           or min(self.n_weights) < 0 or sum(self.n_weights) <= 0):
            raise ValueError(f"n_weights needs {self.n_max - self.n_min + 1} non-negative weights "
                             f"(one per scene size {self.n_min}..{self.n_max}) with a positive sum")
        if self.feature_weights is not None:
            bad = sorted(set(self.feature_weights) - set(FACTOR_NAMES))
            if bad:
                raise ValueError(f"unknown factor name(s) {bad}; valid factors: {', '.join(FACTOR_NAMES)}")
            if min(self.feature_weights.values()) < 0 or sum(self.feature_weights.values()) <= 0:
                raise ValueError("feature_weights must be non-negative with a positive sum")
        return self

    def build(self, split: str | int = "train") -> Any:
        """The dataset of one split; ``batch(items)`` renders items by number."""
        raise NotImplementedError
