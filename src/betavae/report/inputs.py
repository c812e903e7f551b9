"""Read what a run folder holds, tolerating missing, truncated or malformed files.

:func:`read_run_files` never raises for a bad file: it records a plain-language note of what is
missing or damaged, so a report can show what exists and say what does not.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from betavae.config import RunConfig
from betavae.errors import BetavaeError
from betavae.experiments.rundir import (
    CONFIG_FILE,
    META_FILE,
    METRICS_FILE,
    WEIGHTS_FILE,
    read_meta,
    read_metrics,
    read_run_config,
)

EVAL_FILE = "eval.json"
RUN_FILES = (CONFIG_FILE, METRICS_FILE, META_FILE, WEIGHTS_FILE)


@dataclass
class RunFiles:
    """The readable contents of a run folder.

    config: the resolved config (None if missing/invalid); rows: metrics rows; bad_lines: lines
    of metrics.jsonl that could not be parsed; meta: meta.json (empty if missing); eval_values:
    ``eval.json``'s ``values`` (None if absent); eval_intervals: its bootstrap ``intervals``
    ({} if none); notes: what is missing or damaged.
    """

    run_dir: Path
    config: RunConfig | None = None
    rows: list[dict[str, Any]] = field(default_factory=list)
    bad_lines: int = 0
    meta: dict[str, Any] = field(default_factory=dict)
    eval_values: dict[str, Any] | None = None
    eval_intervals: dict[str, list[float]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def last(self) -> dict[str, Any]:
        """The last metrics row ({} if none)."""
        return self.rows[-1] if self.rows else {}

    @property
    def has_weights(self) -> bool:
        return (self.run_dir / WEIGHTS_FILE).is_file()


def is_run_dir(path: Path) -> bool:
    """True when ``path`` holds at least one of a run's files."""
    return path.is_dir() and any((path / name).is_file() for name in RUN_FILES)


def read_eval(path: Path) -> tuple[dict[str, Any] | None, str | None]:
    """``values`` of an eval.json as a flat {name: value} mapping, or (None, note)."""
    if not path.is_file():
        return None, None
    try:
        values = json.loads(path.read_text(encoding="utf-8")).get("values")
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError, OSError):
        return None, f"{EVAL_FILE} is not readable JSON with a 'values' mapping; evaluation figures are left out"
    if not isinstance(values, dict):
        return None, f"{EVAL_FILE} has no 'values' mapping; evaluation figures are left out"
    return flatten(values), None


def read_eval_intervals(path: Path) -> dict[str, list[float]]:
    """``intervals`` of an eval.json (bootstrap ``[low, high]`` per value), {} if none or unreadable."""
    try:
        intervals = json.loads(path.read_text(encoding="utf-8")).get("intervals") or {}
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError, OSError):
        return {}
    if not isinstance(intervals, dict):
        return {}
    return {k: v for k, v in intervals.items() if isinstance(v, list) and len(v) == 2}


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings -> one level with dotted keys."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out


def is_number(value: Any) -> bool:
    """A finite int or float (bools excluded)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def read_run_files(run_dir: str | Path) -> RunFiles:
    """Everything readable in ``run_dir``, with a note for each missing or damaged file."""
    run_dir = Path(run_dir)
    files = RunFiles(run_dir)
    notes = files.notes
    try:
        files.config = read_run_config(run_dir)
    except BetavaeError as exc:
        notes.append(f"config: {exc}; the config section, schedules and model figures are left out")
    metrics = run_dir / METRICS_FILE
    files.rows = read_metrics(run_dir)
    if not metrics.is_file():
        notes.append(f"{METRICS_FILE} is missing: no training curves or final figures yet")
    else:
        lines = [ln for ln in metrics.read_text(encoding="utf-8", errors="replace").splitlines() if ln.strip()]
        files.bad_lines = len(lines) - len(files.rows)
        if files.bad_lines:
            notes.append(f"{METRICS_FILE}: {files.bad_lines} line(s) are truncated or malformed and were skipped")
        if not files.rows:
            notes.append(f"{METRICS_FILE} holds no complete rows yet: no training curves or final figures")
    files.meta = read_meta(run_dir)
    if not (run_dir / META_FILE).is_file():
        notes.append(f"{META_FILE} is missing: status, versions and times are unknown")
    elif not files.meta:
        notes.append(f"{META_FILE} is not readable JSON: status, versions and times are unknown")
    files.eval_values, note = read_eval(run_dir / EVAL_FILE)
    if note:
        notes.append(note)
    files.eval_intervals = read_eval_intervals(run_dir / EVAL_FILE) if files.eval_values else {}
    return files
