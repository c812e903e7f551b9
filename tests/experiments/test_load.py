"""``betavae.load_run``: any run folder back as config + model + array methods (issue #19 item 6)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import betavae
from betavae.config import build_config
from betavae.errors import BetavaeError
from betavae.experiments.load import ImageRun, LoadedRun
from betavae.experiments.run import train

from ..conftest import tiny_tree


def test_load_run_gives_the_trained_model_and_its_array_methods(tmp_path):
    run_dir = train(build_config(tiny_tree(steps=4, checkpoint_every=4)), tmp_path)
    run = betavae.load_run(run_dir)
    assert isinstance(run, ImageRun) and run.step == 4 and not run.model.training
    obs = run.source.observations(run.source.sample_factors(5, np.random.default_rng(0)))
    mu, logvar = run.encode(obs)
    x = torch.from_numpy(obs).float() / run.source.pixel_max
    with torch.no_grad():
        mu_ref, _ = run.model.encode(x)
    assert mu.shape == logvar.shape == (5, run.model.latent_dim)
    np.testing.assert_array_equal(mu, mu_ref.numpy())
    assert run.decode_mean(mu).shape == (5, *run.source.observation_shape)
    with pytest.raises(BetavaeError, match="has no predict"):
        LoadedRun.predict(run, obs)


def test_load_run_refuses_a_folder_without_weights(tmp_path):
    with pytest.raises(BetavaeError):
        betavae.load_run(tmp_path)
