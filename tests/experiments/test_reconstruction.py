"""Reconstruction statistics (Table 1 columns) at known answers."""

from __future__ import annotations

import numpy as np
import torch

from betavae.experiments.load import ImageRun
from betavae.experiments.reconstruction import reconstruction_stats
from betavae.metrics.posterior import kl_parts
from betavae.models.likelihood import Gaussian


def constant_run(config, bias: float, mu: float) -> ImageRun:
    """A Burgess model whose encoder outputs μ = mu, log σ² = 0 and whose decoder draws sigmoid(bias) everywhere."""
    source = config.data.build()
    model = config.model.build(tuple(source.observation_shape))
    with torch.no_grad():
        for layer in (model.encoder[-1], model.decoder[-1]):
            layer.weight.zero_()
        d = model.latent_dim
        model.encoder[-1].bias.copy_(torch.tensor([mu] * d + [0.0] * d))
        model.decoder[-1].bias.fill_(bias)
    return ImageRun(None, config, model.eval(), 0, torch.device("cpu"))


def seeded_images(run: ImageRun, n: int, seed: int) -> np.ndarray:
    """The ``n`` images reconstruction_stats draws with ``seed``, in [0, 1] (float64)."""
    source = run.source
    return source.observations(source.sample_factors(n, np.random.default_rng(seed))).astype(np.float64) / source.pixel_max


def sse_of_constant(run: ImageRun, n: int, seed: int, value: float) -> float:
    """Mean summed squared error per image of an output equal to ``value`` everywhere."""
    return float(((seeded_images(run, n, seed) - value) ** 2).reshape(n, -1).sum(1).mean())


def test_constant_model_known_answers(tiny_config):
    run = constant_run(tiny_config, bias=0.0, mu=0.0)
    stats = reconstruction_stats(run, n=300, seed=5, batch_size=128)
    # E[x|z] = sigmoid(0) = 0.5 everywhere: SSE = Σ (x − 0.5)² = 0.25·4096 for binary images.
    np.testing.assert_allclose(stats["mse_sum"], sse_of_constant(run, 300, 5, 0.5), rtol=1e-6)
    assert stats["mse_sum"] == 0.25 * 4096
    np.testing.assert_allclose(stats["mse_pixel"], 0.25)
    np.testing.assert_allclose(stats["nll"], 4096 * np.log(2), rtol=1e-6)  # BCE of logit 0 is log 2
    assert stats["kl"] == 0.0 and stats["active"] == 0 and stats["kl_per_latent"] == [0.0] * 4
    assert stats["information_per_latent"] == [0.0] * 4 and stats["informative"] == 0


def test_kl_per_latent_of_shifted_posterior(tiny_config):
    run = constant_run(tiny_config, bias=-3.0, mu=0.5)
    stats = reconstruction_stats(run, n=64, batch_size=64)
    np.testing.assert_allclose(stats["kl_per_latent"], [0.125] * 4, rtol=1e-6)  # KL(N(μ,1)||N(0,1)) = μ²/2
    np.testing.assert_allclose(stats["kl"], 0.5, rtol=1e-6)
    assert stats["active"] == 4 and stats["n"] == 64
    # Every image has the same posterior N(0.5, 1): the KL is all offset, none of it information.
    np.testing.assert_allclose(stats["information_per_latent"], [0.0] * 4, atol=1e-12)
    assert stats["informative"] == 0


def test_information_is_the_posterior_bound_of_the_same_images(tiny_config):
    """With μ_0 following the image, the information column is kl_parts' bound on the same seeded
    draws (its known answers: tests/metrics/test_posterior.py) and counts z0 alone as informative."""
    run = constant_run(tiny_config, bias=0.0, mu=0.0)
    with torch.no_grad():
        torch.manual_seed(0)
        run.model.encoder[-1].weight[0].normal_(0.0, 100.0)
    with torch.no_grad():
        mu, logvar = run.model.encode(torch.from_numpy(seeded_images(run, 200, 3).astype(np.float32)))
    stats = reconstruction_stats(run, n=200, seed=3, batch_size=64)
    want = kl_parts(mu.numpy(), logvar.numpy())["information"]
    np.testing.assert_allclose(stats["information_per_latent"], want, rtol=1e-6, atol=1e-12)
    assert want[0] > 0.01 and stats["informative"] == 1 and stats["active"] == 1


def test_squared_error_of_an_identity_link_is_of_its_unclipped_output(tiny_config):
    """E[x|z] = ℓ for the identity link: an output of 1.5 everywhere costs Σ (x − 1.5)², not the
    clipped picture's Σ (x − 1)², and equals the NLL times 2σ² (here σ² = ½: the NLL itself)."""
    config = tiny_config.model_copy(update={"model": tiny_config.model.model_copy(
        update={"likelihood": Gaussian(sigma=0.5**0.5, link="identity")})})
    run = constant_run(config, bias=1.5, mu=0.0)
    stats = reconstruction_stats(run, n=64, seed=2, batch_size=32)
    np.testing.assert_allclose(stats["mse_sum"], sse_of_constant(run, 64, 2, 1.5), rtol=1e-6)
    np.testing.assert_allclose(stats["nll"], stats["mse_sum"], rtol=1e-6)
