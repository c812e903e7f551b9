"""The audiovisual object–action set (Bangarwaa 2025; spec/crossmodal.md §3–4) as a data kind.

``data.kind: audiovisual`` describes the model inputs of one protocol split: the generated set
(``n_sets`` × ``n_voices`` × 50 rows, cached; :mod:`betavae.crossmodal.dataset`) or a generic
``.npz`` (``npz``), its features for a mode (``faithful`` or ``temporal``) and audio tokens,
the split (``symbol`` grounding, or ``compositional`` with object ``held_out`` held out) and the
scalers fitted on its rows. ``build()`` gives :class:`AudiovisualArrays`: video (N, 30, Cv) and
audio (N, 30, Ca) float32, with the training and validation rows. The cross-modal task
(:mod:`betavae.train.tasks.audiovisual`) trains on them; the study builds the same arrays itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from pydantic import Field

from betavae.bounds import Seed
from betavae.data import DATA
from betavae.data.base import DataConfig


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


def features_for(corpus, mode: str, tokens: str):  # noqa: ANN001, ANN201 (Corpus; imported lazily)
    """The corpus's features for feature ``mode`` and faithful-mode audio ``tokens``."""
    from betavae.errors import BetavaeError

    if tokens == "phonemes" and mode != "faithful":
        raise BetavaeError("phoneme tokens are audio for the faithful mode; use --mode faithful")
    return corpus.with_mode(mode).with_tokens(tokens)


@DATA.register("audiovisual")
class AudiovisualConfig(DataConfig):
    """One split of the audiovisual set (defaults: the full generated set, symbol grounding).

    ``speech: espeak`` needs the ``speech`` extra (espeak-ng); ``tones`` is formant-like
    pseudo-speech that needs nothing. ``held_out`` (an object name or 0–4) is read by the
    compositional protocol only."""

    kind: Literal["audiovisual"] = "audiovisual"
    n_sets: int = Field(36, ge=1, le=36)
    n_voices: int = Field(20, ge=1, le=60)
    img_size: int = Field(180, ge=32, le=512)
    seed: Seed = 0
    speech: Literal["espeak", "tones"] = "espeak"
    #: a generic .npz of features instead of the generated set (see betavae.crossmodal.files)
    npz: str | None = None
    mode: Literal["faithful", "temporal"] = "faithful"
    tokens: Literal["kmeans", "phonemes"] = "kmeans"
    protocol: Literal["symbol", "compositional"] = "symbol"
    held_out: int | str = "pen"
    scaler_fit: Literal["train", "all"] = "train"
    val_split: Literal["row", "group"] = "row"

    def feature_dims(self) -> tuple[int, int]:
        """(Cv, Ca): video and audio features per step, without building the data (both modes of
        the generated set give (17, 5); a generic .npz is read)."""
        if self.npz is None:
            return 17, 5
        with np.load(self.npz, allow_pickle=False) as z:
            return int(z["video"].shape[2]), int(z["audio"].shape[2])

    def build(self) -> AudiovisualArrays:
        from betavae.crossmodal.dataset import DataConfig as GenerationConfig
        from betavae.crossmodal.dataset import generate
        from betavae.crossmodal.features import prepare
        from betavae.crossmodal.files import load_npz
        from betavae.crossmodal.splits import make_split

        if self.npz is not None:
            corpus = load_npz(self.npz)
        else:
            corpus = generate(GenerationConfig(n_sets=self.n_sets, n_voices=self.n_voices, img_size=self.img_size,
                                               seed=self.seed, speech=self.speech,
                                               phonemes=self.tokens == "phonemes"))
        corpus = features_for(corpus, self.mode, self.tokens)
        split = make_split(corpus.labels, self.protocol, self.held_out if self.protocol == "compositional" else None,
                           self.val_split)
        prep = prepare(corpus, split.fit, self.scaler_fit, seed=self.seed)
        return AudiovisualArrays(prep.video, prep.audio, split.train, split.val, split.test, dict(corpus.labels))
