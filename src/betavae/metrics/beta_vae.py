"""The BetaVAE score (Higgins et al. 2017, "beta-VAE: Learning Basic Visual Concepts with a
Constrained Variational Framework"), with disentanglement_lib's defaults.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from betavae.errors import BetavaeError
from betavae.metrics._checks import Seed, as_generator, estimator_seeds
from betavae.metrics.estimators import (
    LOGREG_DEFAULTS,
    make_logreg,
    merged,
    single_threaded_blas,
)
from betavae.metrics.sampling import (
    DEFAULT_ENCODE_BATCH,
    Encoder,
    FactorSource,
    encode_factors,
    varying_factors,
)


def beta_vae_points(
    encode: Encoder,
    source: FactorSource,
    num_points: int,
    rng: np.random.Generator,
    batch_size: int = 64,
    encode_batch_size: int = DEFAULT_ENCODE_BATCH,
) -> tuple[np.ndarray, np.ndarray]:
    """Features (num_points, D) and labels (num_points,) of the BetaVAE classifier.

    Each point: k uniform over the varying factors; two batches of ``batch_size`` factor
    vectors, the second sharing column k with the first; feature = mean over the pairs of
    |μ(x¹) − μ(x²)|; label k.
    """
    choices = varying_factors(source, "beta_vae")
    labels = choices[rng.integers(len(choices), size=num_points)]
    k = len(source.factor_sizes)
    first = np.asarray(source.sample_factors_uniform(num_points * batch_size, rng)).reshape(
        num_points, batch_size, k
    )
    second = np.asarray(source.sample_factors_uniform(num_points * batch_size, rng)).reshape(
        num_points, batch_size, k
    )
    rows = np.arange(num_points)
    second[rows, :, labels] = first[rows, :, labels]
    per_chunk = max(1, encode_batch_size // (2 * batch_size))
    features = []
    for start in range(0, num_points, per_chunk):
        pair = np.concatenate([first[start : start + per_chunk], second[start : start + per_chunk]])
        n = pair.shape[0] // 2
        z = encode_factors(encode, source, pair.reshape(-1, k), encode_batch_size)
        z = z.astype(np.float64).reshape(2, n, batch_size, -1)
        features.append(np.mean(np.abs(z[0] - z[1]), axis=1))
    return np.concatenate(features), labels


def beta_vae_score(
    encode: Encoder,
    source: FactorSource,
    *,
    seed: Seed = 0,
    batch_size: int = 64,
    num_train: int = 10_000,
    num_eval: int = 5_000,
    logreg_params: dict[str, Any] | None = None,
    encode_batch_size: int = DEFAULT_ENCODE_BATCH,
) -> dict[str, float]:
    """BetaVAE score: accuracy of a linear classifier that names the fixed factor.

    Args:
        encode: ``observations -> (n, D)`` posterior means.
        source: ground-truth source (``factor_sizes``, ``sample_factors_uniform``,
            ``observations``).
        seed: int or Generator; draws the train points, the classifier seed, then the eval
            points.
        batch_size: pairs per point (L = 64).
        num_train, num_eval: points (10,000 / 5,000).
        logreg_params: overrides of :data:`~betavae.metrics.estimators.LOGREG_DEFAULTS`.
        encode_batch_size: observations per ``encode`` call (speed only).

    Returns:
        ``beta_vae.train_accuracy`` and ``beta_vae.eval_accuracy``.
    """
    if batch_size < 1 or num_train < 1 or num_eval < 1:
        raise BetavaeError(
            f"beta_vae: batch_size, num_train and num_eval must be >= 1, got "
            f"{batch_size}, {num_train}, {num_eval}"
        )
    rng = as_generator(seed)
    x_train, y_train = beta_vae_points(
        encode, source, num_train, rng, batch_size, encode_batch_size
    )
    (clf_seed,) = estimator_seeds(rng, 1)
    with single_threaded_blas():
        model = make_logreg(merged(LOGREG_DEFAULTS, logreg_params), clf_seed)
        model.fit(x_train, y_train)
        train_accuracy = float(np.mean(model.predict(x_train) == y_train))
    x_eval, y_eval = beta_vae_points(encode, source, num_eval, rng, batch_size, encode_batch_size)
    with single_threaded_blas():
        eval_accuracy = float(np.mean(model.predict(x_eval) == y_eval))
    return {"beta_vae.train_accuracy": train_accuracy, "beta_vae.eval_accuracy": eval_accuracy}
