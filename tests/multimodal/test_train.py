"""Batched-ensemble training through the one loop (spec §5): an ensemble of seeds equals the
models trained alone; a run resumes exactly, also from a checkpoint in the middle of an epoch."""

import numpy as np
import pytest
import torch

from betavae.errors import BetavaeError
from betavae.multimodal.schedules import study_schedule
from betavae.train.loop import Loop

from .conftest import fit, member_configs


@pytest.mark.parametrize("precision, tol", [("float64", 1e-12), ("float32", 1e-5)])
def test_ensemble_equals_separate_training(precision, tol):
    sched = study_schedule("dyn_plateau1", 4, time_scale=4 / 80)
    ens, hist = fit([11, 12, 13], sched, model={"precision": precision})
    for k, seed in enumerate([11, 12, 13]):
        one, h1 = fit([seed], sched, model={"precision": precision})
        for term in ("loss", "recon", "kl", "alpha"):
            np.testing.assert_allclose(hist[term][:, k], h1[term][:, 0], rtol=tol, atol=tol)
        for name, p in ens.task.model.params.items():
            torch.testing.assert_close(p[k], one.task.model.params[name][0], rtol=tol, atol=tol)


def test_mixed_schedules_in_one_ensemble():
    """Members may follow different schedules; each still equals its lone counterpart."""
    a, b = study_schedule("const1", 3), study_schedule("const0", 3)
    _, ens = fit([1, 2], [a, b], epochs=3)
    _, alone = fit([2], b, epochs=3)
    np.testing.assert_allclose(ens["loss"][:, 1], alone["loss"][:, 0], rtol=1e-12)
    assert ens["alpha"][:, 0].tolist() == [1.0, 1.0, 1.0]


def test_dynamic_schedules_identical_until_plateau():
    """dyn_plateau0 and dyn_plateau1 give bit-identical trajectories up to e_dyn (spec §5a)."""
    epochs, scale = 8, 6 / 70_000  # e_dyn = 6 epochs, period 1
    p0 = study_schedule("dyn_plateau0", epochs, scale)
    p1 = study_schedule("dyn_plateau1", epochs, scale)
    assert p0.e_dyn == 6
    _, h0 = fit([4], p0, epochs=epochs)
    _, h1 = fit([4], p1, epochs=epochs)
    for e in range(epochs):
        same = all(np.array_equal(h0[k][e], h1[k][e]) for k in h0)
        assert same == (e < 6), e
    l0, _ = fit([4], p0, epochs=6)
    l1, _ = fit([4], p1, epochs=6)
    for name, p in l0.task.model.params.items():
        assert torch.equal(p, l1.task.model.params[name])


def test_training_reduces_the_loss(trained_small):
    _, hist = trained_small
    assert (hist["recon"][-1] < hist["recon"][0] - 1.0).all()


def test_bf16_trains_with_float32_weights():
    run, h = fit([0], study_schedule("const0", 3), epochs=3, model={"precision": "bf16"})
    assert run.task.model.params["enc_head_w"].dtype == torch.float32
    _, ref = fit([0], study_schedule("const0", 3), epochs=3, model={"precision": "float32"})
    assert np.isfinite(h["loss"]).all()
    # bfloat16 matmuls change the numbers, not the course: within 1 % of float32 after 3 epochs
    np.testing.assert_allclose(h["recon"], ref["recon"], rtol=1e-2)
    assert not np.array_equal(h["recon"], ref["recon"])


def test_bad_settings():
    with pytest.raises(BetavaeError, match="batch size 5000 exceeds the 1200 training rows"):
        Loop(member_configs([0], study_schedule("const0", 3), batch_size=5000))
    with pytest.raises(BetavaeError, match="must share objective.nll_constant"):
        Loop(member_configs([0], study_schedule("const0", 3)) + member_configs([1], study_schedule("const0", 3),
                                                                                objective={"nll_constant": "exact"}))
    with pytest.raises(BetavaeError, match="NaN/inf"):
        fit([0], study_schedule("const0", 3), epochs=3, lr=1e30)


def test_nll_constant_shifts_the_loss_not_the_training():
    """``nll_constant`` adds Σ_i c_i/d_i to the reported loss and leaves the weights alone (spec §4)."""
    import math

    sched = study_schedule("const0", 2)
    ref, h_ref = fit([3], sched, epochs=2)
    none, h_none = fit([3], sched, epochs=2, objective={"nll_constant": "none"})
    offset = sum(7 * math.log(2 * math.pi) / d for d in (8, 8, 2, 2, 8))
    np.testing.assert_allclose(h_ref["recon"] - h_none["recon"], offset, rtol=1e-12)
    for name, p in ref.task.model.params.items():
        assert torch.equal(p, none.task.model.params[name])


@pytest.mark.parametrize("cut", [5, 6])  # mid-epoch (6 steps per epoch) and at an epoch boundary
def test_resume_from_members_states_is_exact(cut):
    """States saved at step ``cut`` and loaded into a new loop continue to the same bits: the
    epoch's shuffle and noise are regenerated from the generators' states at its start."""

    class Stop:
        def on_step(self, step):
            if step == cut:
                raise KeyboardInterrupt

        def __getattr__(self, name):
            return lambda *a, **k: None

    sched = [study_schedule("dyn_plateau0", 3), study_schedule("const1", 3)]
    straight, h = fit([0, 1], sched, epochs=3)
    first = Loop(member_configs([0, 1], sched, epochs=3), callbacks=[Stop()])
    with pytest.raises(KeyboardInterrupt):
        first.fit(lambda k, r: None, lambda k, s: None)
    states = list(first.states())
    assert [s["rng"]["epoch"] for s in states] == [(cut - 1) // 6] * 2
    second = Loop(member_configs([0, 1], sched, epochs=3))
    second.load_states(states)
    rows = [[], []]
    second.fit(lambda k, r: rows[k].append(r), lambda k, s: None)
    for name, p in straight.task.model.params.items():
        assert torch.equal(p, second.task.model.params[name])
    assert [r["loss"] for r in rows[1]][-1] == h["loss"][-1, 1]
