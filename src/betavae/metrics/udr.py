"""Unsupervised Disentanglement Ranking (Duan, Matthey, Saraiva, Watters, Burgess, Lerchner &
Higgins, ICLR 2020, "Unsupervised Model Selection for Variational Disentangled
Representation Learning"), as disentanglement_lib's ``compute_udr_sklearn`` computes it.

UDR needs no labels: models trained with different seeds that disentangle tend to agree
(up to permutation and sign of their latents), entangled ones do not. For every ordered
pair of models (i, j) encoding the same observations:

1. each model's codes are z-scored (a constant dimension is only centred) and the
   dimensions whose mean KL to the prior is <= 0.01 are zeroed;
2. a similarity matrix R (D_i, D_j): ``"lasso"`` (default) |coef|ᵀ of ``Lasso(alpha=0.1)``
   predicting model j's codes from model i's, or ``"spearman"`` |Spearman ρ| of every pair;
3. rows and columns of dimensions with KL <= ``kl_threshold`` (0.01) are dropped;
4. UDR_ij = ½ (mean over columns of max_a R_ab² / Σ_a R_ab + mean over rows of
   max_b R_ab² / Σ_b R_ab), a 0/0 term counted as 0.

A model's score is the median of UDR_ji over the other models j. Without KL values (an
encoder that gives no posterior variance) no dimension is filtered. disentanglement_lib's
only implementation needs TensorFlow 1; this one is NumPy/scikit-learn on arrays.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
from scipy.stats import rankdata
from sklearn.linear_model import Lasso

from betavae.errors import BetavaeError
from betavae.metrics._checks import RowMinimum, check_codes
from betavae.metrics.estimators import single_threaded_blas
from betavae.metrics.infomec import standardize_codes

Correlation = Literal["lasso", "spearman"]

#: At least 10 rows per model (a regression of D codes on D codes).
UDR_MIN_ROWS = RowMinimum(rows=10)

#: disentanglement_lib zeroes the codes of dimensions with KL <= this (a constant in its code).
_KL_ZERO = 0.01


def relative_strength(corr: np.ndarray) -> float:
    """½ (mean_b max_a R_ab² / Σ_a R_ab + mean_a max_b R_ab² / Σ_b R_ab), 0/0 terms as 0.

    1 for a (scaled) permutation matrix of ones; lower when a dimension relates to several.
    """
    if corr.size == 0:
        return 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        x = np.nan_to_num(np.max(corr, axis=0) ** 2 / np.sum(corr, axis=0))
        y = np.nan_to_num(np.max(corr, axis=1) ** 2 / np.sum(corr, axis=1))
    return float((np.mean(x) + np.mean(y)) / 2)


def lasso_matrix(a: np.ndarray, b: np.ndarray, alpha: float = 0.1) -> np.ndarray:
    """(D_a, D_b) |coefficients| of ``Lasso(alpha)`` predicting ``b`` from ``a``."""
    with single_threaded_blas():
        model = Lasso(alpha=alpha).fit(a, b)
    return np.abs(np.atleast_2d(model.coef_)).T


def spearman_matrix(a: np.ndarray, b: np.ndarray, absolute: bool = True) -> np.ndarray:
    """(D_a, D_b) |Spearman ρ| (signed with ``absolute=False``; average ranks for ties); NaN
    for a constant column."""
    ra, rb = rankdata(a, axis=0), rankdata(b, axis=0)
    ra, rb = ra - ra.mean(axis=0), rb - rb.mean(axis=0)
    na, nb = np.sqrt((ra**2).sum(axis=0)), np.sqrt((rb**2).sum(axis=0))
    with np.errstate(divide="ignore", invalid="ignore"), single_threaded_blas():
        rho = (ra.T @ rb) / np.outer(na, nb)
    return np.abs(rho) if absolute else rho


def gaussian_kl(mean: np.ndarray, log_var: np.ndarray) -> np.ndarray:
    """(D,) mean over rows of KL(N(μ, σ²) ‖ N(0, 1)) = ½ (μ² + σ² − log σ² − 1) per dimension."""
    return np.mean(0.5 * (np.square(mean) + np.exp(log_var) - log_var - 1.0), axis=0)


def udr(
    codes: Sequence[np.ndarray],
    kl: Sequence[np.ndarray] | None = None,
    *,
    correlation: Correlation = "lasso",
    kl_threshold: float = 0.01,
    alpha: float = 0.1,
) -> dict[str, object]:
    """UDR of M >= 2 models from their codes of the same N observations.

    Args:
        codes: M arrays (N, D_m): each model's posterior means, row n for observation n.
        kl: M arrays (D_m,) of mean KL per dimension (:func:`gaussian_kl`), or None.
        correlation: ``"lasso"`` or ``"spearman"``.
        kl_threshold: dimensions with KL <= this are left out of the score.
        alpha: the Lasso penalty (0.1 in disentanglement_lib).

    Returns:
        ``model_scores`` (M floats: median over the other models j of UDR_ji),
        ``pairwise`` (M x M nested lists, UDR_ij, 0 on the diagonal) and ``correlation``.
    """
    if correlation not in ("lasso", "spearman"):
        raise BetavaeError(f"udr: correlation must be 'lasso' or 'spearman', got {correlation!r}")
    if len(codes) < 2:
        raise BetavaeError(f"udr compares models: give at least 2, got {len(codes)}")
    reps = [check_codes(c, f"codes[{m}]").astype(np.float64) for m, c in enumerate(codes)]
    n = reps[0].shape[0]
    if any(r.shape[0] != n for r in reps):
        raise BetavaeError(
            "udr: every model must encode the same observations; got rows "
            f"{[r.shape[0] for r in reps]}"
        )
    UDR_MIN_ROWS.check("udr", n)
    if kl is None:
        kls = [np.full(r.shape[1], np.inf) for r in reps]
    else:
        if len(kl) != len(reps):
            raise BetavaeError(f"udr: {len(kl)} KL vectors for {len(reps)} models")
        kls = [np.asarray(k, dtype=np.float64).reshape(-1) for k in kl]
        bad = [m for m, (k, r) in enumerate(zip(kls, reps, strict=True)) if k.size != r.shape[1]]
        if bad:
            raise BetavaeError(f"udr: the KL vector of model(s) {bad} does not match its code dimensions")
    reps = [standardize_codes(r) * (k > _KL_ZERO) for r, k in zip(reps, kls, strict=True)]
    masks = [k > kl_threshold for k in kls]
    m = len(reps)
    pairwise = np.zeros((m, m))
    for i in range(m):
        for j in range(m):
            if i == j:
                continue
            if correlation == "lasso":
                corr = lasso_matrix(reps[i], reps[j], alpha)
            else:
                corr = spearman_matrix(reps[i], reps[j])
            pairwise[i, j] = relative_strength(corr[masks[i]][:, masks[j]])
    scores = [float(np.median(np.delete(pairwise[:, i], i))) for i in range(m)]
    return {"model_scores": scores, "pairwise": pairwise.tolist(), "correlation": correlation}
