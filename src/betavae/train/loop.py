"""The one training loop (``fit``) for every system: K ≥ 1 members of a task, one optimiser.

:class:`Loop` owns the step counter, Adam over the task's parameter groups (``train.lr``,
``adam_betas``, ``adam_eps``, ``weight_decay``), the learning-rate schedule
(``train.lr_schedule``), per-member gradient clipping (``train.clip``), the logging windows
(accumulated on the device, read back every ``log_every`` steps, so there is no host–device
synchronisation in the hot loop on GPUs), NaN/inf checks of every term before anything is handed
out, checkpoints every ``checkpoint_every`` steps (each member's resumable state, a
:func:`~betavae.train.checkpoint.training_state`, handed to the ``save`` it was given) and
SIGINT/SIGTERM, and early stopping (``train.stop_when``, :mod:`betavae.train.stopping`: after a
periodic evaluation a met condition ends training at that step, recorded as :attr:`Loop.stopped`
in the checkpoint). Training is ``train.steps`` steps or ``train.epochs`` epochs of the task's
``steps_per_epoch`` (then ``log_every``, ``checkpoint_every`` and ``eval_every`` count epochs).

What is trained is a :class:`~betavae.train.task.Task`: the image VAEs of the core
(:class:`~betavae.train.tasks.image.ImageTask`, one model or a vmapped ensemble) and each
system's task. The loop knows nothing of run folders, locks, evaluation or reports
(``experiments/run.py`` wraps it with those), nor of particular models or objectives.
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch

from betavae.config import RunConfig, TrainConfig
from betavae.errors import BetavaeError
from betavae.train.callbacks import Callback
from betavae.train.checkpoint import training_state
from betavae.train.ensemble import check_members, member_optimizer_state, stack_optimizer_states
from betavae.train.speed import Speed
from betavae.train.stopping import stop_reason
from betavae.train.task import TASKS, Task, load_tasks

RowSink = Callable[[int, dict[str, Any]], None]  # (member k, its metrics row)
Save = Callable[[int, dict[str, Any]], None]  # (member k, its training_state)
Evaluate = Callable[[torch.nn.Module], dict[str, float]]  # a member's model -> scores for its row


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise BetavaeError(f"train.device={name} but CUDA is not available; use train.device=cpu or auto")
    return torch.device(name)


def seed_everything(seed: int, deterministic: bool) -> None:
    """Global seeding, only at a run's entry (Python, NumPy legacy, torch, CUDA)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False


# ---------------------------------------------------------------- the loop


class Loop:
    """The steps of a :class:`~betavae.train.task.Task`: optimiser, schedule, clipping, logs, checkpoints.

    ``Loop(config)`` is one run; ``Loop(configs)`` K members (which may differ only in seed and
    objective, or as their task allows), trained by the task their model config names
    (``ModelConfig.task``); ``Loop(task=..., train=...)`` trains a task built by the caller (a
    study's second stage). ``names`` name the members in messages.
    """

    def __init__(self, configs: RunConfig | Sequence[RunConfig] = (), callbacks: Sequence[Callback] = (),
                 *, task: Task | None = None, train: TrainConfig | None = None) -> None:
        self.configs = [configs] if isinstance(configs, RunConfig) else list(configs)
        self.callbacks = list(callbacks)
        if task is None:
            check_members(self.configs)
            c0 = self.configs[0]
            tc = self.tc = c0.train
            if tc.threads:
                torch.set_num_threads(tc.threads)
            seed_everything(c0.seed, tc.deterministic)
            self.device = resolve_device(tc.device)
            load_tasks()
            task_class = TASKS.get(c0.model.task)
            plan = task_class.speed_plan(tc.speed, self.device, tc.steps, len(self.configs))
            self.speed = Speed(plan, self.device)
            self.task = task_class(self.configs, self.device, self.speed,
                                   lambda seed: seed_everything(seed, tc.deterministic))
        else:
            if train is None:
                raise BetavaeError("Loop(task=...) needs its train settings")
            self.tc, self.task = train, task
            self.device, self.speed = task.device, task.speed
        self.k = self.task.k
        self.names = [str(k) for k in range(self.k)]
        self.steps_per_epoch = self.task.steps_per_epoch
        #: log_every, checkpoint_every and eval_every count epochs when train.epochs is set
        self.unit = self.steps_per_epoch if self.tc.epochs is not None else 1
        self.total_steps = self.tc.epochs * self.steps_per_epoch if self.tc.epochs is not None else self.tc.steps
        self.optimizer = self.speed.adam(self.task.param_groups(), lr=self.tc.lr, betas=self.tc.adam_betas,
                                         eps=self.tc.adam_eps, **self._weight_decay())
        self.aux_optimizer = self.task.aux_optimizer
        self.scheduler = self.tc.lr_schedule.build(self.optimizer, self.total_steps)
        self.step = 0
        #: ``{"step", "reason"}`` once a ``train.stop_when`` condition has ended training early
        self.stopped: dict[str, Any] | None = None
        if self.tc.stop_when and self.k > 1:
            raise BetavaeError(f"train.stop_when ends one run early, not an ensemble of {self.k} members; "
                               "train the members one at a time")

    def _weight_decay(self) -> dict[str, float]:
        return {"weight_decay": self.tc.weight_decay} if self.tc.weight_decay else {}

    # ------------------------------------------------------------------ state

    def member(self, k: int) -> torch.nn.Module:
        """Member k as a single model holding its current weights."""
        return self.task.member(k)

    def states(self) -> Iterator[dict[str, Any]]:
        """Each member's state as its single run saves it (a :func:`training_state`), in order."""
        opt_state = self.optimizer.state_dict()
        for k in range(self.k):
            member_opt = member_optimizer_state(opt_state, k) if self.task.stacked else opt_state
            yield training_state(self.step, self.task.member_state_dict(k), self.task.objective_state_dict(k),
                                 member_opt, aux_optimizer=self.aux_optimizer, rng=self.task.member_rng(k),
                                 scheduler=self.scheduler, stopped=self.stopped)

    def load_states(self, states: Sequence[dict[str, Any]]) -> None:
        """Continue from the members' :meth:`states` (all saved at the same step)."""
        self.task.load_objective_state_dicts([s["objective"] for s in states])
        self.task.load_member_state_dicts([s["model"] for s in states])
        if self.task.stacked:
            self.optimizer.load_state_dict(stack_optimizer_states([s["optimizer"] for s in states]))
        else:
            self.optimizer.load_state_dict(states[0]["optimizer"])
        if self.aux_optimizer is not None:
            self.aux_optimizer.load_state_dict(states[0]["aux_optimizer"])
        if self.scheduler is not None:
            self.scheduler.load_state_dict(states[0]["scheduler"])
        self.task.load_rngs([s["rng"] for s in states])
        self.step = int(states[0]["step"])
        self.stopped = states[0].get("stopped")

    def _checkpoint(self, save: Save) -> None:
        for k, state in enumerate(self.states()):
            save(k, state)
        for cb in self.callbacks:
            cb.on_checkpoint(self.step)

    # ------------------------------------------------------------------ loop

    def fit(self, log: RowSink, save: Save, evaluate: Evaluate | None = None) -> None:
        """Train to the run's last step from ``self.step``, or to the step boundary after SIGINT/SIGTERM.

        Every ``log_every`` steps (epochs with ``train.epochs``; and at the end) ``log(k, row)``
        gets member k's metrics row, with ``evaluate(member k's model)`` merged in every
        ``eval_every`` (and at the end) when given; every ``checkpoint_every``, at the end and when
        stopped, ``save(k, state)`` gets member k's :meth:`states`. Nothing is handed out for a
        step whose terms are not finite. After an evaluation before the last step, the first
        ``train.stop_when`` condition met in the row sets :attr:`stopped` and ends training there
        (checkpoint written); a loop that has stopped so (a resumed one too) trains no further.
        """
        if self.stopped is not None:
            return
        tc, task, unit = self.tc, self.task, self.unit
        log_every, checkpoint_every = tc.log_every * unit, tc.checkpoint_every * unit
        eval_every = tc.eval_every * unit if tc.eval_every else None
        for k in range(self.k):
            task.member(k).train()
        windows = [Window(self.device, task.log_dtype) for _ in range(self.k)]
        pending: list[tuple[int, list[torch.Tensor], list[list[str]]]] = []
        epoch_values: list[dict[str, float]] | None = None
        with StopOnSignal() as stop, self.speed.numerics():
            try:
                for batch in task.batches(self.step, self.total_steps):
                    hypers = task.hypers(self.step, self.step // self.steps_per_epoch)
                    terms = task.terms(batch, hypers)
                    self.optimizer.zero_grad(set_to_none=True)
                    if self.aux_optimizer is not None:
                        self.aux_optimizer.zero_grad(set_to_none=True)
                    self.speed.backward(task.loss(terms))
                    values, weight = task.log_values(terms, batch)
                    examples = task.examples(batch)
                    added = [w.add(v, weight, examples) for w, v in zip(windows, values, strict=True)]
                    pending.append((self.step, [f for _, f in added], [n for n, _ in added]))
                    if self.device.type == "cpu":
                        self._check_finite(pending)
                    if tc.clip is not None:
                        if self.speed.scaler is not None:
                            self.speed.scaler.unscale_(self.optimizer)
                        task.clip_gradients(tc.clip)
                    self.speed.step(self.optimizer, self.aux_optimizer)
                    if self.scheduler is not None:
                        self.scheduler.step()
                    self.step += 1
                    if self.step % self.steps_per_epoch == 0:
                        epoch_values = task.epoch_end(self.step // self.steps_per_epoch - 1) or epoch_values
                    for cb in self.callbacks:
                        cb.on_step(self.step)
                    at_end = self.step == self.total_steps
                    if self.step % log_every == 0 or at_end:
                        self._check_finite(pending)
                        due = evaluate is not None and eval_every and (self.step % eval_every == 0 or at_end)
                        rows = self._log(windows, hypers, epoch_values, log, evaluate if due else None)
                        if due and not at_end:
                            self._stop_early(rows[0])
                    if self.step % checkpoint_every == 0 or at_end or stop.requested or self.stopped:
                        self._check_finite(pending)
                        self._checkpoint(save)
                    if stop.requested or self.stopped:
                        return
            finally:
                task.close()

    def _stop_early(self, row: dict[str, Any]) -> None:
        """Set :attr:`stopped` when a ``train.stop_when`` condition is met in ``row`` (one member:
        stop_when refuses ensembles)."""
        reason = stop_reason(self.tc.stop_when, row)
        if reason is not None:
            self.stopped = {"step": self.step, "reason": reason}

    def _log(self, windows: list[Window], hypers: list[dict[str, float]],
             epoch_values: list[dict[str, float]] | None, log: RowSink, evaluate: Evaluate | None
             ) -> list[dict[str, Any]]:
        """One metrics row per member (with ``evaluate``'s scores when given); returns the rows."""
        rows = []
        for k, (window, hyper) in enumerate(zip(windows, hypers, strict=True)):
            row = window.row(self.step, self.step // self.steps_per_epoch, hyper)
            row.update(self.task.row_extras(k, hyper))
            row["lr"] = self.optimizer.param_groups[0]["lr"]
            if epoch_values is not None:
                row.update(epoch_values[k])
            if evaluate is not None:
                row.update(evaluate(self.member(k)))
            log(k, row)
            rows.append(row)
            if k == 0:  # the progress display follows the first member
                for cb in self.callbacks:
                    cb.on_log(row)
        return rows

    def _check_finite(self, pending: list[tuple[int, list[torch.Tensor], list[list[str]]]]) -> None:
        """Raise on the first step where a member's terms were not finite (one device sync for all)."""
        if not pending:
            return
        flags = torch.cat([f for _, fs, _ in pending for f in fs]).cpu()
        if bool(flags.all()):
            pending.clear()
            return
        for step, fs, names in pending:
            for k, (f, member_names) in enumerate(zip(fs, names, strict=True)):
                ok = flags[:len(f)].tolist()
                flags = flags[len(f):]
                if all(ok):
                    continue
                bad = [n for n, good in zip(member_names, ok, strict=True) if not good]
                member = f" of member {self.names[k]}" if self.k > 1 else ""
                raise BetavaeError(
                    f"loss term {', '.join(bad)}{member} became NaN/inf at step {step}; training stopped, "
                    f"{self.kept(k)} (try a lower train.lr or a smaller β)"
                )

    def kept(self, k: int) -> str:
        """What of member k survives a failed step (for the NaN message); a wrapper that saves says where."""
        return "nothing is handed out for that step"


class StopOnSignal:
    """Turn SIGINT/SIGTERM into a request the loop honours at the next step boundary.

    The loop then writes a checkpoint of a complete step and returns, so Ctrl-C loses nothing.
    A second signal falls through to the default handler. Only active in the main thread.
    """

    def __init__(self) -> None:
        self.requested = False
        self._old: dict[int, Any] = {}

    def _handle(self, signum: int, frame: Any) -> None:
        self.requested = True
        for sig, old in self._old.items():
            signal.signal(sig, old)

    def __enter__(self) -> StopOnSignal:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)
        self._old.clear()


class Window:
    """Device-side sums of every scalar term and of the batch-mean per-latent KL between logs."""

    def __init__(self, device: torch.device, dtype: torch.dtype = torch.float32) -> None:
        self.device, self.dtype = device, dtype
        self.names: list[str] | None = None
        self.sum: torch.Tensor | None = None
        self.kl_dim: torch.Tensor | None = None
        self.count: float = 0
        self.steps = 0
        self.examples = 0
        self.t0 = time.perf_counter()

    def add(self, terms: dict[str, torch.Tensor], weight: float = 1, examples: int = 0) -> tuple[list[str], torch.Tensor]:
        """Add one step's scalar terms (and ``kl_per_dim``'s batch mean, if given) with ``weight``
        (the terms are already multiplied by it; the row divides by the summed weights) and the
        number of ``examples`` the step saw (for the rate)."""
        if self.names is None:
            self.names = [k for k, v in terms.items() if v.dim() == 0]
        with torch.no_grad():
            scalars = torch.stack([terms[k].detach().to(self.dtype) for k in self.names])
            finite = [torch.isfinite(scalars)]
            if "kl_per_dim" in terms:
                kl_dim = terms["kl_per_dim"].detach().to(self.dtype).mean(0)
                finite.append(torch.isfinite(kl_dim).all().reshape(1))
                self.kl_dim = kl_dim if self.kl_dim is None else self.kl_dim + kl_dim
            self.sum = scalars if self.sum is None else self.sum + scalars
        self.count += weight
        self.steps += 1
        self.examples += examples
        return [*self.names, *(["kl_per_dim"] if len(finite) > 1 else [])], torch.cat(finite)

    def row(self, step: int, epoch: int, hyper: dict[str, float]) -> dict[str, Any]:
        elapsed = time.perf_counter() - self.t0
        means = (self.sum / self.count).tolist()
        row: dict[str, Any] = {"step": step, "epoch": epoch}
        row.update(dict(zip(self.names, means, strict=True)))
        if self.kl_dim is not None:
            row["kl_per_dim"] = (self.kl_dim / self.steps).tolist()
        row.update(hyper)
        if self.examples:
            row["images_per_s"] = self.examples / elapsed if elapsed > 0 else float("nan")
        row["steps_per_s"] = self.steps / elapsed if elapsed > 0 else float("nan")
        row["time"] = time.time()
        self.sum = self.kl_dim = None
        self.count = self.steps = self.examples = 0
        self.t0 = time.perf_counter()
        return row
