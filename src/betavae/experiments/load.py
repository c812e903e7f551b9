"""Load a trained run of any system back: its config, its model with the saved weights, its data.

``load_run(path)`` (also ``betavae.load_run``) reads ``config.yaml`` and ``weights.safetensors``,
asks the run's task (``config.model.task``, :mod:`betavae.train.task`) to build one member's
module and loads the weights into it. :class:`LoadedRun` offers ``encode``, ``decode`` and
``predict`` on NumPy arrays, batched, calling the module's own tensor methods of those names;
image runs (the ``image`` task) get :class:`ImageRun`, which also takes uint8 observations and
gives mean reconstructions through the likelihood.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from betavae.config import RunConfig
from betavae.errors import BetavaeError
from betavae.experiments.rundir import STATE_FILE, WEIGHTS_FILE, read_run_config
from betavae.models.base import GaussianVAE
from betavae.train.checkpoint import load_weights, read_state


@dataclass
class LoadedRun:
    """A trained run ready to use (model in eval mode, on ``device``); ``source`` is its data,
    built on first use. ``encode``/``decode``/``predict`` take and give NumPy arrays."""

    run_dir: Path
    config: RunConfig
    model: torch.nn.Module
    step: int
    device: torch.device

    @functools.cached_property
    def source(self) -> Any:
        return self.config.data.build()

    @torch.no_grad()
    def _apply(self, method: str, x: np.ndarray, batch_size: int) -> Any:
        fn = getattr(self.model, method, None)
        if fn is None:
            raise BetavaeError(f"a {self.config.model.kind} model has no {method}()")
        outs = []
        for start in range(0, len(x), batch_size):
            xt = torch.from_numpy(np.ascontiguousarray(x[start:start + batch_size])).to(self.device)
            outs.append(fn(xt))
        if not outs:
            raise BetavaeError(f"{method}() got no rows")
        if isinstance(outs[0], tuple):
            return tuple(np.concatenate([o[i].float().cpu().numpy() for o in outs]) for i in range(len(outs[0])))
        return np.concatenate([o.float().cpu().numpy() for o in outs])

    def encode(self, x: np.ndarray, batch_size: int = 256) -> Any:
        """The model's ``encode`` over rows of ``x`` (for a VAE: posterior means and log-variances)."""
        return self._apply("encode", x, batch_size)

    def decode(self, z: np.ndarray, batch_size: int = 256) -> Any:
        """The model's ``decode`` over rows of latent codes ``z``."""
        return self._apply("decode", z, batch_size)

    def predict(self, x: np.ndarray, batch_size: int = 256) -> Any:
        """The model's ``predict`` over rows of ``x`` (what the system predicts from an input)."""
        return self._apply("predict", x, batch_size)


@dataclass
class ImageRun(LoadedRun):
    """A run of an image VAE: ``encode`` takes uint8 observations, ``decode_mean`` gives images."""

    model: GaussianVAE

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
    """Read ``config.yaml`` and ``weights.safetensors`` of a run of any system; clear errors when
    they are missing or do not match."""
    from betavae.train.task import TASKS, load_tasks

    run_dir = Path(run_dir)
    config = read_run_config(run_dir)
    tensors, _, meta = load_weights(run_dir / WEIGHTS_FILE)
    load_tasks()
    task = config.model.task
    model = TASKS.get(task).build_member(config)
    try:
        model.load_state_dict(tensors)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise BetavaeError(f"{run_dir / WEIGHTS_FILE} does not match the run's model config: {first}") from None
    dev = torch.device(device if device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu"))
    model.to(dev).eval()
    kind = ImageRun if task == "image" else LoadedRun
    return kind(run_dir, config, model, int(meta.get("step", 0)), dev)


def load_state(run_dir: str | Path) -> dict[str, Any]:
    """The run's resumable state (its ``state.pt``, see :func:`betavae.train.checkpoint.read_state`)."""
    return read_state(Path(run_dir) / STATE_FILE)
