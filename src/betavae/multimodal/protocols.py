"""The test protocols of the reference test script (Zambelli et al. 2020; spec §7). Pure NumPy.

Inputs are clean test rows (N, D) in trajectory order, muted with the §7 masks and decoded with
z = μ_z by a ``reconstruct(x̃) -> (μ, log σ²)`` callable of shape (..., N, D). Tests:

1. ``complete``: everything kept; 2. ``vision_only``; 3. ``control_loop`` (q_{t−1}, v_t, v_{t−1});
4. ``prediction`` (every t−1 block); 5. ``rollout``: step 1 = vision only, then the t−1 blocks
   take the previous step's predicted t blocks and the t blocks are muted (optionally the
   observed v_t is injected), predicting the next rows' t blocks.

Metrics per modality: RMSE of μ on the muted columns and on all columns, Gaussian NLL (nats per
row, summed over the modality's columns); the rollout scores step j against row k+j−1, only
where rows k … k+j−1 form one trajectory. :func:`normalised_errors` divides each RMSE of the
muted columns (rollout: of the t block) by the RMS deviation of those columns from their means
over the scored rows (:func:`block_scale`), so 1 is what predicting each column's mean scores
and 0 is exact.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

from betavae.data.sensorimotor_layout import MUTED, Layout, apply_mask, protocol_masks
from betavae.metrics.integration import Reconstruct


def _rmse(err2: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """sqrt of the mean of squared errors (..., N, D) over rows and ``cols``; NaN if no cols."""
    if len(cols) == 0:
        return np.full(err2.shape[:-2], np.nan)
    return np.sqrt(err2[..., cols].mean(axis=(-2, -1)))


def block_scale(x: np.ndarray, cols: np.ndarray) -> float:
    """RMS deviation of columns ``cols`` of x (N, D) from their means: the RMSE of predicting each
    column's mean (NaN without columns or spread), the unit of the normalised errors."""
    if len(cols) == 0:
        return np.nan
    scale = float(np.sqrt(((x[:, cols] - x[:, cols].mean(0)) ** 2).mean()))
    return scale if scale > 0 else np.nan


def modality_metrics(x: np.ndarray, mu: np.ndarray, logvar: np.ndarray, keep: np.ndarray,
                     layout: Layout) -> dict[str, np.ndarray]:
    """``rmse_muted.<m>``, ``rmse_all.<m>``, ``nll.<m>`` for targets x (N, D), predictions (..., N, D)."""
    err2 = (x - mu) ** 2
    nll = 0.5 * (err2 * np.exp(-logvar) + logvar + math.log(2 * math.pi))
    out = {}
    for name in layout.names:
        cols = layout.columns(name)
        out[f"rmse_muted.{name}"] = _rmse(err2, cols[~keep[cols]])
        out[f"rmse_all.{name}"] = _rmse(err2, cols)
        out[f"nll.{name}"] = nll[..., cols].sum(-1).mean(-1)
    return out


def shift_to_older(x_in: np.ndarray, mu: np.ndarray, layout: Layout) -> np.ndarray:
    """The next rollout input: every t block muted, every t−1 block <- μ's t block."""
    out = np.broadcast_to(np.full(x_in.shape[-1], MUTED), mu.shape).copy()
    for name in layout.names:
        out[..., layout.columns(name, "older")] = mu[..., layout.columns(name, "newer")]
    return out


def rollout_steps(reconstruct: Reconstruct, x: np.ndarray, consecutive: np.ndarray, layout: Layout,
                  steps: int = 2, inject_vision: bool = False, start: str = "vision_only"
                  ) -> Iterator[tuple[int, np.ndarray, np.ndarray, np.ndarray]]:
    """The rollout's steps j = 1 … steps as (j, μ (..., N, D), truth (N, D), valid (N,)): row k's
    step j predicts row k+j−1 (``truth``), scored where rows k … k+j−1 form one trajectory
    (``valid``). Step 1's input is x muted with ``protocol_masks[start]`` (``vision_only``: spec
    §7 test 5; ``prediction``: every t−1 block, so step 1 is the forward model); then the t−1
    blocks take the predicted t blocks and the t blocks are muted (``inject_vision``: the observed
    v_t of the row being predicted is fed in)."""
    n = len(x)
    vis = layout.columns("vision", "newer") if "vision" in layout.names else None
    inp = apply_mask(x, protocol_masks(layout)[start])
    valid = np.ones(n, dtype=bool)
    for j in range(1, steps + 1):
        if j > 1:
            valid[n - j + 1:] = False
            valid[: n - j + 1] &= consecutive[j - 2: n - 1]
        mu = reconstruct(inp)[0]
        yield j, mu, np.roll(x, -(j - 1), axis=0), valid.copy()
        inp = shift_to_older(inp, mu, layout)
        if inject_vision and vis is not None:
            inp[..., vis] = np.roll(x, -j, axis=0)[:, vis]


def rollout(reconstruct: Reconstruct, x: np.ndarray, consecutive: np.ndarray, layout: Layout,
            steps: int = 2, inject_vision: bool = False) -> dict[str, np.ndarray]:
    """Test 5 and its n-step extension. x (N, D) clean rows; consecutive (N−1,) bool.

    Returns ``rollout<j>.rmse.<m>`` (RMSE of the predicted t block of modality m against row
    k+j−1) and ``rollout<j>.count`` for j = 1 … steps.
    """
    out: dict[str, np.ndarray] = {}
    for j, mu, truth, valid in rollout_steps(reconstruct, x, consecutive, layout, steps, inject_vision):
        for name in layout.names:
            cols = layout.columns(name, "newer")
            err2 = (mu[..., valid, :][..., cols] - truth[valid][:, cols]) ** 2
            out[f"rollout{j}.rmse.{name}"] = np.sqrt(err2.mean(axis=(-2, -1))) if valid.any() else np.nan
        out[f"rollout{j}.count"] = np.asarray(int(valid.sum()))
    return out


def scored_rows(test: np.ndarray, rows: tuple[int, int] = (100, 1100)) -> tuple[int, int]:
    """The test rows the protocols score: ``rows``, or all rows if the set is shorter."""
    return rows if len(test) >= rows[1] else (0, len(test))


def normalised_errors(result: dict[str, np.ndarray], test: np.ndarray, layout: Layout,
                      rows: tuple[int, int] = (100, 1100)) -> dict[str, np.ndarray]:
    """Each RMSE of :func:`run_protocols`' ``result`` on muted columns, divided by
    :func:`block_scale` of the same columns of the scored rows: ``<test>.nrmse_muted.<m>`` and
    ``rollout<j>.nrmse.<m>`` (NaN where nothing is muted)."""
    lo, hi = scored_rows(test, rows)
    x = np.asarray(test[lo:hi], dtype=np.float64)
    out = {}
    for name, keep in protocol_masks(layout).items():
        for m in layout.names:
            cols = layout.columns(m)
            out[f"{name}.nrmse_muted.{m}"] = result[f"{name}.rmse_muted.{m}"] / block_scale(x, cols[~keep[cols]])
    for key, value in result.items():
        step, metric, m = (key.split(".") + ["", ""])[:3]
        if step.startswith("rollout") and metric == "rmse":
            out[f"{step}.nrmse.{m}"] = value / block_scale(x, layout.columns(m, "newer"))
    return out


def run_protocols(reconstruct: Reconstruct, test: np.ndarray, consecutive: np.ndarray, layout: Layout,
                  rows: tuple[int, int] = (100, 1100), rollout_steps: int = 5,
                  inject_vision: bool = False) -> dict[str, np.ndarray]:
    """All five tests on test rows ``rows`` (the reference's 100–1099; all rows if the set is
    shorter). Keys ``<test>.<metric>.<modality>`` and ``rollout<j>.…``."""
    lo, hi = scored_rows(test, rows)
    x = np.asarray(test[lo:hi], dtype=np.float64)
    cons = np.asarray(consecutive[lo: hi - 1], dtype=bool)
    out: dict[str, np.ndarray] = {}
    for name, keep in protocol_masks(layout).items():
        mu, lv = reconstruct(apply_mask(x, keep))
        out.update({f"{name}.{k}": v for k, v in modality_metrics(x, mu, lv, keep, layout).items()})
    out.update(rollout(reconstruct, x, cons, layout, rollout_steps, inject_vision))
    return out


def external_vision(reconstruct: Reconstruct, track: np.ndarray, layout: Layout) -> tuple[np.ndarray, np.ndarray]:
    """Vision-only reconstruction from an external (u, v) track (the reference's Kinect hook).

    track: (T, vision per step) normalised image coordinates in time order. Row k gets
    v_t = track[k+1] and v_{t−1} = track[k], everything else muted; returns (μ, log σ²) of shape
    (..., T−1, D): the body state, touch, sound and commands the model infers from the track.
    """
    track = np.asarray(track, dtype=np.float64)
    x = np.full((len(track) - 1, layout.dims), MUTED)
    x[:, layout.columns("vision", "newer")] = track[1:]
    x[:, layout.columns("vision", "older")] = track[:-1]
    return reconstruct(x)
