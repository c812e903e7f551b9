"""Directory locks for sweeps and runs (``fcntl.flock``, Linux and macOS).

``SweepLock(sweep_dir)`` keeps a second sweep driver off a sweep directory: it refuses with a
message naming the holder (host, pid, start time). ``run_lock(path)`` serialises the work on one
run across processes, so a run is never trained by two workers at once (e.g. an orphaned worker
of a killed driver and the worker of its restarted successor). ``TrainingLock(run_dir)`` is held
by the process that trains a run, so ``is_training(run_dir)`` tells a live run from a dead one.

Stale-lock rule: an ``flock`` belongs to an open file, and the kernel drops it when the holding
process dies, however it dies. A lock file left behind by a dead driver is therefore never held,
and the next driver takes it at once; its contents (host, pid, time) are only informational.
Lock files on a shared file system work where the file system supports ``flock`` (NFSv4, Lustre
with ``flock`` mounts); on one that does not, run one driver per sweep directory.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from betavae.errors import BetavaeError

LOCK_FILE = ".sweep.lock"
TRAINING_LOCK_FILE = ".training.lock"


def _acquire(path: Path, refusal: Callable[[dict[str, Any]], str], tries: int = 1) -> IO[str]:
    """Open ``path`` and take an exclusive, non-blocking flock on it, recording this process as
    the holder; after ``tries`` attempts 0.05 s apart, raise ``BetavaeError(refusal(holder))``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fh = open(path, "a+", encoding="utf-8")  # noqa: SIM115 (held until release)
    for attempt in range(tries):
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if attempt == tries - 1:
                fh.seek(0)
                holder = _parse(fh.read())
                fh.close()
                raise BetavaeError(refusal(holder)) from None
            time.sleep(0.05)
    fh.seek(0)
    fh.truncate()
    fh.write(json.dumps({"host": socket.gethostname(), "pid": os.getpid(),
                         "since": time.strftime("%Y-%m-%dT%H:%M:%S%z")}))
    fh.flush()
    return fh


def _release(fh: IO[str] | None) -> None:
    if fh is not None:
        fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
        fh.close()


def _holder(holder: dict[str, Any]) -> str:
    return f"host {holder.get('host', '?')}, pid {holder.get('pid', '?')}, since {holder.get('since', '?')}"


class SweepLock:
    """Exclusive, non-blocking lock on ``sweep_dir/.sweep.lock``; use as a context manager."""

    def __init__(self, sweep_dir: str | Path) -> None:
        self.path = Path(sweep_dir) / LOCK_FILE
        self._fh: IO[str] | None = None

    def acquire(self) -> None:
        self._fh = _acquire(self.path, lambda holder: (
            f"sweep directory {self.path.parent} is in use by another sweep driver ({_holder(holder)}); "
            f"wait for it to finish or stop it, then run the sweep again (finished runs are skipped)"))

    def release(self) -> None:
        _release(self._fh)
        self._fh = None

    def __enter__(self) -> SweepLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class TrainingLock:
    """Held by the process that trains a run, for as long as it trains (``run_dir/.training.lock``).

    The kernel drops the lock when that process dies, however it dies, so :func:`is_training`
    tells a live run from one whose ``meta.json`` still says ``running`` after a ``kill -9``. A
    second process that would train the same folder at the same time is refused.
    """

    def __init__(self, run_dir: str | Path) -> None:
        self.path = Path(run_dir) / TRAINING_LOCK_FILE
        self._fh: IO[str] | None = None

    def __enter__(self) -> TrainingLock:
        # a few tries: is_training() may hold a shared lock for a moment
        self._fh = _acquire(self.path, lambda holder: (
            f"run folder {self.path.parent} is being trained by another process ({_holder(holder)}); "
            f"wait for it to finish or stop it"), tries=20)
        return self

    def __exit__(self, *exc: object) -> None:
        _release(self._fh)
        self._fh = None


def is_training(run_dir: str | Path) -> bool:
    """Whether a live process holds the run's :class:`TrainingLock` (False if none ever did)."""
    path = Path(run_dir) / TRAINING_LOCK_FILE
    try:
        fh = open(path, encoding="utf-8")  # noqa: SIM115 (closed below)
    except OSError:
        return False
    with fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
        return False


@contextmanager
def run_lock(path: str | Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if missing), waiting for another holder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _parse(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}
