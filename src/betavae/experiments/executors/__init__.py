"""Executors that run a sweep's runs: ``local`` (process pool) and ``ray`` (Ray core tasks).

Both implement :class:`Executor`; only :mod:`.ray` imports ray, and only when it is used.
"""

from __future__ import annotations

from typing import Any

from betavae.errors import BetavaeError
from betavae.experiments.executors.base import (
    Executor,
    RunTask,
    default_layout,
    run_task,
    usable_cores,
    work_needed,
)
from betavae.experiments.executors.local import LocalExecutor

EXECUTORS = ("local", "ray")

__all__ = ["EXECUTORS", "Executor", "LocalExecutor", "RunTask", "default_layout", "make_executor",
           "run_task", "usable_cores", "work_needed"]


def make_executor(kind: str, workers: int | None = None, threads: int | None = None,
                  max_retries: int = 2, **options: Any) -> Executor:
    """``make_executor("local" | "ray", workers, threads, max_retries, **options)``.

    options: for ``ray``, ``address``, ``gpus_per_run`` and extra ``ray.init`` arguments.
    """
    if kind == "local":
        if options:
            raise BetavaeError(f"the local executor takes no {', '.join(options)} option")
        return LocalExecutor(workers, threads, max_retries)
    if kind == "ray":
        from betavae.experiments.executors.ray import RayExecutor

        return RayExecutor(workers, threads, max_retries, **options)
    raise BetavaeError(f"unknown executor {kind!r}; choose from {', '.join(EXECUTORS)}")
