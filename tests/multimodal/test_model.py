"""The Zambelli et al. (2020) model as a stacked ensemble, and its loss (spec §3–4)."""

import math

import numpy as np
import pytest
import torch

from betavae.data.sensorimotor_layout import reference_layout
from betavae.models.multimodal import VAR_FLOOR, EnsembleVAE, floor_logvar
from betavae.objectives.multimodal import column_weights, gaussian_kl_prior, loss_terms, nll_offset


def test_parameter_count_is_the_reference():
    assert EnsembleVAE([0]).parameters_per_member() == 29_150


def test_init_bounds_and_zero_biases():
    m = EnsembleVAE([0, 1])
    for name, p in m.params.items():
        if name.endswith("_b"):
            assert (p == 0).all()
    w = m.params["enc_joints_0_w"]  # 8 -> 40
    bound = math.sqrt(1 / 48)
    assert w.abs().max() <= bound and w.abs().max() > 0.9 * bound
    head = m.params["enc_head_w"][0]  # two 100 -> 28 heads, each with its own bound
    assert head.shape == (100, 56) and head.abs().max() <= math.sqrt(1 / 128)
    assert not torch.equal(m.params["enc_joints_0_w"][0], m.params["enc_joints_0_w"][1])


def test_members_equal_models_built_alone():
    ens = EnsembleVAE([5, 7, 9])
    x = torch.rand(4, 28, dtype=torch.float64) * 2 - 1
    mu, lv = ens.reconstruct(x)
    for k, seed in enumerate([5, 7, 9]):
        m1, l1 = EnsembleVAE([seed]).reconstruct(x)
        torch.testing.assert_close(mu[k], m1[0], rtol=0, atol=0)
        torch.testing.assert_close(lv[k], l1[0], rtol=0, atol=0)


def test_variance_floor_and_mean_reconstruction():
    h = torch.tensor([-50.0, 0.0, 3.0], dtype=torch.float64)
    torch.testing.assert_close(floor_logvar(h).exp(), h.exp() + VAR_FLOOR)
    m = EnsembleVAE([0])
    x = torch.rand(3, 28, dtype=torch.float64)
    out = m(x, eps=None)
    z_mean_decoded = m.decode(out["mu_z"])
    torch.testing.assert_close(m.reconstruct(x)[0], z_mean_decoded[0])
    assert (m.reconstruct(x)[1].exp() >= VAR_FLOOR).all()


def test_reduced_layout_builds():
    m = EnsembleVAE([0], reference_layout(2, False))
    mu, lv = m.reconstruct(torch.zeros(2, 16, dtype=torch.float64))
    assert mu.shape == (1, 2, 16)


def test_loss_at_a_known_point():
    lay = reference_layout()
    w = column_weights(lay)
    assert w[:8].tolist() == [1 / 8] * 8 and w[16].item() == 0.5
    B, D = 3, 28
    target = torch.full((1, B, D), 0.5, dtype=torch.float64)
    out = {"mu_x": torch.zeros(1, B, D, dtype=torch.float64), "logvar_x": torch.zeros(1, B, D, dtype=torch.float64),
           "mu_z": torch.ones(1, B, 28, dtype=torch.float64), "logvar_z": torch.zeros(1, B, 28, dtype=torch.float64)}
    # per column ½(0.25/1 + 0) = 0.125; Σ_i (d_i·0.125)/d_i over 5 modalities = 0.625
    # KL = ½ Σ_j μ² = 14
    t = loss_terms(out, target, 0.5, w, 0.0)
    assert t["recon"].item() == pytest.approx(0.625)
    assert t["kl"].item() == pytest.approx(14.0)
    assert t["loss"].item() == pytest.approx(0.625 + 7.0)
    ref = nll_offset(lay, 28, "reference")
    assert ref == pytest.approx(7 * math.log(2 * math.pi) * (3 / 8 + 2 / 2))
    assert nll_offset(lay, 28, "exact") == pytest.approx(5 * 0.5 * math.log(2 * math.pi))
    assert nll_offset(lay, 28, "none") == 0.0


def test_kl_prior_closed_form():
    mu = torch.tensor([[0.3, -1.0]], dtype=torch.float64)
    lv = torch.tensor([[math.log(2.0), math.log(0.5)]], dtype=torch.float64)
    expected = sum(0.5 * (s + m * m - 1 - math.log(s)) for m, s in [(0.3, 2.0), (-1.0, 0.5)])
    assert gaussian_kl_prior(mu, lv).item() == pytest.approx(expected)


def test_member_gradients_are_independent():
    """The summed ensemble loss gives each member the gradient of its own loss."""
    ens = EnsembleVAE([0, 1])
    x = torch.as_tensor(np.random.default_rng(0).uniform(-1, 1, (2, 6, 28)))
    w = column_weights(reference_layout())
    loss_terms(ens(x), x, 1.0, w)["loss"].sum().backward()
    single = EnsembleVAE([1])
    loss_terms(single(x[1:]), x[1:], 1.0, w)["loss"].sum().backward()
    for name, p in ens.params.items():
        torch.testing.assert_close(p.grad[1], single.params[name].grad[0])
