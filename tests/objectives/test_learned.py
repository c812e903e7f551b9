"""Learned β (after L-VAE): the stationary point, the anti-collapse terms, bounds."""

from __future__ import annotations

import pytest
import torch

from betavae.objectives.learned import learned_beta_loss

from .helpers import build_objective, fake_output


def minimise(recon: float, kl: float, lam: float, **bounds):
    """Minimise the loss over (s_R, s_K) for fixed R and KL (L-BFGS); returns s_R, s_K, β."""
    s = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([s], lr=1, max_iter=500, tolerance_grad=1e-12, tolerance_change=1e-14,
                            line_search_fn="strong_wolfe")
    r, k = torch.tensor(recon, dtype=torch.float64), torch.tensor(kl, dtype=torch.float64)

    def closure():
        opt.zero_grad()
        loss, _ = learned_beta_loss(r, k, s[0], s[1], lam, **bounds)
        loss.backward()
        return loss

    opt.step(closure)
    s = s.detach()
    return s[0], s[1], torch.exp(s[0] - s[1]).item()


def test_without_balance_term_beta_settles_at_recon_over_kl():
    # ∂/∂s (e^{−s}·L + s) = 0 at e^{−s} = 1/L: w_R = 1/R, w_K = 1/KL, β = R/KL
    s_r, s_k, beta = minimise(recon=120.0, kl=15.0, lam=0.0)
    assert beta == pytest.approx(8.0, rel=1e-6)
    assert torch.exp(-s_r).item() == pytest.approx(1 / 120, rel=1e-6)
    assert torch.exp(-s_k).item() == pytest.approx(1 / 15, rel=1e-6)


def test_beta_does_not_collapse_when_the_kl_is_small():
    # a nearly collapsed posterior (KL → 0) *raises* β = R/KL instead of driving it to 0
    *_, beta = minimise(recon=50.0, kl=0.5, lam=0.0)
    assert beta == pytest.approx(100.0, rel=1e-6)


def test_the_balance_term_pulls_beta_towards_one_at_a_stationary_point():
    s_r, s_k, beta = minimise(recon=120.0, kl=15.0, lam=1.0)
    assert 1.0 < beta < 8.0
    s_r.requires_grad_(True)
    s_k.requires_grad_(True)
    loss, _ = learned_beta_loss(torch.tensor(120.0, dtype=torch.float64), torch.tensor(15.0, dtype=torch.float64),
                                s_r, s_k, 1.0)
    grads = torch.autograd.grad(loss, [s_r, s_k])
    assert max(abs(g.item()) for g in grads) < 1e-6


def test_without_the_log_terms_the_kl_weight_would_collapse():
    # the reason for the + s terms: w_R·R + w_K·KL alone is minimised by w → 0 (β and the loss → 0)
    s = torch.zeros(2, requires_grad=True)
    opt = torch.optim.Adam([s], lr=0.1)
    for _ in range(2000):
        loss = torch.exp(-s[0]) * 120 + torch.exp(-s[1]) * 15
        opt.zero_grad()
        loss.backward()
        opt.step()
    w_k = torch.exp(-s[1]).item()
    assert w_k < 0.1 / 15  # far below the regularised optimum w_K = 1/KL ...
    assert s.grad[1].item() < 0  # ... and still falling: there is no stationary point


def test_bounds_act_inside_the_loss():
    s_r, s_k = torch.tensor(0.0), torch.tensor(-2.0)  # β_eff = e² ≈ 7.39
    loss, beta = learned_beta_loss(torch.tensor(10.0), torch.tensor(3.0), s_r, s_k, 0.0, beta_max=2.0)
    assert beta.item() == pytest.approx(7.389056, rel=1e-6)
    assert loss.item() == pytest.approx(10 + 2 * 3 + 0 - 2, rel=1e-6)


def test_objective_terms_and_own_learning_rate():
    obj = build_objective({"kind": "learned", "lam_bal": 0.5, "init_s_kl": -1.0, "lr": 0.01, "beta_max": 2.0})
    out, x = fake_output(torch.ones(3, 4))
    hyper = obj.hyper(0, 0)
    assert hyper["beta"] == pytest.approx(2.0)  # e¹ clipped at β_max
    terms = obj(out, x, hyper)
    w_r, w_k = 1.0, torch.e
    expected = w_r * terms["recon"] + w_r * 2.0 * terms["kl"] + 0 - 1 + 0.5 * (w_r - w_k) ** 2
    torch.testing.assert_close(terms["loss"], expected)
    assert terms["beta_eff"].item() == pytest.approx(torch.e)
    (group,) = obj.param_groups()
    assert group["lr"] == 0.01 and len(group["params"]) == 2
