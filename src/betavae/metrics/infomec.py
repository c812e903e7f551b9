"""InfoMEC: InfoM (modularity), InfoC (compactness) and InfoE (explicitness) of Hsu, Dorrell,
Whittington, Wu & Finn (NeurIPS 2023, "Disentanglement via Latent Quantization").

From the normalised mutual information NMI_kj = I(v_k; z_j) / H(v_k) (K factors, the active
code dimensions z_j):

* InfoM = (mean_j max_k NMI_kj / Σ_k NMI_kj − 1/K) / (1 − 1/K): each code dimension
  informs about one factor;
* InfoC = (mean_k max_j NMI_kj / Σ_j NMI_kj − 1/L) / (1 − 1/L), L active dimensions: each
  factor is captured by one dimension;
* InfoE = mean_k (H₀ − H(v_k | z)) / H₀: the share of a factor's uncertainty that a
  multinomial logistic regression on all standardised codes removes, H(v_k | z) its mean
  log loss on the rows it was fitted on and H₀ = log(number of classes), the loss of the
  same regression without features.

As the authors' code (``disentangle/metrics/infomec.py``): factor values relabelled 0..n-1;
active dimensions those whose range exceeds 1/20 of the largest range; logistic regression
without penalty, ``class_weight="balanced"``, lbfgs, at most 100 iterations, evaluated
in-sample with the unweighted log loss. Differences, each documented in docs/metrics.md:

* Mutual information: the authors estimate I(v_k; z_j) with scikit-learn's
  ``mutual_info_classif`` (k-nearest neighbours, k = 10), whose value changes with the
  scikit-learn version and the noise it adds, and which inflates the MI of tied values
  (quantised codes). Here: the plug-in estimator on the codes binned into ``num_bins``
  equal-width bins (a dimension with at most ``num_bins`` distinct values keeps its values as
  bins, as the authors treat discrete latents), computed in NumPy
  (:func:`~betavae.metrics.discretize.contingency_mutual_info`): deterministic and
  independent of scikit-learn.
* H₀: the authors fit the regression on zeros; with balanced class weights its optimum is the
  uniform distribution, whose log loss is exactly log(classes), used here.
* A code dimension (or factor) with zero NMI to every factor (dimension) has no defined
  preference; it is left out of InfoM (InfoC), where the authors' ratio is NaN. K = 1 gives
  InfoM = 1 and L = 1 gives InfoC = 1 (the authors divide by zero).
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression

from betavae.metrics._checks import (
    HISTOGRAM_MIN_ROWS,
    check_pair,
    constant_factor_mask,
)
from betavae.metrics.discretize import (
    DEFAULT_NUM_BINS,
    _dense_labels,
    contingency_mutual_info,
    contingency_tables,
    histogram_discretize,
)
from betavae.metrics.estimators import single_threaded_blas

#: At least ``num_bins`` rows (the codes are binned).
INFOMEC_MIN_ROWS = HISTOGRAM_MIN_ROWS

#: The authors' logistic regression (``penalty=None`` spelled ``C=inf``, scikit-learn >= 1.8).
INFOE_LOGREG = {
    "C": np.inf,
    "class_weight": "balanced",
    "solver": "lbfgs",
    "max_iter": 100,
    "tol": 1e-4,
    "fit_intercept": True,
}


def bin_codes(codes: np.ndarray, num_bins: int = DEFAULT_NUM_BINS) -> np.ndarray:
    """Labels for the MI: a column with at most ``num_bins`` distinct values keeps them,
    others get the equal-width histogram bins of :func:`histogram_discretize`."""
    out = histogram_discretize(codes, num_bins)
    for j in range(codes.shape[1]):
        values, inverse = np.unique(codes[:, j], return_inverse=True)
        if len(values) <= num_bins:
            out[:, j] = inverse.reshape(-1)
    return out


def active_dimensions(codes: np.ndarray) -> np.ndarray:
    """The authors' rule: range > (largest range) / 20 (none active if every range is 0)."""
    ranges = codes.max(axis=0).astype(np.float64) - codes.min(axis=0)
    return ranges > ranges.max() / 20 if ranges.max() > 0 else np.zeros(len(ranges), bool)


def normalized_mi(binned_codes: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """NMI (K, D): I(v_k; z_j) / H(v_k), plug-in, NumPy only. Factors must vary."""
    tables = contingency_tables(factors, binned_codes)
    dense, _ = _dense_labels(factors)
    out = np.empty((factors.shape[1], binned_codes.shape[1]))
    for k in range(factors.shape[1]):
        counts = np.bincount(dense[:, k])
        h = contingency_mutual_info(np.diag(counts))
        out[k] = [contingency_mutual_info(t) / h for t in tables[k]]
    return out


def preferences(nmi: np.ndarray, axis: int) -> np.ndarray:
    """Per line, (max/sum along ``axis`` − 1/n) / (1 − 1/n), n the length along ``axis``:
    1 when one entry holds all, 0 when all are equal; NaN for a line with zero sum; 1 if n = 1.
    ``axis=0`` gives InfoM's per-dimension values of a (K, D) NMI, ``axis=1`` InfoC's per
    factor."""
    n = nmi.shape[axis]
    sums = nmi.sum(axis=axis)
    if n == 1:
        return np.where(sums > 0, 1.0, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(sums > 0, nmi.max(axis=axis) / sums, np.nan)
    return (ratio - 1.0 / n) / (1.0 - 1.0 / n)


def _mean_defined(values: np.ndarray, n: int) -> float:
    if n == 1:
        return 1.0
    ok = ~np.isnan(values)
    return float(values[ok].mean()) if ok.any() else 0.0


def infom_infoc(nmi: np.ndarray, active: np.ndarray) -> dict[str, float]:
    """InfoM and InfoC from the (K, D) NMI matrix and the active-dimension mask."""
    pruned = nmi[:, active]
    if pruned.shape[1] == 0:
        return {"infomec.infom": 0.0, "infomec.infoc": 0.0}
    return {
        "infomec.infom": _mean_defined(preferences(pruned, 0), pruned.shape[0]),
        "infomec.infoc": _mean_defined(preferences(pruned, 1), pruned.shape[1]),
    }


def infoe_factor(standardized_codes: np.ndarray, labels: np.ndarray) -> float:
    """(H₀ − H(v | z)) / H₀ for one factor (labels 0..C-1), H₀ = log C."""
    classes = np.unique(labels)
    h0 = float(np.log(len(classes)))
    with single_threaded_blas():
        model = LogisticRegression(**INFOE_LOGREG).fit(standardized_codes, labels)
        proba = model.predict_proba(standardized_codes)
    picked = proba[np.arange(len(labels)), np.searchsorted(model.classes_, labels)]
    eps = np.finfo(np.float64).eps
    h = float(-np.mean(np.log(np.clip(picked, eps, 1.0))))
    return (h0 - h) / h0


def standardize_codes(codes: np.ndarray) -> np.ndarray:
    """z-score each dimension (ddof 0); a constant dimension is only centred."""
    std = codes.std(axis=0)
    return (codes - codes.mean(axis=0)) / np.where(std == 0, 1.0, std)


def infomec(
    codes: np.ndarray, factors: np.ndarray, *, num_bins: int = DEFAULT_NUM_BINS
) -> dict[str, float]:
    """InfoM, InfoC and InfoE on one set of rows (the authors evaluate in-sample).

    Args:
        codes: (N, D) codes. factors: (N, K) integer classes; constant ones dropped with a
            warning.
        num_bins: bins of the MI estimator.

    Returns:
        ``infomec.infom``, ``infomec.infoc``, ``infomec.infoe`` (each in [0, 1]; InfoE can
        dip below 0 only if the regression fits worse than the uniform guess).
    """
    codes, factors = check_pair(codes, factors)
    INFOMEC_MIN_ROWS.check("infomec", codes.shape[0], num_bins=num_bins)
    factors = factors[:, constant_factor_mask(factors, "infomec")]
    nmi = normalized_mi(bin_codes(codes, num_bins), factors)
    out = infom_infoc(nmi, active_dimensions(codes))
    z = standardize_codes(codes.astype(np.float64))
    dense, _ = _dense_labels(factors)
    out["infomec.infoe"] = float(np.mean([infoe_factor(z, dense[:, k]) for k in range(dense.shape[1])]))
    return out
