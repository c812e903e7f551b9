"""Weights & Biases: one W&B run per run folder, offline by default.

Files go to ``RUN/wandb/`` (``wandb sync RUN/wandb/offline-run-*`` uploads them later; a resumed
run's sessions are fragments of one run id, which ``wandb sync`` puts in order). W&B writes its
file every 15 s and has no flush: what a session holds is sure only once it closed. A session
killed before (kill -9, power cut) leaves a fragment with an unknown part of its rows: the next
session deletes that offline fragment and sends its rows again from ``metrics.jsonl``. ``WANDB_MODE``
(e.g. ``online``), ``WANDB_PROJECT`` (default ``betavae``) and ``WANDB_ENTITY`` are honoured; the
group is the sweep's name. W&B prints nothing and does not capture the console; its service talks
to this process over a Unix socket.
"""

from __future__ import annotations

import os
import secrets
import shutil
from pathlib import Path
from typing import Any

from betavae.experiments.trackers import TRACKERS
from betavae.experiments.trackers.base import Tracker, sweep_name

PROJECT = "betavae"


@TRACKERS.register("wandb")
class WandbTracker(Tracker):
    name = "wandb"
    module = "wandb"
    package = "wandb"
    extra = "wandb"
    flushes = False

    def start(self, run_dir: Path, config: dict[str, Any], state: dict[str, Any], resume_from: int,
              unclosed: bool) -> dict[str, Any]:
        import wandb

        if unclosed and state.get("mode") == "offline" and state.get("fragment"):
            shutil.rmtree(run_dir / "wandb" / state["fragment"], ignore_errors=True)

        run_id = state.get("id") or secrets.token_hex(4)  # W&B ids: [a-z0-9]
        mode = os.environ.get("WANDB_MODE", "offline")
        settings = wandb.Settings(mode=mode, silent=True, console="off")
        self.run = wandb.init(dir=str(run_dir), id=run_id, name=run_dir.name, group=sweep_name(run_dir),
                              project=os.environ.get("WANDB_PROJECT", PROJECT), config=config,
                              resume="allow", reinit="create_new", settings=settings)
        return {"id": run_id, "mode": mode, "fragment": Path(self.run.dir).parent.name}

    def log(self, step: int, scalars: dict[str, float], wall_time: float | None) -> None:
        self.run.log(scalars, step=step)

    def images(self, step: int, paths: list[Path], root: Path) -> None:
        import wandb

        self.run.log({f"report/{p.relative_to(root).as_posix()}": wandb.Image(str(p)) for p in paths}, step=step)

    def close(self, status: str) -> None:
        self.run.finish(exit_code=0 if status == "finished" else 1)
