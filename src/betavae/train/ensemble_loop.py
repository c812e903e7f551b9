"""Train K runs (seeds, or configs that differ only in seed and objective) as one ensemble.

``train_ensemble(configs, runs_root)`` writes K ordinary run folders, one per member, with the
files a single run writes (``config.yaml``, ``metrics.jsonl``, ``weights.safetensors``,
``state.pt``, ``meta.json``), so ``bvae eval``, ``traverse``, ``report`` and
``betavae.experiments.load`` read them like any run. ``meta.json`` also records the ensemble
(``ensemble: {members: [folder names], index: k}``).

Per step, member k: the batch its single run draws (``make_batch(source, B, seed_k, step)``), its
own ε (:class:`~betavae.train.ensemble.MemberNoise`), its own objective and schedule values
(``hyper(step, epoch)`` of member k's objective, so β may differ per member); one forward of all
members (:class:`~betavae.train.ensemble.Ensemble`), one backward of the sum of the K losses, one
Adam step over the stacked parameters. Checks, logging, evaluation and checkpoints are those of
:mod:`betavae.train.loop`, per member.

Checkpoints: every member's ``state.pt`` is a single run's state (its slice of the parameters and
of Adam's moments, its noise generator's state as the torch RNG state). ``resume_ensemble`` stacks
them again and continues the ensemble exactly where it stopped; ``betavae.train.loop.resume``
continues one member alone.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from betavae.config import RunConfig, build_config
from betavae.errors import BetavaeError
from betavae.experiments.evaluate import evaluate_model
from betavae.experiments.lock import TrainingLock
from betavae.experiments.rundir import (
    METRICS_FILE,
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
from betavae.train.checkpoint import STATE_FILE, load_state, rng_state, save_checkpoint
from betavae.train.ensemble import (
    Ensemble,
    MemberNoise,
    check_stateless,
    device_rng_state,
    member_optimizer_state,
    stack_optimizer_states,
)
from betavae.train.loop import StopOnSignal, Window, resolve_device, seed_everything
from betavae.train.speed import Speed, SpeedPlan, plan_for, to_float32

log = logging.getLogger(__name__)

ENSEMBLE_NOTE = ("ensemble: channels_last, fast_deconv and torch.compile off (vmap runs the members as "
                 "grouped convolutions; the fast transposed-convolution kernels have no vmap rule)")


def seed_configs(config: RunConfig, seeds: Sequence[int]) -> list[RunConfig]:
    """``config`` once per seed (validated like any config)."""
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise BetavaeError("an ensemble needs at least one seed")
    if len(set(seeds)) != len(seeds):
        raise BetavaeError(f"seeds {seeds} repeat a seed; each member needs its own")
    return [build_config({**config.to_dict(), "seed": s}) for s in seeds]


def parse_seeds(text: str) -> list[int]:
    """``"0,1,2,3"`` or ``"0-3"`` -> [0, 1, 2, 3]."""
    try:
        if "-" in text and "," not in text:
            lo, hi = (int(v) for v in text.split("-"))
            return list(range(lo, hi + 1))
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise BetavaeError(f"--seeds {text!r}: give comma-separated integers (0,1,2,3) or a range (0-3)") from None


def check_members(configs: Sequence[RunConfig]) -> None:
    """Members may differ only in seed and objective; their run folders must differ."""
    def shared(c: RunConfig) -> dict[str, Any]:
        d = c.to_dict()
        d.pop("seed")
        d.pop("objective")
        return d

    if not configs:
        raise BetavaeError("an ensemble needs at least one member")
    first = shared(configs[0])
    for c in configs[1:]:
        if shared(c) != first:
            diff = sorted(k for k in first if first[k] != shared(c).get(k))
            raise BetavaeError(f"ensemble members may differ only in seed and objective; {c.run_id()} also "
                               f"differs in {', '.join(diff)}")
    ids = [c.run_id() for c in configs]
    if len(set(ids)) != len(ids):
        raise BetavaeError(f"two ensemble members would share a run folder: {sorted(ids)}")


def ensemble_plan(level: str, device: torch.device, steps: int) -> SpeedPlan:
    """The speed plan of ``level`` less the switches that do not apply to a vmapped ensemble."""
    plan = plan_for(level, device, steps)
    if level == "plain":
        return plan
    return dataclasses.replace(plan, channels_last=False, fast_deconv=False, compile=False,
                               notes=(*plan.notes, ENSEMBLE_NOTE))


class EnsembleTrainer:
    """Builds K members, their objectives and one optimiser from K configs and runs the steps."""

    def __init__(self, configs: Sequence[RunConfig], run_dirs: Sequence[Path],
                 callbacks: Sequence[Callback] = ()) -> None:
        check_members(configs)
        self.configs, self.run_dirs, self.callbacks = list(configs), [Path(d) for d in run_dirs], list(callbacks)
        self.k = len(self.configs)
        c0 = self.configs[0]
        tc = self.tc = c0.train
        if tc.threads:
            torch.set_num_threads(tc.threads)
        self.device = resolve_device(tc.device)
        self.source = c0.data.build()
        shape = tuple(self.source.observation_shape)
        self.speed = Speed(ensemble_plan(tc.speed, self.device, tc.steps), self.device)
        # each member built as its single run builds its model: seed everything, then build
        self.members, noise = [], []
        for c in self.configs:
            seed_everything(c.seed, tc.deterministic)
            self.members.append(c.model.build(shape).to(self.device))
            noise.append(device_rng_state(self.device))
        self.ensemble = Ensemble(self.members)
        self.speed.prepare_model(self.ensemble.base)
        self.noise = MemberNoise(noise, self.device)
        self.objectives = []
        for c in self.configs:
            objective = c.objective.build(c.model.likelihood, c.model.latent_dim).to(self.device)
            check_stateless(objective, c.objective.kind)
            self.objectives.append(objective)
        self.optimizer = self._adam(self.ensemble.parameters())
        self.data_dims = math.prod(shape)
        self.steps_per_epoch = tc.steps_per_epoch or max(1, len(self.source) // tc.batch_size)
        self.config_json = [c.model_dump_json(by_alias=True) for c in self.configs]
        self.step = 0

    def _adam(self, params: list[torch.Tensor]) -> torch.optim.Adam:
        return self.speed.adam([{"params": params}], lr=self.tc.lr, betas=self.tc.adam_betas, eps=self.tc.adam_eps)

    # ------------------------------------------------------------------ state

    def member(self, k: int) -> torch.nn.Module:
        """Member k as a single model holding its current weights."""
        model = self.members[k]
        model.load_state_dict(self.ensemble.member_state_dict(k))
        return model

    def member_rng(self, k: int) -> dict[str, Any]:
        """The RNG state a single run of member k would save: its noise generator as torch's."""
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
        ens_state = self.optimizer.state_dict()
        for k, run_dir in enumerate(self.run_dirs):
            model = self.member(k)
            optimizer = self._adam(list(model.parameters()))
            optimizer.load_state_dict(member_optimizer_state(ens_state, k))
            save_checkpoint(run_dir, self.step, model, self.objectives[k], optimizer, self.config_json[k],
                            rng=self.member_rng(k))
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
        self.ensemble.load_member_state_dicts([s["model"] for s in states])
        self.optimizer.load_state_dict(stack_optimizer_states([s["optimizer"] for s in states]))
        key = "cuda" if self.device.type == "cuda" else "torch"
        index = self.device.index or 0
        noise = [s["rng"][key][index] if key == "cuda" else s["rng"][key] for s in states]
        self.noise = MemberNoise(noise, self.device)
        self.step = steps[0]

    # ------------------------------------------------------------------ loop

    def run(self, resume: bool) -> None:
        """Train to ``train.steps``, holding every member's training lock throughout (so a member
        whose process died is told apart from one in training)."""
        with contextlib.ExitStack() as locks:
            for run_dir in self.run_dirs:
                locks.enter_context(TrainingLock(run_dir))
            self._run(resume)

    def _run(self, resume: bool) -> None:
        if resume:
            self.load()
        names = [d.name for d in self.run_dirs]
        record = self.speed.record()
        sessions = []
        for k, run_dir in enumerate(self.run_dirs):
            truncate_metrics(run_dir, self.step)
            sessions.append(read_meta(run_dir).get("sessions", []) + [{
                "start": now(), "start_step": self.step, "device": str(self.device),
                "threads": torch.get_num_threads(), "speed": record, "ensemble_size": self.k}])
            write_meta(run_dir, status="running", sessions=sessions[k], device=str(self.device), speed=record,
                       ensemble={"members": names, "index": k})
        for cb in self.callbacks:
            cb.on_start(list(self.run_dirs), self.step, self.tc.steps)
        status = "failed"
        try:
            with StopOnSignal() as stop:
                self._steps(stop)
            status = "finished" if self.step >= self.tc.steps else "interrupted"
            if status == "interrupted":
                raise BetavaeError(
                    f"interrupted at step {self.step}; checkpoints written, continue all {self.k} members with "
                    f"`bvae train --resume {self.run_dirs[0]}`"
                )
        finally:
            for k, run_dir in enumerate(self.run_dirs):
                sessions[k][-1].update(end=now(), end_step=self.step)
                write_meta(run_dir, status=status, sessions=sessions[k], end_time=now(), step=self.step)
            for cb in self.callbacks:
                cb.on_end(status)
        if self.tc.report:
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
        batch, latent = tc.batch_size, self.ensemble.latent_dim
        eps_dtype = self.speed.dtype or torch.float32  # a single run draws ε like μ (autocast dtype)
        prefetch = tc.prefetch if tc.prefetch is not None else (2 if self.device.type == "cuda" else 0)
        streams = [BatchStream(self.source, batch, c.seed, self.step, tc.steps, prefetch) for c in self.configs]
        windows = [Window(self.device) for _ in range(self.k)]
        pending: list[tuple[int, torch.Tensor, list[str]]] = []
        with contextlib.ExitStack() as files:
            handles = [files.enter_context(open(d / METRICS_FILE, "a", encoding="utf-8")) for d in self.run_dirs]
            for xs in zip(*streams, strict=True):
                x = self.speed.batch(torch.stack(xs))  # (K, B, C, H, W)
                hypers = [o.hyper(self.step, self.step // self.steps_per_epoch) for o in self.objectives]
                terms = self.terms(x, self.noise.draw((batch, latent), eps_dtype), hypers)
                self.optimizer.zero_grad(set_to_none=True)
                self.speed.backward(torch.stack([t["loss"] for t in terms]).sum())
                flags = []
                for window, t in zip(windows, terms, strict=True):
                    names, finite = window.add(t, batch)
                    flags.append(finite)
                pending.append((self.step, torch.stack(flags), names))
                if self.device.type == "cpu":
                    self._check_finite(pending)
                self.speed.step(self.optimizer)
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

    def terms(self, x: torch.Tensor, eps: torch.Tensor | None,
              hypers: list[dict[str, float]]) -> list[dict[str, torch.Tensor]]:
        """Every member's loss terms: x (K, B, C, H, W), eps (K, B, D) or None (z = μ).

        One forward of all members (under the plan's autocast); then member k's own objective on
        its slice, in fp32, exactly the code a single run calls.
        """
        with self.speed.autocast():
            outs = self.ensemble(x, eps)
        if self.speed.dtype is not None:
            outs = [to_float32(o) for o in outs]
        return [o(out, x[k], h) for k, (o, out, h) in enumerate(zip(self.objectives, outs, hypers, strict=True))]

    def _log(self, windows: list[Window], hypers: list[dict[str, float]], handles: list, at_end: bool) -> None:
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
            if k == 0:  # the progress bar follows the first member
                for cb in self.callbacks:
                    cb.on_log(row)

    def _check_finite(self, pending: list[tuple[int, torch.Tensor, list[str]]]) -> None:
        """Raise on the first step where a member's terms were not finite (one sync for all)."""
        if not pending:
            return
        flags = torch.stack([f for _, f, _ in pending]).cpu()  # (steps, K, terms)
        if bool(flags.all()):
            pending.clear()
            return
        row, k = (int(v) for v in (~flags.all(2)).nonzero()[0])
        step, _, names = pending[row]
        bad = [n for n, ok in zip(names, flags[row, k].tolist(), strict=True) if not ok]
        raise BetavaeError(
            f"loss term {', '.join(bad)} of member {self.run_dirs[k].name} became NaN/inf at step {step}; the "
            f"ensemble stopped, the last good checkpoints are kept (try a lower train.lr or a smaller β)"
        )


def train_ensemble(configs: Sequence[RunConfig], runs_root: str | Path = "runs",
                   callbacks: Sequence[Callback] = ()) -> list[Path]:
    """Train ``configs`` (e.g. :func:`seed_configs`) as one ensemble; returns the K run folders.

    Everything is checked before any folder is made, so a refusal leaves nothing behind.
    """
    configs = list(configs)
    runs_root = Path(runs_root)
    run_dirs = [runs_root / c.run_id() for c in configs]
    trainer = EnsembleTrainer(configs, run_dirs, callbacks)
    for d in run_dirs:
        if d.exists() and any(d.iterdir()):
            raise BetavaeError(f"run folder {d} already exists and holds files (same config and seed); "
                               f"continue it with `bvae train --resume {d}`, or change the seeds or name")
    for c in configs:
        create_run_dir(c, runs_root)
    for d in run_dirs:
        write_meta(d, status="created")
    trainer.run(resume=False)
    return run_dirs


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
    if all(read_meta(d).get("status") == "finished" for d in run_dirs):
        log.info("the ensemble of %s already finished; nothing to do", run_dir)
        return run_dirs
    trainer = EnsembleTrainer([read_run_config(d) for d in run_dirs], run_dirs, callbacks)
    trainer.run(resume=all((d / STATE_FILE).exists() for d in run_dirs))
    return run_dirs
