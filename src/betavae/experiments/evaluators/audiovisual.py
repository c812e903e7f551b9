"""The cross-modal runs' evaluator: after the β-VAE trains, what a study unit measured
(:mod:`betavae.crossmodal.measures`): translator(s) on the run's latents, the word-level
listener, controls, retrieval, Table 2's accuracies and the raw baseline, into ``eval.json``.

``eval.json`` has the image evaluator's layout: ``values`` (flat name -> number: what
``sweep.csv``, the index and the report read), ``seconds``, ``settings``, ``seed``, ``run``,
``step``, ``time``, ``wall_seconds``, plus ``records`` (one nested record per translator seed,
with the per-object and per-action breakdowns), ``split`` (rows in train/val/test) and
``test_groups`` (the held-out (object, action) groups). The scores through training are the task's own
rows (``train_acc``, ``val_acc`` per epoch in ``metrics.jsonl``), so there is no ``during``.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from betavae.config import describe_errors
from betavae.errors import BetavaeError
from betavae.experiments.evaluators import RunEvaluator, run_evaluator


def settings(options: dict[str, Any]):  # noqa: ANN201 (MeasureSettings; imported lazily)
    """The evaluator's options validated (one line per problem, as a BetavaeError)."""
    from betavae.crossmodal.measures import GROUPS, MeasureSettings

    names = options.get("metrics")
    if names is not None and any(n not in GROUPS for n in names):
        raise BetavaeError(f"cross-modal runs are measured with metrics from {', '.join(GROUPS)}; "
                           f"got {', '.join(map(str, names))}")
    try:
        return MeasureSettings.model_validate({k: v for k, v in options.items() if v is not None})
    except ValidationError as exc:
        raise BetavaeError(describe_errors(exc, options, MeasureSettings)) from None


@run_evaluator("audiovisual")
class AudiovisualEvaluator(RunEvaluator):
    def check(self, options: dict[str, Any]) -> None:
        settings(options)

    def after(self, run_dir: Path, options: dict[str, Any]) -> dict[str, Any]:
        from betavae.crossmodal.measures import flat_values, measure
        from betavae.experiments.evaluate import EVAL_FILE
        from betavae.experiments.load import load_run
        from betavae.experiments.rundir import read_metrics
        from betavae.io import atomic_write_json

        cfg = settings(options)
        t0 = time.perf_counter()
        run = load_run(run_dir)
        rows = [r for r in read_metrics(run_dir) if "train_acc" in r]
        if "reconstruction" in cfg.metrics and not rows:
            raise BetavaeError(f"{run_dir} has no logged epochs (metrics.jsonl): nothing to take Table 2's means of")
        data = run.source
        loaded = time.perf_counter()
        key = json.dumps(run.config.data.model_dump(mode="json"), sort_keys=True)
        records = measure(run.model, data, rows, run.config.seed, cfg, cache_key=key)
        groups = data.labels.get("group")
        result = {
            "values": flat_values(records),
            "records": records,
            "split": {"train": len(data.train), "val": len(data.val), "test": len(data.test)},
            "test_groups": sorted({str(g) for g in groups[data.test]}) if groups is not None else [],
            "seconds": {"loading": loaded - t0, "measures": time.perf_counter() - loaded},
            "settings": cfg.model_dump(mode="json"),
            "seed": run.config.seed,
            "run": run.run_dir.name,
            "step": run.step,
            "time": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "wall_seconds": time.perf_counter() - t0,
        }
        atomic_write_json(Path(run_dir) / EVAL_FILE, result)
        return result
