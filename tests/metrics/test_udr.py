"""UDR (Duan et al. 2020) as disentanglement_lib computes it: known answers."""

from __future__ import annotations

import numpy as np
import pytest

from betavae.errors import BetavaeError
from betavae.metrics import gaussian_kl, udr
from betavae.metrics.udr import lasso_matrix, relative_strength, spearman_matrix

from .test_infomec import grid


@pytest.fixture(scope="module")
def orthogonal():
    """Three independent, exactly balanced columns: in-sample orthogonal after z-scoring."""
    return grid((3, 4, 5), 4, seed=7).astype(np.float64)


def test_relative_strength_known_answers():
    assert relative_strength(np.eye(3)) == 1.0
    assert relative_strength(0.9 * np.eye(3)[[2, 0, 1]]) == pytest.approx(0.9)
    # one dimension related equally to two: max²/sum = 1/2 in its row, columns stay 1
    r = np.array([[1.0, 1.0], [0.0, 0.0]])
    assert relative_strength(r) == pytest.approx(((1 + 1) / 2 + (0.5 + 0) / 2) / 2)


def test_agreeing_models_score_one_with_spearman_and_one_minus_alpha_with_lasso(orthogonal):
    z = orthogonal
    other = np.stack([np.exp(z[:, 2]), -z[:, 0], 3 * z[:, 1]], axis=1)  # permuted, signed, monotone
    assert spearman_matrix(z, other) == pytest.approx(np.eye(3)[[1, 2, 0]], abs=1e-12)
    r = udr([z, other], correlation="spearman")
    assert r["model_scores"] == pytest.approx([1.0, 1.0], abs=1e-12)
    linear = np.stack([z[:, 2], -z[:, 0], 3 * z[:, 1]], axis=1)
    # lasso on orthogonal standardised codes: each coefficient soft-thresholded, 1 - 0.1
    assert lasso_matrix((z - z.mean(0)) / z.std(0), (linear - linear.mean(0)) / linear.std(0)) == (
        pytest.approx(0.9 * np.eye(3)[[1, 2, 0]], abs=1e-9)
    )
    assert udr([z, linear])["model_scores"] == pytest.approx([0.9, 0.9], abs=1e-9)


def test_rotated_model_scores_lower_and_median_is_over_the_others(orthogonal):
    z = orthogonal
    rng = np.random.default_rng(0)
    q = np.linalg.qr(rng.standard_normal((3, 3)))[0]
    models = [z, z[:, [2, 1, 0]], z @ q]
    r = udr(models, correlation="spearman")
    pairwise = np.array(r["pairwise"])
    assert pairwise[1, 0] == pytest.approx(1.0, abs=1e-12)  # the two aligned models agree
    assert r["model_scores"][2] < 0.7 < r["model_scores"][0]
    for i in range(3):
        assert r["model_scores"][i] == pytest.approx(np.median(np.delete(pairwise[:, i], i)))


def test_kl_filter_drops_inactive_dimensions(orthogonal):
    z = orthogonal
    rng = np.random.default_rng(1)
    # each model has a 4th dimension of its own noise (an unused latent at the prior)
    a = np.c_[z, rng.standard_normal(len(z))]
    b = np.c_[z[:, [1, 0, 2]], rng.standard_normal(len(z))]
    kl_dead = [np.array([1.0, 1.0, 1.0, 0.001])] * 2
    filtered = udr([a, b], kl_dead, correlation="spearman")
    assert filtered["model_scores"] == pytest.approx([1.0, 1.0], abs=1e-12)
    unfiltered = udr([a, b], correlation="spearman")
    assert unfiltered["model_scores"][0] < 0.8  # the two noise dimensions match nothing
    assert gaussian_kl(np.zeros((4, 2)), np.zeros((4, 2))) == pytest.approx([0.0, 0.0])
    assert gaussian_kl(np.ones((4, 1)), np.zeros((4, 1))) == pytest.approx([0.5])


def test_udr_errors(orthogonal):
    with pytest.raises(BetavaeError, match="at least 2"):
        udr([orthogonal])
    with pytest.raises(BetavaeError, match="same observations"):
        udr([orthogonal, orthogonal[:-1]])
    with pytest.raises(BetavaeError, match="correlation must be"):
        udr([orthogonal, orthogonal], correlation="pearson")
    with pytest.raises(BetavaeError, match="udr: 5 rows given, at least 10"):
        udr([orthogonal[:5], orthogonal[:5]])
