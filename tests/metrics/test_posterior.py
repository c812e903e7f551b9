"""Known answers and identities of betavae.metrics.posterior (the KL split into information
and the aggregate's mismatch with the prior)."""

import numpy as np
import pytest
from scipy import integrate, stats

from betavae.errors import BetavaeError
from betavae.metrics.posterior import active_units, information_bound, kl_parts


def test_parts_sum_to_the_kl_exactly():
    rng = np.random.default_rng(0)
    mu = rng.normal(0.3, 1.2, size=(500, 6))
    logvar = rng.normal(-1.0, 0.7, size=(500, 6))
    p = kl_parts(mu, logvar)
    direct = np.mean(0.5 * (mu**2 + np.exp(logvar) - 1 - logvar), axis=0)
    np.testing.assert_allclose(p["kl"], direct, rtol=0, atol=1e-12)
    np.testing.assert_allclose(p["information"] + p["aggregate"], p["kl"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(p["offset"] + p["spread"] + p["width"], p["kl"], rtol=0, atol=1e-12)
    assert np.all(p["information"] >= 0) and np.all(p["aggregate"] >= 0)


def test_an_input_independent_offset_carries_no_information():
    # every input gets the same posterior N(0.8, 0.25): KL = ½(0.64 + 0.25 − 1 − log 0.25) > 0, I = 0
    mu = np.full((100, 2), 0.8)
    logvar = np.full((100, 2), np.log(0.25))
    p = kl_parts(mu, logvar)
    expected = 0.5 * (0.64 + 0.25 - 1 - np.log(0.25))
    np.testing.assert_allclose(p["kl"], expected, atol=1e-12)
    np.testing.assert_allclose(p["information"], 0.0, atol=1e-12)
    np.testing.assert_allclose(p["offset"], 0.32, atol=1e-12)
    np.testing.assert_allclose(p["spread"], 0.0, atol=1e-12)
    assert information_bound(mu, logvar) == pytest.approx(0.0, abs=1e-12)
    assert p["information"].min() >= 0.0 and information_bound(mu, logvar) >= 0.0  # never −1e-14
    assert not active_units(mu).any()


def test_gaussian_channel_information_is_exact():
    # μ ~ N(0, v), s² fixed: the aggregate is Gaussian, so the bound is I = ½ log(1 + v/s²)
    rng = np.random.default_rng(1)
    mu = rng.normal(0.0, 2.0, size=(200_000, 1))
    s2 = 0.5
    p = kl_parts(mu, np.full_like(mu, np.log(s2)))
    v_hat = mu.var()
    assert p["information"][0] == pytest.approx(0.5 * np.log((v_hat + s2) / s2), abs=1e-12)
    assert p["information"][0] == pytest.approx(0.5 * np.log(1 + 4.0 / s2), abs=5e-3)


def test_bound_is_above_the_true_information_of_a_mixture():
    # two inputs at μ = ±1 with s² = 0.09: I(x; z) = H(z) − H(z|x), computed by quadrature
    mu = np.array([[-1.0], [1.0]])
    s2 = 0.09
    logvar = np.full_like(mu, np.log(s2))

    def density(z):
        return 0.5 * (stats.norm.pdf(z, -1, np.sqrt(s2)) + stats.norm.pdf(z, 1, np.sqrt(s2)))

    h_z = integrate.quad(lambda z: -density(z) * np.log(density(z)), -6, 6, points=[-1, 0, 1])[0]
    h_z_given_x = 0.5 * np.log(2 * np.pi * np.e * s2)
    true_info = h_z - h_z_given_x
    assert 0.6 < true_info <= np.log(2)
    bound = kl_parts(mu, logvar)["information"][0]
    assert bound == pytest.approx(0.5 * np.log((1 + s2) / s2), abs=1e-12)
    assert bound >= true_info


def test_joint_bound_counts_shared_information_once():
    rng = np.random.default_rng(2)
    base = rng.normal(size=(5_000, 1))
    logvar = np.full((5_000, 2), np.log(0.1))
    twins = np.hstack([base, base])                       # two latents carrying the same value
    per_latent = kl_parts(twins, logvar)["information"].sum()
    assert information_bound(twins, logvar) < per_latent - 0.5
    independent = rng.normal(size=(5_000, 2))
    assert information_bound(independent, logvar) == pytest.approx(
        kl_parts(independent, logvar)["information"].sum(), abs=0.01)
    one = independent[:, :1]
    assert information_bound(one, logvar[:, :1]) == pytest.approx(kl_parts(one, logvar[:, :1])["information"][0])


def test_active_units_threshold_the_spread_of_the_means():
    mu = np.column_stack([np.linspace(-1, 1, 101), np.full(101, 3.0), np.linspace(0, 0.1, 101)])
    np.testing.assert_array_equal(active_units(mu), [True, False, False])
    np.testing.assert_array_equal(active_units(mu, threshold=1e-4), [True, False, True])


def test_bad_inputs_get_one_line_errors():
    with pytest.raises(BetavaeError, match="same shape"):
        kl_parts(np.zeros((4, 2)), np.zeros((4, 3)))
    with pytest.raises(BetavaeError, match="NaN"):
        kl_parts(np.array([[0.0], [np.nan]]), np.zeros((2, 1)))
    with pytest.raises(BetavaeError, match="2-D"):
        information_bound(np.zeros(4), np.zeros(4))
