"""Directory locks for sweeps (``fcntl.flock``, Linux and macOS).

``SweepLock(sweep_dir)`` keeps a second sweep driver off a sweep directory: it refuses with a
message naming the holder (host, pid, start time). ``run_lock(path)`` serialises the work on one
run across processes, so a run is never trained by two workers at once (e.g. an orphaned worker
of a killed driver and the worker of its restarted successor).

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
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from betavae.errors import BetavaeError

LOCK_FILE = ".sweep.lock"


class SweepLock:
    """Exclusive, non-blocking lock on ``sweep_dir/.sweep.lock``; use as a context manager."""

    def __init__(self, sweep_dir: str | Path) -> None:
        self.path = Path(sweep_dir) / LOCK_FILE
        self._fh: IO[str] | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 (held until release)
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = _parse(fh.read())
            fh.close()
            raise BetavaeError(
                f"sweep directory {self.path.parent} is in use by another sweep driver "
                f"(host {holder.get('host', '?')}, pid {holder.get('pid', '?')}, since "
                f"{holder.get('since', '?')}); wait for it to finish or stop it, then run the sweep "
                f"again (finished runs are skipped)"
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(json.dumps({"host": socket.gethostname(), "pid": os.getpid(),
                             "since": time.strftime("%Y-%m-%dT%H:%M:%S%z")}))
        fh.flush()
        self._fh = fh

    def release(self) -> None:
        if self._fh is not None:
            fcntl.flock(self._fh.fileno(), fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None

    def __enter__(self) -> SweepLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


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
