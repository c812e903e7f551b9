"""MLflow: one MLflow run per run folder, through :class:`mlflow.MlflowClient` (no global state).

The store is ``MLFLOW_TRACKING_URI`` when set, else a file store ``mlruns/`` beside the runs
folder (``runs/`` -> ``./mlruns``; a sweep's ``runs/<sweep>/`` -> ``./mlruns`` too); a resumed run
uses the store it started in. The experiment is the sweep's name (``betavae`` for a lone run).
MLflow 3 keeps the file store in maintenance mode behind ``MLFLOW_ALLOW_FILE_STORE``: betavae sets
it (unless set) for its own default store only; point ``MLFLOW_TRACKING_URI`` at a database
(``sqlite:///mlflow.db``, needs the full ``mlflow`` package) or a server to use one.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from betavae.experiments.trackers import TRACKERS
from betavae.experiments.trackers.base import Tracker, flat_params, sweep_name

EXPERIMENT = "betavae"
BATCH = 1000  # MLflow's most metrics in one log_batch
PARAM_LENGTH = 6000  # MLflow's longest parameter value


def default_uri(run_dir: Path) -> str:
    """``mlruns/`` beside the runs folder that holds ``run_dir`` (two levels up for a sweep's run)."""
    runs_root = run_dir.parent.parent if sweep_name(run_dir) else run_dir.parent
    return (runs_root.resolve().parent / "mlruns").as_uri()


@TRACKERS.register("mlflow")
class MLflowTracker(Tracker):
    name = "mlflow"
    module = "mlflow"
    package = "mlflow-skinny"
    extra = "mlflow"

    def start(self, run_dir: Path, config: dict[str, Any], state: dict[str, Any], resume_from: int,
              unclosed: bool) -> dict[str, Any]:
        from mlflow import MlflowClient
        from mlflow.entities import Param

        uri = state.get("uri") or os.environ.get("MLFLOW_TRACKING_URI") or default_uri(run_dir)
        if uri.startswith("file:") or "://" not in uri:  # a file store
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        self.client = MlflowClient(tracking_uri=uri)
        if state:
            self.run_id = state["run_id"]
            self.client.update_run(self.run_id, status="RUNNING")
            return state
        experiment = sweep_name(run_dir) or EXPERIMENT
        found = self.client.get_experiment_by_name(experiment)
        experiment_id = found.experiment_id if found is not None else self.client.create_experiment(experiment)
        run = self.client.create_run(experiment_id, run_name=run_dir.name,
                                     tags={"betavae.run_dir": str(run_dir.resolve())})
        self.run_id = run.info.run_id
        params = [Param(k, str(v)[:PARAM_LENGTH]) for k, v in flat_params(config).items()]
        for i in range(0, len(params), 100):  # MLflow's most params in one log_batch
            self.client.log_batch(self.run_id, params=params[i:i + 100])
        return {"uri": uri, "run_id": self.run_id, "experiment": experiment}

    def log(self, step: int, scalars: dict[str, float], wall_time: float | None) -> None:
        from mlflow.entities import Metric

        stamp = int((wall_time or 0) * 1000)
        metrics = [Metric(k, v, stamp, step) for k, v in scalars.items()]
        for i in range(0, len(metrics), BATCH):
            self.client.log_batch(self.run_id, metrics=metrics[i:i + BATCH])

    def images(self, step: int, paths: list[Path], root: Path) -> None:
        for path in paths:
            parent = path.relative_to(root).parent.as_posix()
            self.client.log_artifact(self.run_id, str(path), "report" if parent == "." else f"report/{parent}")

    def close(self, status: str) -> None:
        self.client.set_terminated(self.run_id, {"finished": "FINISHED", "interrupted": "KILLED"}.get(status, "FAILED"))

