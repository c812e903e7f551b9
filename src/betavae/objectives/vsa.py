"""The loss of dSprites-VSA (spec/dsprites-vsa.md §5.3), one per training stage.

- ``pd``, swap training: encode x¹, x²; exchange the row k that differs; decode crosswise
  (dec(ΣṼ¹) → x², dec(ΣṼ²) → x¹).
- ``sd``: encode each object, sum the object vectors, decode the scene.
- ``psd``: encode A, A′, B; exchange row k of A and A′; bind features with roles and objects with
  slots (assigned at random per item by default); decode crosswise (→ S₂ and → S₁).

The total is image terms + κ·kl + λ_cos·cos + λ_direct·direct (terms present only). ``sum`` sums
the image loss over pixels and averages over the batch; ``mean`` averages over pixels and batch
(κ then weighs 4096 times more against it). KL is summed over all 5·d dimensions of an encoding
and averaged over the batch. The stage is the data kind's (``SplitDSpritesConfig.stage``); the
objective calls the model (:class:`~betavae.models.feature_vae.FeatureVAE`) itself, because a
swap decodes codes it has exchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar, Literal

import torch
import torch.nn.functional as F
from pydantic import Field

from betavae.models.feature_vae import FeatureVAE
from betavae.objectives import OBJECTIVES
from betavae.objectives.base import ObjectiveConfig

Batch = dict[str, torch.Tensor]


def image_loss(logits: torch.Tensor, x: torch.Tensor, kind: str = "bce", reduction: str = "sum") -> torch.Tensor:
    """BCE with logits, or squared error on sigmoid outputs; logits, x: (B, 1, 64, 64)."""
    if kind == "bce":
        per = F.binary_cross_entropy_with_logits(logits, x, reduction="none")
    else:
        per = (torch.sigmoid(logits) - x) ** 2
    per = per.flatten(1)
    return per.sum(1).mean() if reduction == "sum" else per.mean()


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(μ, σ²) ‖ N(0, I)) summed over all but the batch axis, mean over the batch.

    The formula of :func:`betavae.objectives.terms.kl_per_latent`, kept in its own op order
    (… − 1 − log σ² here, … − log σ² − 1 there): the gradients are the same bits either way, but
    the logged ``kl`` differs in the last bit (measured on the pinned runs), so the vsa pins and
    logs would change with the shared one."""
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


def slot_pairs(model: FeatureVAE, n: int, assignment: str, generator: torch.Generator | None = None
               ) -> tuple[torch.Tensor, torch.Tensor] | tuple[None, None]:
    """Slot vectors (p_a, p_b), each (n, d): (p_1, p_2), or a random order per item."""
    if model.memory is None:
        return None, None
    slots = model.memory.slots
    flip = (torch.randint(0, 2, (n,), generator=generator) if assignment == "random"
            else torch.zeros(n, dtype=torch.long)).to(slots.device)
    return slots[flip], slots[1 - flip]


def psd_decode(model: FeatureVAE, oa: torch.Tensor, ob: torch.Tensor, pa: torch.Tensor | None,
               pb: torch.Tensor | None) -> torch.Tensor:
    """dec(p_a ⊙ o_a + p_b ⊙ o_b) (plain sum without the memory): logits (B, 1, 64, 64)."""
    slots = None if pa is None else torch.stack([pa, pb], 1)
    return model.decode(model.scene(torch.stack([oa, ob], 1), slots))


@OBJECTIVES.register("vsa")
class VSAObjectiveConfig(ObjectiveConfig):
    """Spec §5.3: image loss, its reduction, κ (``kld``, "KLD coef"), λ_cos (``cosine``,
    "Cosine loss"), λ_direct (``direct``: the unswapped reconstructions, pd), the cosine's input
    and margin, and how psd assigns the two object slots."""

    task: ClassVar[str] = "vsa"
    kind: Literal["vsa"] = "vsa"
    image: Literal["bce", "mse"] = "bce"
    reduction: Literal["sum", "mean"] = "sum"
    kld: float = Field(0.01, ge=0)
    cosine: float = Field(1.0, ge=0)
    cosine_on: Literal["mu", "sample"] = "mu"
    margin: float | None = Field(None, ge=-1.0, le=1.0)  # push the changed feature apart: + max(0, cos_k − margin)
    direct: float = Field(0.0, ge=0)
    slot_assignment: Literal["random", "fixed"] = "random"

    def build(self) -> VSAObjective:  # type: ignore[override]
        return VSAObjective(self)


class VSAObjective:
    """``objective(model, batch, stage)`` -> the stage's terms; ``loss`` is the weighted total,
    ``swap`` (pd, psd) the image terms again, for the log. Sampling (ε, random slots) draws from
    the global torch RNG."""

    def __init__(self, config: VSAObjectiveConfig) -> None:
        self.config = config

    def __call__(self, model: FeatureVAE, batch: Batch, stage: str) -> dict[str, torch.Tensor]:
        terms = STAGE_TERMS[stage](model, batch, self.config)
        return {"loss": self.total(terms), **terms}

    def total(self, terms: dict[str, torch.Tensor]) -> torch.Tensor:
        """image terms + κ·kl + λ_cos·cos + λ_direct·direct (terms present only)."""
        c = self.config
        total = terms["image"]
        total = total + c.kld * terms["kl"]
        if "cos" in terms:
            total = total + c.cosine * terms["cos"]
        if "direct" in terms:
            total = total + c.direct * terms["direct"]
        return total


def pd_terms(model: FeatureVAE, b: Batch, c: VSAObjectiveConfig) -> dict[str, torch.Tensor]:
    """Swap training on pairs; ``swap`` (image terms only) is reported as well."""
    mu, logvar = model.encode(torch.cat([b["x1"], b["x2"]]))
    v = model.sample(mu, logvar)
    v1, v2 = v.chunk(2)
    t1, t2 = swap_rows(v1, v2, b["k"])
    r2, r1 = model.decode(model.object(torch.cat([t1, t2]))).chunk(2)  # t1 → x², t2 → x¹
    image = image_loss(r2, b["x2"], c.image, c.reduction) + image_loss(r1, b["x1"], c.image, c.reduction)
    a = mu if c.cosine_on == "mu" else v
    a1, a2 = a.chunk(2)
    terms = {"image": image, "swap": image.detach(), "kl": 2 * kl_divergence(mu, logvar),
             "cos": cosine_loss(a1, a2, b["k"], c.margin), "log_sigma": 0.5 * logvar.detach().mean()}
    if c.direct > 0:
        d1, d2 = model.decode(model.object(v)).chunk(2)
        terms["direct"] = (image_loss(d1, b["x1"], c.image, c.reduction)
                           + image_loss(d2, b["x2"], c.image, c.reduction))
    return terms


def sd_terms(model: FeatureVAE, b: Batch, c: VSAObjectiveConfig) -> dict[str, torch.Tensor]:
    """Scenes as sums of object vectors: dec(Σ_m Σ_f v_{m,f}) → X."""
    present = b["present"]
    mu, logvar = model.encode(b["objects"][present])
    objects = torch.zeros(*present.shape, model.dim, device=mu.device, dtype=mu.dtype)
    objects[present] = model.object(model.sample(mu, logvar))
    image = image_loss(model.decode(objects.sum(1)), b["x"], c.image, c.reduction)
    kl = kl_divergence(mu, logvar) * len(mu) / len(present)  # Σ over objects, mean over scenes
    return {"image": image, "kl": kl, "log_sigma": 0.5 * logvar.detach().mean()}


def psd_terms(model: FeatureVAE, b: Batch, c: VSAObjectiveConfig) -> dict[str, torch.Tensor]:
    """Swap training on two-object scenes with random (or fixed) slots."""
    mu, logvar = model.encode(torch.cat([b["a"], b["a2"], b["b"]]))
    va, va2, vb = model.sample(mu, logvar).chunk(3)
    ta, ta2 = swap_rows(va, va2, b["k"])
    pa, pb = slot_pairs(model, len(va), c.slot_assignment)
    ob = model.object(vb)
    r2 = psd_decode(model, model.object(ta), ob, pa, pb)  # → S₂
    r1 = psd_decode(model, model.object(ta2), ob, pa, pb)  # → S₁
    image = image_loss(r2, b["s2"], c.image, c.reduction) + image_loss(r1, b["s1"], c.image, c.reduction)
    a = mu if c.cosine_on == "mu" else torch.cat([va, va2, vb])
    a1, a2, _ = a.chunk(3)
    return {"image": image, "swap": image.detach(), "kl": 3 * kl_divergence(mu, logvar),
            "cos": cosine_loss(a1, a2, b["k"], c.margin), "log_sigma": 0.5 * logvar.detach().mean()}


STAGE_TERMS: dict[str, Callable[[FeatureVAE, Batch, VSAObjectiveConfig], dict[str, torch.Tensor]]] = {
    "pd": pd_terms, "sd": sd_terms, "psd": psd_terms,
}
