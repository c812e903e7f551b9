"""From raw features to the models' (N, 30, C) inputs in [0, 1] (spec §3, §14.6).

``faithful``: video (N, 512) → per-column MinMax → first 510 dims → (30, 17) (the 30 "steps"
are blocks of embedding dimensions); audio tokens (N, 150) (zero-padded / truncated) → per-column
MinMax → (30, 5). Generated sets carry 20-ms MFCC frames instead of tokens: a k-means with
K − 1 = 28 centres, fitted on training rows only, maps voiced frames to tokens 1..28 and frames
with log energy below ``blank_log_energy`` to 0 (blank/pad). ``temporal``: (N, 30, C) sequences,
MinMax per channel. Scalers are fitted on the ``fit`` rows (``scaler_fit=train``) or all rows
(``all``, the reference's flaw F2).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from betavae.data.audiovisual_generate import Corpus
from betavae.errors import BetavaeError

STEPS = 30
#: channels per step of the faithful mode's inputs: 510 embedding dims as (30, 17), 150 tokens as (30, 5)
EMBEDDING_CHANNELS, TOKEN_CHANNELS = 17, 5


@dataclass
class Prepared:
    """Model inputs: ``video`` (N, 30, Cv) and ``audio`` (N, 30, Ca), float32."""

    video: np.ndarray
    audio: np.ndarray


def minmax(x: np.ndarray, fit_rows: np.ndarray, axes: tuple[int, ...] = (0,)) -> np.ndarray:
    """Scale like sklearn's MinMaxScaler (constant columns get scale 1), fitted on ``fit_rows``."""
    ref = x[fit_rows]
    lo, hi = ref.min(axis=axes, keepdims=True), ref.max(axis=axes, keepdims=True)
    rng = np.where(hi - lo == 0, 1.0, hi - lo)
    return ((x - lo) / rng).astype(np.float32)


def tokenize(frames: np.ndarray, energy: np.ndarray, fit: np.ndarray, k: int = 29, seed: int = 0,
             blank_log_energy: float = -20.0, max_fit_frames: int = 20_000) -> np.ndarray:
    """Token ids (N, L) int64 in 0..k−1 from MFCC frames (N, L, D), k-means fitted on rows ``fit``."""
    from sklearn.cluster import KMeans

    voiced = energy > blank_log_energy
    pool = frames[fit][voiced[fit]]
    if len(pool) < k:
        raise BetavaeError(f"only {len(pool)} voiced audio frames in the training rows; need at least {k}")
    rng = np.random.default_rng([seed, 29])
    if len(pool) > max_fit_frames:
        pool = pool[rng.choice(len(pool), max_fit_frames, replace=False)]
    km = KMeans(k - 1, n_init=1, random_state=seed).fit(pool.astype(np.float64))
    ids = km.predict(frames.reshape(-1, frames.shape[-1]).astype(np.float64)).reshape(frames.shape[:2]) + 1
    return np.where(voiced, ids, 0)


def pad_tokens(tokens: np.ndarray, length: int = 150) -> np.ndarray:
    out = np.zeros((len(tokens), length), np.float32)
    n = min(length, tokens.shape[1])
    out[:, :n] = tokens[:, :n]
    return out


def prepare(corpus: Corpus, fit_rows: np.ndarray, scaler_fit: str = "train", seed: int = 0) -> Prepared:
    """Per-row model inputs of ``corpus``; scalers (and the tokeniser) fitted on ``fit_rows``."""
    if scaler_fit not in ("train", "all"):
        raise BetavaeError(f"unknown scaler_fit {scaler_fit!r}; use train or all")
    rows = np.arange(corpus.n_rows) if scaler_fit == "all" else np.asarray(fit_rows)
    return Prepared(_video(corpus, rows), _audio(corpus, rows, np.asarray(fit_rows), seed))


def input_dims(corpus: Corpus) -> tuple[int, int]:
    """(Cv, Ca): channels per step of the inputs :func:`prepare` gives for ``corpus``, without
    preparing them."""
    cv = EMBEDDING_CHANNELS if corpus.video_kind == "embedding" else corpus.video.shape[2]
    ca = corpus.audio.shape[2] if corpus.audio_kind == "sequence" else TOKEN_CHANNELS
    return int(cv), int(ca)


def _video(c: Corpus, rows: np.ndarray) -> np.ndarray:
    x = c.video[c.video_index]
    if c.video_kind == "embedding":
        if x.shape[1] < 510:
            raise BetavaeError(f"video embeddings have {x.shape[1]} dims; need at least 510 for (30, 17)")
        return minmax(x[:, :510], rows).reshape(-1, STEPS, EMBEDDING_CHANNELS)
    return minmax(x, rows, (0, 1))


def _audio(c: Corpus, rows: np.ndarray, fit: np.ndarray, seed: int) -> np.ndarray:
    if c.audio_kind == "sequence":
        return minmax(c.audio[c.audio_index], rows, (0, 1))
    if c.audio_kind == "mfcc_frames":
        # fit the tokeniser on the unique clips the fit rows use, then expand to rows
        used = np.unique(c.audio_index[fit])
        mask = np.zeros(len(c.audio), bool)
        mask[used] = True
        tokens = tokenize(c.audio, c.audio_energy, np.flatnonzero(mask), seed=seed)[c.audio_index]
    else:
        tokens = c.audio[c.audio_index]
    return minmax(pad_tokens(tokens), rows).reshape(-1, STEPS, TOKEN_CHANNELS)
