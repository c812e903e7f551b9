"""Pairwise β (spec §3.4): correlation, Gaussian pair MI and the adaptive λ at known points."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from betavae.objectives.pairwise import batch_correlation, gaussian_pair_mi
from betavae.objectives.terms import kl_per_latent

from .helpers import build_objective, fake_output


def known_means() -> torch.Tensor:
    """Columns a, 0.6·a + 0.8·w, w with a ⟂ w (zero means, equal norms): ρ_01 = 0.6, ρ_02 = 0, ρ_12 = 0.8."""
    a = torch.tensor([1.0, -1.0, 1.0, -1.0])
    w = torch.tensor([1.0, 1.0, -1.0, -1.0])
    return torch.stack([a, 0.6 * a + 0.8 * w, w], 1)


# I = −½·log(1 − ρ²) at the known correlations: −log 0.8 and −log 0.6
MI_01, MI_12 = -math.log(0.8), -math.log(0.6)


def test_batch_correlation_known_answer_and_numpy():
    rho = batch_correlation(known_means(), eps=0.0)
    expected = torch.tensor([[1.0, 0.6, 0.0], [0.6, 1.0, 0.8], [0.0, 0.8, 1.0]])
    torch.testing.assert_close(rho, expected, atol=1e-6, rtol=0)
    v = torch.randn(50, 5, generator=torch.Generator().manual_seed(1))
    np.testing.assert_allclose(batch_correlation(v, eps=0.0).numpy(), np.corrcoef(v.numpy().T), atol=1e-5)


def test_a_constant_column_has_zero_correlation_and_finite_gradient():
    v = torch.stack([torch.randn(8), torch.full((8,), 3.0)], 1).requires_grad_()
    rho = batch_correlation(v)
    assert rho[0, 1].item() == 0.0
    gaussian_pair_mi(rho[0, 1], 1e-6).backward()
    assert torch.isfinite(v.grad).all()


def test_gaussian_pair_mi_at_known_points():
    got = gaussian_pair_mi(torch.tensor([0.0, 0.6, -0.8, 1.0]), eps=1e-6)
    expected = [-0.5 * math.log1p(1e-6), -0.5 * math.log(0.64 + 1e-6), -0.5 * math.log(0.36 + 1e-6),
                -0.5 * math.log(1e-6)]
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-5)
    assert got[1].item() == pytest.approx(MI_01, rel=1e-5)


def test_non_adaptive_loss_at_a_known_point():
    obj = build_objective({"kind": "pairwise", "beta": 2, "lam_pair": 3, "adapt": "none", "eps": 1e-9}, latent_dim=3)
    mu = known_means()
    out, x = fake_output(mu)
    terms = obj(out, x, obj.hyper(0, 0))
    kl = kl_per_latent(mu, torch.zeros_like(mu)).sum(1).mean()
    assert terms["pair_mi"].item() == pytest.approx(MI_01 + MI_12, rel=1e-5)
    assert terms["pair_penalty"].item() == pytest.approx(3 * (MI_01 + MI_12), rel=1e-5)
    assert terms["pair_lambda_max"].item() == 3.0
    torch.testing.assert_close(terms["loss"], terms["recon"] + 2 * kl + 3 * (MI_01 + MI_12) * torch.ones(()))


def test_adaptive_weights_follow_the_ema_of_abs_correlation():
    obj = build_objective({"kind": "pairwise", "beta": 1, "lam_pair": 2, "ema": 0.9, "eps": 1e-9}, latent_dim=3)
    mu = known_means()
    out, x = fake_output(mu)
    # step 1: a = 0.1·|ρ| (from a = 0), λ = 2·a; the uncorrelated pair (0, 2) gets no weight
    terms = obj(out, x, obj.hyper(0, 0))
    assert terms["pair_penalty"].item() == pytest.approx(2 * 0.1 * (0.6 * MI_01 + 0.8 * MI_12), rel=1e-5)
    assert terms["pair_lambda_max"].item() == pytest.approx(2 * 0.1 * 0.8, rel=1e-6)
    # step 2 on the same batch: a = 0.9·0.1·|ρ| + 0.1·|ρ| = 0.19·|ρ|
    terms = obj(out, x, obj.hyper(1, 0))
    assert terms["pair_penalty"].item() == pytest.approx(2 * 0.19 * (0.6 * MI_01 + 0.8 * MI_12), rel=1e-5)
    np.testing.assert_allclose(obj.ema_abs_rho.numpy()[0, 1], 0.19 * 0.6, rtol=1e-5)
    assert "ema_abs_rho" in obj.state_dict()  # checkpointed with the objective


def test_lambda_carries_no_gradient_and_the_penalty_decorrelates():
    obj = build_objective({"kind": "pairwise", "beta": 0, "lam_pair": 1, "ema": 0.0}, latent_dim=3)
    mu = known_means().requires_grad_()
    out, x = fake_output(mu)
    terms = obj(out, x, obj.hyper(0, 0))
    (grad,) = torch.autograd.grad(terms["loss"], mu)
    # the same loss with λ = |ρ| as a constant (η = 0: a is this batch's |ρ|)
    mu2 = known_means().requires_grad_()
    rho = batch_correlation(mu2)
    lam = rho.detach().abs()
    iu = torch.triu_indices(3, 3, 1)
    manual = (lam[iu[0], iu[1]] * gaussian_pair_mi(rho[iu[0], iu[1]], 1e-6)).sum()
    out2, _ = fake_output(mu2)
    manual = manual + obj.likelihood.nll(out2.logits, x).mean()
    (grad2,) = torch.autograd.grad(manual, mu2)
    torch.testing.assert_close(grad, grad2)
    # a small step down the gradient lowers the pairs' mutual information
    after = known_means() - 0.01 * grad
    iu_mi = gaussian_pair_mi(batch_correlation(after)[iu[0], iu[1]], 1e-6).sum()
    assert iu_mi < terms["pair_mi"]


def test_source_z_uses_the_samples():
    mu = known_means()
    z = torch.randn(4, 3, generator=torch.Generator().manual_seed(0))
    out, x = fake_output(mu)
    out.z = z
    on_z = build_objective({"kind": "pairwise", "adapt": "none", "source": "z"}, latent_dim=3)
    on_mu = build_objective({"kind": "pairwise", "adapt": "none", "source": "mu"}, latent_dim=3)
    rho_z = batch_correlation(z)
    iu = torch.triu_indices(3, 3, 1)
    expected = gaussian_pair_mi(rho_z[iu[0], iu[1]], 1e-6).sum()
    assert on_z(out, x, on_z.hyper(0, 0))["pair_mi"].item() == pytest.approx(expected.item(), rel=1e-5)
    assert on_mu(out, x, on_mu.hyper(0, 0))["pair_mi"].item() == pytest.approx(MI_01 + MI_12, rel=1e-4)


def test_beta_follows_its_schedule_and_one_latent_has_no_pairs():
    obj = build_objective({"kind": "pairwise", "beta": {"kind": "linear", "start": 0, "end": 4, "length": 100}},
                          latent_dim=1)
    assert obj.hyper(25, 0)["beta"] == 1.0
    mu = torch.randn(8, 1)
    out, x = fake_output(mu)
    terms = obj(out, x, obj.hyper(25, 0))
    assert terms["pair_mi"].item() == 0.0 and terms["pair_penalty"].item() == 0.0
    torch.testing.assert_close(terms["loss"], terms["recon"] + terms["kl"])
