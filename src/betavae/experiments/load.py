"""Load a trained run back: its config, data source and model with the saved weights."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from betavae.config import RunConfig
from betavae.data.base import GroundTruthData
from betavae.errors import BetavaeError
from betavae.experiments.rundir import STATE_FILE, WEIGHTS_FILE, read_run_config
from betavae.models.base import GaussianVAE
from betavae.train.checkpoint import load_weights, read_state


@dataclass
class LoadedRun:
    """A run ready for evaluation and pictures (model in eval mode, on ``device``)."""

    run_dir: Path
    config: RunConfig
    source: GroundTruthData
    model: GaussianVAE
    step: int
    device: torch.device

    @torch.no_grad()
    def encode(self, observations: np.ndarray, batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
        """Posterior means and log-variances: (n, C, H, W) uint8 -> two (n, D) float32 arrays."""
        mus, logvars = [], []
        for start in range(0, len(observations), batch_size):
            x = torch.from_numpy(np.ascontiguousarray(observations[start : start + batch_size]))
            x = x.to(self.device, torch.float32) / self.source.pixel_max
            mu, logvar = self.model.encode(x)
            mus.append(mu.float().cpu().numpy())
            logvars.append(logvar.float().cpu().numpy())
        d = self.model.latent_dim
        if not mus:
            return np.zeros((0, d), np.float32), np.zeros((0, d), np.float32)
        return np.concatenate(mus), np.concatenate(logvars)

    def encode_mean(self, observations: np.ndarray) -> np.ndarray:
        """The representation metrics use: posterior means (n, D)."""
        return self.encode(observations)[0]

    @torch.no_grad()
    def decode_mean(self, z: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Mean reconstructions E[x|z]: (n, D) -> (n, C, H, W) float32 in [0, 1]."""
        outs = []
        for start in range(0, len(z), batch_size):
            zt = torch.from_numpy(np.ascontiguousarray(z[start : start + batch_size], dtype=np.float32))
            logits = self.model.decode(zt.to(self.device))
            outs.append(self.config.model.likelihood.mean(logits).float().cpu().numpy())
        return np.concatenate(outs) if outs else np.zeros((0, *self.source.observation_shape), np.float32)


def load_run(run_dir: str | Path, device: str = "cpu") -> LoadedRun:
    """Read ``config.yaml`` and ``weights.safetensors`` of a run; clear errors when they are missing."""
    run_dir = Path(run_dir)
    config = read_run_config(run_dir)
    tensors, _, meta = load_weights(run_dir / WEIGHTS_FILE)
    source = config.data.build()
    model = config.model.build(tuple(source.observation_shape))
    try:
        model.load_state_dict(tensors)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise BetavaeError(f"{run_dir / WEIGHTS_FILE} does not match the run's model config: {first}") from None
    dev = torch.device(device if device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu"))
    model.to(dev).eval()
    return LoadedRun(run_dir, config, source, model, int(meta.get("step", 0)), dev)


def load_state(run_dir: str | Path) -> dict[str, Any]:
    """The run's resumable state (its ``state.pt``, see :func:`betavae.train.checkpoint.read_state`)."""
    return read_state(Path(run_dir) / STATE_FILE)
