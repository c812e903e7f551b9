"""β-TCVAE's minibatch estimators (MWS, MSS) against known answers (Chen et al. 2018)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from betavae.objectives.tc import gaussian_log_density, kl_decomposition, log_weights


def gaussian_tc(cov: np.ndarray) -> float:
    """TC of N(0, Σ): ½(Σ_d log Σ_dd − log det Σ)."""
    return 0.5 * (np.log(np.diag(cov)).sum() - np.linalg.slogdet(cov)[1])


def test_mss_weights_sum_to_one_per_row_with_the_own_posterior_on_the_diagonal():
    b, n = 5, 100
    w = log_weights(b, n, "mss", torch.zeros(1, dtype=torch.float64)).exp()
    m = b - 1
    torch.testing.assert_close(w.sum(1), torch.ones(b, dtype=torch.float64))
    torch.testing.assert_close(w.diagonal(), torch.full((b,), 1 / n, dtype=torch.float64))
    strata = (w - (n - m) / (n * m)).abs() < 1e-12
    assert strata.sum(1).tolist() == [1] * b  # one stratum entry per row (off the diagonal)
    assert not strata.diagonal().any()


def test_mws_weights_are_uniform():
    w = log_weights(4, 10, "mws", torch.zeros(1))
    torch.testing.assert_close(w, torch.full((4, 4), -math.log(40.0)))


def identical_posteriors(b: int, d: int):
    g = torch.Generator().manual_seed(0)
    mu = torch.randn(1, d, generator=g).expand(b, d).clone()
    logvar = torch.full((b, d), math.log(0.3))
    z = mu + torch.randn(b, d, generator=g) * math.sqrt(0.3)
    return z.double(), mu.double(), logvar.double()


def test_equal_posteriors_have_zero_tc_with_mss_and_the_known_offset_with_mws():
    # q(z) is then q(z|x) itself, a factorised Gaussian: the true TC and MI are 0.
    b, d, n = 32, 5, 10_000
    z, mu, logvar = identical_posteriors(b, d)
    mss = kl_decomposition(z, mu, logvar, n, "mss")
    assert mss["tc"].item() == pytest.approx(0.0, abs=1e-9)
    assert mss["mi"].item() == pytest.approx(0.0, abs=1e-9)
    mws = kl_decomposition(z, mu, logvar, n, "mws")
    # MWS divides each mixture by N·B while B equal terms sum to B·q: (D − 1)·log N > 0
    assert mws["tc"].item() == pytest.approx((d - 1) * math.log(n), abs=1e-9)
    assert mws["mi"].item() == pytest.approx(math.log(n), abs=1e-9)


@pytest.mark.parametrize("estimator", ["mws", "mss"])
def test_the_three_terms_add_up_to_the_monte_carlo_kl(estimator):
    g = torch.Generator().manual_seed(1)
    mu, logvar = torch.randn(16, 3, generator=g).double(), torch.randn(16, 3, generator=g).double() * 0.3
    z = mu + torch.randn(16, 3, generator=g).double() * torch.exp(0.5 * logvar)
    parts = kl_decomposition(z, mu, logvar, 1000, estimator)
    mc_kl = (gaussian_log_density(z, mu, logvar) - gaussian_log_density(z, 0 * z, 0 * z)).sum(1).mean()
    torch.testing.assert_close(parts["mi"] + parts["tc"] + parts["dwkl"], mc_kl)


@pytest.mark.parametrize("estimator", ["mws", "mss"])
@pytest.mark.parametrize("rho", [0.0, 0.95])
def test_tc_of_a_gaussian_aggregate_posterior(estimator, rho):
    # posterior means μ ~ N(0, Σ), posteriors N(μ, s² I): q(z) = N(0, Σ + s² I) exactly, so the
    # TC has a closed form. The batch is a Monte-Carlo sample of the mixture.
    b, s, n = 2048, 0.3, 10**6
    cov = np.array([[1.0, rho], [rho, 1.0]])
    rng = np.random.default_rng(2)
    mu = torch.from_numpy(rng.multivariate_normal([0, 0], cov, size=b))
    logvar = torch.full((b, 2), 2 * math.log(s), dtype=torch.float64)
    z = mu + s * torch.from_numpy(rng.standard_normal((b, 2)))
    expected = gaussian_tc(cov + s**2 * np.eye(2))
    tc = kl_decomposition(z, mu, logvar, n, estimator)["tc"].item()
    offset = math.log(n) if estimator == "mws" else 0.0  # (D − 1)·log N for MWS, D = 2
    assert tc - offset == pytest.approx(expected, abs=0.05)
    if rho:
        assert expected > 0.7  # the correlated case is far from 0


def test_the_constant_dropping_shortcut_would_be_negative_and_ours_is_not():
    # disentanglement_lib drops the log(B·N) constants, which on equal posteriors gives
    # (1 − D)·log B < 0: our estimates of the same batch are ≥ 0 (MSS 0, MWS (D − 1) log N).
    b, d = 64, 6
    z, mu, logvar = identical_posteriors(b, d)
    pair = gaussian_log_density(z[:, None], mu[None], logvar[None])
    dropped = (torch.logsumexp(pair.sum(2), 1) - torch.logsumexp(pair, 1).sum(1)).mean().item()
    assert dropped == pytest.approx((1 - d) * math.log(b), abs=1e-9)
    for estimator in ("mws", "mss"):
        assert kl_decomposition(z, mu, logvar, 737_280, estimator)["tc"].item() >= -1e-9
