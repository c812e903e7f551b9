"""Run a sweep: plan (skip / resume / retry by run id), execute, aggregate, index.

``run_sweep(sweep, executor, runs_dir)`` holds the sweep directory's lock, asks each run folder
what it still needs (:func:`~betavae.experiments.executors.base.work_needed`), hands the rest to
the executor, then writes ``sweep.csv`` and ``sweep.json`` (one row per run of this sweep) and the
index report. Finished runs are skipped; partial ones (killed worker or driver, Ctrl-C) resume from
their last checkpoint; runs that failed with an error are reported, not rerun, unless
``retry_failed`` (a rerun with the same config and seed usually fails the same way).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from betavae.experiments.executors.base import ERROR_FILE, Executor, RunTask, work_needed
from betavae.experiments.lock import SweepLock
from betavae.experiments.sweep import PlannedRun, Sweep
from betavae.io import atomic_write_json, atomic_write_text

log = logging.getLogger(__name__)
AGGREGATE_CSV = "sweep.csv"
AGGREGATE_JSON = "sweep.json"
FIXED_COLUMNS = ["run_id", "status", "stopped", "seed", "step", "loss", "recon", "kl", "wall_seconds"]


@dataclass
class SweepOutcome:
    """What one invocation did: counts by action, the records, the table and where it went."""

    runs_dir: Path
    total: int
    counts: Counter[str] = field(default_factory=Counter)
    records: list[dict[str, Any]] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)
    wall_seconds: float = 0.0
    index: Path | None = None

    @property
    def statuses(self) -> Counter[str]:
        return Counter(r["status"] for r in self.rows)


def run_sweep(sweep: Sweep, executor: Executor, runs_dir: str | Path | None = None,
              retry_failed: bool = False, progress: Callable[[str], None] | None = None,
              progress_every: float | None = None) -> SweepOutcome:
    """Bring every run of ``sweep`` to completion with ``executor``; see the module docstring.

    runs_dir: the sweep directory (default ``runs/<sweep name>``); it holds the run folders, the
    lock, the aggregate and the index. Raises :class:`BetavaeError` if another driver holds it.
    progress: the driver's lines (plan, each finished task); progress_every: seconds between each
    training task's own progress lines on its worker's stderr (None: none).
    """
    t0 = time.perf_counter()
    spec = sweep.spec
    runs_dir = Path(runs_dir) if runs_dir is not None else Path("runs") / spec.name
    planned = sweep.expand()
    outcome = SweepOutcome(runs_dir, len(planned))
    check_data(run for run in planned if not (runs_dir / run.run_id).is_dir())
    with SweepLock(runs_dir):
        todo = []
        for run in planned:
            need = work_needed(runs_dir / run.run_id, spec.evaluate is not None, spec.report)
            if need == "nothing" or (need == "failed" and not retry_failed):
                outcome.counts["skipped" if need == "nothing" else "failed (not retried)"] += 1
                continue
            outcome.counts[need] += 1
            todo.append(run)
        tasks = [RunTask(group[0].run_id, group[0].config.to_dict(), str(runs_dir),
                         spec.evaluate.model_dump(exclude_none=True) if spec.evaluate else None, spec.report, executor.threads,
                         tuple((r.run_id, r.config.to_dict()) for r in group[1:]), progress_every)
                 for group in ensemble_groups(todo, spec.ensemble or 1)]
        if progress is not None:
            progress(f"{len(planned)} runs: {len(tasks)} to do ({_fmt(outcome.counts)}) on {executor.describe()}")

        def on_result(record: dict[str, Any]) -> None:
            if progress is not None:
                n = len(outcome.records) + 1
                extra = f": {record['error']}" if record.get("error") else ""
                members = f" (+{len(record['members']) - 1} trained with it)" if record.get("members") else ""
                progress(f"[{n}/{len(tasks)}] {record['run_id']}{members} {record['status']}{extra}")
            outcome.records.append(record)

        if tasks:
            executor.run(tasks, on_result)
        outcome.rows = aggregate(runs_dir, planned, spec.swept_keys())
        write_aggregate(runs_dir, outcome.rows)
        if spec.report:
            outcome.index = _index(runs_dir)
    outcome.wall_seconds = time.perf_counter() - t0
    return outcome


def check_data(runs: Iterable[PlannedRun]) -> None:
    """Each distinct data config of ``runs`` checked once (``DataConfig.check``: e.g. the user's
    files can be read) before the sweep makes any folder: a bad path fails the command with one
    line instead of leaving a sweep directory of failed runs."""
    seen = set()
    for run in runs:
        key = run.config.data.model_dump_json()
        if key not in seen:
            seen.add(key)
            run.config.data.check()


def ensemble_groups(runs: list[PlannedRun], size: int) -> list[list[PlannedRun]]:
    """Runs that may train together (same config but seed and objective), in chunks of at most
    ``size``, in plan order; ``size`` 1: every run alone. A run whose objective has state of its
    own (learned β, FactorVAE, per-latent or pairwise β: :func:`betavae.train.ensemble.trains_alone`)
    is a group of one, so one sweep can mix such arms with ensembled ones."""
    from betavae.train.ensemble import trains_alone

    if size <= 1:
        return [[r] for r in runs]
    families: dict[str, list[PlannedRun]] = {}
    for run in runs:
        if trains_alone(run.config):
            families[run.run_id] = [run]
            continue
        shared = run.config.to_dict()
        shared.pop("seed")
        shared.pop("objective")
        families.setdefault(json.dumps(shared, sort_keys=True), []).append(run)
    return [family[i:i + size] for family in families.values() for i in range(0, len(family), size)]


def aggregate(runs_dir: Path, planned: list[PlannedRun], keys: list[str]) -> list[dict[str, Any]]:
    """One row per planned run, from its files: swept keys, seed, status, final loss terms, every
    value in ``eval.json``, wall time and (for failures) error and traceback."""
    from betavae.experiments.summary import summarise_run

    rows = []
    for run in planned:
        run_dir = runs_dir / run.run_id
        summary = summarise_run(run_dir) if run_dir.is_dir() else {"status": "missing"}
        row: dict[str, Any] = {"run_id": run.run_id, "seed": run.config.seed}
        tree = run.config.to_dict()
        row.update({k: run.assignments[k] if k in run.assignments else _dotted(tree, k) for k in keys})
        row.update({k: v for k, v in summary.items() if k not in ("run", "beta", "active")})
        row["wall_seconds"] = _wall_seconds(run_dir)
        error = _read_json(run_dir / ERROR_FILE)
        if error and row["status"] != "finished":
            row["status"] = error.get("status") or row["status"]
            row["error"], row["traceback"] = error.get("error"), error.get("traceback")
        rows.append(row)
    return rows


def write_aggregate(runs_dir: Path, rows: list[dict[str, Any]]) -> None:
    """``sweep.json`` (list of rows) and ``sweep.csv`` (same columns; blanks where missing)."""
    columns = [c for c in FIXED_COLUMNS if any(c in r for r in rows)]
    for r in rows:
        columns += [c for c in r if c not in columns and c not in ("error", "traceback")]
    columns += ["error", "traceback"]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, columns, restval="", extrasaction="ignore")
    writer.writeheader()
    writer.writerows([{k: _cell(v) for k, v in r.items()} for r in rows])
    atomic_write_text(runs_dir / AGGREGATE_CSV, buf.getvalue())
    atomic_write_json(runs_dir / AGGREGATE_JSON, rows)


def _index(runs_dir: Path) -> Path | None:
    from betavae.report import write_index

    try:
        return write_index(runs_dir)
    except Exception:  # the index never fails a sweep whose runs are done
        log.exception("could not write the index report of %s", runs_dir)
        return None


def _dotted(tree: dict[str, Any], key: str) -> Any:
    node: Any = tree
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _wall_seconds(run_dir: Path) -> float | None:
    """Training time over all sessions of a run (from meta.json; whole seconds)."""
    import datetime as dt

    from betavae.experiments.rundir import read_meta

    sessions = [s for s in read_meta(run_dir).get("sessions", []) if s.get("start") and s.get("end")]
    if not sessions:
        return None
    return sum((dt.datetime.fromisoformat(s["end"]) - dt.datetime.fromisoformat(s["start"])).total_seconds()
               for s in sessions)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _cell(v: Any) -> Any:
    return json.dumps(v) if isinstance(v, (dict, list)) else v


def _fmt(counts: Counter[str]) -> str:
    return ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "nothing"
