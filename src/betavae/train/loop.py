"""The one training loop (``fit``), for one run or K runs trained together as an ensemble.

:class:`Loop` builds the data, K ≥ 1 member models, their objectives and the optimiser from the
members' configs and runs the steps; it knows nothing of run folders, locks, evaluation or reports
(``experiments/run.py`` wraps it with those). It knows nothing of particular objectives
either: it owns the step counter, asks each member's objective for its schedule values at each
step, accumulates the logged terms on the device (read back every ``log_every`` steps, so there is
no host–device synchronisation in the hot loop on GPUs), checks every term for NaN/inf before
anything is handed out, and every ``checkpoint_every`` steps hands each member's resumable state
(:func:`~betavae.train.checkpoint.training_state`) to the ``save`` it was given.

One member (K = 1) trains its model as it is, under the full speed plan, with any objective
(including those with parameters or an auxiliary optimiser of their own). K > 1 members train as
one :class:`~betavae.train.ensemble.Ensemble`: per step member k gets the batch its single run
draws (``make_batch(source, B, seed_k, step)``), its own ε
(:class:`~betavae.train.ensemble.MemberNoise`) and its own objective and schedule values; one
forward of all members, one backward of the sum of the K losses, one Adam step over the stacked
parameters. Each member's state is a single run's state (its slice of the parameters and of Adam's
moments, its noise generator's state as the torch RNG state), so a member continues alone as a
single run, and :meth:`Loop.load_states` stacks them again and continues exactly where they stopped.
"""

from __future__ import annotations

import math
import os
import random
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch

from betavae.config import RunConfig
from betavae.errors import BetavaeError
from betavae.objectives.terms import beta_normalised
from betavae.train.batches import BatchStream
from betavae.train.callbacks import Callback
from betavae.train.checkpoint import rng_state, set_rng_state, training_state
from betavae.train.ensemble import (
    Ensemble,
    MemberNoise,
    check_members,
    check_stateless,
    device_rng_state,
    ensemble_plan,
    member_optimizer_state,
    stack_optimizer_states,
)
from betavae.train.speed import Speed, plan_for, to_float32

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
    """Builds data, K ≥ 1 member models, their objectives and the optimiser, and runs the steps.

    ``Loop(config)`` is one run; ``Loop(configs)`` K members (which may differ only in seed and
    objective). One member: ``model`` (trained as it is; ``step_model`` is what the steps call,
    maybe compiled), ``objective``, ``aux_optimizer`` (an objective's own optimiser, or None).
    K > 1: ``ensemble`` (the stacked parameters) and ``noise`` (member k's ε generator); objectives
    with parameters or state of their own are refused. ``names`` name the members in messages.
    """

    def __init__(self, configs: RunConfig | Sequence[RunConfig], callbacks: Sequence[Callback] = ()) -> None:
        self.configs = [configs] if isinstance(configs, RunConfig) else list(configs)
        check_members(self.configs)
        self.callbacks, self.k = list(callbacks), len(self.configs)
        self.names = [str(k) for k in range(self.k)]
        c0 = self.configs[0]
        tc = self.tc = c0.train
        if tc.threads:
            torch.set_num_threads(tc.threads)
        seed_everything(c0.seed, tc.deterministic)
        self.device = resolve_device(tc.device)
        self.source = c0.data.build()
        shape = tuple(self.source.observation_shape)
        plan = plan_for(tc.speed, self.device, tc.steps) if self.k == 1 else ensemble_plan(tc.speed, self.device, tc.steps)
        self.speed = Speed(plan, self.device)
        # each member built as its single run builds its model: seed everything, then build. (An
        # ensemble seeds again after the speed plan's process switches, as it always did: with
        # train.deterministic that turns cuDNN autotuning off there; one run keeps it on.)
        self.models, noise = [], []
        for c in self.configs:
            if self.k > 1:
                seed_everything(c.seed, tc.deterministic)
            self.models.append(c.model.build(shape).to(self.device))
            noise.append(device_rng_state(self.device))
        if self.k == 1:
            self.model = self.models[0]
            # state is saved and loaded through self.model, never the (maybe compiled) step_model
            self.step_model = self.speed.prepare_model(self.model)
        else:
            self.ensemble = Ensemble(self.models)
            self.speed.prepare_model(self.ensemble.base)
            self.noise = MemberNoise(noise, self.device)
        self.objectives = [c.objective.build(c.model.likelihood, c.model.latent_dim).to(self.device)
                           for c in self.configs]
        if self.k == 1:
            self.objective = self.objectives[0]
            self.optimizer = self._adam([{"params": list(self.model.parameters())}, *self.objective.param_groups()])
            # an objective's own optimiser for auxiliary parameters (e.g. FactorVAE's discriminator)
            self.aux_optimizer = self.objective.auxiliary_optimizer()
        else:
            for c, objective in zip(self.configs, self.objectives, strict=True):
                check_stateless(objective, c.objective.kind)
            self.optimizer = self._adam([{"params": self.ensemble.parameters()}])
            self.aux_optimizer = None
        self.data_dims = math.prod(shape)
        self.steps_per_epoch = tc.steps_per_epoch or max(1, len(self.source) // tc.batch_size)
        self.step = 0

    def _adam(self, groups: list[dict[str, Any]]) -> torch.optim.Adam:
        return self.speed.adam(groups, lr=self.tc.lr, betas=self.tc.adam_betas, eps=self.tc.adam_eps)

    # ------------------------------------------------------------------ state

    def member(self, k: int) -> torch.nn.Module:
        """Member k as a single model holding its current weights."""
        model = self.models[k]
        if self.k > 1:
            model.load_state_dict(self.ensemble.member_state_dict(k))
        return model

    def _member_optimizer(self, k: int, ens_state: dict[str, Any] | None) -> torch.optim.Optimizer:
        """The optimiser a single run of member k holds (an ensemble's: its slice of Adam)."""
        if self.k == 1:
            return self.optimizer
        optimizer = self._adam([{"params": list(self.models[k].parameters())}])
        optimizer.load_state_dict(member_optimizer_state(ens_state, k))
        return optimizer

    def _member_rng(self, k: int) -> dict[str, Any] | None:
        """The RNG state a single run of member k would save (None: this process's, K = 1)."""
        if self.k == 1:
            return None
        state = rng_state()
        g = self.noise.generators[k].get_state()
        if self.device.type == "cuda":
            cuda = list(state.get("cuda", []))
            cuda[self.device.index or 0] = g
            state["cuda"] = cuda
        else:
            state["torch"] = g
        return state

    def states(self) -> Iterator[dict[str, Any]]:
        """Each member's state as its single run saves it (a :func:`training_state`), in order."""
        ens_state = self.optimizer.state_dict() if self.k > 1 else None
        for k in range(self.k):
            yield training_state(self.step, self.member(k), self.objectives[k], self._member_optimizer(k, ens_state),
                                 aux_optimizer=self.aux_optimizer, rng=self._member_rng(k))

    def load_states(self, states: Sequence[dict[str, Any]]) -> None:
        """Continue from the members' :meth:`states` (all saved at the same step)."""
        for objective, state in zip(self.objectives, states, strict=True):
            objective.load_state_dict(state["objective"])
        if self.k == 1:
            state = states[0]
            self.model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
            if self.aux_optimizer is not None:
                self.aux_optimizer.load_state_dict(state["aux_optimizer"])
            set_rng_state(state["rng"])
        else:
            self.ensemble.load_member_state_dicts([s["model"] for s in states])
            self.optimizer.load_state_dict(stack_optimizer_states([s["optimizer"] for s in states]))
            key, index = ("cuda", self.device.index or 0) if self.device.type == "cuda" else ("torch", None)
            self.noise = MemberNoise([s["rng"][key] if index is None else s["rng"][key][index] for s in states],
                                     self.device)
        self.step = int(states[0]["step"])

    def _checkpoint(self, save: Save) -> None:
        for k, state in enumerate(self.states()):
            save(k, state)
        for cb in self.callbacks:
            cb.on_checkpoint(self.step)

    # ------------------------------------------------------------------ loop

    def fit(self, log: RowSink, save: Save, evaluate: Evaluate | None = None) -> None:
        """Train to ``train.steps`` from ``self.step``, or to the step boundary after SIGINT/SIGTERM.

        Every ``log_every`` steps (and at the end) ``log(k, row)`` gets member k's metrics row, with
        ``evaluate(member k's model)`` merged in every ``eval_every`` steps (and at the end) when
        given; every ``checkpoint_every`` steps, at the end and when stopped, ``save(k, state)``
        gets member k's :meth:`states`. Nothing is handed out for a step whose terms are not finite.
        """
        tc = self.tc
        for model in self.models:
            model.train()
        # Rendering a batch takes well under a millisecond: on a CPU a prefetch thread only competes
        # with torch's threads (measured: slower), so batches are made inline there by default.
        prefetch = tc.prefetch if tc.prefetch is not None else (2 if self.device.type == "cuda" else 0)
        streams = [BatchStream(self.source, tc.batch_size, c.seed, self.step, tc.steps, prefetch)
                   for c in self.configs]
        windows = [Window(self.device) for _ in self.configs]
        pending: list[tuple[int, list[torch.Tensor], list[list[str]]]] = []
        with StopOnSignal() as stop:
            for xs in zip(*streams, strict=True):
                x = self.speed.batch(xs[0] if self.k == 1 else torch.stack(xs))  # (B, ...) or (K, B, ...)
                hypers = [o.hyper(self.step, self.step // self.steps_per_epoch) for o in self.objectives]
                terms = self._forward(x, hypers)
                self.optimizer.zero_grad(set_to_none=True)
                if self.aux_optimizer is not None:
                    self.aux_optimizer.zero_grad(set_to_none=True)
                self.speed.backward(self._loss(terms))
                added = [w.add(t, xk.shape[0]) for w, t, xk in zip(windows, terms, xs, strict=True)]
                pending.append((self.step, [f for _, f in added], [n for n, _ in added]))
                if self.device.type == "cpu":
                    self._check_finite(pending)
                self.speed.step(self.optimizer, self.aux_optimizer)
                self.step += 1
                for cb in self.callbacks:
                    cb.on_step(self.step)
                at_end = self.step == tc.steps
                if self.step % tc.log_every == 0 or at_end:
                    self._check_finite(pending)
                    due = evaluate is not None and tc.eval_every and (self.step % tc.eval_every == 0 or at_end)
                    self._log(windows, hypers, log, evaluate if due else None)
                if self.step % tc.checkpoint_every == 0 or at_end or stop.requested:
                    self._check_finite(pending)
                    self._checkpoint(save)
                if stop.requested:
                    for s in streams:
                        s.close()
                    return

    def _forward(self, x: torch.Tensor, hypers: list[dict[str, float]]) -> list[dict[str, torch.Tensor]]:
        """Every member's loss terms for its batch (x: one member's (B, C, H, W), else (K, B, C, H, W))."""
        if self.k == 1:
            return [self.objective(self.speed.forward(self.step_model, x), x, hypers[0])]
        eps_dtype = self.speed.dtype or torch.float32  # a single run draws ε like μ (autocast dtype)
        return self.terms(x, self.noise.draw((x.shape[1], self.ensemble.latent_dim), eps_dtype), hypers)

    def _loss(self, terms: list[dict[str, torch.Tensor]]) -> torch.Tensor:
        """What one backward differentiates: the sum of the members' losses (plus an objective's
        auxiliary loss, whose parameters only its own optimiser steps)."""
        if self.k > 1:
            return torch.stack([t["loss"] for t in terms]).sum()
        t = terms[0]
        return t["loss"] if self.aux_optimizer is None else t["loss"] + t["aux_loss"]

    def terms(self, x: torch.Tensor, eps: torch.Tensor | None,
              hypers: list[dict[str, float]]) -> list[dict[str, torch.Tensor]]:
        """Every ensemble member's loss terms (K > 1): x (K, B, C, H, W), eps (K, B, D) or None (z = μ).

        One forward of all members (under the plan's autocast); then member k's own objective on
        its slice, in fp32, exactly the code a single run calls.
        """
        with self.speed.autocast():
            outs = self.ensemble(x, eps)
        if self.speed.dtype is not None:
            outs = [to_float32(o) for o in outs]
        return [o(out, x[k], h) for k, (o, out, h) in enumerate(zip(self.objectives, outs, hypers, strict=True))]

    def _log(self, windows: list[Window], hypers: list[dict[str, float]], log: RowSink,
             evaluate: Evaluate | None) -> None:
        """One metrics row per member (with ``evaluate``'s scores when given)."""
        for k, (window, hyper) in enumerate(zip(windows, hypers, strict=True)):
            row = window.row(self.step, self.step // self.steps_per_epoch, hyper)
            row["beta_norm"] = beta_normalised(hyper["beta"], self.configs[k].model.latent_dim, self.data_dims)
            row["lr"] = self.optimizer.param_groups[0]["lr"]
            if evaluate is not None:
                row.update(evaluate(self.member(k)))
            log(k, row)
            if k == 0:  # the progress display follows the first member
                for cb in self.callbacks:
                    cb.on_log(row)

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

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.names: list[str] | None = None
        self.sum: torch.Tensor | None = None
        self.kl_dim: torch.Tensor | None = None
        self.count = 0
        self.images = 0
        self.t0 = time.perf_counter()

    def add(self, terms: dict[str, torch.Tensor], batch: int) -> tuple[list[str], torch.Tensor]:
        if self.names is None:
            self.names = [k for k, v in terms.items() if v.dim() == 0]
        with torch.no_grad():
            scalars = torch.stack([terms[k].detach().float() for k in self.names])
            kl_dim = terms["kl_per_dim"].detach().float().mean(0)
            finite = torch.cat([torch.isfinite(scalars), torch.isfinite(kl_dim).all().reshape(1)])
            self.sum = scalars if self.sum is None else self.sum + scalars
            self.kl_dim = kl_dim if self.kl_dim is None else self.kl_dim + kl_dim
        self.count += 1
        self.images += batch
        return [*self.names, "kl_per_dim"], finite

    def row(self, step: int, epoch: int, hyper: dict[str, float]) -> dict[str, Any]:
        elapsed = time.perf_counter() - self.t0
        means = (self.sum / self.count).tolist()
        row: dict[str, Any] = {"step": step, "epoch": epoch}
        row.update(dict(zip(self.names, means, strict=True)))
        row["kl_per_dim"] = (self.kl_dim / self.count).tolist()
        row.update(hyper)
        row["images_per_s"] = self.images / elapsed if elapsed > 0 else float("nan")
        row["steps_per_s"] = self.count / elapsed if elapsed > 0 else float("nan")
        row["time"] = time.time()
        self.sum = self.kl_dim = None
        self.count = self.images = 0
        self.t0 = time.perf_counter()
        return row
