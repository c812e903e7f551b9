"""Cost-balanced parallel execution of independent metric tasks.

The heavy tasks are DCI's per-factor gradient-boosted classifiers. Tasks are partitioned over
``n_jobs`` worker threads to minimise the estimated makespan (exhaustively for the largest
tasks, greedily for the rest) and an idle worker steals not-yet-started tasks from the
busiest queue, so a wrong cost estimate costs little. A task marked ``remote`` (a picklable
``fn``) can run in a process instead (``backend="processes"``): its worker thread
hands it to a reusable process pool (joblib's loky) and waits without holding the GIL.
Threads suit large data (sklearn's tree builder releases the GIL); processes also scale the
Python-bound parts, at a start-up cost of about a second for the first call. Every task
carries its own seed, so results are identical to the sequential path whatever the schedule.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

from threadpoolctl import threadpool_limits

from betavae.errors import BetavaeError

_EXACT_LIMIT = 20_000  # most assignments tried by the exhaustive partition


Backend = Literal["threads", "processes"]


@dataclass
class Task:
    """One independent unit of work: ``fn()`` with an estimated cost (seconds, relative).

    ``remote=True`` marks a picklable ``fn`` (e.g. a ``functools.partial`` of a module-level
    function) that may run in another process.
    """

    key: str
    fn: Callable[[], Any]
    cost: float
    remote: bool = False


def resolve_n_jobs(n_jobs: int | None) -> int:
    """``None`` or ``-1``: all usable cores; otherwise a positive count."""
    if n_jobs is None or n_jobs == -1:
        try:
            return max(1, len(os.sched_getaffinity(0)))
        except AttributeError:  # pragma: no cover - not Linux
            return max(1, os.cpu_count() or 1)
    if not isinstance(n_jobs, int) or n_jobs < 1:
        raise BetavaeError(f"n_jobs must be a positive int, -1 or None, got {n_jobs!r}")
    return n_jobs


def partition(costs: Sequence[float], n_workers: int) -> list[list[int]]:
    """Assign task indices to workers minimising the largest summed cost.

    The largest tasks (as many as ``n_workers ** m <= 20000`` allows) are placed by exhaustive
    search; the rest greedily on the least loaded worker (LPT). Each worker's list is in
    decreasing cost order.
    """
    order = sorted(range(len(costs)), key=lambda i: -costs[i])
    m = 0
    while m < len(order) and n_workers ** (m + 1) <= _EXACT_LIMIT:
        m += 1
    big, rest = order[:m], order[m:]
    best: tuple[float, tuple[int, ...]] = (float("inf"), ())
    if big:
        # the first task goes to worker 0 (workers are interchangeable)
        for combo in itertools.product(range(n_workers), repeat=len(big) - 1):
            loads = [0.0] * n_workers
            for i, w in zip(big, (0, *combo), strict=True):
                loads[w] += costs[i]
            span = max(loads)
            if span < best[0]:
                best = (span, (0, *combo))
    bins: list[list[int]] = [[] for _ in range(n_workers)]
    loads = [0.0] * n_workers
    for i, w in zip(big, best[1], strict=True):
        bins[w].append(i)
        loads[w] += costs[i]
    for i in rest:
        w = min(range(n_workers), key=loads.__getitem__)
        bins[w].append(i)
        loads[w] += costs[i]
    return bins


def _process_pool(workers: int) -> Any:
    from joblib.externals.loky import get_reusable_executor

    return get_reusable_executor(max_workers=workers)


def run_tasks(
    tasks: Sequence[Task], n_jobs: int | None = 1, backend: Backend = "threads"
) -> tuple[dict[str, Any], dict[str, float]]:
    """Run the tasks, sequentially (``n_jobs=1``) or balanced over ``n_jobs`` workers.

    Returns ``(results, seconds)`` keyed by ``Task.key``. BLAS and OpenMP pools run on one
    thread: no value then depends on the core count, the workers do not oversubscribe the
    cores, and OpenMP's spinning threads cannot stall on a busy machine (histogram boosting
    on two OpenMP threads ran 4x slower than on one when another job held a core).
    """
    if backend not in ("threads", "processes"):
        raise BetavaeError(f"backend must be 'threads' or 'processes', got {backend!r}")
    workers = min(resolve_n_jobs(n_jobs), max(1, len(tasks)))
    results: dict[str, Any] = {}
    seconds: dict[str, float] = {}
    pool = _process_pool(workers) if workers > 1 and backend == "processes" else None

    def run(task: Task) -> None:
        start = time.perf_counter()
        if pool is not None and task.remote:
            results[task.key] = pool.submit(task.fn).result()
        else:
            results[task.key] = task.fn()
        seconds[task.key] = time.perf_counter() - start

    if workers == 1:
        with threadpool_limits(limits=1):
            for task in sorted(tasks, key=lambda t: -t.cost):
                run(task)
        return results, seconds

    queues = [deque(b) for b in partition([t.cost for t in tasks], workers)]
    lock = threading.Lock()

    def next_task(w: int) -> Task | None:
        with lock:
            if queues[w]:
                return tasks[queues[w].popleft()]
            victim = max(range(workers), key=lambda v: sum(tasks[i].cost for i in queues[v]))
            if queues[victim]:
                return tasks[queues[victim].pop()]  # steal the victim's smallest pending task
            return None

    def worker(w: int) -> None:
        while (task := next_task(w)) is not None:
            run(task)

    with threadpool_limits(limits=1), ThreadPoolExecutor(workers) as threads:
        futures = [threads.submit(worker, w) for w in range(workers)]
        for future in futures:
            future.result()
    return results, seconds
