"""What the one training loop trains: the :class:`Task` contract, the task registry, per-member clipping.

The loop (:class:`betavae.train.loop.Loop`) owns the step counter, the optimiser (Adam over the
task's parameter groups), the learning-rate schedule, gradient clipping, logging windows, NaN
checks, checkpoints and signals. A task owns everything that is particular to one system: how its
K ≥ 1 members are built from their configs, what a batch is, which loss terms a batch gives and
how each member's weights and random state are saved. One task per system, registered by name
(``TASKS``); a model config names its task (``ModelConfig.task``), so ``Loop(configs)`` finds it.

The step the loop runs for every task (in this order)::

    batch = next(task.batches(start, stop))
    hypers = task.hypers(step, epoch)                 # per member, logged
    terms = task.terms(batch, hypers)                 # per member: {"loss": scalar, ...}
    zero_grad; speed.backward(task.loss(terms)); clip (train.clip); speed.step; scheduler.step
    after an epoch's last step: task.epoch_end(epoch) # per-member values for the next rows

Members' parameters are either *stacked* (every parameter has a leading member axis K, so member k
is the slice ``[k]`` of each tensor and of Adam's moments) or, for a single unstacked model, its
own. The loop slices and stacks the optimiser state; the task slices and stacks the weights
(:meth:`Task.member_state_dict`, :meth:`Task.load_member_state_dicts`) and its random state.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

import torch
from torch import nn

from betavae.registry import Registry, import_modules
from betavae.train.checkpoint import rng_state, set_rng_state
from betavae.train.speed import SpeedPlan, plan_for


class Task:
    """Base of every task; subclasses set the attributes below and define the abstract methods.

    Attributes: ``k`` members, ``device``, ``steps_per_epoch``, ``stacked`` (parameters carry a
    leading member axis), ``aux_optimizer`` (an objective's own optimiser, or None),
    ``log_dtype`` (the dtype the logged means are accumulated in).
    """

    k: int = 1
    device: torch.device = torch.device("cpu")
    steps_per_epoch: int = 1
    stacked: bool = False
    aux_optimizer: torch.optim.Optimizer | None = None
    log_dtype: ClassVar[torch.dtype] = torch.float32

    @classmethod
    def build_member(cls, config: Any) -> nn.Module:
        """One member's module, as its saved weights (``weights.safetensors``) describe it, built
        from its run config with fresh weights (``betavae.load_run`` then loads them). Its
        ``encode``/``decode``/``predict`` (tensors) are what a loaded run offers; see
        :class:`betavae.experiments.load.LoadedRun`."""
        raise NotImplementedError(f"{cls.__name__} does not say how to build one member")

    @classmethod
    def speed_plan(cls, level: str, device: torch.device, steps: int, k: int) -> SpeedPlan:
        """The speed plan of ``level`` for this task (a task drops switches that do not apply)."""
        return plan_for(level, device, steps)

    # ------------------------------------------------------------------ training

    def param_groups(self) -> list[dict[str, Any]]:
        """The main optimiser's parameter groups (stacked tensors when ``stacked``)."""
        raise NotImplementedError

    def batches(self, start: int, stop: int) -> Iterable[Any]:
        """One batch per step ``start .. stop-1``; the same batches whatever ``start`` is."""
        raise NotImplementedError

    def hypers(self, step: int, epoch: int) -> list[dict[str, float]]:
        """Each member's schedule values at ``step`` (logged in its rows)."""
        return [{} for _ in range(self.k)]

    def terms(self, batch: Any, hypers: list[dict[str, float]]) -> list[dict[str, torch.Tensor]]:
        """Each member's loss terms for ``batch``: ``loss`` (scalar) plus any scalars to log
        (and optionally ``kl_per_dim`` (B, D), logged as its batch mean)."""
        raise NotImplementedError

    def loss(self, terms: list[dict[str, torch.Tensor]]) -> torch.Tensor:
        """What one backward differentiates: the sum of the members' losses (members share no
        parameters, so member k's gradient is that of its own loss)."""
        if self.k == 1:
            return terms[0]["loss"]
        return torch.stack([t["loss"] for t in terms]).sum()

    def log_values(self, terms: list[dict[str, torch.Tensor]], batch: Any
                   ) -> tuple[list[dict[str, torch.Tensor]], float]:
        """What the logging window adds up for this step and its weight: by default the terms
        themselves with weight 1 (a row logs the mean over its steps). A task whose batches differ
        in size may return terms already multiplied by its weight (the row logs Σ / Σ weight)."""
        return terms, 1

    def examples(self, batch: Any) -> int:
        """How many examples one member saw in ``batch`` (for the logged rate; 0: not logged)."""
        return 0

    def epoch_end(self, epoch: int) -> list[dict[str, float]] | None:
        """Called after the last step of ``epoch`` (0-based); per-member values for the rows."""
        return None

    def row_extras(self, k: int, hyper: dict[str, float]) -> dict[str, Any]:
        """Values a member's row gets besides its terms and schedule values."""
        return {}

    def clip_gradients(self, max_norm: float) -> None:
        """Clip each member's gradient to ``max_norm`` (its own L2 norm over all its parameters)."""
        params = [p for group in self.param_groups() for p in group["params"]]
        if self.stacked:
            clip_per_member(params, self.k, max_norm)
        else:
            torch.nn.utils.clip_grad_norm_(params, max_norm)

    def close(self) -> None:
        """Stop any background work (batch threads)."""

    # ------------------------------------------------------------------ members and state

    def member(self, k: int) -> nn.Module:
        """Member k as a module holding its current weights (for evaluation)."""
        raise NotImplementedError

    def member_state_dict(self, k: int) -> dict[str, torch.Tensor]:
        """Member k's weights as its single run saves them."""
        return self.member(k).state_dict()

    def load_member_state_dicts(self, states: Sequence[dict[str, torch.Tensor]]) -> None:
        raise NotImplementedError

    def objective_state_dict(self, k: int) -> dict[str, torch.Tensor]:
        """Member k's objective tensors (learned β, a discriminator's weights); none by default."""
        return {}

    def load_objective_state_dicts(self, states: Sequence[dict[str, torch.Tensor]]) -> None:
        """Inverse of :meth:`objective_state_dict`."""

    def member_rng(self, k: int) -> dict[str, Any]:
        """Member k's random state (tensors and primitives); by default this process's."""
        return rng_state()

    def load_rngs(self, states: Sequence[dict[str, Any]]) -> None:
        """Continue from the members' :meth:`member_rng` (by default: restore this process's)."""
        set_rng_state(states[0])


TASKS: Registry[type[Task]] = Registry("task")


def load_tasks() -> None:
    """Import every module of ``betavae.train.tasks`` so each registers its task (idempotent)."""
    import_modules("betavae.train.tasks")


def clip_per_member(params: list[torch.Tensor], k: int, max_norm: float) -> None:
    """``clip_grad_norm_`` for each of ``k`` members on its own slice of every (member-major)
    parameter: member k's gradients are scaled by min(1, max_norm / (‖g_k‖ + 1e-6))."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    norm = torch.linalg.vector_norm(
        torch.stack([torch.linalg.vector_norm(g, dim=tuple(range(1, g.dim()))) for g in grads], 1), dim=1)
    coef = torch.clamp(max_norm / (norm + 1e-6), max=1.0)
    for g in grads:
        g.mul_(coef.reshape(k, *[1] * (g.dim() - 1)))
