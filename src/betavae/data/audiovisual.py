"""The audiovisual object–action set (Bangarwaa 2025; spec/crossmodal.md §3–4) as a data kind.

``data.kind: audiovisual`` describes the model inputs of one protocol split. Its source is one of
three: the generated set (``n_sets`` × ``n_voices`` × 50 rows, cached;
:mod:`betavae.data.audiovisual_generate`), the original feature files (``video_file`` and
``audio_file``, spec §15; :mod:`betavae.data.audiovisual_files`) or a generic ``.npz``
(``npz``). Then its features for a mode (``faithful`` or ``temporal``) and audio tokens, the split
(``symbol`` grounding, or ``compositional`` with object ``held_out`` held out;
:mod:`betavae.data.audiovisual_splits`) and the scalers fitted on its rows
(:mod:`betavae.data.audiovisual_features`). ``build()`` gives :class:`AudiovisualArrays`: video
(N, 30, Cv) and audio (N, 30, Ca) float32, with the training and validation rows. The cross-modal
task (:mod:`betavae.train.tasks.audiovisual`) trains on them; the study builds the same arrays itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from pydantic import Field, SerializerFunctionWrapHandler, model_serializer, model_validator

from betavae.bounds import Seed
from betavae.data import DATA
from betavae.data.audiovisual_features import (
    EMBEDDING_CHANNELS,
    TOKEN_CHANNELS,
    input_dims,
    prepare,
)
from betavae.data.audiovisual_files import load_npz, load_symbolgrounding
from betavae.data.audiovisual_generate import Corpus, GenerationConfig, generate
from betavae.data.audiovisual_splits import make_split
from betavae.data.base import DataConfig
from betavae.errors import BetavaeError

#: options added after run ids were handed out, with their defaults: left out of the config's dump
#: (so of its hash) while at the default, so the run ids of configs that do not use them stay
FILE_OPTIONS: dict[str, Any] = {"video_file": None, "audio_file": None, "trust_pickle": False}


@dataclass(frozen=True)
class AudiovisualArrays:
    """Model inputs: ``video`` (N, 30, Cv), ``audio`` (N, 30, Ca) float32; ``train``, ``val``
    and (for the measures) ``test`` row indices (int64); ``labels``: per-row ``object`` (0–4),
    ``action`` (0 = still, 1–5) and ``group`` arrays (empty for arrays a caller made up)."""

    video: np.ndarray
    audio: np.ndarray
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    labels: dict[str, np.ndarray] = field(default_factory=dict)


def features_for(corpus: Corpus, mode: str, tokens: str) -> Corpus:
    """The corpus's features for feature ``mode`` and faithful-mode audio ``tokens``."""
    if tokens == "phonemes" and mode != "faithful":
        raise BetavaeError("phoneme tokens are audio for the faithful mode; use --mode faithful")
    return corpus.with_mode(mode).with_tokens(tokens)


@DATA.register("audiovisual")
class AudiovisualConfig(DataConfig):
    """One split of the audiovisual set (defaults: the full generated set, symbol grounding).

    ``speech: espeak`` needs the ``speech`` extra (espeak-ng); ``tones`` is formant-like
    pseudo-speech that needs nothing. ``held_out`` (an object name or 0–4) is read by the
    compositional protocol only. ``video_file``/``audio_file`` (both or neither) or ``npz``
    replace the generated set (its size and speech knobs are then unused)."""

    kind: Literal["audiovisual"] = "audiovisual"
    n_sets: int = Field(36, ge=1, le=36)
    n_voices: int = Field(20, ge=1, le=60)
    img_size: int = Field(180, ge=32, le=512)
    seed: Seed = 0
    speech: Literal["espeak", "tones"] = "espeak"
    #: a generic .npz of (N, 30, C) features instead of the generated set (see betavae.data.audiovisual_files)
    npz: str | None = None
    #: the original video features .npy: (N, 512) embeddings (faithful mode: MinMax, first 510
    #: dims as (30, 17)) or (N, 30, 17) sequences
    video_file: str | None = None
    #: the original audio .npy: (N, 150) integer tokens (MinMax, as (30, 5)), (N, 30, 5)
    #: features, or the pickled object array of [tensor (1, L), transcription] rows (trust_pickle)
    audio_file: str | None = None
    #: allow the pickled audio object array (unpickling runs code: only for a file you trust)
    trust_pickle: bool = False
    mode: Literal["faithful", "temporal"] = "faithful"
    tokens: Literal["kmeans", "phonemes"] = "kmeans"
    protocol: Literal["symbol", "compositional"] = "symbol"
    held_out: int | str = "pen"
    scaler_fit: Literal["train", "all"] = "train"
    val_split: Literal["row", "group"] = "row"

    @model_validator(mode="after")
    def _one_source(self) -> AudiovisualConfig:
        if (self.video_file is None) != (self.audio_file is None):
            raise ValueError("give both video_file and audio_file (the original feature files), or neither")
        if self.npz is not None and self.video_file is not None:
            raise ValueError("npz and video_file/audio_file are two sources of features; give one")
        if self.trust_pickle and self.audio_file is None:
            raise ValueError("trust_pickle applies to an audio_file only")
        if self.npz is None and self.video_file is None:
            self.generation()  # the generated set's own checks (phoneme tokens need espeak), at config time
        return self

    @model_serializer(mode="wrap")
    def _dump(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """The fields, less the :data:`FILE_OPTIONS` at their defaults."""
        d = handler(self)
        for key, default in FILE_OPTIONS.items():
            if d.get(key, default) == default:
                d.pop(key, None)
        return d

    def generation(self) -> GenerationConfig:
        """The generated set's config (read when neither files nor ``npz`` are given)."""
        return GenerationConfig(n_sets=self.n_sets, n_voices=self.n_voices, img_size=self.img_size, seed=self.seed,
                                speech=self.speech, phonemes=self.tokens == "phonemes")

    def corpus(self, progress: Callable[[int], None] | None = None) -> Corpus:
        """The raw features of the source (``progress``: see :func:`~betavae.data.audiovisual_generate.generate`)."""
        if self.npz is not None:
            return load_npz(self.npz)
        if self.video_file is not None:
            return load_symbolgrounding(self.video_file, self.audio_file, trust_pickle=self.trust_pickle)
        return generate(self.generation(), progress)

    def feature_dims(self) -> tuple[int, int]:
        """(Cv, Ca): video and audio features per step; the generated set's (both modes: (17, 5))
        without building it, a file source's by reading it."""
        if self.npz is None and self.video_file is None:
            return EMBEDDING_CHANNELS, TOKEN_CHANNELS
        return input_dims(features_for(self.corpus(), self.mode, self.tokens))

    def build(self) -> AudiovisualArrays:
        corpus = features_for(self.corpus(), self.mode, self.tokens)
        split = make_split(corpus.labels, self.protocol, self.held_out if self.protocol == "compositional" else None,
                           self.val_split)
        prep = prepare(corpus, split.fit, self.scaler_fit, seed=self.seed)
        return AudiovisualArrays(prep.video, prep.audio, split.train, split.val, split.test, dict(corpus.labels))
