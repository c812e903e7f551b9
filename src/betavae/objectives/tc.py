"""Minibatch estimators of the aggregate posterior q(z) = (1/N)·Σ_n q(z|x_n) (Chen et al. 2018,
"Isolating Sources of Disentanglement in VAEs", §3 and appendix C).

From one batch of B posteriors q(z|x_m) = N(μ_m, diag σ_m²) and samples z_b ~ q(z|x_b), with
``L[b, m, d] = log N(z_bd; μ_md, σ_md²)`` and a (B, B) matrix of log weights ``W``:

    log q(z_b)      ≈ logsumexp_m (W_bm + Σ_d L[b, m, d])
    log q(z_bd)     ≈ logsumexp_m (W_bm + L[b, m, d])                 (marginal of latent d)

- **MWS** (minibatch-weighted sampling): W_bm = −log(B·N) for every m. It is biased: where
  the posteriors overlap its values carry an offset of about (D − 1)·log N on TC (exactly that
  when all posteriors are equal), which does not change gradients.
- **MSS** (minibatch-stratified sampling): with M = B − 1, W = log 1/M everywhere except the
  diagonal (log 1/N: z_b's own posterior) and one stratum entry per row, W[b, (b+1) mod B]
  (log (N − M)/(N·M)). Each row's weights sum to 1, so equal posteriors give TC = 0 exactly.
  (The matrix widely copied from the reference code fills *columns* 0 and 1 instead of the
  diagonal, because it strides by M + 1 = B; see YannDubs/disentangling-vae issue 58.)

The decomposition of the KL term (each a batch mean, in nats):
MI = log q(z|x) − log q(z), TC = log q(z) − Σ_d log q(z_d), DWKL = Σ_d log q(z_d) − log p(z).
Minibatch TC estimates can be negative; they are returned raw, never clamped.
"""

from __future__ import annotations

import math

import torch

LOG_2PI = math.log(2 * math.pi)


def gaussian_log_density(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(z; μ, exp(logvar)) elementwise (broadcasting)."""
    return -0.5 * (LOG_2PI + logvar + (z - mu).pow(2) * torch.exp(-logvar))


def log_weights(batch: int, dataset_size: int, estimator: str, like: torch.Tensor) -> torch.Tensor:
    """(B, B) log importance weights W of ``"mws"`` or ``"mss"`` (dtype/device of ``like``)."""
    n = float(dataset_size)
    if estimator == "mws":
        return torch.full((batch, batch), -math.log(batch * n), dtype=like.dtype, device=like.device)
    if estimator != "mss":
        raise ValueError(f"unknown TC estimator {estimator!r}; choose mws or mss")
    if batch < 2:
        raise ValueError("the stratified (mss) estimator needs a batch of at least 2")
    m = batch - 1
    rows = torch.arange(batch)
    w = torch.full((batch, batch), 1.0 / m, dtype=torch.float64)
    w[rows, rows] = 1.0 / n  # z_b was drawn from q(z|x_b): its own posterior
    w[rows, (rows + 1) % batch] = (n - m) / (n * m)  # the stratum standing for the rest of the data
    return w.log().to(like.dtype).to(like.device)


def kl_decomposition(
    z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, dataset_size: int, estimator: str = "mws"
) -> dict[str, torch.Tensor]:
    """MI, TC and dimension-wise KL of the batch (scalars, nats).

    z, mu, logvar: (B, D). ``dataset_size`` is N, the size of the training set the batch is
    drawn from. Memory O(B²·D).
    """
    b = z.shape[0]
    pair = gaussian_log_density(z[:, None, :], mu[None, :, :], logvar[None, :, :])  # (B, B, D)
    w = log_weights(b, dataset_size, estimator, z)
    log_qz = torch.logsumexp(w + pair.sum(2), dim=1)
    log_qz_marginals = torch.logsumexp(w[:, :, None] + pair, dim=1).sum(1)
    log_qz_given_x = gaussian_log_density(z, mu, logvar).sum(1)
    log_pz = gaussian_log_density(z, torch.zeros_like(z), torch.zeros_like(z)).sum(1)
    return {
        "mi": (log_qz_given_x - log_qz).mean(),
        "tc": (log_qz - log_qz_marginals).mean(),
        "dwkl": (log_qz_marginals - log_pz).mean(),
    }
