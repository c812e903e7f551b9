"""Modularity and explicitness (Ridgeway & Mozer 2018, "Learning Deep Disentangled Embeddings
With the F-Statistic Loss"), as disentanglement_lib computes them.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score

from betavae.metrics._checks import (
    CLASSIFIER_MIN_ROWS,
    DEFAULT_TRAIN_FRACTION,
    HISTOGRAM_MIN_ROWS,
    Seed,
    as_generator,
    check_pair,
    constant_factor_mask,
    estimator_seeds,
    split,
)
from betavae.metrics.discretize import DEFAULT_NUM_BINS, histogram_discretize, mutual_info_matrix
from betavae.metrics.estimators import (
    LOGREG_DEFAULTS,
    make_logreg,
    merged,
    single_threaded_blas,
)

log = logging.getLogger(__name__)

#: Modularity: at least ``num_bins`` training rows.
MODULARITY_MIN_ROWS = HISTOGRAM_MIN_ROWS
#: Explicitness: 10 training and 5 test rows (a classifier metric).
EXPLICITNESS_MIN_ROWS = CLASSIFIER_MIN_ROWS


def modularity_from_mi(mi: np.ndarray) -> float:
    """Modularity from a (D, K) code-factor MI matrix.

    Per code d: θ = max_k m_dk², δ = (Σ_k m_dk² − θ) / (θ (K − 1)), score 1 − δ, or 0 when
    θ = 0 (a code that carries no information, e.g. a constant one). With K = 1 every
    informative code scores 1. Returns the mean over codes (every code counts equally, so
    nuisance dimensions pull it below 1).
    """
    sq = np.square(mi)
    theta = sq.max(axis=1)
    k = sq.shape[1]
    with np.errstate(divide="ignore", invalid="ignore"):
        delta = (sq.sum(axis=1) - theta) / (theta * (k - 1)) if k > 1 else np.zeros_like(theta)
    score = np.where(theta == 0.0, 0.0, 1.0 - delta)
    return float(np.mean(score))


def modularity(
    codes: np.ndarray, factors: np.ndarray, *, num_bins: int = DEFAULT_NUM_BINS
) -> dict[str, float]:
    """Modularity score on (training) codes.

    Args:
        codes: (N, D) codes; disentanglement_lib uses its 10,000 training points.
        factors: (N, K) integer classes; constant columns dropped with a warning.
        num_bins: histogram bins per code dimension.

    Returns:
        ``{"modularity": float}`` in [0, 1].
    """
    codes, factors = check_pair(codes, factors)
    MODULARITY_MIN_ROWS.check("modularity", codes.shape[0], num_bins=num_bins)
    factors = factors[:, constant_factor_mask(factors, "modularity")]
    return {
        "modularity": modularity_from_mi(
            mutual_info_matrix(histogram_discretize(codes, num_bins), factors)
        )
    }


def standardize(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """z-score both sets with the train mean and std (ddof 0); a constant dimension is only
    centred (std taken as 1) instead of dividing by zero."""
    mean = train.mean(axis=0)
    std = train.std(axis=0)
    std = np.where(std == 0, np.ones_like(std), std)
    return (train - mean) / std, (test - mean) / std


def _one_hot_auc(y: np.ndarray, classes: np.ndarray, proba: np.ndarray) -> float:
    """Macro ROC-AUC of ``proba`` (N, C) against one-hot labels of ``y`` over ``classes``."""
    truth = (y[:, None] == classes[None, :]).astype(np.int64)
    return float(roc_auc_score(truth, proba, average="macro"))


def explicitness_factor(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    params: dict[str, Any],
    seed: int,
) -> tuple[float, float | None]:
    """Train and test ROC-AUC of one LogisticRegression for one factor (standardised codes).

    The test AUC is ``None`` when the test set's classes differ from the training set's
    (disentanglement_lib crashes there: the one-hot columns no longer match).
    """
    with single_threaded_blas():
        clf = make_logreg(params, seed).fit(x_train, y_train)
        auc_train = _one_hot_auc(y_train, clf.classes_, clf.predict_proba(x_train))
        if not np.array_equal(np.unique(y_test), clf.classes_):
            return auc_train, None
        return auc_train, _one_hot_auc(y_test, clf.classes_, clf.predict_proba(x_test))


def explicitness_summary(per_factor: list[tuple[float, float | None]]) -> dict[str, float]:
    """Means over factors; counts the factors whose test AUC could not be computed."""
    tests = [t for _, t in per_factor if t is not None]
    skipped = len(per_factor) - len(tests)
    if skipped:
        warnings.warn(
            f"explicitness: {skipped} factor(s) have different classes in the test set than in "
            "the training set; their test AUC is undefined and left out of explicitness.test",
            UserWarning,
            stacklevel=3,
        )
    return {
        "explicitness.train": float(np.mean([a for a, _ in per_factor])),
        "explicitness.test": float(np.mean(tests)) if tests else float("nan"),
        "explicitness.test_factors_skipped": float(skipped),
    }


def explicitness(
    codes: np.ndarray,
    factors: np.ndarray,
    codes_test: np.ndarray | None = None,
    factors_test: np.ndarray | None = None,
    *,
    train_fraction: float = DEFAULT_TRAIN_FRACTION,
    seed: Seed = 0,
    logreg_params: dict[str, Any] | None = None,
) -> dict[str, float]:
    """Explicitness: ROC-AUC of a per-factor LogisticRegression on standardised codes.

    Args:
        codes, factors: (N, D) codes and (N, K) classes (train, or all rows with
            ``train_fraction``); disentanglement_lib: 10,000 train, 5,000 test.
        codes_test, factors_test: independent test arrays (optional).
        train_fraction: first ``ceil(f N)`` rows train when no test arrays are given.
        seed: int or Generator (see :mod:`betavae.metrics`).
        logreg_params: overrides of :data:`~betavae.metrics.estimators.LOGREG_DEFAULTS`.

    Returns:
        ``explicitness.train``, ``explicitness.test`` (0.5 = chance; NaN with a warning if no
        factor's test AUC is defined) and ``explicitness.test_factors_skipped``.
    """
    ctr, ftr, cte, fte = split(codes, factors, codes_test, factors_test, train_fraction)
    EXPLICITNESS_MIN_ROWS.check("explicitness", ctr.shape[0], cte.shape[0])
    keep = constant_factor_mask(ftr, "explicitness", " in the training rows")
    ftr, fte = ftr[:, keep], fte[:, keep]
    xtr, xte = standardize(ctr, cte)
    params = merged(LOGREG_DEFAULTS, logreg_params)
    seeds = estimator_seeds(as_generator(seed), ftr.shape[1])
    per_factor = [
        explicitness_factor(xtr, ftr[:, k], xte, fte[:, k], params, seeds[k])
        for k in range(ftr.shape[1])
    ]
    return explicitness_summary(per_factor)
