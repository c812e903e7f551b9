"""Decoder output distributions p(x|z): how decoder logits become a reconstruction NLL.

Reduction convention (spec/disentanglement.md §1): the NLL is summed over all C·H·W data
dimensions of each image; objectives then average over the batch.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import PositiveFloat

from betavae.components import Component, component_field
from betavae.registry import Registry

LIKELIHOODS: Registry = Registry("likelihood")


class Likelihood(Component):
    """Base: maps decoder logits to a per-image NLL and a mean reconstruction."""

    def nll(self, logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """−log p(x|z) summed over data dimensions. logits, x: (B, ...) -> (B,)."""
        raise NotImplementedError

    def expected(self, logits: torch.Tensor) -> torch.Tensor:
        """E[x|z], the decoder's mean, same shape as logits (what reconstruction errors are of)."""
        return torch.sigmoid(logits)

    def mean(self, logits: torch.Tensor) -> torch.Tensor:
        """The reconstruction shown to people: E[x|z] clipped to [0, 1], same shape as logits."""
        return self.expected(logits)


@LIKELIHOODS.register("bernoulli")
class Bernoulli(Likelihood):
    """Bernoulli pixels: NLL = Σ BCE-with-logits(ℓ, x). For non-binary x the minimum is H(x), not 0."""

    kind: Literal["bernoulli"] = "bernoulli"

    def nll(self, logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        bce = F.binary_cross_entropy_with_logits(logits, x, reduction="none")
        return bce.flatten(1).sum(1)


@LIKELIHOODS.register("gaussian")
class Gaussian(Likelihood):
    """Gaussian pixels with fixed σ_x around the decoder's mean x̂ = sigmoid(ℓ) (``link:
    sigmoid``, the default) or x̂ = ℓ (``link: identity``).

    NLL = Σ (x − x̂)²/(2σ_x²) [+ (N_x/2)·log(2πσ_x²) if ``constant``]. "Summed squared error"
    equals this with σ_x² = ½ and no constant. Through the sigmoid each pixel's gradient
    ∂NLL/∂ℓ = (x̂ − x)·x̂(1 − x̂)/σ_x² is weighted by x̂(1 − x̂), near 0 wherever the output is
    nearly 0 or 1 (a Bernoulli decoder's is x̂ − x); the identity link has (ℓ − x)/σ_x², the same
    weight for every pixel. With the capacity objective at γ = 100 and lr 5e-4 that decides
    whether the model leaves the mean image (docs/studies/table1.md, *The capacity arm*).
    ``mean`` clips an identity-link output to [0, 1] for pictures; ``expected`` (E[x|z]) and the NLL
    use ℓ as it is.
    """

    kind: Literal["gaussian"] = "gaussian"
    sigma: PositiveFloat = 1.0
    constant: bool = False
    link: Literal["sigmoid", "identity"] = "sigmoid"

    def expected(self, logits: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(logits) if self.link == "sigmoid" else logits

    def mean(self, logits: torch.Tensor) -> torch.Tensor:
        return self.expected(logits).clamp(0.0, 1.0)

    def nll(self, logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        sq = (x - self.expected(logits)).pow(2).flatten(1).sum(1) / (2.0 * self.sigma**2)
        if self.constant:
            n_x = x[0].numel()
            sq = sq + 0.5 * n_x * math.log(2.0 * math.pi * self.sigma**2)
        return sq


LikelihoodField = component_field(LIKELIHOODS, Likelihood)
