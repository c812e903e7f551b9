"""Per-latent β: fixed vector, scheduled base, and the correlation-adaptive rule at known points."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from betavae.errors import BetavaeError
from betavae.objectives.terms import kl_per_latent

from .helpers import build_objective, fake_output


def correlated_means(b: int = 64) -> torch.Tensor:
    """Latents 0 and 1 equal (ρ = 1, then −1 for latent 2 = −latent 0), latent 3 independent."""
    g = torch.Generator().manual_seed(0)
    a, c = torch.randn(b, generator=g), torch.randn(b, generator=g)
    return torch.stack([a, a, -a, c], 1)


def test_fixed_weights_give_a_vector_beta():
    obj = build_objective({"kind": "per_latent", "beta": 2, "weights": [1, 0.5, 0, 3], "adapt": "none"})
    mu = correlated_means()
    out, x = fake_output(mu)
    terms = obj(out, x, obj.hyper(0, 0))
    betas = torch.tensor([2.0, 1.0, 0.0, 6.0])
    kl_mean = kl_per_latent(mu, torch.zeros_like(mu)).mean(0)
    torch.testing.assert_close(terms["loss"], terms["recon"] + (betas * kl_mean).sum())
    assert [terms[f"beta.{j}"].item() for j in range(4)] == betas.tolist()
    assert "signal.0" not in terms


def test_the_base_beta_follows_its_schedule():
    obj = build_objective({"kind": "per_latent", "adapt": "none",
                           "beta": {"kind": "linear", "start": 0, "end": 4, "length": 100}})
    out, x = fake_output(correlated_means())
    terms = obj(out, x, obj.hyper(25, 0))
    assert [terms[f"beta.{j}"].item() for j in range(4)] == [1.0] * 4


def test_adaptive_rule_at_a_known_point():
    obj = build_objective({"kind": "per_latent", "beta": 2, "lam": 3, "ema": 0.9, "agg": "max"})
    mu = correlated_means()
    out, x = fake_output(mu)
    terms = obj(out, x, obj.hyper(0, 0))
    rho = np.abs(np.corrcoef(mu.numpy().T))
    np.fill_diagonal(rho, 0)
    s = 0.1 * rho.max(1)  # one EMA step from 0 with η = 0.9
    assert s[0] == pytest.approx(0.1, abs=1e-6)  # latent 0 duplicates latents 1 and 2
    expected = 2 * (1 + 3 * s)
    got = [terms[f"beta.{j}"].item() for j in range(4)]
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    np.testing.assert_allclose([terms[f"signal.{j}"].item() for j in range(4)], s, rtol=1e-5)
    assert got[3] < got[0]  # the independent latent is pressed less


def test_mean_aggregation_warm_up_clip_and_update_interval():
    mu = correlated_means()
    out, x = fake_output(mu)
    obj = build_objective({"kind": "per_latent", "beta": 1, "ema": 0.5, "agg": "mean", "t_warm": 2,
                           "update_every": 2, "beta_max": 1.2})
    warm = obj(out, x, obj.hyper(0, 0))  # updated (step 0 is a multiple of 2) but not used yet
    assert [warm[f"beta.{j}"].item() for j in range(4)] == [1.0] * 4
    s_after_first = obj.signal.clone()
    rho = np.abs(np.corrcoef(mu.numpy().T))
    np.fill_diagonal(rho, 0)
    np.testing.assert_allclose(s_after_first.numpy(), 0.5 * rho.sum(1) / 3, rtol=1e-5)
    obj(out, x, obj.hyper(1, 0))  # step 1: no update
    torch.testing.assert_close(obj.signal, s_after_first)
    late = obj(out, x, obj.hyper(3, 0))  # adapting, and clipped at β_max
    expected = np.minimum(1 + s_after_first.numpy(), 1.2)
    np.testing.assert_allclose([late[f"beta.{j}"].item() for j in range(4)], expected, rtol=1e-5)
    assert late["beta.0"].item() == pytest.approx(1.2)


def test_only_active_latents_take_part_when_asked():
    mu = correlated_means()
    mu[:, 1] = mu[:, 0] * 1e-3  # latent 1 copies latent 0 but is inactive (tiny KL)
    logvar = torch.zeros_like(mu)
    out, x = fake_output(mu, logvar)
    obj = build_objective({"kind": "per_latent", "ema": 0.0, "active_only": True, "active_threshold": 0.01})
    obj(out, x, obj.hyper(0, 0))
    assert obj.signal[1].item() == 0.0
    assert obj.signal[0].item() == pytest.approx(1.0, abs=1e-5)  # still duplicated by latent 2
    obj_all = build_objective({"kind": "per_latent", "ema": 0.0})
    obj_all(out, x, obj_all.hyper(0, 0))
    assert obj_all.signal[1].item() == pytest.approx(1.0, abs=1e-5)


def test_beta_carries_no_gradient():
    obj = build_objective({"kind": "per_latent", "beta": 2, "ema": 0.0})
    mu = correlated_means().requires_grad_(True)
    out, x = fake_output(mu)
    terms = obj(out, x, obj.hyper(0, 0))
    terms["loss"].backward()
    betas = torch.tensor([terms[f"beta.{j}"].item() for j in range(4)])
    # d/dμ of Σ_j β_j·mean_b ½μ² = β_j·μ/B: the weights are constants to autograd
    torch.testing.assert_close(mu.grad, betas * mu.detach() / mu.shape[0])


def test_a_weights_vector_of_the_wrong_length_is_refused():
    with pytest.raises(BetavaeError, match="3 entries but model.latent_dim is 4"):
        build_objective({"kind": "per_latent", "weights": [1, 1, 1]})
