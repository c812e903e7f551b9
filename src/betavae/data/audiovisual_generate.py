"""The built-in audiovisual object–action set: generation, cache, and the in-memory corpus (spec §14).

Row r = (s·V + v)·50 + u for pairing set s < S, voice v < V, utterance u < 50. Set s pairs video
set s mod 6 with audio set (s mod 6 + s // 6) mod 6, so 36 sets cover all 6×6 pairs and any
6 consecutive sets use every augmentation once. A *base clip* (v, u) fixes the scene (colour,
scale, start, angle) and the speech onset; augmentations derive from it, as in the original,
where the 36 sets are augmentations of the same 1000 recordings. Features are stored per unique
clip (video: (video set, v, u); audio: (audio set, v, u)) with per-row indices into them.

Repeated "This is a X" utterances (u mod 5 = 1..4 for u < 25) get +0.5 s or +1.0 s delay, or
volume ×0.5 or ×1.5 (spec §2). The whole set is cached as one ``.npz`` under the cache dir, keyed
by the config; the speech waveforms per voice likewise (see :mod:`betavae.data.audiovisual_speech`).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from betavae.bounds import Seed
from betavae.cache import cache_dir
from betavae.data import audiovisual_render as render
from betavae.data import audiovisual_speech as speech
from betavae.data.audiovisual_audio import CLIP, TOKEN_FRAMES, audio_features, phoneme_frames, place
from betavae.data.audiovisual_speech import SR
from betavae.data.audiovisual_vocab import BLOCK, row_labels, texts, utterance
from betavae.errors import BetavaeError
from betavae.io import atomic_write

log = logging.getLogger(__name__)
FORMAT = 1
REPEATS = ((0.0, 1.0), (0.5, 1.0), (1.0, 1.0), (0.0, 0.5), (0.0, 1.5))  # (extra delay s, gain) by u mod 5


class GenerationConfig(BaseModel):
    """Size knobs and generation choices (full: 36 sets × 20 voices × 50 = 36,000 rows). Frozen;
    unknown keys are errors (a plain pydantic model: :mod:`betavae.config` imports every data
    module, so a data module cannot take its ``Strict`` base)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    n_sets: int = Field(36, ge=1, le=36)
    n_voices: int = Field(20, ge=1, le=60)
    img_size: int = Field(180, ge=32, le=512)
    seed: Seed = 0
    speech: Literal["espeak", "tones"] = "espeak"
    frame_index: int = Field(0, ge=0, lt=render.T)
    projection_seed: Seed = 0
    #: also record espeak's phoneme events as per-20-ms phoneme tokens (``phon20``), the spec's
    #: alternative tokeniser (faithful mode, ``tokens=phonemes``); needs ``speech=espeak``
    phonemes: bool = False

    @model_validator(mode="after")
    def _phonemes_need_espeak(self) -> GenerationConfig:
        if self.phonemes and self.speech != "espeak":
            raise ValueError("phoneme tokens need espeak-ng speech (speech=espeak)")
        return self

    @property
    def n_rows(self) -> int:
        return self.n_sets * self.n_voices * BLOCK


def set_pairs(n_sets: int) -> list[tuple[int, int]]:
    """(video set, audio set) of pairing sets 0..n_sets−1."""
    return [(s % 6, (s % 6 + s // 6) % 6) for s in range(n_sets)]


@dataclass
class Corpus:
    """Raw features with per-row labels; any source (generated set, original files, generic npz).

    ``video`` is indexed by ``video_index`` (N,) and ``audio`` by ``audio_index`` (N,).
    ``video_kind``: ``embedding`` (Nv, D) or ``sequence`` (Nv, T, C). ``audio_kind``: ``tokens``
    (Na, L) ints, ``mfcc_frames`` (Na, 150, 13) with ``audio_energy`` (Na, 150), or ``sequence``.
    ``extra`` holds the other mode's features of a generated set (``motion``, ``mfcc100``).
    """

    video: np.ndarray
    audio: np.ndarray
    video_index: np.ndarray
    audio_index: np.ndarray
    labels: dict[str, np.ndarray]
    video_kind: str
    audio_kind: str
    audio_energy: np.ndarray | None = None
    extra: dict[str, np.ndarray] = field(default_factory=dict)
    meta: dict = field(default_factory=dict)

    @property
    def n_rows(self) -> int:
        return len(self.video_index)

    def with_mode(self, mode: str) -> Corpus:
        """The generated set's features for ``faithful`` (embedding + MFCC frames for tokens) or
        ``temporal`` (motion features + 0.1-s MFCCs) mode."""
        if mode == "faithful" or not self.extra:
            if mode == "temporal" and self.video_kind == "embedding":
                raise BetavaeError("temporal mode needs per-frame video features; this corpus has embeddings only")
            return self
        return Corpus(self.extra["motion"], self.extra["mfcc100"], self.video_index, self.audio_index,
                      self.labels, "sequence", "sequence", meta=self.meta)

    def with_tokens(self, tokens: str) -> Corpus:
        """Faithful-mode audio tokens: ``kmeans`` (of 20-ms MFCC frames, fitted per split) or
        ``phonemes`` (espeak's phoneme events per 20-ms frame, 0 = silence or pause)."""
        if tokens == "kmeans":
            return self
        if "phon20" not in self.extra:
            raise BetavaeError("this data set has no phoneme tokens; generate it with --phonemes "
                               "(espeak-ng speech only)")
        if self.video_kind != "embedding":
            raise BetavaeError("phoneme tokens are audio for the faithful mode; use --mode faithful")
        return Corpus(self.video, self.extra["phon20"], self.video_index, self.audio_index, self.labels,
                      self.video_kind, "tokens", extra=self.extra, meta=self.meta)


def _key(cfg: GenerationConfig) -> str:
    version = speech.espeak_version() if cfg.speech == "espeak" else "tones"
    # ``phonemes`` enters the key only when on, so sets generated before it existed stay valid
    blob = json.dumps([FORMAT, cfg.model_dump(exclude=set() if cfg.phonemes else {"phonemes"}), version],
                      sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def cache_path(cfg: GenerationConfig) -> Path:
    return cache_dir() / "crossmodal" / f"av_{cfg.n_sets}x{cfg.n_voices}_{_key(cfg)}.npz"


def write_npz(path: str | Path, arrays: dict[str, np.ndarray]) -> None:
    """Atomically write an uncompressed ``.npz`` (no pickled objects)."""

    def write(tmp: str) -> None:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)

    atomic_write(path, write)


def digest(arrays: dict[str, np.ndarray]) -> str:
    """SHA-256 over the arrays' names, dtypes, shapes and bytes (the regeneration check)."""
    h = hashlib.sha256()
    for k in sorted(arrays):
        a = np.ascontiguousarray(arrays[k])
        h.update(f"{k}{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def speech_waves(cfg: GenerationConfig, voice: speech.Voice) -> tuple[list[np.ndarray], list[speech.Events] | None]:
    """The 30 texts spoken by ``voice`` (float32, 16 kHz) and, with ``cfg.phonemes``, their
    phoneme events; from the cache or synthesised."""
    words = texts()
    tag = "_phonemes" if cfg.phonemes else ""
    path = (cache_dir() / "crossmodal" / "speech"
            / f"{cfg.speech}{tag}_{speech.speech_key(cfg.speech, voice, words)}.npz")
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as z:
                waves = np.split(z["samples"], z["ends"][:-1])
                if not cfg.phonemes:
                    return waves, None
                return waves, speech.unpack_events(z)
        except (OSError, ValueError, KeyError):
            log.warning("ignoring unreadable speech cache %s", path)
    events = None
    if cfg.phonemes:
        waves, events = speech.synthesize_espeak_phonemes(voice, words)
    else:
        waves = (speech.synthesize_espeak if cfg.speech == "espeak" else speech.synthesize_tones)(voice, words)
    arrays = {"samples": np.concatenate(waves), "ends": np.cumsum([len(w) for w in waves])}
    if events is not None:
        arrays.update(speech.pack_events(events))
    write_npz(path, arrays)
    return waves, events


def generate(cfg: GenerationConfig, progress: Callable[[int], None] | None = None) -> Corpus:
    """The data set for ``cfg``, from the cache when complete, else generated and cached.
    ``progress(n)`` is called with the number of clips (video + audio) finished since the last call."""
    path = cache_path(cfg)
    if path.is_file():
        try:
            return load_generated(path)
        except (OSError, ValueError, KeyError):
            log.warning("regenerating: unreadable cache %s", path)
    arrays = _generate_arrays(cfg, progress or (lambda n: None))
    meta = {"config": cfg.model_dump(), "digest": digest(arrays), "format": FORMAT,
            "speech": speech.espeak_version() if cfg.speech == "espeak" else "tones (pseudo-speech, not words)"}
    arrays["meta"] = np.array(json.dumps(meta))
    write_npz(path, arrays)
    return load_generated(path)


def _generate_arrays(cfg: GenerationConfig, progress: Callable[[int], None]) -> dict[str, np.ndarray]:
    pairs = set_pairs(cfg.n_sets)
    vsets = sorted({p[0] for p in pairs})
    asets = sorted({p[1] for p in pairs})
    V = cfg.n_voices
    voices = speech.default_voices(V, cfg.seed)
    proj = render.projection(cfg.projection_seed)
    n_v, n_a = len(vsets) * V * BLOCK, len(asets) * V * BLOCK
    embed = np.zeros((n_v, 512), np.float32)
    motion = np.zeros((n_v, render.T, 17), np.float32)
    afeat: dict[str, np.ndarray] = {}
    phon = np.full((n_a, TOKEN_FRAMES), "", "U8") if cfg.phonemes else None
    words = texts()
    for v, voice in enumerate(voices):
        synth_params = sorted({speech.AUDIO_SETS[a][1:3] for a in asets})
        spoken = {p: speech_waves(cfg, voice.shifted(*p)) for p in synth_params}
        clips = np.zeros((len(asets), BLOCK, CLIP), np.float32)
        for u in range(BLOCK):
            k, act, text = utterance(u)
            rng = np.random.default_rng([cfg.seed, v, u])
            scene = render.draw_scene(rng, k, act)
            onset = float(rng.uniform(0.1, 0.4))
            mask = render.render_mask(scene, cfg.img_size)
            for j, vs in enumerate(vsets):
                m = render.augment_mask(mask, vs, act)
                i = (j * V + v) * BLOCK + u
                motion[i] = render.motion_features(m)
                grey = render.colorize(m[cfg.frame_index], scene, vs).mean(-1)
                embed[i] = render.block_mean(grey, 32).reshape(-1).astype(np.float32) @ proj
            delay, gain = REPEATS[u % 5] if u < 25 else (0.0, 1.0)
            for j, a in enumerate(asets):
                name, rate, pitch, set_gain = speech.AUDIO_SETS[a]
                waves, events = spoken[(rate, pitch)]
                clips[j, u] = place(waves[words.index(text)], onset + delay, gain * set_gain)
                if events is not None:
                    phon[(j * V + v) * BLOCK + u] = phoneme_frames(events[words.index(text)],
                                                                   len(waves[words.index(text)]) / SR, onset + delay)
        feats = audio_features(clips.reshape(-1, clips.shape[-1]))
        for name, arr in feats.items():
            if name not in afeat:
                afeat[name] = np.zeros((n_a,) + arr.shape[1:], np.float32)
            for j in range(len(asets)):
                afeat[name][(j * V + v) * BLOCK:(j * V + v + 1) * BLOCK] = arr[j * BLOCK:(j + 1) * BLOCK]
        progress(BLOCK * (len(vsets) + len(asets)))
    n = cfg.n_rows
    r = np.arange(n)
    s, v, u = r // (V * BLOCK), (r // BLOCK) % V, r % BLOCK
    vset = np.array([p[0] for p in pairs])[s]
    aset = np.array([p[1] for p in pairs])[s]
    video_index = (np.searchsorted(vsets, vset) * V + v) * BLOCK + u
    audio_index = (np.searchsorted(asets, aset) * V + v) * BLOCK + u
    if phon is not None:
        vocab, ids = np.unique(phon, return_inverse=True)  # "" (blank) sorts first -> id 0
        afeat.update(phon20=ids.reshape(phon.shape).astype(np.int16), phoneme_vocab=vocab)
    return {"embed": embed, "motion": motion, **afeat, "video_index": video_index, "audio_index": audio_index,
            "set": s, "voice": v, "video_set": vset, "audio_set": aset,
            "voices": np.array([f"{x.variant}:{x.rate}:{x.pitch}" for x in voices])}


def load_generated(path: str | Path) -> Corpus:
    """A generated set from its ``.npz`` (no pickle)."""
    with np.load(path, allow_pickle=False) as z:
        a = {k: z[k] for k in z.files}
    meta = json.loads(str(a.pop("meta")))
    labels = row_labels(len(a["video_index"]))
    labels.update({k: a[k] for k in ("set", "voice", "video_set", "audio_set")})
    meta["voices"] = a["voices"].tolist()
    extra = {"motion": a["motion"], "mfcc100": a["mfcc100"]}
    if "phon20" in a:
        extra["phon20"] = a["phon20"]
        meta["phoneme_vocab"] = a["phoneme_vocab"].tolist()
    return Corpus(a["embed"], a["mfcc20"], a["video_index"], a["audio_index"], labels, "embedding", "mfcc_frames",
                  audio_energy=a["energy20"], extra=extra, meta=meta)


def audio_clip(cfg: GenerationConfig, voice: int, u: int, audio_set: int = 0) -> np.ndarray:
    """One row's 3-s waveform (48,000 float32 at 16 kHz), rebuilt from the speech cache."""
    vo = speech.default_voices(cfg.n_voices, cfg.seed)[voice]
    name, rate, pitch, set_gain = speech.AUDIO_SETS[audio_set]
    waves, _ = speech_waves(cfg, vo.shifted(rate, pitch))
    rng = np.random.default_rng([cfg.seed, voice, u])
    render.draw_scene(rng, *utterance(u)[:2])
    onset = float(rng.uniform(0.1, 0.4))
    delay, gain = REPEATS[u % 5] if u < 25 else (0.0, 1.0)
    return place(waves[texts().index(utterance(u)[2])], onset + delay, gain * set_gain)
