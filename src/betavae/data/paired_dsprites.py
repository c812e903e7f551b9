"""Paired-dSprites (spec/dsprites-vsa.md §2): two images that differ in exactly one feature.

Item ``i`` of a split is generated from ``numpy.random.default_rng([seed, split, i])``, so any item
can be regenerated alone. The partner index is computed from the grid: j = i + (c′_k − c¹_k)·b_k.
Orientation classes 0 and 39 are the same angle: a change always goes to another of the 39
distinct angles, and (``exclude_symmetric``) never to an angle within one grid step of a multiple
of the shape's symmetry period (square π/2, ellipse π).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from betavae.data import DATA
from betavae.data.dsprites import FACTOR_NAMES
from betavae.data.dsprites_split import (
    N_ANGLES,
    ORIENT,
    SIZES,
    STRIDES,
    SplitDSpritesConfig,
    decode,
    membership,
    orientation_distance,
    pool,
    split_id,
)
from betavae.data.render import make_renderer
from betavae.errors import BetavaeError

MAX_ATTEMPTS = 1000  # per item; a valid pair exists for every anchor of a realistic split


def feature_probabilities(settings: SplitDSpritesConfig) -> np.ndarray:
    """(5,) probabilities of each feature being the changed one (uniform when unset)."""
    if settings.feature_weights is None:
        return np.full(len(FACTOR_NAMES), 1 / len(FACTOR_NAMES))
    w = np.array([settings.feature_weights.get(name, 0.0) for name in FACTOR_NAMES], dtype=np.float64)
    return w / w.sum()


def new_class(rng: np.random.Generator, c: np.ndarray, k: int, change: str) -> int:
    """A class c′_k ≠ c_k for feature k: uniform over the others (``any``) or a neighbour
    (``adjacent``, wrapping round for orientation). Orientation works on the 39 distinct angles."""
    if k == ORIENT:
        a = int(c[k]) % N_ANGLES
        step = int(rng.integers(1, N_ANGLES)) if change == "any" else int(rng.choice((-1, 1)))
        return (a + step) % N_ANGLES
    n, ck = int(SIZES[k]), int(c[k])
    if change == "any":
        return (ck + int(rng.integers(1, n))) % n
    options = [v for v in (ck - 1, ck + 1) if 0 <= v < n]
    return int(options[int(rng.integers(len(options)))])


class ChangeSampler:
    """Draws (k, partner index) for an anchor index inside one split (shared by PD and PSD)."""

    def __init__(self, settings: SplitDSpritesConfig, split: str | int) -> None:
        self.settings = settings
        self.split = split_id(split)
        self.member = membership(settings.split_seed, settings.test_fraction)
        self.pool = pool(self.split, settings.split_seed, settings.test_fraction)
        self.cum = np.cumsum(feature_probabilities(settings))

    def anchor(self, rng: np.random.Generator) -> int:
        return int(self.pool[rng.integers(len(self.pool))])

    def attempt(self, rng: np.random.Generator, i: int) -> tuple[int, int, bool] | None:
        """One try: (k, j, symmetric) or None when the partner is excluded or in the other split."""
        c = decode(i)
        k = min(int(np.searchsorted(self.cum, rng.random(), side="right")), len(self.cum) - 1)
        v = new_class(rng, c, k, self.settings.change)
        sym = bool(k == ORIENT and orientation_distance(c[ORIENT], v, c[0]) < 1.0)
        if sym and self.settings.exclude_symmetric:
            return None
        j = i + (v - int(c[k])) * int(STRIDES[k])
        if self.member[j] != self.split:
            return None
        return k, j, sym


@dataclass
class PairBatch:
    """x1, x2: (B, 1, 64, 64) float32 in {0, 1}; k: (B,) changed feature; c1, c2: (B, 5) classes;
    i, j: (B,) grid indices; symmetric: (B,) near-duplicate orientation pairs (kept only when
    ``exclude_symmetric`` is false)."""

    x1: np.ndarray
    x2: np.ndarray
    k: np.ndarray
    c1: np.ndarray
    c2: np.ndarray
    i: np.ndarray
    j: np.ndarray
    symmetric: np.ndarray


class PairedDSprites:
    """Paired-dSprites of one split; ``batch(items)`` renders items by number (any order)."""

    def __init__(self, settings: SplitDSpritesConfig | None = None, split: str | int = "train") -> None:
        self.settings = settings or PairedDSpritesConfig()
        self.sampler = ChangeSampler(self.settings, split)
        self.split = self.sampler.split
        self.render = make_renderer(self.settings.renderer)

    def __len__(self) -> int:
        return self.settings.epoch_size

    def rng(self, item: int) -> np.random.Generator:
        return np.random.default_rng([self.settings.seed, self.split, int(item)])

    def draw(self, item: int) -> tuple[int, int, int, bool]:
        """(i, j, k, symmetric) of one item."""
        rng = self.rng(item)
        i = self.sampler.anchor(rng)
        for attempt in range(MAX_ATTEMPTS):
            if attempt and attempt % 16 == 0:  # this anchor's partners keep missing: new anchor
                i = self.sampler.anchor(rng)
            got = self.sampler.attempt(rng, i)
            if got is not None:
                k, j, sym = got
                return i, j, k, sym
        raise BetavaeError(f"Paired-dSprites item {item}: no valid partner in {MAX_ATTEMPTS} tries; "
                           "check feature_weights, change and the split settings")

    def batch(self, items: np.ndarray | range | list[int]) -> PairBatch:
        rows = [self.draw(int(t)) for t in items]
        i, j, k, sym = (np.array(col) for col in zip(*rows, strict=True))
        c1, c2 = decode(i), decode(j)
        images = self.render(np.concatenate([c1, c2])).astype(np.float32)
        n = len(rows)
        return PairBatch(images[:n], images[n:], k.astype(np.int64), c1, c2, i.astype(np.int64),
                         j.astype(np.int64), sym.astype(bool))


@DATA.register("paired_dsprites")
class PairedDSpritesConfig(SplitDSpritesConfig):
    """Paired-dSprites (the ``pd`` stage: swap training): :class:`PairBatch` batches."""

    stage = "pd"
    kind: Literal["paired_dsprites"] = "paired_dsprites"

    def build(self, split: str | int = "train") -> PairedDSprites:
        return PairedDSprites(self, split)
