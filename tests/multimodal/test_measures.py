"""Integration measures of Langer et al. (2024): closed form, invariants (spec §6)."""

import math

import numpy as np
import pytest

from betavae.data.sensorimotor_layout import apply_mask, reference_layout
from betavae.metrics.integration import (
    gaussian_kl,
    integration_measures,
    measure_masks,
    modality_kl,
)
from betavae.multimodal.scoring import reconstructor

LAY = reference_layout()


def test_gaussian_kl_matches_monte_carlo():
    rng = np.random.default_rng(0)
    mu_p, mu_q = rng.normal(size=5), rng.normal(size=5)
    lv_p, lv_q = rng.normal(scale=0.5, size=5), rng.normal(scale=0.5, size=5)
    closed = gaussian_kl(mu_p, lv_p, mu_q, lv_q).sum()
    x = mu_p + np.exp(0.5 * lv_p) * rng.standard_normal((400_000, 5))

    def logpdf(x, mu, lv):
        return (-0.5 * ((x - mu) ** 2 * np.exp(-lv) + lv + math.log(2 * math.pi))).sum(-1)

    ratio = logpdf(x, mu_p, lv_p) - logpdf(x, mu_q, lv_q)
    se = ratio.std() / math.sqrt(len(ratio))
    assert abs(ratio.mean() - closed) < 4 * se
    assert gaussian_kl(mu_p, lv_p, mu_p, lv_p).max() == 0.0


def test_gaussian_kl_known_value():
    # KL(N(0,1) || N(1,4)) = ½[log 4 + (1 + 1)/4 − 1]
    assert gaussian_kl(np.array(0.0), np.array(0.0), np.array(1.0), np.array(math.log(4))) == pytest.approx(
        0.5 * (math.log(4) + 0.5 - 1))


def test_masks():
    m = measure_masks(LAY)
    assert np.flatnonzero(m["sme.touch"]).tolist() == [17]  # the older touch entry only
    assert np.flatnonzero(~m["lop.touch"]).tolist() == [16, 17]  # both touch entries muted
    assert np.flatnonzero(measure_masks(LAY, sme_keep="both")["sme.vision"]).tolist() == list(range(8, 16))
    assert not m["baseline"].any()


def _linear_reconstruct(seed=0):
    """A deterministic stand-in model: μ = tanh(x̃ A), log σ² = 0.3·tanh(x̃ B) (N, 28)."""
    rng = np.random.default_rng(seed)
    a, b = rng.normal(scale=0.3, size=(28, 28)), rng.normal(scale=0.3, size=(28, 28))
    return lambda x: (np.tanh(x @ a), 0.3 * np.tanh(x @ b))


def _check_invariants(vals, layout, per_point=None):
    for k, v in vals.items():
        assert np.all(np.asarray(v) >= 0), k
    tot = 0.0
    for m in layout.names:
        assert np.all(vals[f"sme_mod.{m}"] <= vals[f"sme_all.{m}"] + 1e-12)
        assert np.all(vals[f"lop_mod.{m}"] <= vals[f"lop_all.{m}"] + 1e-12)
        assert np.all(vals[f"baseline_mod.{m}"] <= vals["baseline_all"] + 1e-12)
        tot = tot + vals[f"baseline_mod.{m}"]
    np.testing.assert_allclose(tot, vals["baseline_all"], rtol=1e-12)


def test_invariants_on_a_fixed_function():
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, (64, 28))
    vals = integration_measures(_linear_reconstruct(), x, LAY)
    _check_invariants(vals, LAY)
    # additivity: SME^all − SME^mod = Σ_{j≠i} KL_{M_j}
    fn = _linear_reconstruct()
    full = fn(x)
    q = fn(apply_mask(x, measure_masks(LAY)["sme.vision"]))
    per = {k: v.mean() for k, v in modality_kl(full, q, LAY).items()}
    assert vals["sme_all.vision"] - vals["sme_mod.vision"] == pytest.approx(
        sum(v for k, v in per.items() if k != "vision"))
    # prediction error by hand
    assert vals["prediction_error"] == pytest.approx(np.linalg.norm(x - full[0], axis=1).mean())


def test_nothing_removed_gives_zero():
    x = np.random.default_rng(2).uniform(-1, 1, (16, 28))
    vals = integration_measures(_linear_reconstruct(), x, LAY, sme_keep="both", lop_mute="both")
    # a constant function ignores every mask: every KL is exactly KL(p‖p) = 0
    const = integration_measures(lambda z: (np.zeros_like(z), np.zeros_like(z)), x, LAY)
    assert all(np.all(v == 0) for k, v in const.items() if k != "prediction_error")
    assert vals["sme_all.vision"] > 0


def test_direction_option_swaps_p_and_q():
    x = np.random.default_rng(3).uniform(-1, 1, (16, 28))
    fn = _linear_reconstruct()
    a = integration_measures(fn, x, LAY, kl_direction="muted_to_full")
    full, q = fn(x), fn(apply_mask(x, measure_masks(LAY)["lop.joints"]))
    assert a["lop_all.joints"] == pytest.approx(gaussian_kl(q[0], q[1], full[0], full[1]).sum(-1).mean())


def test_invariants_on_trained_models(trained_small, sim_tiny):
    vals = integration_measures(reconstructor(trained_small[0]), sim_tiny.test, sim_tiny.layout)
    assert vals["baseline_all"].shape == (2,)
    _check_invariants(vals, sim_tiny.layout)
    # a trained model (β ≈ 0) depends on its input: the baseline is clearly positive
    assert (vals["baseline_all"] > 1.0).all()


def test_sampled_latent_mode_has_a_sample_axis(trained_small, sim_tiny):
    fn = reconstructor(trained_small[0], "sample", samples=3, seed=0)
    vals = integration_measures(fn, sim_tiny.test[:32], sim_tiny.layout)
    assert vals["sme_mod.vision"].shape == (3, 2)
    _check_invariants(vals, sim_tiny.layout)
