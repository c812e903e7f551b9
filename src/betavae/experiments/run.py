"""A run's life around the training loop: run folders, meta sessions, the training lock, files.

``train(config)`` starts a run folder and trains; ``resume(run_dir)`` continues one from its last
checkpoint. ``train_ensemble(configs)`` trains K configs (seeds, or configs that differ only in
seed and objective) as one ensemble and ``resume_ensemble(run_dir)`` continues the ensemble a
member folder belongs to. All four run :class:`Trainer`, the one loop
(:class:`betavae.train.loop.Loop`) with a run folder per member: each is an ordinary run folder
(``config.yaml``, ``metrics.jsonl``, ``weights.safetensors``, ``state.pt``, ``meta.json``; an
ensemble member's ``meta.json`` also records ``ensemble: {members: [folder names], index: k}``), and
each member's ``state.pt`` is a single run's state, so ``resume(member)`` continues a member alone
and ``resume_ensemble`` stacks them again and continues exactly where they stopped. The scores of
``train.eval_*`` come from the run's evaluator (:mod:`betavae.experiments.evaluators`), and a finished
run's report (``train.report``) from :func:`betavae.report.write_report`. A run that a
``train.stop_when`` condition ended early is ``finished``, with ``stopped: {step, reason}`` in its
``meta.json``.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from betavae.config import RunConfig
from betavae.errors import BetavaeError
from betavae.experiments.evaluators import evaluator_for
from betavae.experiments.load import load_state
from betavae.experiments.lock import TrainingLock
from betavae.experiments.rundir import (
    METRICS_FILE,
    STATE_FILE,
    WEIGHTS_FILE,
    check_new_run_dir,
    create_run_dir,
    now,
    read_meta,
    read_run_config,
    truncate_metrics,
    write_meta,
)
from betavae.experiments.trackers import RunTrackers, require_trackers
from betavae.train.callbacks import Callback
from betavae.train.checkpoint import save_checkpoint
from betavae.train.loop import Loop

log = logging.getLogger(__name__)


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


class Trainer(Loop):
    """The loop (:class:`~betavae.train.loop.Loop`) with run folder ``run_dirs[k]`` for member k.

    ``Trainer(config, run_dir)`` is one run, ``Trainer(configs, run_dirs)`` K members; :meth:`run`
    trains them, writing each member's metrics rows, checkpoints and ``meta.json`` to its folder.
    """

    def __init__(self, configs: RunConfig | Sequence[RunConfig], run_dirs: str | Path | Sequence[Path],
                 callbacks: Sequence[Callback] = ()) -> None:
        first = configs if isinstance(configs, RunConfig) else configs[0]
        require_trackers(first.train.trackers)  # the install hint before anything is built or made
        super().__init__(configs, callbacks)
        self.run_dirs = [Path(run_dirs)] if isinstance(run_dirs, (str, Path)) else [Path(d) for d in run_dirs]
        if len(self.run_dirs) != self.k:
            raise BetavaeError(f"{self.k} configs but {len(self.run_dirs)} run folders")
        self.names = [d.name for d in self.run_dirs]
        self.config_json = [c.model_dump_json(by_alias=True) for c in self.configs]
        #: member k's experiment trackers (train.trackers; empty by default)
        self.trackers = [RunTrackers(self.tc.trackers, d, c.to_dict())
                         for d, c in zip(self.run_dirs, self.configs, strict=True)]

    def kept(self, k: int) -> str:
        return f"the last good checkpoint in {self.run_dirs[k]} is kept"

    def load(self) -> None:
        """Continue from every member's ``state.pt``."""
        states = [load_state(d) for d in self.run_dirs]
        steps = [int(s["step"]) for s in states]
        if len(set(steps)) != 1:
            raise BetavaeError(
                f"ensemble members were checkpointed at different steps ({', '.join(map(str, steps))}), e.g. by "
                "a kill between their checkpoints; continue each alone with betavae.experiments.run.resume(run_dir)"
            )
        self.load_states(states)

    def run(self, resume: bool) -> None:
        """Train to ``train.steps`` (from the checkpoints if ``resume``), holding every member's
        :class:`~betavae.experiments.lock.TrainingLock` throughout (so a dead run is told apart)."""
        with contextlib.ExitStack() as locks:
            for run_dir in self.run_dirs:
                locks.enter_context(TrainingLock(run_dir))
            self._run(resume)

    def _run(self, resume: bool) -> None:
        if resume:
            self.load()
        record = self.speed.record()
        sessions = []
        initial = (self.step == 0 and self.tc.eval_every is not None
                   and evaluator_for(self.configs[0].model.task).at_start)
        for k, run_dir in enumerate(self.run_dirs):
            truncate_metrics(run_dir, -1 if initial else self.step)
            session = {"start": now("milliseconds"), "start_step": self.step, "device": str(self.device),
                       "threads": torch.get_num_threads(), "speed": record}
            extra = {}
            if self.k > 1:
                session["ensemble_size"] = self.k
                extra["ensemble"] = {"members": list(self.names), "index": k}
            sessions.append(read_meta(run_dir).get("sessions", []) + [session])
            write_meta(run_dir, status="running", sessions=sessions[k], device=str(self.device), speed=record,
                       **extra)
        self.status = "failed"
        try:
            for trackers in self.trackers:
                trackers.start(self.step)
            self._fit(sessions, initial)
            if self.tc.report and any(self.trackers):
                from betavae.report.build import REPORT_DIR

                for trackers, run_dir in zip(self.trackers, self.run_dirs, strict=True):
                    trackers.images(run_dir / REPORT_DIR)
        finally:
            for trackers in self.trackers:
                trackers.close(self.status)

    def _fit(self, sessions: list[list[dict[str, Any]]], initial: bool) -> None:
        """Train, keeping every member's metrics, meta and trackers up to date; then the reports.
        ``initial``: first a row at step 0 with the evaluator's scores of the untrained members."""
        tc = self.tc
        for cb in self.callbacks:
            cb.on_start(self.run_dirs[0] if self.k == 1 else list(self.run_dirs), self.step, self.total_steps)
        status = "failed"
        try:
            with contextlib.ExitStack() as files:
                handles = [files.enter_context(open(d / METRICS_FILE, "a", encoding="utf-8")) for d in self.run_dirs]

                def write_row(k: int, row: dict[str, Any]) -> None:
                    handles[k].write(json.dumps(row, allow_nan=True) + "\n")
                    handles[k].flush()
                    self.trackers[k].log(row)

                if initial:  # the evaluator scores the untrained model too: a row at step 0
                    for k in range(self.k):
                        write_row(k, {"step": 0, "epoch": 0, **self._evaluate(self.task.member(k))})

                self.fit(write_row, self._save, self._evaluate)
            status = "finished" if self.step >= self.total_steps or self.stopped else "interrupted"
            if status == "interrupted":
                members = f" (continues all {self.k} members)" if self.k > 1 else ""
                raise BetavaeError(
                    f"interrupted at step {self.step}; checkpoint written, continue with "
                    f"`bvae train --resume {self.run_dirs[0]}`{members}"
                )
        finally:
            for k, run_dir in enumerate(self.run_dirs):
                sessions[k][-1].update(end=now("milliseconds"), end_step=self.step)
                stopped = {"stopped": self.stopped} if self.stopped else {}
                write_meta(run_dir, status=status, sessions=sessions[k], end_time=now("milliseconds"), step=self.step, **stopped)
            self.status = status
            for cb in self.callbacks:
                cb.on_end(status)
        if tc.report:
            self.write_reports()

    def _save(self, k: int, state: dict[str, Any]) -> None:
        save_checkpoint(self.run_dirs[k] / STATE_FILE, self.run_dirs[k] / WEIGHTS_FILE, state, self.config_json[k])
        self.trackers[k].commit(int(state["step"]))  # after the checkpoint: a resume starts from it

    def _evaluate(self, model: torch.nn.Module) -> dict[str, float]:
        """A member's ``train.eval_metrics`` scores (own seeded generators: training RNG untouched)."""
        return evaluator_for(self.configs[0].model.task).during(model, self.task, self.tc)

    def write_reports(self) -> None:
        """Refresh each member's report; a report never fails a finished run."""
        from betavae.report import write_report

        for run_dir in self.run_dirs:
            try:
                write_report(run_dir, device=str(self.device))
            except Exception:
                log.exception("could not write the report of %s", run_dir)
