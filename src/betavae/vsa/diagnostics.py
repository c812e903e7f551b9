"""Latent diagnostics of spec/dsprites-vsa.md §7.5–7.6: the slot probe and recombination.

- Slot probe: a logistic regression from each slot μ_f to each factor g, on single test-split
  images; accuracy normalised by chance, (acc − 1/n_g)/(1 − 1/n_g), as a 5×5 matrix (a dominant
  diagonal means each slot holds its own feature).
- Recombination: assemble a target object by taking slot f from a source image that matches
  the target on feature f only by construction (its other factors random), sum (binding with the
  roles when the memory is on), decode and classify: full accuracy against the target.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

from betavae.config import RunConfig
from betavae.data.dsprites import FACTOR_NAMES
from betavae.data.dsprites_split import N_ANGLES, ORIENT, SIZES, decode, encode, membership, pool
from betavae.data.render import make_renderer
from betavae.metrics.vsa_images import binarise
from betavae.models.factor_classifier import FactorClassifier
from betavae.models.feature_vae import FeatureVAE
from betavae.vsa.classifier import correct
from betavae.vsa.settings import EvalSettings


@torch.no_grad()
def _encode_mu(model: FeatureVAE, images: np.ndarray, batch: int = 256) -> np.ndarray:
    x = torch.from_numpy(np.asarray(images, np.float32))
    return torch.cat([model.encode(x[s : s + batch])[0] for s in range(0, len(x), batch)]).numpy()


def test_factors(cfg: RunConfig, n: int, salt: int) -> np.ndarray:
    """n factor rows (n, 5) drawn uniformly from the test split, seeded by (run seed, salt)."""
    d = cfg.data
    test = pool("test", d.split_seed, d.test_fraction)
    return decode(test[np.random.default_rng([cfg.seed, salt]).integers(len(test), size=n)])


def slot_probe(model: FeatureVAE, cfg: RunConfig, ev: EvalSettings) -> dict[str, object]:
    """5×5 chance-normalised probe accuracies ``vsa.probe.matrix`` and its diagonal mean."""
    n = ev.probe_images
    if n <= 0:
        return {}
    from sklearn.linear_model import LogisticRegression

    factors = test_factors(cfg, n, 0x9B0)
    factors[:, ORIENT] %= N_ANGLES
    mu = _encode_mu(model, make_renderer(cfg.data.renderer)(factors))
    cut = int(0.7 * n)
    matrix = np.zeros((5, 5))
    for f in range(5):
        z = mu[:, f]
        z = (z - z[:cut].mean(0)) / (z[:cut].std(0) + 1e-6)
        for g in range(5):
            y = factors[:, g]
            with warnings.catch_warnings():  # few probe images: sklearn warns about many classes
                warnings.simplefilter("ignore", UserWarning)
                clf = LogisticRegression(max_iter=200).fit(z[:cut], y[:cut])
            chance = 1.0 / (N_ANGLES if g == ORIENT else int(SIZES[g]))
            matrix[f, g] = (clf.score(z[cut:], y[cut:]) - chance) / (1 - chance)
    off = matrix[~np.eye(5, dtype=bool)]
    return {"vsa.probe.matrix": matrix.round(4).tolist(), "vsa.probe.diagonal": float(np.diag(matrix).mean()),
            "vsa.probe.off_diagonal": float(off.mean())}


def sources_for(targets: np.ndarray, rng: np.random.Generator, cfg: RunConfig, tries: int = 64) -> np.ndarray:
    """(T, 5) targets -> (T, 5, 5) source factors: source f equals the target on feature f, its
    other factors random, and lies in the test split (first of ``tries`` candidates that does)."""
    d = cfg.data
    member = membership(d.split_seed, d.test_fraction)
    cand = rng.integers(0, SIZES, size=(len(targets), 5, tries, 5))
    f = np.arange(5)
    cand[:, f, :, f] = targets.T[:, :, None]
    ok = member[encode(cand)] == 1
    first = np.where(ok.any(-1), ok.argmax(-1), 0)
    return np.take_along_axis(cand, first[..., None, None], axis=2)[:, :, 0]


@torch.no_grad()
def recombination(model: FeatureVAE, clf: FactorClassifier, cfg: RunConfig, ev: EvalSettings) -> dict[str, float]:
    n = ev.recombination
    if n <= 0:
        return {}
    targets = test_factors(cfg, n, 0x4EC)
    src = sources_for(targets, np.random.default_rng([cfg.seed, 0x4ED]), cfg)  # (T, 5 sources, 5)
    mu = torch.from_numpy(_encode_mu(model, make_renderer(cfg.data.renderer)(src.reshape(-1, 5)))).view(n, 5, 5, -1)
    f = torch.arange(5)
    picked = mu[:, f, f]  # source f's slot f: (T, 5, d)
    z = model.object(picked)
    if model.memory is not None:
        z = model.memory.bind(model.memory.slots[0], z)
    ok = correct(clf.predict(binarise(model.decode(z).numpy())), targets)
    out = {"vsa.recombination.full": float(ok.all(1).mean())}
    out.update({f"vsa.recombination.{name}": float(ok[:, g].mean()) for g, name in enumerate(FACTOR_NAMES)})
    return out
