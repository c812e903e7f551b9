"""Interventional Robustness Score (Suter et al. 2019, "Robustly Disentangled Causal
Mechanisms: Validating Deep Representations for Interventional Robustness"), as
disentanglement_lib computes it.
"""

from __future__ import annotations

import numpy as np

from betavae.metrics._checks import (
    HISTOGRAM_MIN_ROWS,
    check_pair,
    constant_factor_mask,
    varying_columns,
)
from betavae.metrics.discretize import DEFAULT_NUM_BINS, histogram_discretize

#: At least ``num_bins`` rows (the factors are binned).
IRS_MIN_ROWS = HISTOGRAM_MIN_ROWS


def irs_from_binned(
    codes: np.ndarray, binned_factors: np.ndarray, quantile: float = 0.99
) -> dict[str, float]:
    """IRS of codes against already discretised factors.

    Constant code dimensions (:func:`~betavae.metrics._checks.varying_columns`: equal up to
    rounding, so a float32 constant column whose variance computes as ~1e-14 is constant)
    are dropped. M_d = max_n |z_nd − mean_d|. For factor k
    and each of its (binned) values u: e = mean code over the points with v_k = u and
    dev_u = the ``quantile`` of |z − e| per dimension; cum_dk = mean over u of dev_u. IRS
    matrix = 1 − cum / M; per-dimension score = its max over factors; IRS = average of the
    per-dimension scores weighted by M_d (plain mean if all M_d = 0).

    Args:
        codes: (N, D) codes.
        binned_factors: (N, K) integer factor labels.
        quantile: 0.99 in disentanglement_lib (1.0 is the paper's max).

    Returns:
        ``irs`` (0.0 if no dimension varies) and ``irs.num_active_dims``, the true number of
        non-constant code dimensions (disentanglement_lib reports the *sum of the active
        code values* under that name, a bug).
    """
    active = codes[:, varying_columns(codes)]
    num_active = active.shape[1]
    if num_active == 0:
        return {"irs": 0.0, "irs.num_active_dims": 0.0}
    max_dev = np.max(np.abs(active - active.mean(axis=0)), axis=0)
    cum = np.zeros((num_active, binned_factors.shape[1]))
    for k in range(binned_factors.shape[1]):
        values = np.unique(binned_factors[:, k])
        for u in values:
            group = active[binned_factors[:, k] == u]
            cum[:, k] += np.quantile(np.abs(group - group.mean(axis=0)), quantile, axis=0)
        cum[:, k] /= len(values)
    with np.errstate(divide="ignore", invalid="ignore"):
        per_dim = (1.0 - cum / max_dev[:, None]).max(axis=1)
    score = np.average(per_dim, weights=max_dev) if max_dev.sum() > 0.0 else np.mean(per_dim)
    return {"irs": float(score), "irs.num_active_dims": float(num_active)}


def irs(
    codes: np.ndarray,
    factors: np.ndarray,
    *,
    num_bins: int = DEFAULT_NUM_BINS,
    quantile: float = 0.99,
) -> dict[str, float]:
    """Interventional Robustness Score.

    The *factors* go through the same 20-bin histogram discretiser as codes elsewhere, so a
    factor with more than ``num_bins`` values has some merged (dSprites' 32 positions, 40
    orientations). High-variance nuisance dimensions pull the score down (M_d weighting).

    Args:
        codes: (N, D) codes (disentanglement_lib: 10,000 points).
        factors: (N, K) integer classes; constant columns dropped with a warning.
        num_bins: bins for the factor discretiser.
        quantile: quantile of the within-group deviations (0.99).

    Returns:
        ``irs`` in [0, 1] and ``irs.num_active_dims``.
    """
    codes, factors = check_pair(codes, factors)
    IRS_MIN_ROWS.check("irs", codes.shape[0], num_bins=num_bins)
    factors = factors[:, constant_factor_mask(factors, "irs")]
    return irs_from_binned(codes, histogram_discretize(factors, num_bins), quantile)
