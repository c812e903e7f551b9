"""One row per run folder: what the index table, the lessons and the study sections read."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from betavae.experiments.rundir import find_run_dirs
from betavae.experiments.summary import summarise_run
from betavae.report.configs import hyper_params
from betavae.report.inputs import is_run_dir, read_eval, read_run_files


def find_runs(runs_dir: Path) -> list[Path]:
    """Folders under ``runs_dir`` (at any depth: a sweep's runs too) that hold run files."""
    return find_run_dirs(runs_dir, is_run_dir)


def run_row(run_dir: Path, runs_dir: Path | None = None) -> dict[str, Any]:
    """One index row: summary figures, seed, objective, hyper-parameters and flat eval values;
    ``runs_dir`` (default: the run's parent) is where the index lives, for the report link."""
    files = read_run_files(run_dir)
    row = summarise_run(run_dir)
    where = run_dir.relative_to(runs_dir).as_posix() if runs_dir is not None else run_dir.name
    row.update(seed=None, objective=None, hyper={}, eval=read_eval(run_dir / "eval.json")[0] or {},
               report=f"{where}/report.html" if (run_dir / "report.html").is_file() else None,
               missing=len(files.notes), config=files.config, task=None, dir=run_dir)
    if files.config is not None:
        row.update(seed=files.config.seed, objective=files.config.objective.kind,
                   hyper=hyper_params(files.config), task=files.config.model.task)
    return row
