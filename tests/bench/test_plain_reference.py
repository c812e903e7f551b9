"""bench/plain_reference.py: its loss is betavae's β-VAE loss, and both loaders deal each image once per epoch."""

from __future__ import annotations

import math

import pytest
import torch

from betavae.config import build_config
from betavae.models.base import VAEOutput

from .scripts import load_bench


def test_loss_at_known_points():
    ref = load_bench("plain_reference")
    x = torch.zeros(3, 1, 64, 64)
    zero = torch.zeros(3, 10)
    # logits 0: BCE log 2 per pixel; μ = 0, log σ² = 0: KL 0
    assert ref.loss_fn(x, torch.zeros(3, 1, 64, 64), zero, zero, 4.0).item() == pytest.approx(4096 * math.log(2))
    # μ = 1 on every latent: KL 0.5 per latent, 10 latents, times β = 4
    loss = ref.loss_fn(x, torch.full((3, 1, 64, 64), -30.0), torch.ones(3, 10), zero, 4.0).item()
    assert loss == pytest.approx(4096 * math.log1p(math.exp(-30.0)) + 4 * 5.0, rel=1e-6)


def test_loss_equals_betavaes_beta_objective():
    ref = load_bench("plain_reference")
    cfg = build_config({"model": {"kind": "burgess"}, "objective": {"kind": "beta", "beta": 4}})
    objective = cfg.objective.build(cfg.model.likelihood, cfg.model.latent_dim)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(5, 1, 64, 64, generator=g).round()
    logits = torch.randn(5, 1, 64, 64, generator=g)
    mu, logvar = torch.randn(5, 10, generator=g), torch.randn(5, 10, generator=g)
    ours = objective(VAEOutput(mu=mu, logvar=logvar, z=mu, logits=logits), x, objective.hyper(0, 0))["loss"]
    assert ref.loss_fn(x, logits, mu, logvar, 4.0).item() == pytest.approx(ours.item(), rel=1e-6)


@pytest.mark.parametrize("loader", ["tensor", "dataloader"])
def test_each_epoch_deals_every_image_at_most_once_in_full_batches(loader):
    ref = load_bench("plain_reference")
    images = torch.arange(10, dtype=torch.float32).reshape(10, 1, 1, 1).expand(10, 1, 2, 2).contiguous()
    batches = ref.tensor_batches(images, 4) if loader == "tensor" else ref.dataloader_batches(images, 4)
    for _ in range(3):  # epochs of 10 // 4 = 2 full batches (drop_last)
        epoch = [next(batches) for _ in range(2)]
        assert all(b.shape == (4, 1, 2, 2) for b in epoch)
        ids = torch.cat([b[:, 0, 0, 0] for b in epoch]).long().tolist()
        assert len(set(ids)) == 8 and set(ids) <= set(range(10))
        assert all(torch.equal(b, b[:, :, :1, :1].expand_as(b)) for b in epoch)  # whole images, not mixed


def test_unknown_loader_is_refused():
    ref = load_bench("plain_reference")
    with pytest.raises(ValueError, match="unknown loader"):
        ref.train(1, loader="numpy")
