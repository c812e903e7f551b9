"""The scores of a vsa run while it trains (``train.eval_every`` with ``train.eval_metrics: [vsa]``; issue #23).

At each periodic evaluation the member's model is measured on the first ``n_items`` test items with
μ (no sampling), by the stage's function of :mod:`betavae.vsa.evaluate` (spec/dsprites-vsa.md §7):
swap (PD) or scene (PSD) IoU, direct IoU, count accuracy (PSD), the fraction of empty swapped
outputs, the KL of one image's encoding, and, only when the factor classifier is trusted (every
head ≥ 0.98 on held-out images, :func:`betavae.vsa.classifier.trusted`), the feature-swap
accuracies. Then the verdicts: ``vsa.good`` (the Good rule of spec §6, present only with a trusted
classifier) and ``vsa.collapsed``, the flags the ``vsa_good`` and ``collapse`` stop conditions read
(:mod:`betavae.train.stopping`). Keys are ``eval.vsa.*``; ``eval.vsa.seconds`` is the wall time.

No slot probe and no recombination (they are the finished run's, ``bvae eval``). The classifier
comes from the cache (trained there on first use, minutes on a CPU); the training's random state
(torch, NumPy, Python) is left as it was, and the model goes back to train mode.
"""

from __future__ import annotations

import random
import time
from typing import Any

import numpy as np
import torch

from betavae.config import RunConfig
from betavae.vsa.classifier import get_classifier, trusted
from betavae.vsa.evaluate import EVALUATORS, TABLES
from betavae.vsa.settings import EvalSettings
from betavae.vsa.study import verdicts

#: the settings during training: the finished run's item count (its numbers at the last step are
#: then those of ``bvae eval``), without the slot probe and recombination
DURING = EvalSettings(probe_images=0, recombination=0)


def _classifier(cfg: RunConfig, settings: EvalSettings) -> tuple[Any, dict[str, float]]:
    """The cached classifier and ceiling, got without touching the global random state
    (training it on first use seeds torch)."""
    py, np_state = random.getstate(), np.random.get_state()
    with torch.random.fork_rng(devices=[]):
        found = get_classifier(settings.classifier, cfg.data)
    random.setstate(py)
    np.random.set_state(np_state)
    return found


def measure(model: torch.nn.Module, cfg: RunConfig, settings: EvalSettings | None = None) -> dict[str, Any]:
    """The scores of ``model`` (a :class:`~betavae.models.feature_vae.FeatureVAE` being trained with
    ``cfg``) with ``settings`` (default :data:`DURING`) as ``{"eval.vsa.<name>": float | bool}``;
    see the module docstring."""
    t0 = time.perf_counter()
    settings = settings or DURING
    clf, ceiling = _classifier(cfg, settings)
    ok = trusted(ceiling)  # the classifier stays on the CPU: it reads the binarised NumPy outputs
    model.eval()
    try:
        out, _ = EVALUATORS[cfg.data.stage](model, clf if ok else None, cfg, settings)
    finally:
        model.train()
    out["vsa.classifier.trusted"] = ok
    out["vsa.classifier.lowest"] = min(v for k, v in ceiling.items() if k != "vsa.classifier.full")
    out.update(verdicts(cfg.data.stage, out, settings, ok))
    out["vsa.seconds"] = time.perf_counter() - t0
    return {f"eval.{k}": v if isinstance(v, bool) else float(v) for k, v in out.items()
            if k not in TABLES and isinstance(v, (bool, int, float, np.number))}
