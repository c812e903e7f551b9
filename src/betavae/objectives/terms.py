"""Loss terms shared by objectives: per-latent Gaussian KL and the reduction convention.

Canonical reduction (spec/disentanglement.md §1; Higgins et al. 2017; disentanglement_lib):
reconstruction NLL summed over data dimensions, KL summed over latents, both averaged over the
batch. Objectives also return the unreduced per-latent KL (B, D).
"""

from __future__ import annotations

import torch


def kl_per_latent(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(μ, σ²) ‖ N(0, 1)) per latent, in nats: ½(μ² + σ² − log σ² − 1). (B, D) -> (B, D)."""
    return 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1.0)


def beta_normalised(beta: float, latent_dim: int, data_dims: int) -> float:
    """β·D/N_x: the β a codebase that averages R over pixels and KL over latents would use."""
    return beta * latent_dim / data_dims
