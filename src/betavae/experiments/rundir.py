"""Run folders: ``runs/<name>-<config hash>-s<seed>/``.

Files: ``config.yaml`` (resolved, written once), ``metrics.jsonl`` (one JSON object per logged
step), ``weights.safetensors``, ``state.pt`` and ``meta.json`` (versions, git, argv, host, times,
status). Everything is written atomically except ``metrics.jsonl``, which is appended line by
line and repaired on resume (a torn last line or rows past the checkpoint are dropped).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from betavae.config import RunConfig, build_config, read_yaml
from betavae.errors import BetavaeError
from betavae.io import atomic_write_json, atomic_write_text, is_partial_write

CONFIG_FILE = "config.yaml"
METRICS_FILE = "metrics.jsonl"
META_FILE = "meta.json"
STATE_FILE = "state.pt"  # the resumable state (betavae.train.checkpoint)
WEIGHTS_FILE = "weights.safetensors"  # the user-facing weights (betavae.train.checkpoint)


def now(timespec: str = "seconds") -> str:
    """The UTC time in ISO 8601; run sessions use ``"milliseconds"`` so that a run's wall time
    (end − start) is measured, not rounded to whole seconds (a short run would read 0 s)."""
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec=timespec)


def check_new_run_dir(config: RunConfig, runs_root: str | Path = "runs") -> Path:
    """The run folder ``config`` would get; refuse one that already holds files (makes nothing)."""
    run_dir = Path(runs_root) / config.run_id()
    if run_dir.exists() and any(not is_partial_write(p) for p in run_dir.iterdir()):
        raise BetavaeError(
            f"run folder {run_dir} already exists and holds files (same config and seed); "
            f"continue it with `bvae train --resume {run_dir}`, or change the seed or name"
        )
    return run_dir


def create_run_dir(config: RunConfig, runs_root: str | Path = "runs") -> Path:
    """Make the run folder and write ``config.yaml``; refuse a folder that already holds files."""
    run_dir = check_new_run_dir(config, runs_root)
    run_dir.mkdir(parents=True, exist_ok=True)
    for leftover in filter(is_partial_write, run_dir.iterdir()):  # a process killed mid-write
        leftover.unlink()
    atomic_write_text(run_dir / CONFIG_FILE, config.to_yaml())
    return run_dir


def find_run_dirs(root: str | Path, is_run: Callable[[Path], bool] | None = None) -> list[Path]:
    """Run folders under ``root`` at any depth, sorted by their path relative to ``root``.

    A sweep keeps its runs in ``runs/<sweep>/``, so a listing of ``runs/`` must look below its
    sub-folders. ``is_run`` (default: holds ``config.yaml``) decides what a run folder is; run
    folders and hidden folders (locks) are not searched further. ``root`` itself is never a run.
    """
    root = Path(root)
    is_run = is_run or (lambda p: (p / CONFIG_FILE).is_file())
    found = []
    for parent, dirs, _ in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in list(dirs):
            path = Path(parent) / name
            if is_run(path):
                found.append(path)
                dirs.remove(name)
    return sorted(found, key=lambda p: p.relative_to(root).parts)


def read_run_config(run_dir: str | Path) -> RunConfig:
    """The resolved config a run was started with."""
    path = Path(run_dir) / CONFIG_FILE
    if not path.is_file():
        raise BetavaeError(f"{run_dir} is not a run folder: {CONFIG_FILE} is missing")
    return build_config(read_yaml(path), source=str(path))


def git_info() -> dict[str, Any]:
    """Git SHA and dirty flag of the betavae source tree, if it is a git checkout."""
    src = Path(__file__).resolve().parents[1]
    try:
        sha = subprocess.run(
            ["git", "-C", str(src), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5
        )
        if sha.returncode != 0:
            return {"sha": None, "dirty": None}
        dirty = subprocess.run(
            ["git", "-C", str(src), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=5,
        )
        return {"sha": sha.stdout.strip(), "dirty": bool(dirty.stdout.strip())}
    except (OSError, subprocess.SubprocessError):
        return {"sha": None, "dirty": None}


def versions() -> dict[str, str]:
    import numpy
    import torch

    import betavae

    return {
        "betavae": betavae.__version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
    }


def read_meta(run_dir: str | Path) -> dict[str, Any]:
    path = Path(run_dir) / META_FILE
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        return {}


def write_meta(run_dir: str | Path, **updates: Any) -> dict[str, Any]:
    """Merge ``updates`` into ``meta.json`` (created with versions, git, argv and host)."""
    meta = read_meta(run_dir)
    if not meta:
        meta = {
            "versions": versions(),
            "git": git_info(),
            "argv": list(sys.argv),
            "host": socket.gethostname(),
            "platform": platform.platform(),
            "pid": os.getpid(),
            "start_time": now("milliseconds"),
            "sessions": [],
        }
    meta.update(updates)
    atomic_write_json(Path(run_dir) / META_FILE, meta)
    return meta


def read_metrics(run_dir: str | Path) -> list[dict[str, Any]]:
    """Rows of ``metrics.jsonl``; a torn or malformed line is skipped."""
    path = Path(run_dir) / METRICS_FILE
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict):
            rows.append(row)
    return rows


def truncate_metrics(run_dir: str | Path, last_step: int) -> None:
    """Keep only well-formed rows with ``step <= last_step`` (atomic rewrite), for resume."""
    path = Path(run_dir) / METRICS_FILE
    if not path.exists():
        return
    rows = [r for r in read_metrics(run_dir) if r.get("step", 0) <= last_step]
    atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in rows))
