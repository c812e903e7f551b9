"""The factor classifier's measures and cache (spec/dsprites-vsa.md §7.2).

The network is :class:`~betavae.models.factor_classifier.FactorClassifier`; it is trained once
by :class:`~betavae.train.tasks.vsa.ClassifierTask` through the one loop and cached under a hash
of the renderer, split and classifier settings. A prediction counts as correct when shape and
scale are exact, posX and posY within ±1 class, and orientation within one grid step after
reducing the angle difference modulo the shape's symmetry period (π/2, π, 2π).
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import numpy as np
from safetensors.torch import load_file, save_file

from betavae.cache import cache_dir
from betavae.config import LRSchedule, TrainConfig
from betavae.data.dsprites import FACTOR_NAMES
from betavae.data.dsprites_split import (
    ORIENT,
    SplitDSpritesConfig,
    decode,
    orientation_distance,
    pool,
)
from betavae.data.render import make_renderer
from betavae.io import atomic_write, atomic_write_json
from betavae.models.factor_classifier import FactorClassifier
from betavae.train.callbacks import Callback
from betavae.train.loop import Loop
from betavae.train.tasks.vsa import ClassifierTask
from betavae.vsa.settings import ClassifierSettings

log = logging.getLogger(__name__)

#: every head must reach this accuracy on clean held-out images before a swap measure is trusted
#: (spec/dsprites-vsa.md §7.2 [recon])
TRUST = 0.98
#: the cache's format: bumped whenever the training procedure changes (v2: the schedule setting, issue #23)
CACHE_VERSION = 2


def correct(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    """(N, 5) bool: the spec's per-factor tolerance (true shape sets the orientation period)."""
    pred, true = np.asarray(pred), np.asarray(true)
    ok = np.zeros(true.shape, bool)
    ok[:, :2] = pred[:, :2] == true[:, :2]
    ok[:, ORIENT] = orientation_distance(pred[:, ORIENT], true[:, ORIENT], true[:, 0]) <= 1.0
    ok[:, 3:] = np.abs(pred[:, 3:] - true[:, 3:]) <= 1
    return ok


def _key(settings: ClassifierSettings, data: SplitDSpritesConfig) -> str:
    blob = json.dumps({"clf": settings.model_dump(mode="json"), "renderer": data.renderer.model_dump(mode="json"),
                       "split_seed": data.split_seed, "test_fraction": data.test_fraction, "v": CACHE_VERSION}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def ceiling(model: FactorClassifier, settings: ClassifierSettings, data: SplitDSpritesConfig) -> dict[str, float]:
    """Accuracy on clean test-split images, per head (the ceiling of every swap measure)."""
    rng = np.random.default_rng([settings.seed, 1])
    test = pool("test", data.split_seed, data.test_fraction)
    factors = decode(test[rng.integers(len(test), size=settings.n_test)])
    ok = correct(model.predict(make_renderer(data.renderer)(factors).astype(np.float32)), factors)
    out = {f"vsa.classifier.{name}": float(ok[:, f].mean()) for f, name in enumerate(FACTOR_NAMES)}
    out["vsa.classifier.full"] = float(ok.all(1).mean())
    return out


def trusted(ceiling: dict[str, float]) -> bool:
    """Whether every head of a :func:`ceiling` reaches :data:`TRUST`."""
    return bool(min(ceiling[f"vsa.classifier.{n}"] for n in FACTOR_NAMES) >= TRUST)


class _Progress(Callback):
    def __init__(self, progress, total: int) -> None:
        self.progress, self.total = progress, total

    def on_step(self, step: int) -> None:
        self.progress(step, self.total)


def classifier_train_config(settings: ClassifierSettings) -> TrainConfig:
    """The loop's settings for the classifier: ``steps`` of Adam at ``lr`` (constant, or the
    one-cycle peak), CPU, plain numerics."""
    schedule = LRSchedule(kind="onecycle", max_lr=settings.lr) if settings.schedule == "onecycle" else LRSchedule()
    return TrainConfig(steps=settings.steps, batch_size=settings.batch_size, lr=settings.lr, lr_schedule=schedule,
                       log_every=settings.steps, checkpoint_every=settings.steps, device="cpu", speed="plain",
                       report=False)


def train_classifier(settings: ClassifierSettings, data: SplitDSpritesConfig, progress=None,
                     watch=None) -> FactorClassifier:
    """Train the classifier through the one loop (CPU, plain numerics); ``progress(step, total)``
    after every step; ``watch(step, model)`` too (a watcher that evaluates the model puts it back
    in train mode afterwards)."""
    task = ClassifierTask(data, settings.seed, settings.batch_size)
    callbacks = [] if progress is None else [_Progress(progress, settings.steps)]
    if watch is not None:
        callbacks.append(_Progress(lambda step, total: watch(step, task.model), settings.steps))
    Loop(task=task, train=classifier_train_config(settings), callbacks=callbacks).fit(
        lambda k, row: None, lambda k, state: None)
    return task.model.eval()


def _paths(settings: ClassifierSettings, data: SplitDSpritesConfig) -> tuple[Path, Path]:
    """The cache files (weights, ceiling) of the classifier of ``settings`` for ``data``'s renderer and split."""
    stem = cache_dir() / "vsa" / f"classifier-{_key(settings, data)}"
    return stem.with_suffix(".safetensors"), stem.with_suffix(".json")


def store_classifier(model: FactorClassifier, settings: ClassifierSettings, data: SplitDSpritesConfig
                     ) -> dict[str, float]:
    """Measure ``model``'s :func:`ceiling` and cache both under the key of ``settings`` (weights
    first, the ceiling last: an entry without its ceiling file is never read). Returns the ceiling."""
    weights, meta = _paths(settings, data)
    acc = ceiling(model, settings, data)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    atomic_write(weights, lambda tmp: save_file(state, tmp))
    atomic_write_json(meta, acc)
    return acc


def get_classifier(settings: ClassifierSettings, data: SplitDSpritesConfig, progress=None
                   ) -> tuple[FactorClassifier, dict[str, float]]:
    """The cached classifier and its ceiling accuracies (trained and cached on first use)."""
    weights, meta = _paths(settings, data)
    model = FactorClassifier()
    if weights.is_file() and meta.is_file():
        model.load_state_dict(load_file(str(weights)))
        return model.eval(), json.loads(meta.read_text())
    log.info("training the vsa factor classifier (%d steps); cached as %s", settings.steps, weights)
    model = train_classifier(settings, data, progress)
    return model, store_classifier(model, settings, data)
