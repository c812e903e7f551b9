"""Batched-ensemble training (spec §5): an ensemble of seeds equals the models trained alone."""

import numpy as np
import pytest
import torch
from betavae.multimodal.train import EnsembleTrainer, fit

from betavae.errors import BetavaeError
from betavae.multimodal.schedules import study_schedule
from betavae.multimodal.settings import TrainSettings


def settings(**kw):
    return TrainSettings(**({"epochs": 4, "batch_size": 200, "lr": 1e-3} | kw))


@pytest.mark.parametrize("precision, tol", [("float64", 1e-12), ("float32", 1e-5)])
def test_ensemble_equals_separate_training(sim_tiny, precision, tol):
    sched = study_schedule("dyn_plateau1", 4, time_scale=4 / 80)
    s = settings(precision=precision)
    ens = fit(sim_tiny, [11, 12, 13], sched, s)
    for k, seed in enumerate([11, 12, 13]):
        one = fit(sim_tiny, [seed], sched, s)
        for term in ("loss", "recon", "kl", "alpha"):
            np.testing.assert_allclose(ens.history[term][:, k], one.history[term][:, 0], rtol=tol, atol=tol)
        for name, p in ens.model.params.items():
            torch.testing.assert_close(p[k], one.model.params[name][0], rtol=tol, atol=tol)


def test_mixed_schedules_in_one_ensemble(sim_tiny):
    """Members may follow different schedules; each still equals its lone counterpart."""
    a, b = study_schedule("const1", 3), study_schedule("const0", 3)
    ens = fit(sim_tiny, [1, 2], [a, b], settings(epochs=3))
    alone = fit(sim_tiny, [2], b, settings(epochs=3))
    np.testing.assert_allclose(ens.history["loss"][:, 1], alone.history["loss"][:, 0], rtol=1e-12)
    assert ens.history["alpha"][:, 0].tolist() == [1.0, 1.0, 1.0]


def test_dynamic_schedules_identical_until_plateau(sim_tiny):
    """dyn_plateau0 and dyn_plateau1 give bit-identical trajectories up to e_dyn (spec §5a)."""
    epochs, scale = 8, 6 / 70_000  # e_dyn = 6 epochs, period 1
    p0 = study_schedule("dyn_plateau0", epochs, scale)
    p1 = study_schedule("dyn_plateau1", epochs, scale)
    assert p0.e_dyn == 6
    t0 = EnsembleTrainer(sim_tiny, [4], p0, settings(epochs=epochs))
    t1 = EnsembleTrainer(sim_tiny, [4], p1, settings(epochs=epochs))
    for e in range(epochs):
        r0, r1 = t0.train_epoch(), t1.train_epoch()
        same = all(np.array_equal(r0[k], r1[k]) for k in r0)
        assert same == (e < 6), e
        if e < 6:
            for name, p in t0.model.params.items():
                assert torch.equal(p, t1.model.params[name])


def test_training_reduces_the_loss(trained_small, sim_tiny):
    fresh = EnsembleTrainer(sim_tiny, [0, 1], study_schedule("const0", 40), settings())
    before = fresh.train_epoch()["recon"]
    after = trained_small.train_epoch()["recon"]
    assert (after < before - 1.0).all()


def test_bf16_trains_with_float32_weights(sim_tiny):
    run = fit(sim_tiny, [0], study_schedule("const0", 3), settings(epochs=3, precision="bf16"))
    assert run.model.params["enc_head_w"].dtype == torch.float32
    ref = fit(sim_tiny, [0], study_schedule("const0", 3), settings(epochs=3, precision="float32"))
    assert np.isfinite(run.history["loss"]).all()
    # bfloat16 matmuls change the numbers, not the course: within 1 % of float32 after 3 epochs
    np.testing.assert_allclose(run.history["recon"], ref.history["recon"], rtol=1e-2)
    assert not np.array_equal(run.history["recon"], ref.history["recon"])


def test_bad_settings(sim_tiny):
    with pytest.raises(BetavaeError, match="batch size 5000 exceeds the 1200 training rows"):
        EnsembleTrainer(sim_tiny, [0], study_schedule("const0", 3), settings(batch_size=5000))
    with pytest.raises(BetavaeError, match="2 schedules for 3 seeds"):
        EnsembleTrainer(sim_tiny, [0, 1, 2], [study_schedule("const0", 3)] * 2, settings())
    with pytest.raises(BetavaeError, match="not finite"):
        fit(sim_tiny, [0], study_schedule("const0", 3), settings(lr=1e30))
