"""Local executor: a fixed pool of worker processes on this machine.

Each worker is a ``spawn``-ed process that sets its torch threads once and then runs tasks sent
over a pipe, one at a time. The driver waits on every worker's pipe and process sentinel: a result
hands the worker its next task; a worker that dies (killed, out of memory) is replaced, and its
task is started again (it resumes from the run's last checkpoint) up to ``max_retries`` times.
Workers ask the kernel to kill them when the driver dies (Linux ``PR_SET_PDEATHSIG``), so a killed
driver leaves no orphan training a run that its successor will resume. (The signal follows the
*thread* that started a worker: workers started from a thread that has ended are replaced.)
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import signal
from collections import deque
from collections.abc import Sequence
from multiprocessing.connection import Connection, wait
from typing import Any

from betavae.experiments.executors.base import Executor, OnResult, RunTask, crashed_record, run_task

log = logging.getLogger(__name__)


def _die_with_parent() -> None:
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: orphans finish their task, then see EOF
        pass


def _worker_main(conn: Connection) -> None:
    """Loop of one worker process: receive a task, send its record; ``None`` ends it."""
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the driver decides what Ctrl-C does
    while True:
        try:
            task = conn.recv()
        except EOFError:
            return
        if task is None:
            return
        conn.send(run_task(task))


class _Worker:
    def __init__(self, ctx: Any) -> None:
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker_main, args=(child,), daemon=True)
        self.proc.start()
        child.close()
        self.task: RunTask | None = None
        self.attempt = 0

    def send(self, task: RunTask, attempt: int) -> None:
        self.task, self.attempt = task, attempt
        self.conn.send(task)

    def ask_to_stop(self) -> None:
        """Idle: end the loop. Busy: SIGTERM, so the run checkpoints at the next step and stops."""
        if self.proc.is_alive():
            try:
                if self.task is None:
                    self.conn.send(None)
                else:
                    self.proc.terminate()
            except OSError:
                pass

    def stop(self, timeout: float = 30.0) -> None:
        self.ask_to_stop()
        self.proc.join(timeout)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join()
        self.conn.close()


class LocalExecutor(Executor):
    """A process pool of ``workers`` processes with ``threads`` torch threads each.

    The pool starts with the first :meth:`run` and lives until :meth:`close` (or the ``with``
    block ends), so several sweeps on one executor pay the start-up (imports) once.
    """

    name = "local"

    def __init__(self, workers: int | None = None, threads: int | None = None, max_retries: int = 2) -> None:
        super().__init__(workers, threads, max_retries)
        self._ctx = mp.get_context("spawn")
        self._pool: list[_Worker] = []  # started on first use, kept until close()

    def run(self, tasks: Sequence[RunTask], on_result: OnResult | None = None) -> list[dict[str, Any]]:
        ctx = self._ctx
        queue: deque[tuple[RunTask, int]] = deque((t, 0) for t in tasks)
        for w in [w for w in self._pool if not w.proc.is_alive()]:  # e.g. its spawning thread ended
            w.stop()
            self._pool.remove(w)
        pool = self._pool
        pool += [_Worker(ctx) for _ in range(min(self.workers, len(tasks)) - len(pool))]
        records: list[dict[str, Any]] = []

        def done(record: dict[str, Any]) -> None:
            records.append(record)
            if on_result is not None:
                on_result(record)

        try:
            while queue or any(w.task is not None for w in pool):
                for w in pool:
                    if w.task is None and queue:
                        w.send(*queue.popleft())
                busy = [w for w in pool if w.task is not None]
                ready = wait([w.conn for w in busy] + [w.proc.sentinel for w in busy])
                for i, w in enumerate(pool):
                    if w.task is None or (w.conn not in ready and w.proc.sentinel not in ready):
                        continue
                    record = _receive(w)
                    if record is not None:
                        record["attempts"] = w.attempt + 1
                        w.task = None
                        done(record)
                        continue
                    task, attempt = w.task, w.attempt + 1
                    w.task = None
                    w.stop()
                    pool[i] = _Worker(ctx)
                    if attempt <= self.max_retries:
                        log.warning("worker of %s died (exit %s); retry %d", task.label, w.proc.exitcode, attempt)
                        queue.appendleft((task, attempt))
                    else:
                        done(crashed_record(task, f"worker process died {attempt} times "
                                                  f"(last exit code {w.proc.exitcode})"))
        except BaseException:  # Ctrl-C or a driver error: stop the workers (busy ones checkpoint)
            self.close()
            raise
        return records

    def close(self) -> None:
        for w in self._pool:
            w.ask_to_stop()
        for w in self._pool:
            w.stop()
        self._pool.clear()


def _receive(w: _Worker) -> dict[str, Any] | None:
    """The record a worker sent, or None when it died without sending one."""
    try:
        if w.conn.poll():
            return w.conn.recv()
    except (EOFError, OSError):
        pass
    return None
