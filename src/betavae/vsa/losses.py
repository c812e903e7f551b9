"""Loss terms of dSprites-VSA (spec/dsprites-vsa.md §5.3).

``sum`` sums the image loss over pixels and averages over the batch; ``mean`` averages over
pixels and batch (κ then weighs 4096 times more against it). KL is summed over all 5·d
dimensions of an encoding and averaged over the batch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from betavae.vsa.settings import LossSettings


def image_loss(logits: torch.Tensor, x: torch.Tensor, kind: str = "bce", reduction: str = "sum") -> torch.Tensor:
    """BCE with logits, or squared error on sigmoid outputs; logits, x: (B, 1, 64, 64)."""
    if kind == "bce":
        per = F.binary_cross_entropy_with_logits(logits, x, reduction="none")
    else:
        per = (torch.sigmoid(logits) - x) ** 2
    per = per.flatten(1)
    return per.sum(1).mean() if reduction == "sum" else per.mean()


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(μ, σ²) ‖ N(0, I)) summed over all but the batch axis, mean over the batch."""
    per = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)
    return per.flatten(1).sum(1).mean()


def cosine_loss(a: torch.Tensor, b: torch.Tensor, k: torch.Tensor, margin: float | None = None) -> torch.Tensor:
    """(1/4)·Σ_{f≠k} (1 − cos(a_f, b_f)), mean over the batch; a, b: (B, 5, d), k: (B,) with −1
    for "nothing changed" (then all five rows are pulled together). ``margin`` adds
    max(0, cos(a_k, b_k) − margin), pushing the changed feature apart."""
    cos = F.cosine_similarity(a, b, dim=-1)  # (B, 5)
    changed = F.one_hot(k.clamp(min=0), cos.shape[1]).bool() & (k >= 0)[:, None]
    keep = (~changed).float()
    loss = ((1.0 - cos) * keep).sum(1) / keep.sum(1)
    if margin is not None:
        loss = loss + (torch.relu(cos - margin) * changed.float()).sum(1)
    return loss.mean()


def swap_rows(v1: torch.Tensor, v2: torch.Tensor, k: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Exchange row k[b] of v1[b] and v2[b] (k = −1: no exchange); v: (B, 5, d)."""
    mask = (F.one_hot(k.clamp(min=0), v1.shape[1]).bool() & (k >= 0)[:, None])[..., None]
    return torch.where(mask, v2, v1), torch.where(mask, v1, v2)


def weighted_terms(terms: dict[str, torch.Tensor], settings: LossSettings) -> torch.Tensor:
    """Total loss: image terms + κ·kl + λ_cos·cos + λ_direct·direct (terms present only)."""
    total = terms["image"]
    total = total + settings.kld * terms["kl"]
    if "cos" in terms:
        total = total + settings.cosine * terms["cos"]
    if "direct" in terms:
        total = total + settings.direct * terms["direct"]
    return total
