"""Where a diagonal-Gaussian encoder's KL goes: information about the input, or not.

The KL term a VAE pays, averaged over N inputs, splits exactly into a part that can carry
information about the input and a part that cannot (Hoffman & Johnson 2016, "ELBO surgery":
E_x KL(q(z|x) ‖ p) = I(x; z) + KL(q(z) ‖ p), with q(z) the aggregate posterior). With
q(z_j|x_n) = N(μ_nj, s²_nj) and p = N(0, 1), write per latent j

* m_j = mean_n μ_nj, v_j = mean_n (μ_nj − m_j)² (the spread of the posterior means over inputs),
* a_j = mean_n s²_nj, S_j = v_j + a_j (the aggregate's variance),

and let r_j = N(m_j, S_j) be the Gaussian with the aggregate's first two moments. Then

    KL_j = mean_n KL(N(μ_nj, s²_nj) ‖ N(0, 1))
         = I⁺_j + M_j,   exactly, where
    I⁺_j = mean_n KL(N(μ_nj, s²_nj) ‖ r_j) = ½ (log S_j − mean_n log s²_nj)    (information bound)
    M_j  = KL(r_j ‖ N(0, 1))               = ½ (m_j² + S_j − 1 − log S_j)     (aggregate vs prior)

I⁺_j ≥ I(x; z_j) because the mutual information is the smallest E_x KL(q(z_j|x) ‖ r) over all
r (it is reached at r = q(z_j)); it is exact when the aggregate is Gaussian. So a latent with
I⁺_j ≈ 0 tells no two inputs apart, whatever its KL: its KL is all M_j, an input-independent
offset of the means (½ m_j²) and a change of the posterior width shared by every input. The
KL itself also splits exactly, term by term, into

    KL_j = ½ m_j² + ½ v_j + ½ mean_n (s²_nj − 1 − log s²_nj)   (offset + spread + width).

The capacity objective's |KL − C| can be met by offset and width alone, with no information:
docs/studies/table1.md measures exactly that. "Active units" (Burda et al. 2016, "Importance
Weighted Autoencoders", §5.2) count the latents with Cov_x(E[z_j|x]) = v_j > 0.01, a test on the
spread alone; KL_j > 0.01 (what training logs show) counts offset and width too.

All functions take ``mu`` and ``logvar`` of shape (N, D) (posterior means and log variances of
N inputs, D latents) and work in nats on the N inputs given (the empirical distribution of x).
"""

from __future__ import annotations

import numpy as np

from betavae.errors import BetavaeError
from betavae.metrics._checks import check_codes

#: Burda et al.'s threshold on Cov_x(E[z_j|x]), and the nats under which a latent counts as
#: carrying no information (the same 0.01 the reports use for KL_j).
ACTIVE_THRESHOLD = 0.01


def _check(mu: object, logvar: object) -> tuple[np.ndarray, np.ndarray]:
    mu_a = check_codes(mu, "mu").astype(np.float64)
    lv_a = check_codes(logvar, "logvar").astype(np.float64)
    if mu_a.shape != lv_a.shape:
        raise BetavaeError(f"mu and logvar must have the same shape (N, D), got {mu_a.shape} and {lv_a.shape}")
    return mu_a, lv_a


def kl_parts(mu: object, logvar: object) -> dict[str, np.ndarray]:
    """The mean KL to N(0, 1) per latent and its exact parts (module docstring).

    Args:
        mu, logvar: (N, D) posterior means and log variances.

    Returns:
        (D,) float64 arrays in nats: ``kl`` (mean KL_j), ``information`` (I⁺_j, an upper bound
        on I(x; z_j)), ``aggregate`` (M_j = KL(r_j ‖ N(0, 1))), and the term-by-term split
        ``offset`` (½ m_j²), ``spread`` (½ v_j), ``width`` (½ mean (s² − 1 − log s²));
        ``kl = information + aggregate = offset + spread + width`` up to rounding (``information``
        is clipped at 0: when every input has the same posterior, rounding gives ±1e-14).
    """
    mu_a, lv_a = _check(mu, logvar)
    s2 = np.exp(lv_a)
    m = mu_a.mean(axis=0)
    v = np.mean((mu_a - m) ** 2, axis=0)
    a = s2.mean(axis=0)
    big_s = v + a
    log_s = np.log(big_s)
    return {
        "kl": np.mean(0.5 * (mu_a**2 + s2 - 1.0 - lv_a), axis=0),
        "information": np.maximum(0.5 * (log_s - lv_a.mean(axis=0)), 0.0),  # rounding can give −1e-14
        "aggregate": 0.5 * (m**2 + big_s - 1.0 - log_s),
        "offset": 0.5 * m**2,
        "spread": 0.5 * v,
        "width": 0.5 * np.mean(s2 - 1.0 - lv_a, axis=0),
    }


def information_bound(mu: object, logvar: object) -> float:
    """Upper bound on the joint I(x; z) in nats: E_x KL(q(z|x) ‖ N(m, Σ)) with Σ the aggregate's
    full covariance Cov_x(μ) + diag(mean s²), = ½ (log det Σ − mean_n Σ_j log s²_nj).

    At most the sum of the per-latent bounds (``kl_parts(...)["information"].sum()``); lower
    when latents carry the same information (correlated means).
    """
    mu_a, lv_a = _check(mu, logvar)
    centred = mu_a - mu_a.mean(axis=0)
    cov = centred.T @ centred / mu_a.shape[0] + np.diag(np.exp(lv_a).mean(axis=0))
    sign, logdet = np.linalg.slogdet(cov)
    if sign <= 0:
        raise BetavaeError("the aggregate posterior's covariance is singular; check logvar")
    return max(float(0.5 * (logdet - lv_a.sum(axis=1).mean())), 0.0)  # ≥ 0 but for rounding


def active_units(mu: object, threshold: float = ACTIVE_THRESHOLD) -> np.ndarray:
    """Burda et al.'s active units: a (D,) bool array, Cov_x(E[z_j|x]) > ``threshold``.

    Uses the population variance of the posterior means over the N inputs given.
    """
    mu_a = check_codes(mu, "mu").astype(np.float64)
    return mu_a.var(axis=0) > threshold
