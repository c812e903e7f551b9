"""Edge cases: clear errors or documented values, never a crash or a silent NaN."""

from __future__ import annotations

import math

import numpy as np
import pytest

from betavae.errors import BetavaeError
from betavae.metrics import (
    ConstantFactorWarning,
    beta_vae_score,
    dci,
    evaluate,
    explicitness,
    factor_vae_score,
    irs,
    mig,
    modularity,
    sample_codes,
    sap,
    sap_continuous,
    unsupervised,
)

from .conftest import ArraySource


@pytest.fixture(scope="module")
def small():
    rng = np.random.default_rng(3)
    factors = rng.integers(4, size=(300, 3))
    codes = np.hstack(
        [factors + 0.1 * rng.standard_normal((300, 3)), rng.standard_normal((300, 2))]
    )
    return codes, factors


CHEAP_METRICS = ["mig", "sap_continuous", "modularity", "irs", "unsupervised"]


def test_constant_factor_is_dropped_with_a_warning(small):
    codes, factors = small
    with_constant = np.hstack([factors, np.zeros((300, 1), dtype=int)])
    with pytest.warns(ConstantFactorWarning, match=r"columns \[3\] are constant"):
        value = mig(codes, with_constant)["mig"]
    assert value == mig(codes, factors)["mig"]
    for fn in (modularity, irs, sap_continuous):
        with pytest.warns(ConstantFactorWarning):
            assert fn(codes, with_constant) == fn(codes, factors)


def test_constant_factor_in_suite_is_recorded(small):
    codes, factors = small
    with_constant = np.hstack([np.full((300, 1), 2), factors])
    r = evaluate(codes, with_constant, metrics=CHEAP_METRICS, n_jobs=1)
    assert any("constant" in w for w in r["warnings"])
    assert r["values"] == evaluate(codes, factors, metrics=CHEAP_METRICS, n_jobs=1)["values"]


def test_all_factors_constant_raises(small):
    codes, _ = small
    with pytest.raises(BetavaeError, match="every factor column is constant"):
        mig(codes, np.ones((300, 2), dtype=int))


def test_constant_code_dimension_gives_finite_documented_values(small):
    codes, factors = small
    with_constant = np.hstack([codes, np.full((300, 1), 3.0)])
    r = evaluate(
        with_constant, factors, seed=0, n_jobs=1, settings={"dci_params": {"n_estimators": 5}}
    )
    assert all(math.isfinite(v) for v in r["values"].values()), r["values"]
    assert r["values"]["irs.num_active_dims"] == 5
    # the constant dimension scores 0 in modularity, so the mean drops by the factor D/(D+1)
    train = slice(0, 200)  # modularity uses the training rows
    assert r["values"]["modularity"] == pytest.approx(
        modularity(codes[train], factors[train])["modularity"] * 5 / 6
    )
    # a constant dimension is independent: TC ignores it
    assert r["values"]["unsupervised.gaussian_total_correlation"] == pytest.approx(
        unsupervised(codes)["unsupervised.gaussian_total_correlation"]
    )


def test_all_codes_constant(small):
    _, factors = small
    zeros = np.zeros((300, 4))
    r = evaluate(zeros, factors, seed=0, n_jobs=1, metrics=CHEAP_METRICS)["values"]
    assert r["mig"] == 0.0 and r["modularity"] == 0.0 and r["irs"] == 0.0
    assert r["unsupervised.gaussian_total_correlation"] == 0.0
    assert r["unsupervised.gaussian_wasserstein_correlation_norm"] == 0.0


def test_duplicated_codes_have_infinite_total_correlation(small):
    codes, _ = small
    r = unsupervised(np.hstack([codes, codes]))
    assert r["unsupervised.gaussian_total_correlation"] == math.inf


def test_fewer_points_than_bins(small):
    codes, factors = small
    with pytest.raises(BetavaeError, match="fewer than num_bins=20"):
        mig(codes[:10], factors[:10])
    with pytest.raises(BetavaeError, match="fewer than num_bins"):
        evaluate(codes[:12], factors[:12], metrics=["mig"])
    assert 0 <= mig(codes[:10], factors[:10], num_bins=5)["mig"] <= 1


def test_row_mismatch(small):
    codes, factors = small
    with pytest.raises(BetavaeError, match="299 rows but the codes have 300"):
        mig(codes, factors[:-1])
    with pytest.raises(BetavaeError, match="rows but the codes"):
        dci(codes, factors, codes[:50], factors[:40])


def test_non_integer_factors(small):
    codes, factors = small
    with pytest.raises(BetavaeError, match="integer classes"):
        mig(codes, factors + 0.5)
    with pytest.raises(BetavaeError, match="integer classes"):
        mig(codes, factors.astype(str))
    assert mig(codes, factors.astype(float)) == mig(codes, factors)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_codes(small, bad):
    codes, factors = small
    codes = codes.copy()
    codes[7, 2] = bad
    with pytest.raises(BetavaeError, match="row 7, dimension 2"):
        evaluate(codes, factors)
    with pytest.raises(BetavaeError, match="NaN or inf"):
        unsupervised(codes)


def test_wrong_ndim(small):
    codes, factors = small
    with pytest.raises(BetavaeError, match="codes must be a 2-D array"):
        mig(codes[:, 0], factors)
    with pytest.raises(BetavaeError, match="factors must be a 2-D array"):
        mig(codes, factors[:, 0])
    with pytest.raises(BetavaeError, match="2-D"):
        mig(codes[None], factors)


def test_bad_split_arguments(small):
    codes, factors = small
    with pytest.raises(BetavaeError, match="both codes_test and factors_test"):
        sap(codes, factors, codes_test=codes)
    with pytest.raises(BetavaeError, match="train_fraction"):
        sap(codes, factors, train_fraction=1.0)
    with pytest.raises(BetavaeError, match="shapes disagree"):
        explicitness(codes, factors, codes[:, :2], factors)


def test_bad_options(small):
    codes, factors = small
    with pytest.raises(BetavaeError, match="unknown metric"):
        evaluate(codes, factors, metrics=["nope"])
    with pytest.raises(BetavaeError, match="unknown metrics preset"):
        evaluate(codes, factors, preset="slow")
    with pytest.raises(BetavaeError, match="unknown metrics setting"):
        evaluate(codes, factors, settings={"bins": 3})
    with pytest.raises(BetavaeError, match="seed must be"):
        evaluate(codes, factors, seed=1.5)
    with pytest.raises(BetavaeError, match="n_jobs"):
        evaluate(codes, factors, n_jobs=0)
    with pytest.raises(BetavaeError, match="classifier"):
        dci(codes, factors, classifier="forest")


def test_explicitness_class_missing_from_test_set(small):
    codes, factors = small
    test_factors = factors[200:].copy()
    test_factors[:, 1] = np.where(test_factors[:, 1] == 3, 2, test_factors[:, 1])  # class 3 gone
    with pytest.warns(UserWarning, match="1 factor"):
        r = explicitness(codes[:200], factors[:200], codes[200:], test_factors)
    assert r["explicitness.test_factors_skipped"] == 1
    assert math.isfinite(r["explicitness.test"])


def test_explicitness_every_factor_skipped_is_nan_with_warning(small):
    codes, factors = small
    with pytest.warns(UserWarning, match="3 factor"):
        r = explicitness(codes[:200], factors[:200], codes[200:210], np.zeros((10, 3), dtype=int))
    assert math.isnan(r["explicitness.test"]) and r["explicitness.test_factors_skipped"] == 3


def test_encoder_with_wrong_output_shape():
    source = ArraySource((3, 4))
    with pytest.raises(BetavaeError, match="must return \\(n, D\\)"):
        sample_codes(lambda x: x[:, 0], source, 10)
    with pytest.raises(BetavaeError, match="NaN or inf"):
        sample_codes(lambda x: np.full(x.shape, np.nan), source, 10)


def test_sampled_scores_need_two_varying_factors():
    source = ArraySource((1, 5))
    with pytest.raises(BetavaeError, match="at least two"):
        beta_vae_score(lambda x: x, source, num_train=10, num_eval=10)
    with pytest.raises(BetavaeError, match="at least two"):
        factor_vae_score(lambda x: x, source, num_train=10, num_eval=10, num_variance_estimate=50)


def test_sampled_scores_bad_sizes():
    source = ArraySource((3, 4))
    with pytest.raises(BetavaeError, match="batch_size >= 2"):
        factor_vae_score(lambda x: x, source, batch_size=1)
    with pytest.raises(BetavaeError, match="must be >= 1"):
        beta_vae_score(lambda x: x, source, num_train=0)


def test_sampled_scores_skip_size_one_factors():
    source = ArraySource((1, 6, 5))
    r = factor_vae_score(
        lambda x: x, source, batch_size=8, num_train=300, num_eval=200, num_variance_estimate=500
    )
    assert r["factor_vae.num_active_dims"] == 2  # the size-1 factor's dimension is constant
    assert r["factor_vae.eval_accuracy"] == 1.0
    b = beta_vae_score(lambda x: x, source, batch_size=8, num_train=300, num_eval=200)
    assert b["beta_vae.eval_accuracy"] == 1.0


def test_single_code_dimension_or_single_factor(small):
    codes, factors = small
    kw = {"seed": 0, "classifier_params": {"n_estimators": 5}}
    one_code = dci(codes[:, :1], factors, **kw)
    one_factor = dci(codes, factors[:, :1], **kw)
    assert one_code["dci.completeness"] == pytest.approx(1.0)  # entropy over one code is 0
    assert one_factor["dci.disentanglement"] == pytest.approx(1.0)  # entropy over one factor is 0
    assert all(math.isfinite(v) for v in {**one_code, **one_factor}.values())
    # MIG and SAP take the missing second-best code as 0
    assert mig(codes[:, :1], factors)["mig"] > 0
    assert 0 < sap_continuous(codes[:, :1], factors)["sap.continuous"] <= 1
    assert modularity(codes, factors[:, :1])["modularity"] == 1.0
