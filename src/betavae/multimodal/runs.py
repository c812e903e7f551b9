"""A trained multimodal run folder back as a model: rebuild the member, load its weights.

``bvae train multimodal_zambelli`` writes ordinary run folders (``config.yaml``,
``weights.safetensors``); :func:`load_member` rebuilds that run's model (an
:class:`~betavae.models.multimodal.EnsembleVAE` of one member) from its config and loads the
weights, and :func:`reconstruct` decodes rows (z = μ_z, spec §3) with it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from betavae.errors import BetavaeError
from betavae.experiments.rundir import WEIGHTS_FILE, read_run_config
from betavae.models.multimodal import EnsembleVAE
from betavae.train.checkpoint import load_weights
from betavae.train.tasks.sensorimotor import SensorimotorTask


def load_member(run_dir: str | Path) -> EnsembleVAE:
    """The model of a sensorimotor run folder with its saved weights (E = 1, eval mode)."""
    config = read_run_config(run_dir)
    if config.model.task != "sensorimotor":
        raise BetavaeError(f"{run_dir} is a {config.model.kind!r} run, not a multimodal (zambelli) one")
    model = SensorimotorTask.build_member(config)
    model.load_state_dict(load_weights(Path(run_dir) / WEIGHTS_FILE)[0])
    return model.eval()


def reconstruct(run_dir: str | Path, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(μ_x, log σ²_x) of the run's model for (muted) rows x (N, D): each (N, D) float64."""
    model = load_member(run_dir)
    dtype = next(iter(model.params.values())).dtype
    mu, logvar = model.reconstruct(torch.as_tensor(np.asarray(x), dtype=dtype))
    return mu[0].double().numpy(), logvar[0].double().numpy()
