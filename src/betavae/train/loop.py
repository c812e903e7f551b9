"""The one training loop for every objective (it knows nothing of particular objectives).

``train(config)`` starts a run folder and trains; ``resume(run_dir)`` continues one from its last
checkpoint. The loop owns the step counter, asks the objective for its schedule values at each
step, accumulates the logged terms on the device (read back every ``log_every`` steps, so there is
no host–device synchronisation in the hot loop on GPUs), checks every term for NaN/inf before
anything is written, and checkpoints atomically every ``checkpoint_every`` steps.
"""

from __future__ import annotations

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
from betavae.train.checkpoint import load_state, save_checkpoint, set_rng_state
from betavae.train.speed import Speed, plan_for

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


def train(config: RunConfig, runs_root: str | Path = "runs", callbacks: Sequence[Callback] = ()) -> Path:
    """Create ``runs_root/<run id>/`` and train; returns the run folder.

    The data, model and objective are built before the folder is made, so a config that cannot
    be built (a missing data file, say) leaves no folder behind.
    """
    check_new_run_dir(config, runs_root)
    trainer = Trainer(config, Path(runs_root) / config.run_id(), callbacks)
    run_dir = create_run_dir(config, runs_root)
    write_meta(run_dir, status="created")
    trainer.run(resume=False)
    return run_dir


def resume(run_dir: str | Path, callbacks: Sequence[Callback] = ()) -> Path:
    """Continue a run from its ``state.pt``; a finished run is left as it is."""
    run_dir = Path(run_dir)
    config = read_run_config(run_dir)
    if read_meta(run_dir).get("status") == "finished":
        log.info("%s already finished; nothing to do", run_dir)
        return run_dir
    Trainer(config, run_dir, callbacks).run(resume=(run_dir / "state.pt").exists())
    return run_dir


class Trainer:
    """Builds data, model, objective and optimiser from a config and runs the steps."""

    def __init__(self, config: RunConfig, run_dir: Path, callbacks: Sequence[Callback] = ()) -> None:
        self.config, self.run_dir, self.callbacks = config, Path(run_dir), list(callbacks)
        tc = config.train
        if tc.threads:
            torch.set_num_threads(tc.threads)
        seed_everything(config.seed, tc.deterministic)
        self.device = resolve_device(tc.device)
        self.source = config.data.build()
        self.speed = Speed(plan_for(tc.speed, self.device, tc.steps), self.device)
        self.model = config.model.build(tuple(self.source.observation_shape)).to(self.device)
        # the module the steps call (maybe compiled); state is saved and loaded through self.model
        self.step_model = self.speed.prepare_model(self.model)
        self.objective = config.objective.build(config.model.likelihood, config.model.latent_dim).to(self.device)
        groups = [{"params": list(self.model.parameters())}, *self.objective.param_groups()]
        self.optimizer = self.speed.adam(groups, lr=tc.lr, betas=tc.adam_betas, eps=tc.adam_eps)
        # an objective's own optimiser for auxiliary parameters (e.g. FactorVAE's discriminator)
        self.aux_optimizer = self.objective.auxiliary_optimizer()
        self.data_dims = math.prod(self.source.observation_shape)
        self.steps_per_epoch = tc.steps_per_epoch or max(1, len(self.source) // tc.batch_size)
        self.config_json = config.model_dump_json(by_alias=True)
        self.step = 0

    # ------------------------------------------------------------------ state

    def load(self) -> None:
        state = load_state(self.run_dir)
        self.model.load_state_dict(state["model"])
        self.objective.load_state_dict(state["objective"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.aux_optimizer is not None:
            self.aux_optimizer.load_state_dict(state["aux_optimizer"])
        set_rng_state(state["rng"])
        self.step = int(state["step"])

    def checkpoint(self) -> None:
        save_checkpoint(self.run_dir, self.step, self.model, self.objective, self.optimizer, self.config_json,
                        aux_optimizer=self.aux_optimizer)
        for cb in self.callbacks:
            cb.on_checkpoint(self.step)

    # ------------------------------------------------------------------ loop

    def run(self, resume: bool) -> None:
        """Train to ``train.steps`` (from the checkpoint if ``resume``), holding the run's
        :class:`~betavae.experiments.lock.TrainingLock` throughout (so a dead run is told apart)."""
        with TrainingLock(self.run_dir):
            self._run(resume)

    def _run(self, resume: bool) -> None:
        tc = self.config.train
        if resume:
            self.load()
        truncate_metrics(self.run_dir, self.step)
        meta = read_meta(self.run_dir)
        sessions = meta.get("sessions", []) + [{"start": now(), "start_step": self.step, "device": str(self.device),
                                               "threads": torch.get_num_threads(), "speed": self.speed.record()}]
        write_meta(self.run_dir, status="running", sessions=sessions, device=str(self.device),
                   speed=self.speed.record())
        for cb in self.callbacks:
            cb.on_start(self.run_dir, self.step, tc.steps)
        status = "failed"
        try:
            with StopOnSignal() as stop:
                self._steps(stop)
            status = "finished" if self.step >= tc.steps else "interrupted"
            if status == "interrupted":
                raise BetavaeError(
                    f"interrupted at step {self.step}; checkpoint written, continue with "
                    f"`bvae train --resume {self.run_dir}`"
                )
        finally:
            sessions[-1]["end"] = now()
            sessions[-1]["end_step"] = self.step
            write_meta(self.run_dir, status=status, sessions=sessions, end_time=now(), step=self.step)
            for cb in self.callbacks:
                cb.on_end(status)
        if tc.report:
            self.write_report()

    def write_report(self) -> None:
        """Refresh the run's report; a report never fails a finished run."""
        from betavae.report import write_report

        try:
            write_report(self.run_dir, device=str(self.device))
        except Exception:
            log.exception("could not write the report of %s", self.run_dir)

    def _steps(self, stop: StopOnSignal) -> None:
        tc = self.config.train
        self.model.train()
        # Rendering a batch takes well under a millisecond: on a CPU a prefetch thread only competes
        # with torch's threads (measured: slower), so batches are made inline there by default.
        prefetch = tc.prefetch if tc.prefetch is not None else (2 if self.device.type == "cuda" else 0)
        stream = BatchStream(self.source, tc.batch_size, self.config.seed, self.step, tc.steps, prefetch)
        window = Window(self.device)
        pending: list[tuple[int, torch.Tensor, list[str]]] = []
        with open(self.run_dir / METRICS_FILE, "a", encoding="utf-8") as metrics_fh:
            for x in stream:
                x = self.speed.batch(x)
                hyper = self.objective.hyper(self.step, self.step // self.steps_per_epoch)
                out = self.speed.forward(self.step_model, x)
                terms = self.objective(out, x, hyper)
                self.optimizer.zero_grad(set_to_none=True)
                if self.aux_optimizer is None:
                    self.speed.backward(terms["loss"])
                else:
                    self.aux_optimizer.zero_grad(set_to_none=True)
                    self.speed.backward(terms["loss"] + terms["aux_loss"])
                names, finite = window.add(terms, x.shape[0])
                pending.append((self.step, finite, names))
                if self.device.type == "cpu":
                    self._check_finite(pending)
                self.speed.step(self.optimizer, self.aux_optimizer)
                self.step += 1
                for cb in self.callbacks:
                    cb.on_step(self.step)
                at_end = self.step == tc.steps
                if self.step % tc.log_every == 0 or at_end:
                    self._check_finite(pending)
                    row = window.row(self.step, self.step // self.steps_per_epoch, hyper)
                    row.update(self._derived(hyper))
                    if tc.eval_every and (self.step % tc.eval_every == 0 or at_end):
                        row.update(self.evaluate())
                    metrics_fh.write(_json_line(row))
                    metrics_fh.flush()
                    for cb in self.callbacks:
                        cb.on_log(row)
                if self.step % tc.checkpoint_every == 0 or at_end or stop.requested:
                    self._check_finite(pending)
                    metrics_fh.flush()
                    self.checkpoint()
                if stop.requested:
                    stream.close()
                    return

    def evaluate(self) -> dict[str, float]:
        """Disentanglement metrics of the current model (``train.eval_*``), keys ``eval.<metric>``."""
        from betavae.experiments.evaluate import evaluate_model

        return evaluate_model(self.model, self.source, self.config.train, self.device)

    def _derived(self, hyper: dict[str, float]) -> dict[str, Any]:
        return {
            "beta_norm": beta_normalised(hyper["beta"], self.config.model.latent_dim, self.data_dims),
            "lr": self.optimizer.param_groups[0]["lr"],
        }

    def _check_finite(self, pending: list[tuple[int, torch.Tensor, list[str]]]) -> None:
        """Raise on the first step whose terms were not finite (one device sync for all)."""
        if not pending:
            return
        flags = torch.stack([f for _, f, _ in pending]).cpu()
        if bool(flags.all()):
            pending.clear()
            return
        row = int((~flags.all(1)).nonzero()[0, 0])
        step, _, names = pending[row]
        bad = [n for n, ok in zip(names, flags[row].tolist(), strict=True) if not ok]
        raise BetavaeError(
            f"loss term {', '.join(bad)} became NaN/inf at step {step}; training stopped, the last "
            f"good checkpoint in {self.run_dir} is kept (try a lower train.lr or a smaller β)"
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


def _json_line(row: dict[str, Any]) -> str:
    import json

    return json.dumps(row, allow_nan=True) + "\n"
