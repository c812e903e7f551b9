"""Separated Attribute Predictability (Kumar et al. 2018, "Variational Inference of
Disentangled Latent Concepts from Unlabeled Observations", section 3), as disentanglement_lib.

A score matrix S (D, K) rates how well code d alone predicts factor k; SAP is the mean over
factors of the gap between the best and second best code.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from betavae.metrics._checks import (
    CLASSIFIER_MIN_ROWS,
    DEFAULT_TRAIN_FRACTION,
    RowMinimum,
    Seed,
    as_generator,
    check_pair,
    constant_factor_mask,
    estimator_seeds,
    split,
)
from betavae.metrics.estimators import SVC_DEFAULTS, make_svc, merged, single_threaded_blas

#: Discrete SAP: 10 training and 5 test rows (a classifier metric).
SAP_MIN_ROWS = CLASSIFIER_MIN_ROWS
#: Continuous SAP: 3 rows (two points are always perfectly correlated).
SAP_CONTINUOUS_MIN_ROWS = RowMinimum(rows=3)


def top_two_gap(score: np.ndarray) -> float:
    """Mean over columns of (largest − second largest) of a (D, K) matrix (second = 0 if D = 1)."""
    ordered = np.sort(score, axis=0)
    second = ordered[-2] if ordered.shape[0] > 1 else np.zeros(ordered.shape[1])
    return float(np.mean(ordered[-1] - second))


def sap_discrete_column(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    params: dict[str, Any],
    seed: int,
) -> np.ndarray:
    """Column k of the discrete score matrix: test accuracy of a LinearSVC on each code alone."""
    column = np.empty(x_train.shape[1], dtype=np.float64)
    for d in range(x_train.shape[1]):
        clf = make_svc(params, seed).fit(x_train[:, d : d + 1], y_train)
        column[d] = np.mean(clf.predict(x_test[:, d : d + 1]) == y_test)
    return column


def continuous_score_matrix(codes: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """S_dk = cov(z_d, v_k)² / (var z_d · var v_k), ddof 1; 0 where var z_d <= 1e-12."""
    z = codes.astype(np.float64)
    v = factors.astype(np.float64)
    zc = z - z.mean(axis=0)
    vc = v - v.mean(axis=0)
    n = z.shape[0] - 1
    with single_threaded_blas():
        cov = zc.T @ vc / n
    var_z = np.sum(zc * zc, axis=0) / n
    var_v = np.sum(vc * vc, axis=0) / n
    active = var_z > 1e-12
    out = np.zeros_like(cov)
    out[active] = cov[active] ** 2 / (var_z[active, None] * var_v[None, :])
    return out


def sap(
    codes: np.ndarray,
    factors: np.ndarray,
    codes_test: np.ndarray | None = None,
    factors_test: np.ndarray | None = None,
    *,
    train_fraction: float = DEFAULT_TRAIN_FRACTION,
    seed: Seed = 0,
    svc_params: dict[str, Any] | None = None,
) -> dict[str, float]:
    """Discrete SAP (disentanglement_lib's study setting, ``continuous_factors=False``).

    S_dk = test accuracy of ``LinearSVC(C=0.01, class_weight="balanced")`` trained on code d
    alone. Quirk reproduced: a one-dimensional one-vs-rest linear SVM cannot isolate the
    middle classes of a factor, so perfect codes score only ≈ 0.29.

    Args:
        codes, factors: (N, D) codes and (N, K) classes (train, or all rows with
            ``train_fraction``); disentanglement_lib: 10,000 train, 5,000 test.
        codes_test, factors_test: independent test arrays (optional).
        seed: int or Generator (only used by the dual solver).
        svc_params: overrides of :data:`~betavae.metrics.estimators.SVC_DEFAULTS`.

    Returns:
        ``{"sap": float}``.
    """
    ctr, ftr, cte, fte = split(codes, factors, codes_test, factors_test, train_fraction)
    SAP_MIN_ROWS.check("sap", ctr.shape[0], cte.shape[0])
    keep = constant_factor_mask(ftr, "sap", " in the training rows")
    ftr, fte = ftr[:, keep], fte[:, keep]
    params = merged(SVC_DEFAULTS, svc_params)
    seeds = estimator_seeds(as_generator(seed), ftr.shape[1])
    columns = [
        sap_discrete_column(ctr, ftr[:, k], cte, fte[:, k], params, seeds[k])
        for k in range(ftr.shape[1])
    ]
    return {"sap": top_two_gap(np.stack(columns, axis=1))}


def sap_continuous(codes: np.ndarray, factors: np.ndarray) -> dict[str, float]:
    """Continuous SAP: squared correlation of each code with each factor, on training points.

    Args:
        codes: (N, D) training codes (disentanglement_lib: 10,000 points).
        factors: (N, K) factor values; constant columns dropped with a warning.

    Returns:
        ``{"sap.continuous": float}`` in [0, 1].
    """
    codes, factors = check_pair(codes, factors)
    SAP_CONTINUOUS_MIN_ROWS.check("sap_continuous", codes.shape[0])
    factors = factors[:, constant_factor_mask(factors, "sap_continuous")]
    return {"sap.continuous": top_two_gap(continuous_score_matrix(codes, factors))}
