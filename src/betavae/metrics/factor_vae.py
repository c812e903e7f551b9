"""The FactorVAE score (Kim & Mnih 2018, "Disentangling by Factorising"), with
disentanglement_lib's defaults (and its study's pruning threshold 0.05).
"""

from __future__ import annotations

import numpy as np

from betavae.errors import BetavaeError
from betavae.metrics._checks import Seed, as_generator
from betavae.metrics.sampling import (
    DEFAULT_ENCODE_BATCH,
    Encoder,
    FactorSource,
    encode_factors,
    varying_factors,
)


def factor_vae_votes(
    encode: Encoder,
    source: FactorSource,
    num_points: int,
    rng: np.random.Generator,
    global_var: np.ndarray,
    active: np.ndarray,
    batch_size: int = 64,
    encode_batch_size: int = DEFAULT_ENCODE_BATCH,
) -> np.ndarray:
    """Vote matrix (K, D): each vote fixes factor k over ``batch_size`` random factor vectors
    (to the first row's value) and votes for d* = argmin over the active dimensions of
    var_batch(μ_d, ddof=1) / global_var_d. Columns are true code dimensions."""
    choices = varying_factors(source, "factor_vae")
    k_all = len(source.factor_sizes)
    labels = choices[rng.integers(len(choices), size=num_points)]
    factors = np.asarray(source.sample_factors_uniform(num_points * batch_size, rng)).reshape(
        num_points, batch_size, k_all
    )
    rows = np.arange(num_points)
    factors[rows, :, labels] = factors[rows, 0, labels][:, None]
    active_idx = np.flatnonzero(active)
    per_chunk = max(1, encode_batch_size // batch_size)
    winners = []
    for start in range(0, num_points, per_chunk):
        chunk = factors[start : start + per_chunk]
        z = encode_factors(encode, source, chunk.reshape(-1, k_all), encode_batch_size)
        z = z.astype(np.float64).reshape(chunk.shape[0], batch_size, -1)[:, :, active_idx]
        ratio = np.var(z, axis=1, ddof=1) / global_var[active_idx]
        winners.append(active_idx[np.argmin(ratio, axis=1)])
    votes = np.zeros((k_all, global_var.shape[0]), dtype=np.int64)
    np.add.at(votes, (labels, np.concatenate(winners)), 1)
    return votes


def factor_vae_score(
    encode: Encoder,
    source: FactorSource,
    *,
    seed: Seed = 0,
    batch_size: int = 64,
    num_train: int = 10_000,
    num_eval: int = 5_000,
    num_variance_estimate: int = 10_000,
    prune_threshold: float = 0.05,
    encode_batch_size: int = DEFAULT_ENCODE_BATCH,
) -> dict[str, float]:
    """FactorVAE score: majority-vote accuracy of naming the fixed factor from the code
    dimension of least normalised variance.

    Args:
        encode: ``observations -> (n, D)`` posterior means.
        source: ground-truth source.
        seed: int or Generator; draws the variance set, the train votes, then the eval votes.
        batch_size: factor vectors per vote (L = 64).
        num_train, num_eval: votes (10,000 / 5,000).
        num_variance_estimate: points for the global variances (10,000).
        prune_threshold: a dimension is active if its global standard deviation is at least
            this (0.05 in the study; disentanglement_lib's function default is 0.0). A
            dimension of zero variance is never active (its ratio would be 0/0).
        encode_batch_size: observations per ``encode`` call (speed only).

    Returns:
        ``factor_vae.train_accuracy``, ``factor_vae.eval_accuracy`` (both 0 if no dimension
        is active) and ``factor_vae.num_active_dims``, the true count (disentanglement_lib
        reports D, the length of its mask).
    """
    if batch_size < 2 or num_train < 1 or num_eval < 1:
        raise BetavaeError(
            f"factor_vae: need batch_size >= 2 (a variance) and num_train, num_eval >= 1, got "
            f"{batch_size}, {num_train}, {num_eval}"
        )
    if num_variance_estimate < 2:
        raise BetavaeError(
            f"factor_vae: num_variance_estimate must be >= 2, got {num_variance_estimate}"
        )
    rng = as_generator(seed)
    factors = np.asarray(source.sample_factors_uniform(num_variance_estimate, rng))
    codes = encode_factors(encode, source, factors, encode_batch_size).astype(np.float64)
    global_var = np.var(codes, axis=0, ddof=1)
    active = (np.sqrt(global_var) >= prune_threshold) & (global_var > 0.0)
    if not active.any():
        return {
            "factor_vae.train_accuracy": 0.0,
            "factor_vae.eval_accuracy": 0.0,
            "factor_vae.num_active_dims": 0.0,
        }
    args = (global_var, active, batch_size, encode_batch_size)
    train_votes = factor_vae_votes(encode, source, num_train, rng, *args)
    classifier = np.argmax(train_votes, axis=0)
    columns = np.arange(train_votes.shape[1])
    eval_votes = factor_vae_votes(encode, source, num_eval, rng, *args)
    return {
        "factor_vae.train_accuracy": float(
            train_votes[classifier, columns].sum() / train_votes.sum()
        ),
        "factor_vae.eval_accuracy": float(eval_votes[classifier, columns].sum() / eval_votes.sum()),
        "factor_vae.num_active_dims": float(active.sum()),
    }
