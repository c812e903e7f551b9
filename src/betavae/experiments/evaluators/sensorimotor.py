"""The multimodal VAEs' evaluator: Langer et al. (2024)'s integration measures and Zambelli et
al. (2020)'s test protocols (spec §6, §7), with the choices of the run's ``model.measures``.

- ``during``: the measures named by ``train.eval_metrics`` (families of
  :data:`~betavae.multimodal.settings.MEASURES`) as ``eval.<measure>.<modality>`` (and
  ``eval.baseline_all``, ``eval.prediction_error``), also for the untrained model (``at_start``:
  a row at step 0), the training curves of the study;
- ``after``: ``eval.json`` with the measures and, unless ``metrics`` leaves ``protocols`` out, the
  protocols' normalised errors in ``values`` (flat, finite numbers: the sweep's aggregate and the
  index read them), every protocol number in ``protocols`` and the settings in ``settings``.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from betavae.errors import BetavaeError
from betavae.experiments.evaluate import EVAL_FILE
from betavae.experiments.evaluators import RunEvaluator, run_evaluator
from betavae.io import atomic_write_json
from betavae.multimodal.settings import MEASURES, PROTOCOLS

NAMES = (*MEASURES, PROTOCOLS)


def _floats(values: dict[str, np.ndarray]) -> dict[str, float]:
    return {k: float(np.asarray(v).reshape(())) for k, v in values.items()}


def check_names(names: list[str]) -> None:
    unknown = [n for n in names if n not in NAMES]
    if unknown or not names:
        raise BetavaeError(f"{', '.join(unknown) or 'no metric given'}: multimodal (sensorimotor) runs are "
                           f"scored with {', '.join(NAMES)}")


@run_evaluator("sensorimotor")
class SensorimotorEvaluator(RunEvaluator):
    at_start = True

    def check(self, options: dict[str, Any]) -> None:
        check_names(list(options.get("metrics") or []))
        if options.get("sizes"):
            raise BetavaeError("sizes: the measures' sizes are model.measures.n_points (the run's config)")
        if options.get("seed", 0) != 0:
            raise BetavaeError("seed: the measures' seed is model.measures.eval_seed (the run's config)")

    def during(self, model: torch.nn.Module, task: Any, train_config: Any) -> dict[str, float]:
        from betavae.multimodal.scoring import measure

        model.eval()
        try:
            values = measure(model, task.data, task.configs[0].model.measures, train_config.eval_metrics)
        finally:
            model.train()
        return {f"eval.{k}": v for k, v in _floats(values).items()}

    def after(self, run_dir: Path, options: dict[str, Any]) -> dict[str, Any]:
        """Score the finished run folder with ``options["metrics"]`` (None: all), write ``eval.json``."""
        from betavae.experiments.load import load_run
        from betavae.multimodal.scoring import measure, protocols

        names = list(options.get("metrics") or NAMES)
        self.check({**options, "metrics": names})
        t0 = time.perf_counter()
        run = load_run(run_dir, options.get("device", "cpu"))
        settings = run.config.model.measures
        values = _floats(measure(run.model, run.source, settings, names))
        result: dict[str, Any] = {"values": values, "settings": {**settings.model_dump(mode="json"), "metrics": names}}
        if PROTOCOLS in names:
            prot = _floats(protocols(run.model, run.source, settings))
            values.update({f"protocol.{k}": v for k, v in prot.items() if ".nrmse" in k and math.isfinite(v)})
            result["protocols"] = {k: v if math.isfinite(v) else None for k, v in prot.items()}
        result.update(seed=settings.eval_seed, run=Path(run_dir).name, step=run.step,
                      time=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                      wall_seconds=time.perf_counter() - t0)
        atomic_write_json(Path(run_dir) / EVAL_FILE, result)
        return result
