"""Unsupervised scores of Locatello et al. 2019 ("Challenging Common Assumptions in the
Unsupervised Learning of Disentangled Representations"): Gaussian total correlation,
Gaussian Wasserstein correlation and mean pairwise discrete mutual information of the codes.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg

from betavae.metrics._checks import RowMinimum, check_codes, varying_columns
from betavae.metrics.discretize import DEFAULT_NUM_BINS, histogram_discretize, mutual_info_matrix
from betavae.metrics.estimators import single_threaded_blas

#: A covariance needs 2 rows, the mean mutual information ``num_bins`` rows.
UNSUPERVISED_MIN_ROWS = RowMinimum(rows=2, bins=True)


def gaussian_total_correlation(cov: np.ndarray) -> float:
    """KL(N(0, Σ) ‖ N(0, diag Σ)) = ½ (Σ_d log Σ_dd − log det Σ), nats.

    Args:
        cov: (D, D) covariance with a positive diagonal. A singular Σ (duplicated codes)
            gives ``inf``.
    """
    sign, logdet = np.linalg.slogdet(cov)
    if sign <= 0:
        return float("inf")
    return float(0.5 * (np.sum(np.log(np.diag(cov))) - logdet))


def gaussian_wasserstein_correlation(cov: np.ndarray) -> float:
    """Squared 2-Wasserstein distance between N(0, Σ) and N(0, diag Σ):
    2 tr Σ − 2 tr((diag(Σ) Σ)^{1/2}) (real part of the matrix square root)."""
    root = scipy.linalg.sqrtm(cov * np.diag(cov)[:, None])
    return float(np.real(2.0 * np.trace(cov) - 2.0 * np.trace(root)))


def unsupervised_from_binned(codes: np.ndarray, binned: np.ndarray) -> dict[str, float]:
    """The four unsupervised scores from codes and their discretisation.

    Constant dimensions (:func:`~betavae.metrics._checks.varying_columns`) are left out of
    the two Gaussian scores (a constant is
    independent of everything; keeping it would give log 0). ``..._norm`` divides by
    tr Σ (0.0 if every dimension is constant). The mean MI averages over ordered pairs
    i ≠ j (0.0 for D = 1).
    """
    with single_threaded_blas():
        cov = np.atleast_2d(np.cov(codes, rowvar=False))
    active = varying_columns(codes)
    sub = cov[np.ix_(active, active)]
    if active.any():
        tc = gaussian_total_correlation(sub)
        wc = gaussian_wasserstein_correlation(sub)
    else:
        tc = wc = 0.0
    trace = float(np.trace(cov))
    d = codes.shape[1]
    mi = mutual_info_matrix(binned)
    np.fill_diagonal(mi, 0.0)
    return {
        "unsupervised.gaussian_total_correlation": tc,
        "unsupervised.gaussian_wasserstein_correlation": wc,
        "unsupervised.gaussian_wasserstein_correlation_norm": wc / trace if trace > 0 else 0.0,
        "unsupervised.mutual_info_score": float(mi.sum() / (d * d - d)) if d > 1 else 0.0,
    }


def unsupervised(
    codes: np.ndarray, factors: np.ndarray | None = None, *, num_bins: int = DEFAULT_NUM_BINS
) -> dict[str, float]:
    """Unsupervised scores of the codes (factors are accepted for a uniform signature, unused).

    Args:
        codes: (N, D) codes (disentanglement_lib: 10,000 points).
        num_bins: bins for the mean mutual information.

    Returns:
        ``unsupervised.gaussian_total_correlation``,
        ``unsupervised.gaussian_wasserstein_correlation``,
        ``unsupervised.gaussian_wasserstein_correlation_norm``,
        ``unsupervised.mutual_info_score`` (nats).
    """
    codes = check_codes(codes)
    UNSUPERVISED_MIN_ROWS.check("unsupervised", codes.shape[0], num_bins=num_bins)
    return unsupervised_from_binned(codes, histogram_discretize(codes, num_bins))
