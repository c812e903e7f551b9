"""The multimodal VAEs' evaluator: Langer et al. (2024)'s integration measures and Zambelli et
al. (2020)'s test protocols (spec §6, §7), with the choices of the run's ``model.measures``.

- ``during``: the measures named by ``train.eval_metrics`` (families of
  :data:`~betavae.multimodal.settings.MEASURES`) as ``eval.<measure>.<modality>`` (and
  ``eval.baseline_all``, ``eval.prediction_error``), also for the untrained model (``at_start``:
  a row at step 0), the training curves of the study;
- ``after``: ``eval.json`` with the measures and, unless ``metrics`` leaves ``protocols`` out, the
  protocols' normalised errors in ``values`` (flat, finite numbers: the sweep's aggregate and the
  index read them), every protocol number in ``protocols`` and the settings in ``settings``.

Option ``sme_keep`` (the sweep's ``evaluate: {sme_keep: ...}``, ``bvae eval RUN -o sme_keep=both``)
is the ablation of spec §6's reconstructed SME mask after training: one of ``older``, ``newer``,
``both`` replaces the run's ``model.measures.sme_keep`` for ``sme_mod.<m>`` / ``sme_all.<m>``; a
list (``[older, both]``) scores the first so and each further one beside it as
``sme_mod_<keep>.<m>`` / ``sme_all_<keep>.<m>``. ``settings.sme_keep`` (and
``settings.sme_keep_also``) in ``eval.json`` say which masks were used.
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
SME_KEEPS = ("older", "newer", "both")
#: the options this evaluator reads; the image metrics' defaults a sweep hands every evaluator
#: (preset, breakdown) are ignored, ``sizes`` and ``seed`` refused (they are model.measures')
OPTIONS = ("metrics", "sme_keep", "device", "preset", "breakdown", "sizes", "seed")


def _floats(values: dict[str, np.ndarray]) -> dict[str, float]:
    return {k: float(np.asarray(v).reshape(())) for k, v in values.items()}


def sme_keeps(option: Any) -> list[str]:
    """The SME masks an ``sme_keep`` option asks for (one value or a list), first = the main one;
    ``[]`` when the option is not given (the run's ``model.measures.sme_keep`` then)."""
    if option is None:
        return []
    keeps = [option] if isinstance(option, str) else option
    if (not isinstance(keeps, list) or not keeps or len(set(map(str, keeps))) != len(keeps)
            or any(k not in SME_KEEPS for k in keeps)):
        raise BetavaeError(f"sme_keep: {option!r}; give one of {', '.join(SME_KEEPS)} or a list of "
                           "different ones, e.g. [older, both] (the first is sme_mod/sme_all, the others "
                           "add sme_mod_<keep>/sme_all_<keep>)")
    return keeps


def check_names(names: list[str]) -> None:
    unknown = [n for n in names if n not in NAMES]
    if unknown or not names:
        raise BetavaeError(f"{', '.join(unknown) or 'no metric given'}: multimodal (sensorimotor) runs are "
                           f"scored with {', '.join(NAMES)}")


@run_evaluator("sensorimotor")
class SensorimotorEvaluator(RunEvaluator):
    at_start = True

    def check(self, options: dict[str, Any]) -> None:
        unknown = sorted(set(options) - set(OPTIONS))
        if unknown:
            raise BetavaeError(f"{', '.join(unknown)}: not an option of the multimodal (sensorimotor) evaluator; "
                               "it takes metrics and sme_keep (the other measure settings are model.measures)")
        if "metrics" in options:  # not given: all of them (bvae eval RUN -o sme_keep=both)
            check_names(list(options["metrics"] or []))
        sme_keeps(options.get("sme_keep"))
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
        keeps = sme_keeps(options.get("sme_keep")) or [run.config.model.measures.sme_keep]
        settings = run.config.model.measures.model_copy(update={"sme_keep": keeps[0]})
        values = _floats(measure(run.model, run.source, settings, names))
        sme = [n for n in names if n.startswith("sme_")]
        for keep in keeps[1:] if sme else []:
            also = measure(run.model, run.source, settings.model_copy(update={"sme_keep": keep}), sme)
            values.update({f"{k.partition('.')[0]}_{keep}.{k.partition('.')[2]}": v for k, v in _floats(also).items()})
        result: dict[str, Any] = {"values": values, "settings": {**settings.model_dump(mode="json"), "metrics": names,
                                                                 "sme_keep_also": keeps[1:]}}
        if PROTOCOLS in names:
            prot = _floats(protocols(run.model, run.source, settings))
            values.update({f"protocol.{k}": v for k, v in prot.items() if ".nrmse" in k and math.isfinite(v)})
            result["protocols"] = {k: v if math.isfinite(v) else None for k, v in prot.items()}
        result.update(seed=settings.eval_seed, run=Path(run_dir).name, step=run.step,
                      time=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                      wall_seconds=time.perf_counter() - t0)
        atomic_write_json(Path(run_dir) / EVAL_FILE, result)
        return result
