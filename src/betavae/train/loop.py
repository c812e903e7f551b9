"""The one training loop, for one run or K runs trained together as an ensemble.

``train(config)`` starts a run folder and trains; ``resume(run_dir)`` continues one from its last
checkpoint. ``train_ensemble(configs)`` trains K configs (seeds, or configs that differ only in
seed and objective) as one ensemble and ``resume_ensemble(run_dir)`` continues the ensemble a
member folder belongs to. All four run :class:`Trainer`, which knows nothing of particular
objectives: it owns the step counter, asks each member's objective for its schedule values at
each step, accumulates the logged terms on the device (read back every ``log_every`` steps, so
there is no host–device synchronisation in the hot loop on GPUs), checks every term for NaN/inf
before anything is written, and checkpoints atomically every ``checkpoint_every`` steps.

One member (K = 1) trains its model as it is, under the full speed plan, with any objective
(including those with parameters or an auxiliary optimiser of their own). K > 1 members train as
one :class:`~betavae.train.ensemble.Ensemble`: per step member k gets the batch its single run
draws (``make_batch(source, B, seed_k, step)``), its own ε
(:class:`~betavae.train.ensemble.MemberNoise`) and its own objective and schedule values; one
forward of all members, one backward of the sum of the K losses, one Adam step over the stacked
parameters. Everything else is the same code for every K: each member folder is an ordinary run
folder (``config.yaml``, ``metrics.jsonl``, ``weights.safetensors``, ``state.pt``, ``meta.json``;
an ensemble member's ``meta.json`` also records ``ensemble: {members: [folder names], index: k}``),
and each member's ``state.pt`` is a single run's state (its slice of the parameters and of Adam's
moments, its noise generator's state as the torch RNG state), so ``resume(member)`` continues a
member alone and ``resume_ensemble`` stacks them again and continues exactly where they stopped.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import random
import signal
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from betavae.config import RunConfig
from betavae.errors import BetavaeError
from betavae.experiments.lock import TrainingLock
from betavae.experiments.rundir import (
    METRICS_FILE,
    check_new_run_dir,
    create_run_dir,
    now,
    read_meta,
    read_run_config,
    truncate_metrics,
    write_meta,
)
from betavae.objectives.terms import beta_normalised
from betavae.train.batches import BatchStream
from betavae.train.callbacks import Callback
from betavae.train.checkpoint import (
    STATE_FILE,
    load_state,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
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

log = logging.getLogger(__name__)


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


# ---------------------------------------------------------------- entry points


def train(config: RunConfig, runs_root: str | Path = "runs", callbacks: Sequence[Callback] = ()) -> Path:
    """Create ``runs_root/<run id>/`` and train; returns the run folder."""
    return train_ensemble([config], runs_root, callbacks)[0]


def train_ensemble(configs: Sequence[RunConfig], runs_root: str | Path = "runs",
                   callbacks: Sequence[Callback] = ()) -> list[Path]:
    """Train ``configs`` (e.g. :func:`~betavae.train.ensemble.seed_configs`) together; returns
    their run folders (one config trains as a single run).

    The data, models and objectives are built and every folder is checked before any folder is
    made, so a config that cannot be built or a refusal leaves nothing behind.
    """
    configs = list(configs)
    run_dirs = [check_new_run_dir(c, runs_root) for c in configs]
    trainer = Trainer(configs, run_dirs, callbacks)
    for c in configs:
        write_meta(create_run_dir(c, runs_root), status="created")
    trainer.run(resume=False)
    return run_dirs


def resume(run_dir: str | Path, callbacks: Sequence[Callback] = ()) -> Path:
    """Continue a run (an ensemble member alone) from its ``state.pt``; a finished run is left as it is."""
    return _resume([Path(run_dir)], callbacks)[0]


def is_ensemble_member(run_dir: str | Path) -> bool:
    return bool(read_meta(run_dir).get("ensemble"))


def resume_ensemble(run_dir: str | Path, callbacks: Sequence[Callback] = ()) -> list[Path]:
    """Continue the ensemble ``run_dir`` belongs to (all members, from their common checkpoint)."""
    run_dir = Path(run_dir)
    record = read_meta(run_dir).get("ensemble")
    if not record:
        raise BetavaeError(f"{run_dir} was not trained as part of an ensemble")
    run_dirs = [run_dir.parent / name for name in record["members"]]
    missing = [str(d) for d in run_dirs if not d.is_dir()]
    if missing:
        raise BetavaeError(f"ensemble members missing next to {run_dir}: {', '.join(missing)}")
    return _resume(run_dirs, callbacks)


def _resume(run_dirs: list[Path], callbacks: Sequence[Callback]) -> list[Path]:
    if all(read_meta(d).get("status") == "finished" for d in run_dirs):
        log.info("%s already finished; nothing to do", ", ".join(map(str, run_dirs)))
        return run_dirs
    trainer = Trainer([read_run_config(d) for d in run_dirs], run_dirs, callbacks)
    trainer.run(resume=all((d / STATE_FILE).exists() for d in run_dirs))
    return run_dirs


# ---------------------------------------------------------------- the loop


class Trainer:
    """Builds data, K ≥ 1 member models, their objectives and the optimiser, and runs the steps.

    ``Trainer(config, run_dir)`` is one run; ``Trainer(configs, run_dirs)`` K members (which
    may differ only in seed and objective). One member: ``model`` (trained as it is; ``step_model``
    is what the steps call, maybe compiled), ``objective``, ``aux_optimizer`` (an objective's own
    optimiser, or None). K > 1: ``ensemble`` (the stacked parameters) and ``noise`` (member k's
    ε generator); objectives with parameters or state of their own are refused.
    """

    def __init__(self, configs: RunConfig | Sequence[RunConfig], run_dirs: str | Path | Sequence[Path],
                 callbacks: Sequence[Callback] = ()) -> None:
        self.configs = [configs] if isinstance(configs, RunConfig) else list(configs)
        self.run_dirs = [Path(run_dirs)] if isinstance(run_dirs, (str, Path)) else [Path(d) for d in run_dirs]
        check_members(self.configs)
        if len(self.run_dirs) != len(self.configs):
            raise BetavaeError(f"{len(self.configs)} configs but {len(self.run_dirs)} run folders")
        self.callbacks, self.k = list(callbacks), len(self.configs)
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
        self.config_json = [c.model_dump_json(by_alias=True) for c in self.configs]
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

    def checkpoint(self) -> None:
        ens_state = self.optimizer.state_dict() if self.k > 1 else None
        for k, run_dir in enumerate(self.run_dirs):
            save_checkpoint(run_dir, self.step, self.member(k), self.objectives[k],
                            self._member_optimizer(k, ens_state), self.config_json[k],
                            aux_optimizer=self.aux_optimizer, rng=self._member_rng(k))
        for cb in self.callbacks:
            cb.on_checkpoint(self.step)

    def load(self) -> None:
        states = [load_state(d) for d in self.run_dirs]
        steps = [int(s["step"]) for s in states]
        if len(set(steps)) != 1:
            raise BetavaeError(
                f"ensemble members were checkpointed at different steps ({', '.join(map(str, steps))}), e.g. by "
                "a kill between their checkpoints; continue each alone with betavae.train.loop.resume(run_dir)"
            )
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
        self.step = steps[0]

    # ------------------------------------------------------------------ loop

    def run(self, resume: bool) -> None:
        """Train to ``train.steps`` (from the checkpoints if ``resume``), holding every member's
        :class:`~betavae.experiments.lock.TrainingLock` throughout (so a dead run is told apart)."""
        with contextlib.ExitStack() as locks:
            for run_dir in self.run_dirs:
                locks.enter_context(TrainingLock(run_dir))
            self._run(resume)

    def _run(self, resume: bool) -> None:
        tc = self.tc
        if resume:
            self.load()
        record = self.speed.record()
        sessions = []
        for k, run_dir in enumerate(self.run_dirs):
            truncate_metrics(run_dir, self.step)
            session = {"start": now(), "start_step": self.step, "device": str(self.device),
                       "threads": torch.get_num_threads(), "speed": record}
            extra = {}
            if self.k > 1:
                session["ensemble_size"] = self.k
                extra["ensemble"] = {"members": [d.name for d in self.run_dirs], "index": k}
            sessions.append(read_meta(run_dir).get("sessions", []) + [session])
            write_meta(run_dir, status="running", sessions=sessions[k], device=str(self.device), speed=record,
                       **extra)
        for cb in self.callbacks:
            cb.on_start(self.run_dirs[0] if self.k == 1 else list(self.run_dirs), self.step, tc.steps)
        status = "failed"
        try:
            with StopOnSignal() as stop:
                self._steps(stop)
            status = "finished" if self.step >= tc.steps else "interrupted"
            if status == "interrupted":
                members = f" (continues all {self.k} members)" if self.k > 1 else ""
                raise BetavaeError(
                    f"interrupted at step {self.step}; checkpoint written, continue with "
                    f"`bvae train --resume {self.run_dirs[0]}`{members}"
                )
        finally:
            for k, run_dir in enumerate(self.run_dirs):
                sessions[k][-1].update(end=now(), end_step=self.step)
                write_meta(run_dir, status=status, sessions=sessions[k], end_time=now(), step=self.step)
            for cb in self.callbacks:
                cb.on_end(status)
        if tc.report:
            self.write_reports()

    def write_reports(self) -> None:
        """Refresh each member's report; a report never fails a finished run."""
        from betavae.report import write_report

        for run_dir in self.run_dirs:
            try:
                write_report(run_dir, device=str(self.device))
            except Exception:
                log.exception("could not write the report of %s", run_dir)

    def _steps(self, stop: StopOnSignal) -> None:
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
        with contextlib.ExitStack() as files:
            handles = [files.enter_context(open(d / METRICS_FILE, "a", encoding="utf-8")) for d in self.run_dirs]
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
                    self._log(windows, hypers, handles, at_end)
                if self.step % tc.checkpoint_every == 0 or at_end or stop.requested:
                    self._check_finite(pending)
                    for fh in handles:
                        fh.flush()
                    self.checkpoint()
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

    def _log(self, windows: list[Window], hypers: list[dict[str, float]], handles: list, at_end: bool) -> None:
        """One metrics row per member (with the ``train.eval_*`` scores when due)."""
        from betavae.experiments.evaluate import evaluate_model

        tc = self.tc
        evaluate = tc.eval_every and (self.step % tc.eval_every == 0 or at_end)
        for k, (window, hyper, fh) in enumerate(zip(windows, hypers, handles, strict=True)):
            row = window.row(self.step, self.step // self.steps_per_epoch, hyper)
            row["beta_norm"] = beta_normalised(hyper["beta"], self.configs[k].model.latent_dim, self.data_dims)
            row["lr"] = self.optimizer.param_groups[0]["lr"]
            if evaluate:
                row.update(evaluate_model(self.member(k), self.source, tc, self.device))
            fh.write(json.dumps(row, allow_nan=True) + "\n")
            fh.flush()
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
                member = f" of member {self.run_dirs[k].name}" if self.k > 1 else ""
                raise BetavaeError(
                    f"loss term {', '.join(bad)}{member} became NaN/inf at step {step}; training stopped, the "
                    f"last good checkpoint in {self.run_dirs[k]} is kept (try a lower train.lr or a smaller β)"
                )


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
