"""Key figures of runs, for `bvae ls` and index reports."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from betavae.experiments.lock import is_training
from betavae.experiments.rundir import find_run_dirs, read_meta, read_metrics

ACTIVE_NATS = 0.01


def run_status(run_dir: Path, meta: dict[str, Any]) -> str:
    """The status of ``meta.json``, except that a run whose meta says it is training but whose
    training lock nobody holds is ``interrupted`` (its process died without a word: kill -9,
    power loss, the OOM killer)."""
    status = meta.get("status", "?")
    if status in ("created", "running") and not is_training(run_dir):
        return "interrupted"
    return status


def summarise_run(run_dir: Path) -> dict[str, Any]:
    """Status, progress and the last logged figures of one run (missing files give blanks)."""
    meta = read_meta(run_dir)
    rows = read_metrics(run_dir)
    last = rows[-1] if rows else {}
    kl_dim = last.get("kl_per_dim") or []
    status = run_status(run_dir, meta)
    summary: dict[str, Any] = {
        "run": run_dir.name,
        "status": status,
        "step": last.get("step"),
        "loss": last.get("loss"),
        "recon": last.get("recon"),
        "kl": last.get("kl"),
        "beta": last.get("beta"),
        "active": sum(1 for v in kl_dim if v > ACTIVE_NATS) if kl_dim else None,
        #: the train.stop_when condition that ended the run early (the step is ``step``)
        "stopped": (meta.get("stopped") or {}).get("reason"),
    }
    eval_path = run_dir / "eval.json"
    if eval_path.is_file():
        try:
            values = json.loads(eval_path.read_text()).get("values", {})
            summary.update({k: v for k, v in values.items() if isinstance(v, (int, float))})
        except (json.JSONDecodeError, AttributeError):
            pass
    return summary


def summarise_runs(runs_dir: str | Path) -> list[dict[str, Any]]:
    """One summary per run folder under ``runs_dir`` at any depth (a sweep's runs included),
    named by its path relative to ``runs_dir``."""
    runs_dir = Path(runs_dir)
    rows = []
    for run_dir in find_run_dirs(runs_dir):
        row = summarise_run(run_dir)
        row["run"] = run_dir.relative_to(runs_dir).as_posix()
        rows.append(row)
    return rows


def resume_hints(rows: list[dict[str, Any]], runs_dir: str | Path) -> list[str]:
    """The command that continues each interrupted run of ``rows`` (from :func:`summarise_runs`)."""
    return [f"continue {r['run']}: bvae train --resume {Path(runs_dir) / r['run']}"
            for r in rows if r["status"] == "interrupted"]


def format_table(rows: list[dict[str, Any]], columns: list[str] | None = None) -> str:
    """A plain-text table; numbers with 4 significant digits."""
    if not rows:
        return "no runs found"
    columns = columns or ["run", "status", "step", "loss", "recon", "kl", "beta", "active", "mig"]
    columns = [c for c in columns if any(c in r for r in rows)]

    def fmt(v: Any) -> str:
        if v is None:
            return "-"
        if isinstance(v, float):
            return f"{v:.4g}"
        return str(v)

    cells = [[fmt(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(lines)
