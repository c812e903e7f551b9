"""Edge cases: clear errors or documented values, never a crash or a silent NaN."""

from __future__ import annotations

import math
import warnings

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


# --- issue #18: minimum rows, constant-in-the-training-rows factors, float32 constant codes


@pytest.mark.parametrize(
    ("metric", "fn", "minimum"),
    [("dci", dci, 10), ("sap", sap, 10), ("explicitness", explicitness, 10)],
)
def test_classifier_metrics_refuse_too_few_rows(small, metric, fn, minimum):
    codes, factors = small
    # 3 rows: 2 training rows, 1 test row
    message = rf"{metric}: 2 training rows given, at least {minimum} needed"
    with pytest.raises(BetavaeError, match=message):
        fn(codes[:3], factors[:3])
    with pytest.raises(BetavaeError, match=rf"too few rows: {message}"):
        evaluate(codes[:3], factors[:3], metrics=[metric])
    with pytest.raises(BetavaeError, match=rf"{metric}: 4 test rows given, at least 5 needed"):
        fn(codes[:10], factors[:10], codes[10:14], factors[10:14])


def test_minimum_rows_are_declared_and_exactly_enough(small):
    from betavae.metrics.suite import MIN_ROWS

    codes, factors = small
    assert set(MIN_ROWS) == set(bm_array_metrics())
    assert (MIN_ROWS["dci"].rows, MIN_ROWS["dci"].test) == (10, 5)
    # 15 rows split 2/3: exactly 10 training and 5 test rows, accepted
    r = dci(codes[:15], factors[:15], classifier_params={"n_estimators": 2})
    assert 0.0 <= r["dci.informativeness_test"] <= 1.0
    with pytest.raises(BetavaeError, match="sap_continuous: 2 rows given, at least 3 needed"):
        sap_continuous(codes[:2], factors[:2])
    # every failing metric is named in one line
    with pytest.raises(BetavaeError, match=r"dci: .*; sap: .*; mig: 3 rows given, at least 20"):
        evaluate(codes[:3], factors[:3], metrics=["dci", "sap", "mig"])


def bm_array_metrics():
    from betavae.metrics import ARRAY_METRICS

    return ARRAY_METRICS


def test_factor_constant_only_in_training_rows_is_kept_by_all_row_metrics(small):
    codes, factors = small
    factors = factors.copy()
    factors[:200, 1] = 0  # constant in the first 200 (training) rows, varies in the rest
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # IRS uses all rows: the factor varies there, no warning
        alone = irs(codes, factors)
    r = evaluate(codes, factors, metrics=["irs", "mig", "modularity"], n_jobs=1)
    assert r["values"]["irs"] == alone["irs"]
    assert r["values"]["mig"] == mig(codes, factors)["mig"]
    # modularity uses the training rows, where the factor is constant: it is dropped there
    kept = [0, 2]
    assert r["values"]["modularity"] == modularity(codes[:200], factors[:200, kept])["modularity"]
    (message,) = r["warnings"]
    assert "factor column(s) 1 are constant in the training rows" in message
    assert "dropped from modularity" in message and "mig, irs use all rows and keep them" in message
    named = evaluate(
        codes, factors, metrics=["modularity"], n_jobs=1, factor_names=["shape", "scale", "x"]
    )
    assert named["warnings"] == [
        "factor column(s) scale are constant in the training rows and were dropped from "
        "modularity"
    ]


def test_factor_constant_everywhere_is_dropped_from_every_metric(small):
    codes, factors = small
    factors = np.hstack([factors, np.full((300, 1), 4)])
    r = evaluate(codes, factors, metrics=["irs", "modularity"], n_jobs=1)
    assert r["warnings"] == [
        "factor column(s) 3 are constant and were dropped from modularity, irs "
        "(a constant factor has zero entropy)"
    ]
    assert r["values"]["irs"] == irs(codes, factors[:, :3])["irs"]


def test_unsupervised_alone_ignores_constant_factors(small):
    codes, _ = small
    r = evaluate(codes, np.zeros((300, 2), dtype=int), metrics=["unsupervised"])
    assert r["warnings"] == [] and r["values"] == unsupervised(codes)
    with pytest.raises(BetavaeError, match="dci: every factor column is constant in the training"):
        evaluate(codes, np.r_[np.zeros((200, 1)), np.ones((100, 1))], metrics=["dci"])


def test_irs_counts_a_constant_float32_column_as_inactive(small):
    codes, factors = small
    c32 = np.hstack([codes, np.full((300, 1), 0.3)]).astype(np.float32)
    assert c32.var(axis=0)[-1] > 0.0  # float32 rounding: the variance test alone would pass it
    r = irs(c32, factors)
    assert r["irs.num_active_dims"] == 5
    assert r["irs"] == pytest.approx(irs(c32[:, :5], factors)["irs"], abs=1e-12)
    # a tiny but real spread is not rounding: still active
    tiny = np.hstack([codes, 1e-20 * np.arange(300.0)[:, None]])
    assert irs(tiny, factors)["irs.num_active_dims"] == 6
