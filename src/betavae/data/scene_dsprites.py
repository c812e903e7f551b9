"""Scene-dSprites and Paired-Scene-dSprites (spec/dsprites-vsa.md §3, §4).

A scene holds 2–5 same-colour sprites that never overlap: for every two sprites,
dilate_g(M_m) ∧ M_m′ = ∅ (no pixel of one within Chebyshev distance ``gap`` of the other), so
with g ≥ 1 each sprite is exactly one 8-connected component. Objects are placed one at a time; a
candidate is redrawn at most ``max_tries`` times, then the scene restarts (``max_restarts``), then
a :class:`BetavaeError` is raised: never an endless loop. Settings that cannot fit at all (more
sprites than centre positions ``gap`` apart) fail before any try.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import ndimage

from betavae.data import DATA
from betavae.data.dsprites import FACTOR_NAMES, IMAGE_SIZE
from betavae.data.dsprites_split import SIZES, SplitDSpritesConfig, decode, pool, split_id
from betavae.data.paired_dsprites import ChangeSampler
from betavae.data.render import make_renderer
from betavae.errors import BetavaeError

N_SLOTS = 5
FIRST, CHUNK = 1, 8  # candidates drawn per sprite: first round, later rounds
CENTRE_SPAN = 32  # sprite centres lie in [16, 48] px on both axes


def dilate(mask: np.ndarray, gap: int) -> np.ndarray:
    """Binary dilation of (…, 64, 64) masks with a (2g+1)×(2g+1) square (g = 0: a copy)."""
    if gap == 0:
        return mask.astype(bool).copy()
    size = [1] * (mask.ndim - 2) + [2 * gap + 1, 2 * gap + 1]
    return ndimage.maximum_filter(mask.astype(np.uint8), size=size, mode="constant") > 0


def max_objects(gap: int) -> int:
    """Most sprites that can fit: every sprite covers the pixel of its centre, so two centres
    must lie ≥ gap px apart on one axis; within the 32-px centre span that allows at most
    (⌊32/gap⌋ + 1)² sprites. A necessary bound, checked before any try."""
    if gap == 0:
        return 10**9
    per_axis = CENTRE_SPAN // gap + 1
    return per_axis * per_axis


def check_fits(settings: SplitDSpritesConfig, n: int) -> None:
    if not settings.allow_overlap and n > max_objects(settings.gap):
        raise BetavaeError(
            f"a 64x64 canvas cannot hold {n} non-overlapping sprites with gap={settings.gap} "
            f"(at most {max_objects(settings.gap)} fit); lower n_max or gap")


class Placer:
    """Places sprites of one split on a canvas without overlap (bounded tries)."""

    def __init__(self, settings: SplitDSpritesConfig, split: str | int) -> None:
        self.settings = settings
        self.pool = pool(split, settings.split_seed, settings.test_fraction)
        self.render = make_renderer(settings.renderer)

    def masks(self, index: np.ndarray) -> np.ndarray:
        """(m,) grid indices -> (m, 64, 64) bool masks."""
        return self.render(decode(np.asarray(index).reshape(-1)))[:, 0].astype(bool)

    def scenes(self, rngs: list[np.random.Generator], ns: list[int], labels: list[str]
               ) -> list[list[tuple[int, np.ndarray]]]:
        """Place ns[b] sprites for every item b, all items in lockstep so that each round renders
        the candidates of every item in one call. An item draws only from its own generator, so
        its result does not depend on the batch. Returns per item [(index, mask)]."""
        s, g = self.settings, self.settings.gap
        placed: list[list[tuple[int, np.ndarray]]] = [[] for _ in rngs]
        blocked = np.zeros((len(rngs), IMAGE_SIZE, IMAGE_SIZE), bool)
        tries, restarts = np.zeros(len(rngs), np.int64), np.zeros(len(rngs), np.int64)
        todo = [b for b, n in enumerate(ns) if n > 0]
        while todo:
            sizes = [min(FIRST if tries[b] == 0 else CHUNK, s.max_tries - int(tries[b])) for b in todo]
            idx = [self.pool[rngs[b].integers(len(self.pool), size=c)] for b, c in zip(todo, sizes, strict=True)]
            masks = np.split(self.masks(np.concatenate(idx)), np.cumsum(sizes)[:-1])
            nxt = []
            for b, ix, m in zip(todo, idx, masks, strict=True):
                free = np.flatnonzero(np.ones(len(m), bool) if s.allow_overlap else ~(m & blocked[b]).any((1, 2)))
                if free.size:
                    placed[b].append((int(ix[free[0]]), m[free[0]]))
                    blocked[b] |= dilate(m[free[0]], g)
                    tries[b] = 0
                else:
                    tries[b] += len(m)
                    if tries[b] >= s.max_tries:  # this sprite cannot be placed: restart the scene
                        restarts[b] += 1
                        if restarts[b] > s.max_restarts:
                            raise BetavaeError(
                                f"{labels[b]}: could not place {ns[b]} non-overlapping sprites (gap={g}) on the "
                                f"64x64 canvas in {s.max_restarts + 1} scenes of {s.max_tries} tries per sprite; "
                                "lower n_max or gap, or raise max_tries")
                        placed[b], blocked[b], tries[b] = [], False, 0
                if len(placed[b]) < ns[b]:
                    nxt.append(b)
            todo = nxt
        return placed


@dataclass
class SceneBatch:
    """x: (B, 1, 64, 64) scenes; objects: (B, 5, 1, 64, 64) lone sprites (zero-padded);
    present: (B, 5) bool; factors: (B, 5, 5) int64 classes (−1 for missing); n: (B,)."""

    x: np.ndarray
    objects: np.ndarray
    present: np.ndarray
    factors: np.ndarray
    n: np.ndarray


class SceneDSprites:
    """Scene-dSprites of one split: 2–5 non-overlapping same-colour sprites per canvas."""

    def __init__(self, settings: SplitDSpritesConfig | None = None, split: str | int = "train") -> None:
        self.settings = s = settings or SceneDSpritesConfig()
        self.split = split_id(split)
        self.placer = Placer(s, split)
        sizes = np.arange(s.n_min, s.n_max + 1)
        w = np.ones(len(sizes)) if s.n_weights is None else np.asarray(s.n_weights, dtype=np.float64)
        self.sizes, self.cum = sizes, np.cumsum(w / w.sum())
        check_fits(s, s.n_max if s.n_weights is None else int(sizes[np.flatnonzero(w)[-1]]))

    def __len__(self) -> int:
        return self.settings.epoch_size

    def draw(self, items: list[int]) -> list[list[tuple[int, np.ndarray]]]:
        """Placed sprites [(index, mask)] of each item."""
        rngs = [np.random.default_rng([self.settings.seed, self.split, int(t)]) for t in items]
        pick = [min(int(np.searchsorted(self.cum, r.random(), side="right")), len(self.sizes) - 1) for r in rngs]
        return self.placer.scenes(rngs, [int(self.sizes[p]) for p in pick],
                                  [f"Scene-dSprites item {t}" for t in items])

    def batch(self, items: np.ndarray | range | list[int]) -> SceneBatch:
        items = [int(t) for t in items]
        b = len(items)
        objects = np.zeros((b, N_SLOTS, 1, IMAGE_SIZE, IMAGE_SIZE), np.float32)
        index = np.full((b, N_SLOTS), -1, np.int64)
        for r, sprites in enumerate(self.draw(items)):
            for m, (idx, mask) in enumerate(sprites):
                objects[r, m, 0], index[r, m] = mask, idx
        present = index >= 0
        factors = np.where(present[..., None], decode(np.maximum(index, 0)), -1)
        return SceneBatch(objects.max(1), objects, present, factors, present.sum(1))


def realised_histograms(batch: SceneBatch) -> dict[str, dict[str, list[int]]]:
    """Counts of every factor class among placed sprites, per scene size n (spec §3: acceptance
    skews the factor distribution towards small sprites in crowded scenes)."""
    out: dict[str, dict[str, list[int]]] = {}
    for n in np.unique(batch.n):
        rows = batch.factors[batch.n == n][batch.present[batch.n == n]]
        out[str(int(n))] = {name: np.bincount(rows[:, f], minlength=int(SIZES[f])).tolist()
                            for f, name in enumerate(FACTOR_NAMES)}
    return out


@dataclass
class PairedSceneBatch:
    """The five images of the source, in order: s1 = A ∨ B, s2 = A′ ∨ B, a, a2 (= A′), b; each
    (B, 1, 64, 64). k: (B,) changed feature (−1: no change); fa, fa2, fb: (B, 5) classes."""

    s1: np.ndarray
    s2: np.ndarray
    a: np.ndarray
    a2: np.ndarray
    b: np.ndarray
    k: np.ndarray
    fa: np.ndarray
    fa2: np.ndarray
    fb: np.ndarray


class PairedSceneDSprites:
    """Paired-Scene-dSprites of one split: objects A and B; A changes one feature into A′; both
    {A, B} and {A′, B} obey the non-overlap rule."""

    def __init__(self, settings: SplitDSpritesConfig | None = None, split: str | int = "train") -> None:
        self.settings = s = settings or PairedSceneDSpritesConfig()
        self.split = split_id(split)
        self.placer = Placer(s, split)
        self.changes = ChangeSampler(s, split)
        check_fits(s, 2)

    def __len__(self) -> int:
        return self.settings.epoch_size

    def draw(self, item: int) -> tuple[int, int, int, int]:
        """(index A, index A′, index B, k) of one item."""
        s = self.settings
        rng = np.random.default_rng([s.seed, self.split, int(item)])
        for _ in range(s.max_restarts + 1):
            (ia, _ma), (ib, mb) = self.placer.scenes([rng], [2], [f"Paired-Scene-dSprites item {item}"])[0]
            if rng.random() < s.p_no_change:
                return ia, ia, ib, -1
            near_b = dilate(mb, s.gap)
            for _t in range(s.max_tries):
                got = self.changes.attempt(rng, ia)
                if got is None:
                    continue
                k, j, _sym = got
                if s.allow_overlap or not (self.placer.masks(j)[0] & near_b).any():
                    return ia, j, ib, k
        raise BetavaeError(f"Paired-Scene-dSprites item {item}: no changed object A′ fits beside B in "
                           f"{s.max_restarts + 1} scenes of {s.max_tries} tries; lower gap or raise max_tries")

    def batch(self, items: np.ndarray | range | list[int]) -> PairedSceneBatch:
        ia, ia2, ib, k = (np.array(col, dtype=np.int64) for col in zip(*(self.draw(int(t)) for t in items), strict=True))
        fa, fa2, fb = decode(ia), decode(ia2), decode(ib)
        imgs = self.placer.render(np.concatenate([fa, fa2, fb])).astype(np.float32)
        a, a2, b = np.split(imgs, 3)
        return PairedSceneBatch(np.maximum(a, b), np.maximum(a2, b), a, a2, b, k, fa, fa2, fb)


@DATA.register("scene_dsprites")
class SceneDSpritesConfig(SplitDSpritesConfig):
    """Scene-dSprites (the ``sd`` stage: scenes as sums of objects): :class:`SceneBatch` batches."""

    stage = "sd"
    kind: Literal["scene_dsprites"] = "scene_dsprites"

    def build(self, split: str | int = "train") -> SceneDSprites:
        return SceneDSprites(self, split)


@DATA.register("paired_scene_dsprites")
class PairedSceneDSpritesConfig(SplitDSpritesConfig):
    """Paired-Scene-dSprites (the ``psd`` stage: swap training on two-object scenes):
    :class:`PairedSceneBatch` batches."""

    stage = "psd"
    kind: Literal["paired_scene_dsprites"] = "paired_scene_dsprites"

    def build(self, split: str | int = "train") -> PairedSceneDSprites:
        return PairedSceneDSprites(self, split)
