"""Loaders for real feature files given by path (spec §15), and the generic ``.npz`` export.

``load_symbolgrounding(video, audio, trust_pickle=False)``: the thesis/Kaggle files. Video
(N, 512) float (or preprocessed (N, 30, 17)); audio (N, 150) integer tokens, preprocessed
(N, 30, 5), or the original pickled object array of ``[tensor (1, L), transcription]`` rows —
the latter only with ``trust_pickle=True`` (unpickling runs code). Labels come from the row
index (u = r mod 50); stored transcriptions are only cross-checked (mismatches counted).

Generic ``.npz`` (``allow_pickle=False``): ``video`` (N, 30, Cv), ``audio`` (N, 30, Ca) and
optionally ``object`` / ``action`` (names or indices; default: the 50-row layout) and ``text``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from betavae.data.audiovisual_features import STEPS
from betavae.data.audiovisual_generate import Corpus, write_npz
from betavae.data.audiovisual_vocab import (
    ACTIONS,
    BLOCK,
    OBJECTS,
    action_index,
    group_labels,
    object_index,
    parse_text,
    row_labels,
)
from betavae.errors import BetavaeError


def _load(path: str | Path, what: str, trust_pickle: bool) -> np.ndarray:
    path = Path(path)
    if not path.is_file():
        raise BetavaeError(f"{what} file not found: {path}")
    try:
        arr = np.load(path, allow_pickle=False)
    except ValueError:
        if not trust_pickle:
            raise BetavaeError(f"{what} file {path} holds pickled Python objects; loading it runs code. "
                               "Pass --trust-pickle (bvae train: data.trust_pickle=true) only for a file you trust.") from None
        arr = np.load(path, allow_pickle=True)
    except OSError as exc:
        raise BetavaeError(f"{what} file {path} is not a readable .npy: {exc}") from None
    if not isinstance(arr, np.ndarray):  # an .npz archive
        arr.close()
        raise BetavaeError(f"{what} file {path} is an .npz archive; give one array as .npy (a generic .npz of "
                           "both modalities is --npz / data.npz)")
    return arr


def _tokens_from_objects(arr: np.ndarray) -> tuple[np.ndarray, list[str]]:
    tokens = np.zeros((len(arr), 150), np.int64)
    texts = []
    for i, row in enumerate(arr):
        ids = np.asarray(row[0]).reshape(-1)[:150]
        tokens[i, :len(ids)] = ids
        texts.append(str(row[1]))
    return tokens, texts


def _check_rows(n_video: int, n_audio: int, where: str) -> None:
    if n_video != n_audio:
        raise BetavaeError(f"{where}: video has {n_video} rows but audio has {n_audio}; the modalities must be row-aligned")


def _finite(x: np.ndarray, what: str) -> None:
    if np.issubdtype(x.dtype, np.floating) and not np.isfinite(x).all():
        raise BetavaeError(f"{what} contains NaN or infinite values")


def load_symbolgrounding(video_npy: str | Path, audio_npy: str | Path, *, trust_pickle: bool = False) -> Corpus:
    """The original (De Ponte & Rauchas 2022 / Bangarwaa 2025) feature files as a :class:`Corpus`."""
    video = _load(video_npy, "video", trust_pickle)
    audio = _load(audio_npy, "audio", trust_pickle)
    texts: list[str] = []
    if video.dtype == object:
        raise BetavaeError(f"video file {video_npy} holds objects; expected a float (N, 512) or (N, 30, 17) array")
    if video.ndim == 2 and video.shape[1] >= 510:
        vkind = "embedding"
    elif video.ndim == 3 and video.shape[1] == STEPS:
        vkind = "sequence"
    else:
        raise BetavaeError(f"video file {video_npy} has shape {video.shape}; expected (N, 512) or (N, 30, 17)")
    if audio.dtype == object:
        audio, texts = _tokens_from_objects(audio)
        akind = "tokens"
    elif audio.ndim == 2 and np.issubdtype(audio.dtype, np.integer):
        akind = "tokens"
    elif audio.ndim == 3 and audio.shape[1] == STEPS:
        akind = "sequence"
    else:
        raise BetavaeError(f"audio file {audio_npy} has shape {audio.shape} ({audio.dtype}); expected integer "
                           "tokens (N, 150), features (N, 30, 5) or the original object array")
    _check_rows(len(video), len(audio), f"{video_npy} / {audio_npy}")
    _finite(video, f"video file {video_npy}")
    _finite(audio, f"audio file {audio_npy}")
    n = len(video)
    labels = row_labels(n)
    meta = {"source": f"{video_npy} + {audio_npy}"}
    if texts:
        parsed = [parse_text(t) for t in texts]
        meta["text_mismatches"] = int(sum(p is None or p != (labels["object"][i], labels["action"][i])
                                          for i, p in enumerate(parsed)))
        labels["text"] = np.array(texts)
    idx = np.arange(n)
    return Corpus(video.astype(np.float32), audio, idx, idx, labels, vkind, akind, meta=meta)


def load_npz(path: str | Path) -> Corpus:
    """A generic ``.npz`` (see the module docstring) as a :class:`Corpus`."""
    try:
        z = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise BetavaeError(f"{path} is not a readable .npz without pickled objects: {exc}") from None
    with z:
        missing = {"video", "audio"} - set(z.files)
        if missing:
            raise BetavaeError(f"{path} lacks {', '.join(sorted(missing))}; it needs 'video' (N, 30, Cv) and 'audio' (N, 30, Ca)")
        video, audio = z["video"], z["audio"]
        for name, x in (("video", video), ("audio", audio)):
            if x.ndim != 3 or x.shape[1] != STEPS:
                raise BetavaeError(f"{path}: {name} has shape {x.shape}; expected (N, {STEPS}, C)")
            _finite(x, f"{path}: {name}")
        _check_rows(len(video), len(audio), str(path))
        n = len(video)
        labels = row_labels(n)
        if "object" in z.files or "action" in z.files:
            if not {"object", "action"} <= set(z.files):
                raise BetavaeError(f"{path}: give both 'object' and 'action' labels, or neither")
            obj = np.array([object_index(x) for x in z["object"].tolist()])
            act = np.array([action_index(x) for x in z["action"].tolist()])
            if len(obj) != n or len(act) != n:
                raise BetavaeError(f"{path}: label arrays have {len(obj)}/{len(act)} rows, features {n}")
            labels.update({"object": obj, "action": act, "group": group_labels(obj, act)})
        elif n % BLOCK:
            raise BetavaeError(f"{path}: no 'object'/'action' labels and {n} rows is not a multiple of 50 "
                               "(the layout that labels rows by index)")
        if "text" in z.files:
            labels["text"] = z["text"].astype(str)
    idx = np.arange(n)
    return Corpus(video.astype(np.float32), audio.astype(np.float32), idx, idx, labels, "sequence", "sequence",
                  meta={"source": str(path)})


def save_npz(corpus: Corpus, path: str | Path) -> None:
    """Write a corpus with sequence features in the generic format (atomic, no pickle)."""
    if corpus.video_kind != "sequence" or corpus.audio_kind != "sequence":
        raise BetavaeError("only sequence (temporal-mode) features export to the generic .npz")
    arrays = {"video": corpus.video[corpus.video_index], "audio": corpus.audio[corpus.audio_index],
              "object": np.array(OBJECTS)[corpus.labels["object"]], "action": np.array(ACTIONS)[corpus.labels["action"]]}
    write_npz(path, arrays)
