"""Correlated dSprites (Träuble et al. 2021): exact joint, measured correlation, independent metrics."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest

from betavae.config import build_config
from betavae.data.correlated import CorrelatedSampler, CorrelatedSource
from betavae.data.dsprites import FACTOR_SIZES
from betavae.errors import BetavaeError
from betavae.metrics import sample_codes


def correlated_dsprites(*pairs: dict):
    return build_config({"data": {"kind": "dsprites_correlated", "pairs": list(pairs)}}).data.build()


@pytest.mark.parametrize("strength", [0.5, 1.0, 2.5])
def test_two_binary_factors_have_the_closed_form_correlation(strength):
    # ĉ ∈ {0, 1}: w = 1 on the diagonal, e = exp(−strength²/2) off it, so ρ = (1 − e)/(1 + e).
    e = math.exp(-(strength**2) / 2)
    sampler = CorrelatedSampler((2, 2), [(0, 1, strength, False)])
    assert sampler.correlation(0, 1) == pytest.approx((1 - e) / (1 + e), abs=1e-12)
    f = sampler.sample(200_000, np.random.default_rng(0))
    assert np.corrcoef(f[:, 0], f[:, 1])[0, 1] == pytest.approx((1 - e) / (1 + e), abs=4 / math.sqrt(200_000))


def test_strength_zero_is_the_independent_grid():
    sampler = CorrelatedSampler(FACTOR_SIZES, [(1, 3, 0.0, False)])
    np.testing.assert_allclose(sampler.table, np.full((6, 32), 1 / (6 * 32)), rtol=1e-12)
    n = 192_000
    f = sampler.sample(n, np.random.default_rng(1))
    counts = np.zeros((6, 32))
    np.add.at(counts, (f[:, 1], f[:, 3]), 1)
    chi2 = ((counts - n / 192) ** 2 / (n / 192)).sum()
    assert chi2 < 191 + 5 * math.sqrt(2 * 191)  # χ² with 191 d.o.f.: mean 191, sd √382


@pytest.mark.parametrize("strength", [1 / 0.7, 2.5, 5.0])
def test_measured_correlation_of_dsprites_matches_the_joint(strength):
    src = correlated_dsprites({"factors": ["scale", "posX"], "strength": strength})
    f = src.sample_factors(100_000, np.random.default_rng(2))
    measured = np.corrcoef(f[:, 1], f[:, 3])[0, 1]
    assert measured == pytest.approx(src.sampler.correlation(1, 3), abs=0.015)
    others = np.corrcoef(f.T)[np.ix_([0, 2, 4], [0, 1, 2, 3, 4])]
    others[[0, 1, 2], [0, 2, 4]] = 0  # the unpaired factors stay independent of everything
    assert np.abs(others).max() < 0.015


def test_stronger_pairs_correlate_more_and_inverse_pairs_anticorrelate():
    rhos = [CorrelatedSampler(FACTOR_SIZES, [(1, 3, s, False)]).correlation(1, 3) for s in (0.5, 1.43, 2.5, 5)]
    assert rhos == sorted(rhos) and rhos[0] > 0 and rhos[-1] > 0.75
    inverse = CorrelatedSampler(FACTOR_SIZES, [(1, 3, 2.5, True)])
    assert inverse.correlation(1, 3) == pytest.approx(-rhos[2], abs=1e-12)


def test_a_chain_of_pairs_is_sampled_from_the_full_joint():
    sampler = CorrelatedSampler((5, 5, 5), [(0, 1, 3.0, False), (1, 2, 3.0, False)])
    # the joint table is proportional to the product of the pair weights
    c = np.arange(5) / 4
    w = np.exp(-9 / 2 * ((c[:, None, None] - c[None, :, None]) ** 2 + (c[None, :, None] - c[None, None, :]) ** 2))
    np.testing.assert_allclose(sampler.table, w / w.sum(), rtol=1e-12)
    assert 0 < sampler.correlation(0, 2) < sampler.correlation(0, 1)


class Blank:
    """A stand-in for the rendered source: the dSprites grid, blank 1×2×2 images."""

    factor_names, factor_sizes = ("shape", "scale", "orientation", "posX", "posY"), FACTOR_SIZES
    observation_shape, pixel_max = (1, 2, 2), 1

    def __len__(self) -> int:
        return int(np.prod(FACTOR_SIZES))

    def sample_factors_uniform(self, n, rng):
        return rng.integers(0, np.asarray(FACTOR_SIZES), size=(n, 5))

    def observations(self, factors):
        return np.zeros((len(factors), 1, 2, 2), np.uint8)


def test_metrics_draw_from_the_independent_grid():
    src = CorrelatedSource(Blank(), CorrelatedSampler(FACTOR_SIZES, [(1, 3, 5.0, False)]))
    assert src.sampler.correlation(1, 3) > 0.8  # the training joint
    codes, factors = sample_codes(lambda x: x.reshape(len(x), -1).astype(np.float32), src, 20_000, seed=0)
    assert codes.shape == (20_000, 4)
    assert abs(np.corrcoef(factors[:, 1], factors[:, 3])[0, 1]) < 0.03  # SE ≈ 0.007


def test_the_source_pickles_for_spawned_workers():
    src = correlated_dsprites({"factors": ["shape", "orientation"], "strength": 2.5, "inverse": True})
    back = pickle.loads(pickle.dumps(src))
    rng_a, rng_b = np.random.default_rng(5), np.random.default_rng(5)
    np.testing.assert_array_equal(back.sample_factors(50, rng_a), src.sample_factors(50, rng_b))
    np.testing.assert_array_equal(back.images(np.arange(3)), src.images(np.arange(3)))


@pytest.mark.parametrize("pairs, message", [
    ([{"factors": ["scale", "posZ"], "strength": 1}], "unknown factor 'posZ'"),
    ([{"factors": ["scale", 1], "strength": 1}], "names one factor twice"),
    ([{"factors": ["scale", "posX"], "strength": -1}], "greater than or equal to 0"),
    ([], "at least 1 item"),
])
def test_bad_pairs_give_one_clear_error(pairs, message):
    with pytest.raises(BetavaeError, match=message):
        build_config({"data": {"kind": "dsprites_correlated", "pairs": pairs}})
