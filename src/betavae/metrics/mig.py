"""Mutual Information Gap (Chen et al. 2018, "Isolating Sources of Disentanglement in VAEs").

disentanglement_lib's discrete MIG: codes binned by the 20-bin histogram discretiser, MI from
``sklearn.metrics.mutual_info_score``. Not comparable with Chen et al.'s own estimator, which
integrates the continuous posterior over the whole data set.
"""

from __future__ import annotations

import numpy as np

from betavae.metrics._checks import HISTOGRAM_MIN_ROWS, check_pair, constant_factor_mask
from betavae.metrics.discretize import (
    DEFAULT_NUM_BINS,
    discrete_entropy,
    histogram_discretize,
    mutual_info_matrix,
)

#: At least ``num_bins`` rows (20 by default).
MIG_MIN_ROWS = HISTOGRAM_MIN_ROWS


def mig_per_factor(mi: np.ndarray, entropy: np.ndarray) -> np.ndarray:
    """(K,) per-factor gaps: (largest − second largest ``mi[:, k]``) / ``entropy[k]``.

    ``mi``: (D, K) code-factor MI (nats); ``entropy``: (K,) factor entropies, > 0 (drop
    constant factors first). With a single code dimension the second largest is 0.
    """
    ordered = np.sort(mi, axis=0)[::-1]
    second = ordered[1] if ordered.shape[0] > 1 else np.zeros(ordered.shape[1])
    return (ordered[0] - second) / entropy


def mig_from_mi(mi: np.ndarray, entropy: np.ndarray) -> float:
    """MIG from a (D, K) code-factor MI matrix and the (K,) factor entropies (nats): the mean
    over factors of :func:`mig_per_factor`."""
    return float(np.mean(mig_per_factor(mi, entropy)))


def mig(
    codes: np.ndarray, factors: np.ndarray, *, num_bins: int = DEFAULT_NUM_BINS
) -> dict[str, float]:
    """Discrete Mutual Information Gap.

    Args:
        codes: (N, D) posterior means (disentanglement_lib: 10,000 points).
        factors: (N, K) integer factor classes. Constant columns are dropped with a warning.
        num_bins: histogram bins per code dimension.

    Returns:
        ``{"mig": float}`` in [0, 1].
    """
    codes, factors = check_pair(codes, factors)
    MIG_MIN_ROWS.check("mig", codes.shape[0], num_bins=num_bins)
    factors = factors[:, constant_factor_mask(factors, "mig")]
    mi = mutual_info_matrix(histogram_discretize(codes, num_bins), factors)
    return {"mig": mig_from_mi(mi, discrete_entropy(factors))}
