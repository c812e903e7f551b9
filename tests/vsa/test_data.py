"""Paired-, Scene- and Paired-Scene-dSprites: the defining property of each, and bad input."""

from __future__ import annotations

import time

import numpy as np
import pytest

from betavae.config import build_config
from betavae.data.dsprites_split import (
    N_ANGLES,
    ORIENT,
    STRIDES,
    factor_index,
    membership,
    orientation_distance,
)
from betavae.data.paired_dsprites import PairedDSprites, PairedDSpritesConfig
from betavae.data.render import make_renderer
from betavae.data.scene_dsprites import (
    PairedSceneDSprites,
    PairedSceneDSpritesConfig,
    SceneDSprites,
    SceneDSpritesConfig,
    dilate,
    max_objects,
)
from betavae.errors import BetavaeError
from betavae.metrics.vsa_images import count_objects


def canonical(c: np.ndarray) -> np.ndarray:
    c = c.copy()
    c[..., ORIENT] %= N_ANGLES  # orientation 39 is orientation 0
    return c


def test_pairs_differ_in_exactly_one_factor_inside_the_split():
    ds = PairedDSprites(PairedDSpritesConfig(seed=3), "test")
    b = ds.batch(range(300))
    diff = canonical(b.c1) != canonical(b.c2)
    assert (diff.sum(1) == 1).all()
    assert (diff.argmax(1) == b.k).all()
    assert (b.j - b.i == (b.c2 - b.c1)[np.arange(300), b.k] * STRIDES[b.k]).all()
    member = membership(0, 0.1)
    assert (member[b.i] == 1).all() and (member[b.j] == 1).all()
    render = make_renderer()
    assert np.array_equal(b.x1, render(b.c1)) and np.array_equal(b.x2, render(b.c2))
    assert b.x1.dtype == np.float32 and b.x1.shape == (300, 1, 64, 64)
    assert set(np.unique(b.k)) == set(range(5))


def test_items_are_regenerated_alone_and_seeds_differ():
    ds = PairedDSprites(PairedDSpritesConfig(seed=1))
    b = ds.batch(range(20))
    one = ds.batch([13])
    assert one.i[0] == b.i[13] and one.j[0] == b.j[13] and np.array_equal(one.x1[0], b.x1[13])
    assert not np.array_equal(PairedDSprites(PairedDSpritesConfig(seed=2)).batch(range(20)).i, b.i)


def test_orientation_pairs_skip_symmetric_near_duplicates():
    s = PairedDSpritesConfig(feature_weights={"orientation": 1.0})
    b = PairedDSprites(s).batch(range(400))
    assert (b.k == ORIENT).all()
    dist = orientation_distance(b.c1[:, ORIENT], b.c2[:, ORIENT], b.c1[:, 0])
    assert (dist >= 1).all() and not b.symmetric.any()
    kept = PairedDSprites(s.model_copy(update={"exclude_symmetric": False})).batch(range(400))
    flagged = orientation_distance(kept.c1[:, ORIENT], kept.c2[:, ORIENT], kept.c1[:, 0]) < 1
    assert kept.symmetric.any() and np.array_equal(kept.symmetric, flagged)


def test_adjacent_changes_move_one_class_and_wrap_orientation():
    b = PairedDSprites(PairedDSpritesConfig(change="adjacent", exclude_symmetric=False)).batch(range(300))
    rows = np.arange(300)
    step = np.abs(canonical(b.c1)[rows, b.k] - canonical(b.c2)[rows, b.k])
    step = np.where(b.k == ORIENT, np.minimum(step, N_ANGLES - step), step)
    assert (step == 1).all()


def test_invalid_factor_names_are_clear_errors():
    with pytest.raises(BetavaeError, match="unknown dSprites factor 'color'.*shape, scale"):
        factor_index("color")
    with pytest.raises(BetavaeError, match="unknown factor name.*colour"):
        build_config({"data": {"kind": "paired_dsprites", "feature_weights": {"colour": 1.0}}})


def test_scenes_have_two_to_five_separate_sprites():
    b = SceneDSprites(SceneDSpritesConfig(seed=4)).batch(range(120))
    assert set(np.unique(b.n)) == {2, 3, 4, 5}
    assert (b.present.sum(1) == b.n).all() and (b.factors[~b.present] == -1).all()
    assert np.array_equal(b.x, b.objects.max(1))
    for r in range(len(b.n)):
        masks = b.objects[r, : b.n[r], 0] > 0
        for m in range(len(masks)):
            for m2 in range(len(masks)):
                if m != m2:
                    assert not (dilate(masks[m], 1) & masks[m2]).any()
    assert np.array_equal(count_objects(b.x > 0, a_min=1), b.n)  # g = 1: one component per sprite


@pytest.mark.parametrize("n_min, n_max", [(1, 3), (2, 6), (4, 3)])
def test_scene_sizes_outside_two_to_five_are_rejected(n_min, n_max):
    with pytest.raises(BetavaeError, match="2 <= n_min <= n_max <= 5"):
        build_config({"data": {"kind": "scene_dsprites", "n_min": n_min, "n_max": n_max}})


def test_a_canvas_too_small_fails_up_front_when_impossible():
    assert max_objects(24) == 4
    with pytest.raises(BetavaeError, match="cannot hold 5 non-overlapping sprites"):
        SceneDSprites(SceneDSpritesConfig(n_min=5, n_max=5, gap=24))


def test_a_canvas_too_small_fails_after_bounded_tries():
    ds = SceneDSprites(SceneDSpritesConfig(n_min=5, n_max=5, gap=14, max_tries=40, max_restarts=3))
    start = time.perf_counter()
    with pytest.raises(BetavaeError, match="could not place 5 non-overlapping sprites"):
        ds.batch([0])
    assert time.perf_counter() - start < 5


def test_paired_scenes_change_exactly_one_object():
    b = PairedSceneDSprites(PairedSceneDSpritesConfig(seed=5)).batch(range(80))
    diff = canonical(b.fa) != canonical(b.fa2)
    assert (diff.sum(1) == 1).all() and (diff.argmax(1) == b.k).all()
    assert np.array_equal(b.s1, np.maximum(b.a, b.b)) and np.array_equal(b.s2, np.maximum(b.a2, b.b))
    for r in range(80):
        for obj in (b.a[r, 0], b.a2[r, 0]):
            assert not (dilate(obj > 0, 1) & (b.b[r, 0] > 0)).any()
    assert np.array_equal(count_objects(b.s1 > 0, 1), np.full(80, 2))
    same = PairedSceneDSprites(PairedSceneDSpritesConfig(p_no_change=1.0)).batch(range(5))
    assert (same.k == -1).all() and np.array_equal(same.a, same.a2)
