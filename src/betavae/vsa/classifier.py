"""Factor classifier (spec/dsprites-vsa.md §7.2): the tool behind the swap measures.

The encoder's conv trunk with five softmax heads, trained by cross-entropy on single-object
train-split images and cached under a hash of the renderer, split and classifier settings.
A prediction counts as correct when shape and scale are exact, posX and posY within ±1 class,
and orientation within one grid step after reducing the angle difference modulo the shape's
symmetry period (π/2, π, 2π).
"""

from __future__ import annotations

import hashlib
import json
import logging

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

from betavae.cache import cache_dir
from betavae.data.dsprites import FACTOR_NAMES
from betavae.data.render import make_renderer
from betavae.io import atomic_write, atomic_write_json
from betavae.vsa.model import conv_trunk
from betavae.vsa.settings import ClassifierSettings, DataSettings
from betavae.vsa.splits import N_ANGLES, ORIENT, SIZES, decode, orientation_distance, pool

log = logging.getLogger(__name__)
HEADS = tuple(int(n) for n in SIZES)


class FactorClassifier(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(conv_trunk(), nn.Linear(1024, 256), nn.ReLU(), nn.Linear(256, sum(HEADS)))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """x (B, 1, 64, 64) -> five logit tensors (B, n_f)."""
        return list(self.net(x).split(HEADS, dim=1))

    @torch.no_grad()
    def predict(self, images: np.ndarray | torch.Tensor, batch: int = 256) -> np.ndarray:
        """Images (N, 1, 64, 64) -> (N, 5) int64 argmax classes."""
        self.eval()
        x = torch.as_tensor(np.asarray(images, dtype=np.float32))
        out = [torch.stack([h.argmax(1) for h in self(x[s : s + batch])], 1) for s in range(0, len(x), batch)]
        return torch.cat(out).numpy() if out else np.zeros((0, 5), np.int64)


def correct(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    """(N, 5) bool: the spec's per-factor tolerance (true shape sets the orientation period)."""
    pred, true = np.asarray(pred), np.asarray(true)
    ok = np.zeros(true.shape, bool)
    ok[:, :2] = pred[:, :2] == true[:, :2]
    ok[:, ORIENT] = orientation_distance(pred[:, ORIENT], true[:, ORIENT], true[:, 0]) <= 1.0
    ok[:, 3:] = np.abs(pred[:, 3:] - true[:, 3:]) <= 1
    return ok


def _key(settings: ClassifierSettings, data: DataSettings) -> str:
    blob = json.dumps({"clf": settings.model_dump(mode="json"), "renderer": data.renderer.model_dump(mode="json"),
                       "split_seed": data.split_seed, "test_fraction": data.test_fraction, "v": 1}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _images(render, idx: np.ndarray) -> tuple[torch.Tensor, np.ndarray]:
    factors = decode(idx)
    return torch.from_numpy(render(factors).astype(np.float32)), factors


def ceiling(model: FactorClassifier, settings: ClassifierSettings, data: DataSettings) -> dict[str, float]:
    """Accuracy on clean test-split images, per head (the ceiling of every swap measure)."""
    rng = np.random.default_rng([settings.seed, 1])
    test = pool("test", data.split_seed, data.test_fraction)
    x, factors = _images(make_renderer(data.renderer), test[rng.integers(len(test), size=settings.n_test)])
    ok = correct(model.predict(x), factors)
    out = {f"vsa.classifier.{name}": float(ok[:, f].mean()) for f, name in enumerate(FACTOR_NAMES)}
    out["vsa.classifier.full"] = float(ok.all(1).mean())
    return out


def train_classifier(settings: ClassifierSettings, data: DataSettings, progress=None) -> FactorClassifier:
    torch.manual_seed(settings.seed)
    model = FactorClassifier()
    opt = torch.optim.Adam(model.parameters(), lr=settings.lr)
    train = pool("train", data.split_seed, data.test_fraction)
    render = make_renderer(data.renderer)
    model.train()
    for step in range(settings.steps):
        rng = np.random.default_rng([settings.seed, 0, step])
        x, factors = _images(render, train[rng.integers(len(train), size=settings.batch_size)])
        factors[:, ORIENT] %= N_ANGLES
        y = torch.from_numpy(factors)
        loss = sum(F.cross_entropy(h, y[:, f]) for f, h in enumerate(model(x)))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if progress is not None:
            progress(step + 1, settings.steps)
    return model.eval()


def get_classifier(settings: ClassifierSettings, data: DataSettings, progress=None
                   ) -> tuple[FactorClassifier, dict[str, float]]:
    """The cached classifier and its ceiling accuracies (trained and cached on first use)."""
    folder = cache_dir() / "vsa"
    key = _key(settings, data)
    weights, meta = folder / f"classifier-{key}.safetensors", folder / f"classifier-{key}.json"
    model = FactorClassifier()
    if weights.is_file() and meta.is_file():
        model.load_state_dict(load_file(str(weights)))
        return model.eval(), json.loads(meta.read_text())
    log.info("training the vsa factor classifier (%d steps); cached as %s", settings.steps, weights)
    model = train_classifier(settings, data, progress)
    acc = ceiling(model, settings, data)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    atomic_write(weights, lambda tmp: save_file(state, tmp))
    atomic_write_json(meta, acc)
    return model, acc
