"""Physical consistency of the arm-and-keyboard simulator (spec §9, checks 1–10)."""

import numpy as np
import pytest

from betavae.data.sensorimotor import simulate
from betavae.data.sensorimotor_layout import MUTED, group_masks
from betavae.data.sensorimotor_simulator import (
    KEY_CODES,
    SimulatorConfig,
    fingertip,
    jacobian,
    key_index,
    normalise_pixels,
    project,
    surface,
)

CFG = SimulatorConfig()


def physical(x, cfg=CFG):
    """Denormalise joints (t, t−1) and motor (t−1) of rows x (N, 28)."""
    lo, hi = cfg.limits()
    q = lo + (x[:, 0:8].reshape(-1, 2, 4) + 1) / 2 * (hi - lo)
    return q[:, 0], q[:, 1], x[:, 24:28] * cfg.m_max


def test_default_sizes_and_ranges(sim_default):
    d = sim_default
    assert d.train_input.shape == (7380, 28) and d.test.shape == (1487, 28)
    for x in (d.train_clean, d.test):
        assert np.abs(x).max() <= 1.0 and not (x == MUTED).any()
        assert set(np.unique(x[:, 16:18])) <= {-1.0, 1.0}
        assert set(np.unique(x[:, 18:20])) <= {-1.0, *KEY_CODES}


def test_slot_shift_inside_episodes(sim_default):
    ex = sim_default.extras["test"]
    x, ep = ex["x"], ex["episode"]
    same = ep[1:] == ep[:-1]
    older = np.r_[4:8, 12:16, 17, 19, 24:28]
    newer = np.r_[0:4, 8:12, 16, 18, 20:24]
    assert same.sum() > 1000
    np.testing.assert_array_equal(x[1:][same][:, older], x[:-1][same][:, newer])
    assert (sim_default.consecutive() == same).all()


def test_kinematics(sim_default):
    x, ex = sim_default.train_clean, sim_default.extras["train"]
    q_t, q_prev, m_prev = physical(x)
    lo, hi = CFG.limits()
    free = ~ex["blocked"]
    res = (q_t - np.clip(q_prev + CFG.dt * m_prev, lo, hi))[free]
    assert np.abs(res).max() < 5 * CFG.joint_noise
    assert 0.7 * CFG.joint_noise < res.std() < 1.1 * CFG.joint_noise
    # a blocked move leaves the joints where they were
    np.testing.assert_allclose(q_t[~free], q_prev[~free], atol=1e-12)
    for j in range(4):
        assert np.corrcoef(x[:, 24 + j], x[:, j] - x[:, 4 + j])[0, 1] > 0.9


def test_vision_is_a_function_of_the_joints(sim_default):
    x = sim_default.train_clean
    q_t, _, _ = physical(x)
    links = CFG.link_lengths()
    expected = normalise_pixels(project(fingertip(q_t, links), CFG), CFG)
    size = np.tile(CFG.image_size, 2)
    resid_px = (x[:, 8:12] - expected) * size / 2
    rms = np.sqrt((resid_px**2).mean())
    assert 0.9 * CFG.pixel_noise < rms < 1.1 * CFG.pixel_noise
    assert np.corrcoef(x[:, 8], x[:, 10])[0, 1] > 0.9 and np.corrcoef(x[:, 9], x[:, 11])[0, 1] > 0.9
    # the two cameras differ (vergence and baseline): not one image twice
    assert np.abs(x[:, 8] - x[:, 10]).mean() > 0.02


def test_non_penetration_and_touch_geometry(sim_default):
    x = sim_default.train_clean
    q_t, _, _ = physical(x)
    tip = fingertip(q_t, CFG.link_lengths())
    assert (tip[:, 1] >= surface(tip[:, 0], CFG) - 1e-9).all()
    on_key = key_index(tip[:, 0], CFG) >= 0
    near = tip[:, 1] <= CFG.key_y + CFG.touch_band
    touch = x[:, 16] > 0
    assert (on_key[touch] & near[touch]).all()
    assert not (on_key & near & ~touch).any()


def test_sound_implies_recent_touch(sim_default):
    x, ex = sim_default.train_clean, sim_default.extras["train"]
    sound = x[:, 18] > 0
    assert (x[sound, 16] > 0).mean() < 1.0  # sound can outlast touch (it lags) ...
    assert ((x[sound, 16] > 0) | (x[sound, 17] > 0)).all()  # ... but never by more than n_hold steps
    onset = ex["onset"]
    assert onset.sum() > 50 and (x[onset, 16] > 0).all() and (x[onset, 18] > 0).all()
    # the note is the code of the key under the fingertip at the onset
    q_t, _, _ = physical(x[onset])
    keys = key_index(fingertip(q_t, CFG.link_lengths())[:, 0], CFG)
    np.testing.assert_array_equal(x[onset, 18], np.asarray(KEY_CODES)[keys])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_rates(seed):
    x = simulate(CFG, seed).train_clean
    assert 0.15 <= (x[:, 16] > 0).mean() <= 0.30
    assert 0.05 <= (x[:, 18] > 0).mean() <= 0.15


def test_determinism_and_augmentation(sim_default):
    again = simulate(CFG, 0)
    np.testing.assert_array_equal(again.train_input, sim_default.train_input)
    np.testing.assert_array_equal(again.test, sim_default.test)
    other = simulate(CFG, 1)
    assert not np.array_equal(other.train_input, sim_default.train_input)
    d = sim_default
    for g, keep in group_masks(d.layout).items():
        rows = d.train_input[d.train_group == g]
        assert (rows[:, ~keep] == MUTED).all() and (rows[:, keep] == d.train_clean[:, keep]).all()
    np.testing.assert_array_equal(d.train_target, np.tile(d.train_clean, (4, 1)))


def test_jacobian_matches_finite_differences():
    rng = np.random.default_rng(0)
    q, links = rng.uniform(-1, 1, 4), CFG.link_lengths()
    eps = 1e-6
    num = np.stack([(fingertip(q + eps * e, links) - fingertip(q - eps * e, links)) / (2 * eps)
                    for e in np.eye(4)], -1)
    np.testing.assert_allclose(jacobian(q, links), num, atol=1e-8)


def test_reduced_arm_and_mono_vision():
    cfg = SimulatorConfig(n_joints=2, stereo=False, n_train=200, n_test=50)
    d = simulate(cfg, 0)
    assert d.train_input.shape == (800, 16) and d.layout.sizes == [4, 4, 2, 2, 4]
    assert np.abs(d.test).max() <= 1.0


def test_hand_target_vision():
    cfg = SimulatorConfig(vision="hand_target", n_train=300, n_test=50)
    d = simulate(cfg, 0)
    assert d.layout.sizes == [8, 8, 2, 2, 8]
    x = d.train_clean
    q_t, _, _ = physical(x, cfg)
    hand = normalise_pixels(project(fingertip(q_t, cfg.link_lengths()), cfg, stereo=False), cfg)
    resid_px = (x[:, 8:10] - hand) * np.asarray(cfg.image_size) / 2
    assert 0.8 < np.sqrt((resid_px**2).mean()) < 1.2
    # the target block holds a few distinct targets per episode, not the hand
    assert np.abs(x[:, 10:12] - x[:, 8:10]).mean() > 0.02
    assert len(np.unique(np.round(x[:, 10], 1))) > 3
