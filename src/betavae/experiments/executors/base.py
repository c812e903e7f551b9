"""The executor interface, the unit of work (:class:`RunTask`) and the worker function.

An executor takes a list of tasks and returns one small JSON-able record per task. Whatever it
runs on (a local process pool, a Ray cluster), each task calls :func:`run_task`, which trains a new
run or resumes a partial one from its checkpoint, evaluates it (``eval.json``) and writes its
report. Everything a task produces goes to the run folder, so the driver's aggregate is built
from files, and a record only carries what the driver reports (status, action, seconds, error).
"""

from __future__ import annotations

import os
import socket
import time
import traceback
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from betavae.io import atomic_write_json

ERROR_FILE = "error.json"
LOCKS_DIR = ".locks"
OnResult = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class RunTask:
    """One run to bring to completion, or several trained together as one ensemble.

    ``config`` is the resolved config (``RunConfig.to_dict()``) of run ``run_id``; ``others`` are
    further ``(run_id, config)`` members (same config but seed and objective) trained with it in
    one process as one batched model (a sweep's ``ensemble``). ``run_id`` names the task in records.
    ``progress_every``: seconds between the training's progress lines on the worker's stderr
    (:class:`~betavae.train.callbacks.ProgressLines`; None: none).
    """

    run_id: str
    config: dict[str, Any]
    runs_dir: str
    evaluate: dict[str, Any] | None = None
    report: bool = False
    threads: int = 1
    others: tuple[tuple[str, dict[str, Any]], ...] = ()
    progress_every: float | None = None

    @property
    def run_dir(self) -> Path:
        return Path(self.runs_dir) / self.run_id

    @property
    def members(self) -> list[tuple[str, dict[str, Any]]]:
        return [(self.run_id, self.config), *self.others]

    @property
    def run_dirs(self) -> list[Path]:
        return [Path(self.runs_dir) / run_id for run_id, _ in self.members]

    @property
    def label(self) -> str:
        return self.run_id + (f" (+{len(self.others)} trained with it)" if self.others else "")


def usable_cores() -> int:
    """Cores this process may run on (affinity-aware)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS
        return os.cpu_count() or 1


def default_layout(cores: int | None = None) -> tuple[int, int]:
    """(workers, threads per worker) for a sweep of small models: one single-threaded worker per
    core. Measured fastest on 2 cores by bench/bench_sweep.py (see docs/sweeps.md)."""
    return max(1, cores or usable_cores()), 1


def work_needed(run_dir: Path, evaluate: bool, report: bool) -> str:
    """What a run folder still needs: ``train`` (no folder), ``resume`` (not finished),
    ``failed`` (raised an error; see error.json), ``evaluate``/``report`` or ``nothing``."""
    from betavae.experiments.rundir import CONFIG_FILE, read_meta
    from betavae.io import is_partial_write

    if not (run_dir / CONFIG_FILE).is_file():
        if _error_status(run_dir) == "failed":
            return "failed"  # it failed before its first file (its data could not be built, say)
        started = run_dir.exists() and any(p.name != ERROR_FILE and not is_partial_write(p) for p in run_dir.iterdir())
        return "resume" if started else "train"
    status = read_meta(run_dir).get("status")
    if status != "finished" and _error_status(run_dir) == "failed":
        return "failed"
    if status != "finished":
        return "resume"
    if evaluate and not (run_dir / "eval.json").is_file():
        return "evaluate"
    if report and not (run_dir / "report.html").is_file():
        return "report"
    return "nothing"


def _error_status(run_dir: Path) -> str | None:
    import json

    try:
        return json.loads((run_dir / ERROR_FILE).read_text(encoding="utf-8")).get("status")
    except (OSError, ValueError, AttributeError):
        return None


def set_threads(threads: int) -> None:
    """Torch intra-op threads of this worker process (inter-op threads: 1, when still possible)."""
    import torch

    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set, or parallel work has started in this process
        pass


def run_task(task: RunTask) -> dict[str, Any]:
    """Train or resume, evaluate and report a task's runs; never raises for a run's own error.

    A run's exception is written to ``<run>/error.json`` of every member (message and traceback)
    and returned in the record with status ``failed`` (``interrupted`` when a signal stopped it at
    a checkpoint). Per-run locks make a second process wait rather than train the same run at the
    same time.
    """
    import contextlib

    from betavae.experiments.lock import run_lock

    t0 = time.perf_counter()
    set_threads(task.threads)
    record: dict[str, Any] = {"run_id": task.run_id, "host": socket.gethostname(), "pid": os.getpid(),
                              "threads": task.threads, "action": None, "status": None, "error": None}
    if task.others:
        record["members"] = [run_id for run_id, _ in task.members]
    with contextlib.ExitStack() as locks:
        for run_id in sorted(run_id for run_id, _ in task.members):  # one order: no deadlock
            locks.enter_context(run_lock(Path(task.runs_dir) / LOCKS_DIR / f"{run_id}.lock"))
        try:
            record["action"] = _complete(task)
            record["status"] = "finished"
            for run_dir in task.run_dirs:
                (run_dir / ERROR_FILE).unlink(missing_ok=True)
        except Exception as exc:
            from betavae.experiments.rundir import read_meta

            status = read_meta(task.run_dir).get("status")
            record["status"] = "interrupted" if status == "interrupted" else "failed"
            record["error"] = f"{type(exc).__name__}: {exc}"
            for run_dir in task.run_dirs:
                write_error(run_dir, record["error"], traceback.format_exc(), record["status"])
    record["seconds"] = time.perf_counter() - t0
    return record


def _complete(task: RunTask) -> str:
    """Do what the task's run folders still need; returns what was done first (for the record).

    Members that all start afresh train as one ensemble, and members that all stopped at a common
    checkpoint of their ensemble continue as one; any other mix (a member finished, another
    never started) brings each member to completion alone.
    """
    from betavae.config import build_config
    from betavae.experiments.run import resume, resume_ensemble, train, train_ensemble
    from betavae.experiments.rundir import CONFIG_FILE, read_meta

    needs = []
    for run_dir in task.run_dirs:
        need = work_needed(run_dir, task.evaluate is not None, task.report)
        if need in ("train", "failed") and not (run_dir / CONFIG_FILE).is_file():
            (run_dir / ERROR_FILE).unlink(missing_ok=True)  # it failed before it started: start afresh
            need = "train"
        needs.append(need)
    configs = [build_config(config, source=run_id) for run_id, config in task.members]
    members = [run_id for run_id, _ in task.members]
    shown = []
    if task.progress_every is not None:
        from betavae.train.callbacks import ProgressLines, stderr_lines

        shown = [ProgressLines(stderr_lines(task.label), task.progress_every)]
    if len(members) > 1 and all(n == "train" for n in needs):
        train_ensemble(configs, task.runs_dir, shown)
    elif (len(members) > 1 and all(n in ("resume", "failed") for n in needs)
          and all((read_meta(d).get("ensemble") or {}).get("members") == members for d in task.run_dirs)
          and len(set(_checkpoint_steps(task.run_dirs))) == 1):
        resume_ensemble(task.run_dir, shown)
    else:
        for config, run_dir, need in zip(configs, task.run_dirs, needs, strict=True):
            if need == "train":
                train(config, task.runs_dir, shown)
            elif need in ("resume", "failed"):
                resume(run_dir, shown)
    for run_dir, need in zip(task.run_dirs, needs, strict=True):
        if task.evaluate is not None and (need not in ("nothing", "report") or not (run_dir / "eval.json").is_file()):
            from betavae.experiments.evaluators import evaluator_for

            evaluator_for(configs[0].model.task).after(run_dir, task.evaluate)
        if task.report and (need != "nothing" or not (run_dir / "report.html").is_file()):
            from betavae.report import write_report

            write_report(run_dir)
    return needs[0]


def _checkpoint_steps(run_dirs: list[Path]) -> list[int | None]:
    """The step of each run's checkpoint (None: none yet). A kill between two members' saves
    leaves them at different steps; such an ensemble cannot continue as one."""
    from betavae.experiments.rundir import STATE_FILE
    from betavae.train.checkpoint import read_state

    return [int(read_state(d / STATE_FILE)["step"]) if (d / STATE_FILE).is_file() else None for d in run_dirs]


def write_error(run_dir: Path, error: str, trace: str | None, status: str) -> None:
    """Record a run's failure beside its files (the aggregate reads it); a run that failed
    before writing anything gets a folder holding only this record."""
    atomic_write_json(run_dir / ERROR_FILE, {"status": status, "error": error, "traceback": trace,
                                             "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")})


class Executor(ABC):
    """Runs :class:`RunTask` s; ``workers`` run at once with ``threads`` torch threads each."""

    name = "executor"

    def __init__(self, workers: int | None = None, threads: int | None = None, max_retries: int = 2) -> None:
        default_workers, default_threads = default_layout()
        self.workers = workers or default_workers
        self.threads = threads or default_threads
        self.max_retries = max_retries

    @abstractmethod
    def run(self, tasks: Sequence[RunTask], on_result: OnResult | None = None) -> list[dict[str, Any]]:
        """Run every task; returns one record per task (in completion order).

        A task whose worker process dies is started again up to ``max_retries`` times (it resumes
        from its checkpoint); after that its record has status ``crashed``.
        """

    def close(self) -> None:  # noqa: B027 (optional hook)
        """Release what the executor started (processes, a Ray instance)."""

    def describe(self) -> str:
        return f"{self.name} executor, {self.workers} worker(s) × {self.threads} thread(s)"

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def crashed_record(task: RunTask, error: str) -> dict[str, Any]:
    """The record of a task whose worker died more often than retries allow."""
    for run_dir in task.run_dirs:
        write_error(run_dir, error, None, "crashed")
    return {"run_id": task.run_id, "host": socket.gethostname(), "pid": None, "threads": task.threads,
            "action": None, "status": "crashed", "error": error, "seconds": None}
