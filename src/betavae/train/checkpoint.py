"""Checkpoints: a state file (resumable) and a weights file (user-facing weights).

Where they live is the caller's (a run folder's ``state.pt`` and ``weights.safetensors``, named by
the experiments layer's ``rundir.py``). The state file holds only tensors and primitives (model and
objective state, optimiser state, an objective's auxiliary optimiser state if it has one, step, RNG
states, and ``stopped`` when early stopping ended the run) and loads with ``torch.load(weights_only=True)``. The weights file (safetensors) holds the
model's tensors (objective tensors under ``objective.``) with the resolved config JSON and the step
in its metadata. Both are written atomically; the state file is written first and is the one resume
reads, so a kill between the two writes never mixes steps.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from betavae.errors import BetavaeError
from betavae.io import atomic_write

OBJECTIVE_PREFIX = "objective."


def rng_state() -> dict[str, Any]:
    """Python, NumPy (legacy global) and torch RNG states as tensors and primitives."""
    np_state = np.random.get_state()
    state: dict[str, Any] = {
        "python": list(random.getstate()[1]),
        "python_gauss": random.getstate()[2],
        "numpy_keys": torch.from_numpy(np_state[1].astype(np.int64)),
        "numpy_pos": int(np_state[2]),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate((3, tuple(state["python"]), state["python_gauss"]))
    np.random.set_state(("MT19937", state["numpy_keys"].numpy().astype(np.uint32), state["numpy_pos"], 0, 0.0))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _cpu(tree: Any) -> Any:
    if isinstance(tree, torch.Tensor):
        return tree.detach().cpu()
    if isinstance(tree, dict):
        return {k: _cpu(v) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return type(tree)(_cpu(v) for v in tree)
    return tree


def training_state(
    step: int,
    model: dict[str, torch.Tensor],
    objective: dict[str, torch.Tensor],
    optimizer: dict[str, Any],
    aux_optimizer: torch.optim.Optimizer | None = None,
    rng: dict[str, Any] | None = None,
    scheduler: Any = None,
    stopped: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One run's resumable state (what ``state.pt`` holds): tensors on the CPU and primitives.

    ``model``, ``objective`` and ``optimizer`` are state dicts (a member's, for an ensemble);
    ``aux_optimizer`` is an objective's own optimiser (see ``Objective.auxiliary_optimizer``);
    ``rng`` replaces this process's :func:`rng_state`; ``scheduler`` is a learning-rate scheduler;
    ``stopped`` (``{"step": int, "reason": str}``) says an early-stopping condition ended the run.
    """
    state = {
        "format": 1,
        "step": int(step),
        "model": _cpu(model),
        "objective": _cpu(objective),
        "optimizer": _cpu(optimizer),
        "rng": rng if rng is not None else rng_state(),
    }
    if aux_optimizer is not None:
        state["aux_optimizer"] = _cpu(aux_optimizer.state_dict())
    if scheduler is not None:
        state["scheduler"] = _cpu(scheduler.state_dict())
    if stopped is not None:
        state["stopped"] = {"step": int(stopped["step"]), "reason": str(stopped["reason"])}
    return state


def save_checkpoint(state_path: Path, weights_path: Path, state: dict[str, Any], config_json: str) -> None:
    """Write a :func:`training_state` to ``state_path``, then its model and objective tensors (with
    ``config_json`` and the step as metadata) to ``weights_path`` (safetensors), each atomically."""
    atomic_write(state_path, lambda tmp: torch.save(state, tmp))
    tensors = {k: v.contiguous() for k, v in state["model"].items()}
    tensors.update({OBJECTIVE_PREFIX + k: v.contiguous() for k, v in state["objective"].items()})
    meta = {"config": config_json, "step": str(state["step"]), "format": "betavae-1"}
    atomic_write(weights_path, lambda tmp: save_file(tensors, tmp, metadata=meta))


def read_state(path: Path) -> dict[str, Any]:
    """Read a state file safely (``weights_only=True``); a clear error if missing or corrupt."""
    path = Path(path)
    if not path.is_file():
        raise BetavaeError(f"{path} is missing: this run has no checkpoint to resume from")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a damaged file
        raise BetavaeError(f"{path} cannot be read ({type(exc).__name__}); the checkpoint is damaged") from None
    if not isinstance(state, dict) or state.get("format") != 1:
        raise BetavaeError(f"{path} is not a betavae training state")
    return state


def load_weights(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], dict[str, Any]]:
    """Read a weights file: (model tensors, objective tensors, metadata with parsed ``config``)."""
    path = Path(path)
    if not path.is_file():
        raise BetavaeError(f"{path} is missing: the run has not written weights yet")
    try:
        tensors = load_file(path)
        from safetensors import safe_open

        with safe_open(path, "pt") as fh:
            meta = dict(fh.metadata() or {})
    except (SafetensorError, OSError, ValueError) as exc:
        raise BetavaeError(f"{path} is not a readable safetensors file ({exc})") from None
    if "config" in meta:
        meta["config"] = json.loads(meta["config"])
    model = {k: v for k, v in tensors.items() if not k.startswith(OBJECTIVE_PREFIX)}
    objective = {k[len(OBJECTIVE_PREFIX):]: v for k, v in tensors.items() if k.startswith(OBJECTIVE_PREFIX)}
    return model, objective, meta
