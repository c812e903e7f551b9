"""Ray executor: each run is a Ray core task (the only module that imports ray, lazily).

``ray.remote(num_cpus=threads, num_gpus=gpus_per_run, max_retries=...)`` tasks call the same
:func:`~betavae.experiments.executors.base.run_task` as the local executor. Ray restarts a task
whose worker process died (``max_retries``); the restarted task resumes the run from its
checkpoint. A run's own exception never reaches Ray (it is recorded as ``failed``), so only
system failures are retried. Run folders must be on a file system every node sees (``--runs-dir``).

Without ``address`` a new local Ray instance is started (``address="local"``, so neither a
``ray_current_cluster`` file left by an earlier ``ray start`` nor ``RAY_ADDRESS`` redirects it)
with ``workers × threads`` CPUs and no dashboard, under Ray's default temp dir
(``$RAY_TMPDIR``, else ``$TMPDIR``, else ``/tmp``, + ``/ray``; created if missing), and shut down
afterwards. With ``address`` (``auto``, ``HOST:PORT`` or ``ray://...``) the driver joins that
cluster; a cluster that cannot be found or reached is a one-line :class:`BetavaeError`. See
docs/sweeps.md for the loopback-only test setup.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from betavae.errors import BetavaeError
from betavae.experiments.executors.base import Executor, OnResult, RunTask, crashed_record, run_task

log = logging.getLogger(__name__)


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise BetavaeError(
            "the Ray executor needs Ray: pip install 'betavae[ray]' (or use --executor local)"
        ) from None
    return ray


class RayExecutor(Executor):
    """Ray core tasks; ``workers`` bounds tasks in flight, ``threads`` is each task's ``num_cpus``.

    gpus_per_run: fractional GPU per task (e.g. 0.25 packs four small VAEs on one GPU; 0 on CPUs).
    init_kwargs: extra ``ray.init`` arguments (e.g. ``_temp_dir``).
    """

    name = "ray"

    def __init__(self, workers: int | None = None, threads: int | None = None, max_retries: int = 2,
                 address: str | None = None, gpus_per_run: float = 0.0, **init_kwargs: Any) -> None:
        super().__init__(workers, threads, max_retries)
        self.address, self.gpus_per_run, self.init_kwargs = address, gpus_per_run, init_kwargs
        self._started = False
        self._workers_given = workers is not None

    def connect(self) -> Any:
        """Start or join Ray (done by :meth:`run` when needed); returns the ray module."""
        ray = import_ray()
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                                      "logging_level": logging.WARNING, **self.init_kwargs}
            try:
                if self.address:
                    ray.init(address=self.address, **kwargs)
                else:  # "local": never join the cluster an earlier `ray start` left in ray_current_cluster
                    ray.init(address="local", num_cpus=self.workers * self.threads, **kwargs)
            except ConnectionError as exc:
                raise BetavaeError(
                    f"cannot join the Ray cluster at {self.address!r}: {str(exc).splitlines()[0]} "
                    "(start one with `ray start --head`, or leave out --address for a local Ray)"
                ) from None
            except OSError as exc:
                if "AF_UNIX" not in str(exc):
                    raise
                raise BetavaeError(
                    f"Ray's socket paths under its temp folder are too long ({exc}); "
                    "set RAY_TMPDIR to a short folder, e.g. RAY_TMPDIR=/tmp"
                ) from None
            self._started = True
        if self.address and not self._workers_given:  # as many tasks in flight as the cluster fits
            self.workers = max(1, int(ray.cluster_resources().get("CPU", 1) // self.threads))
        return ray

    def run(self, tasks: Sequence[RunTask], on_result: OnResult | None = None) -> list[dict[str, Any]]:
        ray = self.connect()
        remote = ray.remote(run_task).options(
            num_cpus=self.threads, num_gpus=self.gpus_per_run, max_retries=self.max_retries,
            retry_exceptions=False,
        )
        pending = list(tasks)
        in_flight: dict[Any, RunTask] = {}
        records: list[dict[str, Any]] = []
        while pending or in_flight:
            while pending and len(in_flight) < self.workers:
                task = pending.pop(0)
                in_flight[remote.remote(task)] = task
            ready, _ = ray.wait(list(in_flight), num_returns=1)
            for ref in ready:
                task = in_flight.pop(ref)
                try:
                    record = ray.get(ref)
                except ray.exceptions.RayError as exc:  # retries exhausted (worker or node died)
                    record = crashed_record(task, f"{type(exc).__name__}: {str(exc).splitlines()[0]}")
                records.append(record)
                if on_result is not None:
                    on_result(record)
        return records

    def close(self) -> None:
        if self._started:
            import_ray().shutdown()
            self._started = False
