"""Build an objective and a model output from a config fragment, for objective tests."""

from __future__ import annotations

import torch

from betavae.config import build_config
from betavae.models.base import VAEOutput


def build_objective(spec: dict, latent_dim: int = 4):
    cfg = build_config({"objective": spec, "model": {"kind": "burgess", "latent_dim": latent_dim}})
    return cfg.objective.build(cfg.model.likelihood, latent_dim)


def fake_output(mu: torch.Tensor, logvar: torch.Tensor | None = None) -> tuple[VAEOutput, torch.Tensor]:
    """A VAEOutput with the given posterior (z = μ) and all-zero logits, plus a blank batch x."""
    b = mu.shape[0]
    logvar = torch.zeros_like(mu) if logvar is None else logvar
    x = torch.zeros(b, 1, 4, 4)
    return VAEOutput(mu=mu, logvar=logvar, z=mu, logits=torch.zeros_like(x)), x
