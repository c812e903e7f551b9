"""A seeded arm-and-keyboard simulator: an offline stand-in for the iCub data (spec §9).

A planar arm (4 links by default) babbles over a keyboard of 4 keys under a damped least-squares
(Jacobian-transpose form) reach controller with Ornstein–Uhlenbeck noise; two converging pinhole cameras see the
fingertip; the fingertip touches and presses keys, which sound. Episodes run vectorised over
episodes (a Python loop over time steps only). Every row is (x_t, x_{t−1}) in the 28-column
layout of :mod:`betavae.data.sensorimotor_layout` (Zambelli et al. 2020), normalised to [−1, 1].

All geometry, noise and rate numbers are parameters of :class:`SimulatorConfig` (spec §9).
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, PositiveInt

from betavae.bounds import Count, NonNegative, Positive, Probability
from betavae.data.sensorimotor_layout import Layout, reference_layout

KEY_CODES = (0.861, 0.917, 0.972, 1.0)


class SimulatorConfig(BaseModel):
    """Simulator parameters (SI units: m, rad, s); defaults give the sizes of the iCub files."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    n_train: PositiveInt = 1845
    n_test: PositiveInt = 1487
    episode_steps: PositiveInt = 40
    n_joints: int = Field(4, ge=2, le=4)
    stereo: bool = True
    #: "hand": the fingertip in each camera; "hand_target": one camera, (u, v) of the fingertip
    #: and (u, v) of the current reach target
    vision: Literal["hand", "hand_target"] = "hand"
    links: tuple[Positive, Positive, Positive, Positive] = (0.30, 0.25, 0.08, 0.05)
    q_low: tuple[float, float, float, float] = (-1.8, -2.6, -2.0, -2.0)
    q_high: tuple[float, float, float, float] = (1.0, 0.3, 2.0, 2.0)
    dt: Positive = 0.1
    joint_noise: NonNegative = 0.01
    m_max: Positive = 1.2
    gain: NonNegative = 8.0
    damping: NonNegative = 0.05
    ou_theta: NonNegative = 0.3
    ou_sigma: NonNegative = 0.1
    p_key: Probability = 0.8
    dwell: tuple[Count, Count] = (6, 12)
    key_x0: float = 0.30
    key_width: Positive = 0.05
    n_keys: Count = 4
    key_y: float = -0.25
    travel: Positive = 0.01
    touch_band: NonNegative = 0.005
    hover: NonNegative = 0.04
    lift: NonNegative = 0.05
    press_depth: NonNegative = 1.5
    press_speed: Positive = 0.02
    n_hold: tuple[Count, Count] = (1, 2)
    camera_distance: Positive = 1.0
    baseline: NonNegative = 0.06
    focal_px: Positive = 300.0
    image_size: tuple[Count, Count] = (320, 240)
    look_at: tuple[float, float] = (0.25, -0.05)
    pixel_noise: NonNegative = 1.0

    def layout(self) -> Layout:
        return reference_layout(self.n_joints, self.stereo or self.vision == "hand_target")

    def link_lengths(self) -> np.ndarray:
        """Link lengths for ``n_joints``: with fewer joints the distal links merge into the last."""
        links = np.asarray(self.links, dtype=np.float64)
        n = self.n_joints
        return np.concatenate([links[: n - 1], [links[n - 1:].sum()]])

    def limits(self) -> tuple[np.ndarray, np.ndarray]:
        n = self.n_joints
        return np.asarray(self.q_low[:n]), np.asarray(self.q_high[:n])


# ---------------------------------------------------------------- geometry

def fingertip(q: np.ndarray, links: np.ndarray) -> np.ndarray:
    """Forward kinematics of the planar chain: q (..., J) rad -> fingertip (..., 2) in m."""
    phi = np.cumsum(q, axis=-1)
    return np.stack([(links * np.cos(phi)).sum(-1), (links * np.sin(phi)).sum(-1)], axis=-1)


def jacobian(q: np.ndarray, links: np.ndarray) -> np.ndarray:
    """d fingertip / d q: q (..., J) -> (..., 2, J)."""
    phi = np.cumsum(q, axis=-1)
    # column j sums the links from j to the tip
    dx = -np.flip(np.cumsum(np.flip(links * np.sin(phi), -1), -1), -1)
    dy = np.flip(np.cumsum(np.flip(links * np.cos(phi), -1), -1), -1)
    return np.stack([dx, dy], axis=-2)


def project(tip: np.ndarray, cfg: SimulatorConfig, stereo: bool | None = None) -> np.ndarray:
    """Pixel coordinates of points (..., 2) in the arm plane z = 0: (..., 4) = (u_L, v_L, u_R, v_R),
    or (..., 2) with ``stereo=False`` (the left camera only; default ``cfg.stereo``).

    The cameras stand ``camera_distance`` in front of the plane, ``baseline`` apart, each turned
    by the vergence angle so that both optical axes meet at ``look_at``.
    """
    cx, cy = cfg.look_at
    d, b = cfg.camera_distance, cfg.baseline
    w, h = cfg.image_size
    out = []
    for side in ((-1.0, 1.0) if (cfg.stereo if stereo is None else stereo) else (-1.0,)):
        theta = math.atan2(b / 2, d) * -side  # turn towards the look-at point
        dx, dy, dz = tip[..., 0] - (cx + side * b / 2), tip[..., 1] - cy, d
        xc = math.cos(theta) * dx + math.sin(theta) * dz
        zc = -math.sin(theta) * dx + math.cos(theta) * dz
        out += [cfg.focal_px * xc / zc + w / 2, cfg.focal_px * dy / zc + h / 2]
    return np.stack(out, axis=-1)


def normalise_pixels(px: np.ndarray, cfg: SimulatorConfig) -> np.ndarray:
    w, h = cfg.image_size
    size = np.tile([w, h], px.shape[-1] // 2)
    return 2.0 * px / size - 1.0


def key_index(x: np.ndarray, cfg: SimulatorConfig) -> np.ndarray:
    """The key under fingertip x (m), −1 when outside the keyboard."""
    k = np.floor((x - cfg.key_x0) / cfg.key_width).astype(np.int64)
    return np.where((k >= 0) & (k < cfg.n_keys), k, -1)


# ---------------------------------------------------------------- episodes

def _targets(rng: np.random.Generator, n: int, cfg: SimulatorConfig) -> np.ndarray:
    """Reach targets (n, 2): a point just below a key's surface with probability p_key, else
    a point in the free workspace above the keyboard."""
    key = rng.integers(0, cfg.n_keys, n)
    on_key = np.stack([cfg.key_x0 + (key + rng.uniform(0.2, 0.8, n)) * cfg.key_width,
                       np.full(n, cfg.key_y - cfg.press_depth * cfg.travel)], -1)
    free = np.stack([rng.uniform(0.05, 0.55, n), rng.uniform(cfg.key_y + 0.03, 0.25, n)], -1)
    return np.where((rng.random(n) < cfg.p_key)[:, None], on_key, free)


def surface(x: np.ndarray, cfg: SimulatorConfig) -> np.ndarray:
    """The lowest fingertip height (m) at x: a fully pressed key, else the table at key level."""
    return np.where(key_index(x, cfg) >= 0, cfg.key_y - cfg.travel, cfg.key_y)


def _blocked(tip: np.ndarray, cfg: SimulatorConfig) -> np.ndarray:
    """True where a fingertip (n, 2) would be inside the rigid table or keyboard."""
    return tip[:, 1] < surface(tip[:, 0], cfg)


def simulate_states(rng: np.random.Generator, n_episodes: int, cfg: SimulatorConfig) -> dict[str, np.ndarray]:
    """Run episodes of ``episode_steps + 1`` states, vectorised over episodes.

    Returns physical arrays, time axis 1: ``q`` (E, T+1, J) rad, ``m`` (E, T+1, J) rad/s (the
    command at each state, which drives the next one), ``tip`` (E, T+1, 2) m, ``blocked``
    (E, T+1) (whether the move *into* each state was rejected), ``target`` (E, T+1, 2) m.
    """
    links, (lo, hi) = cfg.link_lengths(), cfg.limits()
    n, steps, joints = n_episodes, cfg.episode_steps + 1, cfg.n_joints
    q = np.empty((n, steps, joints))
    targets = np.empty((n, steps, 2))
    m = np.empty((n, steps, joints))
    blocked = np.zeros((n, steps), dtype=bool)
    cur = lo + (hi - lo) * rng.uniform(0.3, 0.7, (n, joints))
    bad = fingertip(cur, links)[:, 1] < cfg.key_y + 0.02
    while bad.any():  # start clear above the table
        cur[bad] = lo + (hi - lo) * rng.uniform(0.3, 0.7, (int(bad.sum()), joints))
        bad = fingertip(cur, links)[:, 1] < cfg.key_y + 0.02
    target = _targets(rng, n, cfg)
    switch = rng.integers(cfg.dwell[0], cfg.dwell[1] + 1, n)
    ou = np.zeros((n, joints))
    stop = np.zeros(n, dtype=bool)
    for t in range(steps):
        q[:, t] = cur
        targets[:, t] = target
        tip = fingertip(cur, links)
        # reach-and-press: approach a key from above, press only once over it
        press = target[:, 1] < cfg.key_y
        far = np.abs(target[:, 0] - tip[:, 0]) > cfg.key_width / 2
        aim_y = np.where(press & far, cfg.key_y + cfg.hover, target[:, 1])
        err = np.stack([target[:, 0], aim_y], -1) - tip
        # a blocked move or a completed key press makes the controller lift (a tapping reflex)
        pressed = (key_index(tip[:, 0], cfg) >= 0) & (tip[:, 1] < cfg.key_y - cfg.travel / 2)
        err = np.where((stop | pressed)[:, None], np.array([0.0, cfg.lift]), err)
        jac = jacobian(cur, links)
        jjt = jac @ jac.transpose(0, 2, 1) + cfg.damping**2 * np.eye(2)
        drive = cfg.gain * np.einsum("nij,ni->nj", jac, np.linalg.solve(jjt, err[..., None])[..., 0])
        ou += -cfg.ou_theta * ou + cfg.ou_sigma * rng.standard_normal((n, joints))
        cmd = np.clip(drive + ou, -cfg.m_max, cfg.m_max)
        m[:, t] = cmd
        nxt = np.clip(cur + cfg.dt * cmd + cfg.joint_noise * rng.standard_normal((n, joints)), lo, hi)
        stop = _blocked(fingertip(nxt, links), cfg)
        if t + 1 < steps:
            blocked[:, t + 1] = stop
        cur = np.where(stop[:, None], cur, nxt)
        switch -= 1
        new = switch <= 0
        if new.any():
            target[new] = _targets(rng, int(new.sum()), cfg)
            switch[new] = rng.integers(cfg.dwell[0], cfg.dwell[1] + 1, int(new.sum()))
    return {"q": q, "m": m, "tip": fingertip(q, links), "blocked": blocked, "target": targets}


def sense(states: dict[str, np.ndarray], rng: np.random.Generator, cfg: SimulatorConfig) -> dict[str, np.ndarray]:
    """Sensor values per state: ``vision_px`` (E, T+1, 4) with pixel noise, ``touch`` (E, T+1)
    ±1, ``sound`` (E, T+1) −1 or a key code, ``onset`` (E, T+1) bool."""
    tip = states["tip"]
    key = key_index(tip[..., 0], cfg)
    touch = np.where((key >= 0) & (tip[..., 1] <= cfg.key_y + cfg.touch_band), 1.0, -1.0)
    depth = np.where(key >= 0, np.clip(cfg.key_y - tip[..., 1], 0.0, cfg.travel), 0.0)
    speed = np.zeros_like(depth)
    speed[:, 1:] = (tip[:, :-1, 1] - tip[:, 1:, 1]) / cfg.dt  # downward speed
    half = depth > cfg.travel / 2
    was = np.zeros_like(half)
    was[:, 1:] = half[:, :-1]
    onset = half & ~was & (speed > cfg.press_speed)
    hold = rng.integers(cfg.n_hold[0], cfg.n_hold[1] + 1, onset.shape)
    codes = np.asarray(KEY_CODES)
    sound = np.full(depth.shape, -1.0)
    for lag in range(cfg.n_hold[1]):  # a note started `lag` steps ago still sounds if hold > lag
        src = np.zeros_like(onset)
        src[:, lag:] = onset[:, : onset.shape[1] - lag] & (hold[:, : onset.shape[1] - lag] > lag)
        k = np.zeros_like(key)
        k[:, lag:] = key[:, : key.shape[1] - lag]
        sound = np.where(src & (sound < 0), codes[np.clip(k, 0, len(codes) - 1) % len(codes)], sound)
    if cfg.vision == "hand_target":
        clean = np.concatenate([project(tip, cfg, False), project(states["target"], cfg, False)], -1)
    else:
        clean = project(tip, cfg)
    px = clean + cfg.pixel_noise * rng.standard_normal(clean.shape)
    return {"vision_px": px, "touch": touch, "sound": sound, "onset": onset}
