"""TensorBoard: event files in ``RUN/tensorboard/`` (``tensorboard --logdir runs`` shows every run,
a sweep's runs under its folder). Scalars are stored as float64 tensors, so they read back equal
to ``metrics.jsonl``; a resumed session writes TensorBoard's purge marker, so the steps past the
last checkpoint logged before are dropped by every TensorBoard reader."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from betavae.experiments.trackers import TRACKERS
from betavae.experiments.trackers.base import Tracker, flat_params

LOG_DIR = "tensorboard"


@TRACKERS.register("tensorboard")
class TensorBoardTracker(Tracker):
    name = "tensorboard"
    module = "tensorboard"
    package = "tensorboard"
    extra = "tb"
    live = True

    def start(self, run_dir: Path, config: dict[str, Any], state: dict[str, Any], resume_from: int,
              unclosed: bool) -> dict[str, Any]:
        from torch.utils.tensorboard import SummaryWriter

        # purge_step writes a restart marker: readers drop what earlier files hold at steps >= it
        self.writer = SummaryWriter(str(run_dir / LOG_DIR), purge_step=resume_from)
        if not state:
            from torch.utils.tensorboard.summary import hparams

            params = {k: v if isinstance(v, (int, float, str, bool)) else json.dumps(v)
                      for k, v in flat_params(config).items()}
            for summary in hparams(params, {}):
                self.writer.file_writer.add_summary(summary)
            self.writer.add_text("config", "```\n" + json.dumps(config, indent=2) + "\n```", 0)
        return {"log_dir": LOG_DIR}

    def log(self, step: int, scalars: dict[str, float], wall_time: float | None) -> None:
        for key, value in scalars.items():
            self.writer.add_scalar(key, value, step, walltime=wall_time, new_style=True, double_precision=True)

    def flush(self) -> None:
        self.writer.flush()

    def images(self, step: int, paths: list[Path], root: Path) -> None:
        """PNGs as images (TensorBoard shows no GIF: a GIF's first frame is logged)."""
        import imageio.v3 as iio
        import numpy as np

        for path in paths:
            image = np.asarray(iio.imread(path, index=0))
            if image.ndim == 2:
                image = image[:, :, None]
            self.writer.add_image(f"report/{path.relative_to(root).as_posix()}", image[:, :, :3], step,
                                  dataformats="HWC")

    def close(self, status: str) -> None:
        self.writer.close()
