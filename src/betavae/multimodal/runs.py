"""A trained multimodal run folder back as a model (through :func:`betavae.load_run`).

:func:`load_member` gives the run's model (a :class:`~betavae.models.multimodal.MemberVAE`: one
model whose methods take and give (N, ·) arrays) with its saved weights, and :func:`reconstruct`
decodes rows (z = μ_z, spec §3) with it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from betavae.errors import BetavaeError
from betavae.experiments.load import load_run
from betavae.experiments.rundir import read_run_config
from betavae.models.multimodal import MemberVAE


def load_member(run_dir: str | Path) -> MemberVAE:
    """The model of a sensorimotor run folder with its saved weights (eval mode, CPU)."""
    config = read_run_config(run_dir)
    if config.model.task != "sensorimotor":
        raise BetavaeError(f"{run_dir} is a {config.model.kind!r} run, not a multimodal (zambelli) one")
    return load_run(run_dir).model


def reconstruct(run_dir: str | Path, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(μ_x, log σ²_x) of the run's model for (muted) rows x (N, D): each (N, D) float64."""
    model = load_member(run_dir)
    mu, logvar = model.reconstruct(torch.as_tensor(np.asarray(x)))
    return mu.double().numpy(), logvar.double().numpy()
