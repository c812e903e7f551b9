"""FactorVAE: gradient routing, the TC_D sign and value, the loop's separate optimisers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from betavae.config import build_config
from betavae.experiments.run import Trainer
from betavae.objectives.factorvae import permute_dims

from ..conftest import tiny_tree
from .helpers import build_objective


def test_permuting_keeps_each_column_and_breaks_dependence():
    torch.manual_seed(0)
    a = torch.randn(4000)
    z = torch.stack([a, a + 0.1 * torch.randn(4000)], 1)
    zp = permute_dims(z)
    for d in range(2):
        torch.testing.assert_close(zp[:, d].sort().values, z[:, d].sort().values)
    assert abs(np.corrcoef(zp.numpy().T)[0, 1]) < 0.05


@pytest.mark.parametrize("rho", [0.0, 0.9])
def test_trained_discriminator_estimates_the_gaussian_tc_with_the_right_sign(rho):
    # TC_D = mean(logit₀ − logit₁) with class 0 = q(z): positive on correlated z, ≈ ½ ln(1/(1−ρ²))
    torch.manual_seed(0)
    obj = build_objective({"kind": "factorvae", "disc_hidden": 64, "disc_layers": 2, "disc_lr": 3e-3}, latent_dim=2)
    opt = obj.auxiliary_optimizer()
    chol = torch.linalg.cholesky(torch.tensor([[1.0, rho], [rho, 1.0]]))
    for _ in range(300):
        z = torch.randn(256, 2) @ chol.T
        loss, _ = obj.discriminator_loss(z)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        tc = obj.tc_estimate(torch.randn(20_000, 2) @ chol.T).item()
    expected = 0.5 * math.log(1 / (1 - rho**2))
    assert tc == pytest.approx(expected, abs=0.15)


def test_the_vae_loss_never_touches_the_discriminator_nor_the_discriminator_loss_the_encoder():
    cfg = build_config({**tiny_tree(), "objective": {"kind": "factorvae", "disc_hidden": 16, "disc_layers": 2}})
    torch.manual_seed(0)
    model = cfg.model.build((1, 64, 64))
    obj = cfg.objective.build(cfg.model.likelihood, cfg.model.latent_dim)
    x = (torch.rand(8, 1, 64, 64) > 0.8).float()
    terms = obj(model(x), x, obj.hyper(0, 0))
    disc = list(obj.discriminator.parameters())
    grads = torch.autograd.grad(terms["loss"], disc, allow_unused=True)
    assert all(g is None for g in grads)
    grads = torch.autograd.grad(terms["aux_loss"], list(model.parameters()), allow_unused=True)
    assert all(g is None for g in grads)
    # and the TC term does reach the encoder
    enc = list(model.encoder.parameters())
    g_tc = torch.autograd.grad(terms["tc_d"], enc, allow_unused=True)
    assert any(g is not None and g.abs().sum() > 0 for g in g_tc)


def test_the_loop_trains_the_discriminator_with_its_own_optimiser_only(tmp_path):
    cfg = build_config({**tiny_tree(), "objective": {"kind": "factorvae", "disc_hidden": 16, "disc_layers": 2}})
    trainer = Trainer(cfg, tmp_path)
    main = {id(p) for g in trainer.optimizer.param_groups for p in g["params"]}
    disc = {id(p) for p in trainer.task.objective.discriminator.parameters()}
    aux = {id(p) for g in trainer.aux_optimizer.param_groups for p in g["params"]}
    assert aux == disc and not (main & disc)
    assert main == {id(p) for p in trainer.task.model.parameters()}
    assert trainer.aux_optimizer.param_groups[0]["betas"] == (0.5, 0.9)
