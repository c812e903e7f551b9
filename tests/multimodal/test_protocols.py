"""The reference test protocols (spec §7) with known answers from stand-in models."""

import math

import numpy as np
import pytest

from betavae.data.sensorimotor_layout import MUTED, protocol_masks, reference_layout
from betavae.multimodal.protocols import (
    external_vision,
    modality_metrics,
    rollout,
    run_protocols,
    shift_to_older,
)
from betavae.multimodal.scoring import reconstructor

LAY = reference_layout()


def zero_fill(x):
    """A stand-in model that returns its input with muted entries replaced by 0, σ² = 1."""
    mu = np.where(x == MUTED, 0.0, x)
    return mu, np.zeros_like(mu)


def test_modality_metrics_known_answers():
    x = np.full((4, 28), 0.5)
    keep = np.zeros(28, dtype=bool)
    keep[8:16] = True
    mu, lv = zero_fill(np.where(keep, x, MUTED))
    m = modality_metrics(x, mu, lv, keep, LAY)
    assert m["rmse_muted.joints"] == pytest.approx(0.5) and m["rmse_all.vision"] == 0.0
    assert np.isnan(m["rmse_muted.vision"])
    # NLL per row of one 2-column modality with error 0.5 and σ² = 1: 2·½(0.25 + log 2π)
    assert m["nll.touch"] == pytest.approx(0.25 + math.log(2 * math.pi))


def test_shift_to_older():
    x = np.arange(28.0)[None] / 28
    out = shift_to_older(np.full((1, 28), MUTED), x, LAY)
    assert (out[0, LAY.step_mask("newer")] == MUTED).all()
    np.testing.assert_array_equal(out[0, [4, 12, 17, 19, 24]], x[0, [0, 8, 16, 18, 20]])


def test_rollout_counts_and_known_errors():
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (10, 28))
    cons = np.ones(9, dtype=bool)
    cons[4] = False  # rows 0–4 and 5–9 are two trajectories
    out = rollout(zero_fill, x, cons, LAY, steps=3)
    assert [int(out[f"rollout{j}.count"]) for j in (1, 2, 3)] == [10, 8, 6]
    assert out["rollout1.rmse.vision"] == 0.0  # step 1 sees vision
    assert out["rollout1.rmse.joints"] == pytest.approx(np.sqrt((x[:, 0:4] ** 2).mean()))
    # step 2 predicts 0 for the t blocks (they are muted) against the next row's t blocks
    valid = np.array([1, 1, 1, 1, 0, 1, 1, 1, 1, 0], dtype=bool)
    nxt = np.roll(x, -1, axis=0)[valid]
    assert out["rollout2.rmse.vision"] == pytest.approx(np.sqrt((nxt[:, 8:12] ** 2).mean()))


def test_run_protocols_on_trained_models(trained_small, sim_tiny):
    res = run_protocols(reconstructor(trained_small[0]), sim_tiny.test, sim_tiny.consecutive(), sim_tiny.layout,
                        rollout_steps=2)
    assert res["complete.rmse_all.vision"].shape == (2,)
    assert {"vision_only.rmse_muted.joints", "control_loop.nll.motor", "prediction.rmse_all.touch",
            "rollout2.rmse.joints"} <= set(res)
    masks = protocol_masks(LAY)
    for key, v in res.items():
        test, metric, mod = (key.split(".") + [""])[:3]
        none_muted = metric == "rmse_muted" and masks[test][LAY.columns(mod)].all()
        assert np.isnan(v).all() if none_muted else np.isfinite(v).all(), key
    assert int(res["rollout2.count"]) == int(sim_tiny.consecutive().sum())


def test_external_vision_track():
    track = np.linspace(-0.5, 0.5, 24).reshape(6, 4)
    mu, _ = external_vision(zero_fill, track, LAY)
    assert mu.shape == (5, 28)
    np.testing.assert_array_equal(mu[:, 8:12], track[1:])
    np.testing.assert_array_equal(mu[:, 12:16], track[:-1])
    assert (mu[:, :8] == 0).all()  # muted, filled with 0 by the stand-in


def test_rollout_inject_vision():
    x = np.random.default_rng(1).uniform(-1, 1, (8, 28))
    out = rollout(zero_fill, x, np.ones(7, dtype=bool), LAY, steps=3, inject_vision=True)
    # the observed v_t of the predicted row is fed in, and the stand-in returns it unchanged
    assert out["rollout2.rmse.vision"] == 0.0 and out["rollout3.rmse.vision"] == 0.0
    assert out["rollout2.rmse.joints"] > 0
