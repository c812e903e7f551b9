"""Experiment trackers (``train.trackers``): TensorBoard, MLflow, Weights & Biases, for every task.

:class:`RunTrackers` mirrors one run folder into the trackers its config names; the trainer
(:class:`betavae.experiments.run.Trainer`) holds one per member and hands it each metrics row, each
checkpoint step, and the report's figures at the end. Each tracker is a module here
(``@TRACKERS.register(name)`` on a :class:`~betavae.experiments.trackers.base.Tracker`), found
automatically, its package imported only when a run asks for it.

Resume: ``RUN/trackers.json`` keeps each tracker's run id and the last step it holds for sure
(``logged_through``: the last checkpoint it was flushed at, or for a tracker whose data is durable
only once closed (W&B), the last checkpoint of its last closed session). A resumed session continues the same
tracker run from there: it re-sends the rows of ``metrics.jsonl`` after that step (the trainer has
already cut ``metrics.jsonl`` back to the checkpoint), so every step is logged once. Live trackers
(TensorBoard) log each row at once and discard their rows past ``logged_through`` on resume; the
others get rows when a checkpoint covers them (see docs/trackers.md).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from betavae.experiments.rundir import read_metrics
from betavae.experiments.trackers.base import NOT_SCALARS, Tracker, scalars
from betavae.io import atomic_write_json
from betavae.registry import Registry, import_modules

log = logging.getLogger(__name__)

TRACKERS: Registry[type[Tracker]] = Registry("tracker")
STATE_FILE = "trackers.json"
#: what the report writes that a tracker shows as images
FIGURES = ("*.png", "*.gif")

__all__ = ["NOT_SCALARS", "STATE_FILE", "TRACKERS", "RunTrackers", "Tracker", "require_trackers", "scalars"]


def load_trackers() -> None:
    import_modules(__name__)


def require_trackers(names: Sequence[str]) -> None:
    """Raise the install hint of the first tracker in ``names`` whose package is missing."""
    load_trackers()
    for name in names:
        TRACKERS.get(name).require()


def read_state(run_dir: str | Path) -> dict[str, Any]:
    path = Path(run_dir) / STATE_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


class RunTrackers:
    """The trackers ``names`` of the run folder ``run_dir`` (resolved config ``config``)."""

    def __init__(self, names: Sequence[str], run_dir: Path, config: dict[str, Any]) -> None:
        load_trackers()
        self.run_dir, self.config = Path(run_dir), config
        self.trackers = [TRACKERS.get(name)() for name in names]
        self.state: dict[str, dict[str, Any]] = {}
        self.pending: list[dict[str, Any]] = []
        self.started = False
        self.last_step = self.committed = 0

    def __bool__(self) -> bool:
        return bool(self.trackers)

    def start(self, step: int) -> None:
        """Open or continue every tracker's run at ``step`` (the checkpoint the session starts
        from; ``metrics.jsonl`` already holds no row past it) and catch up on the rows it lacks."""
        if not self.trackers:
            return
        old = read_state(self.run_dir)
        catch_up = read_metrics(self.run_dir)
        for tracker in self.trackers:
            known = old.get(tracker.name, {})
            through = min(int(known.get("logged_through", 0)), step)
            state = tracker.start(self.run_dir, self.config, known.get("run", {}), through + 1,
                                  bool(known.get("open")))
            self.state[tracker.name] = {"run": state, "logged_through": through, "open": True}
            self._write_state()
            for row in catch_up:
                if through < row["step"] <= step:
                    self._send(tracker, row)
        self.started = True
        self.last_step = step
        self.commit(step)

    def log(self, row: dict[str, Any]) -> None:
        """A metrics row, just written to ``metrics.jsonl``."""
        if not self.trackers:
            return
        self.last_step = row["step"]
        for tracker in self.trackers:
            if tracker.live:
                self._send(tracker, row)
        self.pending.append(row)

    def commit(self, step: int) -> None:
        """A checkpoint at ``step`` was written: every tracker now holds the rows up to it."""
        if not self.started:
            return
        for tracker in self.trackers:
            if not tracker.live:
                for row in self.pending:
                    self._send(tracker, row)
            tracker.flush()
            if tracker.flushes:
                self.state[tracker.name]["logged_through"] = step
        self.committed = step
        self.pending.clear()
        self._write_state()

    def images(self, report_dir: Path) -> None:
        """Log the figures under ``report_dir`` (after a finished run's report)."""
        paths = sorted(p for pattern in FIGURES for p in report_dir.rglob(pattern)) if report_dir.is_dir() else []
        if self.started and paths:
            for tracker in self.trackers:
                tracker.images(self.last_step, paths, report_dir)

    def close(self, status: str) -> None:
        """End every tracker's session; rows no checkpoint covers are not sent (a resume sends them)."""
        if not self.started:
            return
        for tracker in self.trackers:
            try:
                tracker.close(status)
            except Exception:  # closing one tracker must not keep the others open
                log.exception("could not close the %s run of %s", tracker.name, self.run_dir)
                continue
            self.state[tracker.name].update(open=False, logged_through=self.committed)
        self._write_state()
        self.started = False

    @staticmethod
    def _send(tracker: Tracker, row: dict[str, Any]) -> None:
        tracker.log(int(row["step"]), scalars(row), row.get("time"))

    def _write_state(self) -> None:
        atomic_write_json(self.run_dir / STATE_FILE, self.state)
