"""Saved weights used as Zambelli et al. (2020) used them: the whole vector from vision alone, the
next step from the previous one, and the rollout that feeds predictions back (spec §7).

:func:`use_rows` is pure NumPy on a ``reconstruct(x̃) -> (μ, log σ²)`` callable (decoded from
z = μ_z) and clean rows x (N, D) in trajectory order; :func:`use_run` applies it to a run folder
(``bvae multimodal use RUN --mode ...``) on the run's test rows or a user's file. Errors are per
modality block, raw and normalised:

- ``rmse.<m>``: RMSE of μ on the columns of modality m that the mode predicts (its muted
  columns; a rollout step: its t block against the row it predicts);
- ``nrmse.<m>``: that RMSE divided by the spread of the same target columns over the same rows
  (:func:`~betavae.multimodal.protocols.block_scale`: the RMS deviation from each column's mean,
  i.e. the RMSE of predicting the mean): 1 = no better than the mean, 0 = exact;
- ``rmse_all.<m>`` / ``nrmse_all.<m>`` (``vision_only``, ``predict_next``): the same over all of
  the modality's columns, so vision's own reconstruction is scored too.

Modes: ``vision_only`` (keep v_t, v_{t−1}); ``predict_next`` (keep every t−1 block, predict the t
blocks: the forward model); ``rollout`` (``steps`` steps from ``start``: ``prediction``, i.e.
step 1 = ``predict_next``, or ``vision_only`` as the reference's test 5; keys ``step<j>.…`` and
``step<j>.count``, the rows scored, only where consecutive rows belong to one trajectory).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np

from betavae.data.sensorimotor_layout import Layout, apply_mask, protocol_masks
from betavae.errors import BetavaeError
from betavae.metrics.integration import Reconstruct
from betavae.multimodal.protocols import block_scale, rollout_steps

MODES = ("vision_only", "predict_next", "rollout")
STARTS = ("prediction", "vision_only")
_MASK = {"vision_only": "vision_only", "predict_next": "prediction"}


def _errors(mu: np.ndarray, truth: np.ndarray, cols: np.ndarray) -> tuple[float, float]:
    """(RMSE, RMSE / spread) of μ against the targets on ``cols`` (NaN without columns or rows)."""
    if len(cols) == 0 or len(truth) == 0:
        return np.nan, np.nan
    rmse = float(np.sqrt(((mu[:, cols] - truth[:, cols]) ** 2).mean()))
    return rmse, rmse / block_scale(truth, cols)


def use_rows(reconstruct: Reconstruct, x: np.ndarray, consecutive: np.ndarray, layout: Layout, mode: str,
             steps: int = 1, start: str = "prediction", inject_vision: bool = False) -> dict[str, float]:
    """The errors of ``mode`` on clean rows x (N, D) (see the module docstring); ``consecutive``
    (N−1,) says where row k+1 continues row k (the rollout's scored rows). ``reconstruct`` must
    give (N, D) arrays (one model)."""
    if mode not in MODES:
        raise BetavaeError(f"mode {mode!r}: choose one of {', '.join(MODES)}")
    if start not in STARTS:
        raise BetavaeError(f"start {start!r}: choose one of {', '.join(STARTS)}")
    x = np.asarray(x, dtype=np.float64)
    out: dict[str, float] = {}
    if mode != "rollout":
        keep = protocol_masks(layout)[_MASK[mode]]
        mu = np.asarray(reconstruct(apply_mask(x, keep))[0])
        for name in layout.names:
            cols = layout.columns(name)
            out[f"rmse.{name}"], out[f"nrmse.{name}"] = _errors(mu, x, cols[~keep[cols]])
            out[f"rmse_all.{name}"], out[f"nrmse_all.{name}"] = _errors(mu, x, cols)
        out["count"] = len(x)
        return out
    for j, mu, truth, valid in rollout_steps(reconstruct, x, np.asarray(consecutive, dtype=bool), layout,
                                             steps, inject_vision, start):
        for name in layout.names:
            out[f"step{j}.rmse.{name}"], out[f"step{j}.nrmse.{name}"] = _errors(
                np.asarray(mu)[valid], truth[valid], layout.columns(name, "newer"))
        out[f"step{j}.count"] = int(valid.sum())
    return out


def parse_rows(text: str | None, n: int) -> tuple[int, int]:
    """``START:END`` (from 0, END excluded; either may be empty) -> (start, end) within n rows;
    None: the reference's rows 100–1099 when there are that many, else all."""
    from betavae.multimodal.protocols import scored_rows

    if text is None:
        return scored_rows(np.empty((n, 0)))
    lo, sep, hi = text.partition(":")
    try:
        start, end = int(lo or 0), int(hi or n)
    except ValueError:
        sep = ""
    if not sep or not 0 <= start < end <= n:
        raise BetavaeError(f"--rows {text!r}: give START:END with 0 <= START < END <= {n} (the data has {n} rows)")
    return start, end


def use_run(run_dir: str | Path, mode: str, data: str | Path | None = None, key: str | None = None,
            steps: int = 1, start: str = "prediction", inject_vision: bool = False,
            rows: str | None = None) -> dict[str, Any]:
    """:func:`use_rows` with the weights of a multimodal run folder on the run's own test rows
    (``data`` None) or on the clean rows (M, 28) of a user's ``.mat``/``.npz`` file (array
    ``key``, default ``final_database_test``). Returns {mode, run, data, rows, steps, start,
    inject_vision, values, time} (what ``bvae multimodal use`` prints and writes)."""
    from betavae.data.sensorimotor_files import TEST_KEY, load_sensorimotor
    from betavae.multimodal.runs import load_member
    from betavae.multimodal.scoring import reconstructor

    model = load_member(run_dir)
    if data is None:
        from betavae.experiments.rundir import read_run_config

        source = read_run_config(run_dir).data.build()
    else:
        source = load_sensorimotor(test_path=data, test_key=key or TEST_KEY)
    if source.layout.dims != model.layout.dims:
        raise BetavaeError(f"{data}: rows of {source.layout.dims} columns, but the run's model takes "
                           f"{model.layout.dims}")
    lo, hi = parse_rows(rows, len(source.test))
    values = use_rows(reconstructor(model), source.test[lo:hi], source.consecutive()[lo:hi - 1], model.layout,
                      mode, steps, start, inject_vision)
    return {"mode": mode, "run": str(run_dir), "data": str(data) if data is not None else "the run's test rows",
            "rows": [lo, hi], "steps": steps if mode == "rollout" else None,
            "start": start if mode == "rollout" else None, "inject_vision": inject_vision if mode == "rollout" else None,
            "values": {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in values.items()},
            "time": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}


def table(result: dict[str, Any], layout_names: list[str]) -> list[str]:
    """The result as lines of a text table: one row per modality (and rollout step)."""
    v = result["values"]

    def cell(x: Any) -> str:
        return "—" if x is None else f"{x:.4f}"

    if result["mode"] != "rollout":
        lines = [f"{'modality':10s} {'RMSE':>9s} {'nRMSE':>9s} {'RMSE all':>9s} {'nRMSE all':>9s}   "
                 f"({v['count']} rows; predicted = muted columns, all = every column of the block)"]
        lines += [f"{m:10s} {cell(v[f'rmse.{m}']):>9s} {cell(v[f'nrmse.{m}']):>9s} {cell(v[f'rmse_all.{m}']):>9s} "
                  f"{cell(v[f'nrmse_all.{m}']):>9s}" for m in layout_names]
        return lines
    lines = [f"{'step':>4s} {'rows':>6s} {'modality':10s} {'RMSE':>9s} {'nRMSE':>9s}   (the t block against row k+step-1)"]
    for j in range(1, result["steps"] + 1):
        lines += [f"{j:4d} {v[f'step{j}.count']:6d} {m:10s} {cell(v[f'step{j}.rmse.{m}']):>9s} "
                  f"{cell(v[f'step{j}.nrmse.{m}']):>9s}" for m in layout_names]
    return lines
