"""Audio clips and features: placement in a 3-s clip, augmentation gain, MFCCs (spec §14.3–14.6).

:func:`mfcc` re-implements ``python_speech_features.mfcc`` 0.6 (pre-emphasis 0.97, rectangular
window, 26 mel filters, DCT-II ortho, lifter 22, c0 replaced by log frame energy) vectorised over
clips, so the pipeline runs without the ``speech`` extra; a test checks it equals the package.
"""

from __future__ import annotations

import numpy as np
from scipy.fft import dct

from betavae.data.audiovisual_speech import SR

CLIP_SECONDS = 3.0
CLIP = int(SR * CLIP_SECONDS)
TOKEN_STEP = 0.02  # seconds per audio token (the CTC frame of the reference)
TOKEN_FRAMES = int(round(CLIP_SECONDS / TOKEN_STEP))  # 150
EPS = np.finfo(float).eps


def place(speech: np.ndarray, onset: float, gain: float) -> np.ndarray:
    """A 3-s clip (48,000 float32 samples at 16 kHz): ``speech`` from ``onset`` s, times ``gain``,
    trimmed at the end, clipped to [−1, 1]."""
    out = np.zeros(CLIP, dtype=np.float32)
    start = min(int(round(onset * SR)), CLIP)
    seg = speech[: CLIP - start] * gain
    out[start: start + len(seg)] = seg
    return np.clip(out, -1.0, 1.0)


def phoneme_frames(events: list[tuple[float, str]], speech_seconds: float, start: float) -> np.ndarray:
    """The phoneme sounding at the centre of each 20-ms frame of a 3-s clip whose speech starts at
    ``start`` s and lasts ``speech_seconds``: (150,) str, "" for silence and pauses (espeak's
    ``_`` mnemonics); stress marks (' and ,) are dropped, so 'E and E are one token."""
    out = np.full(TOKEN_FRAMES, "", "U8")
    if not events:
        return out
    times = np.array([t for t, _ in events])
    names = np.array(["" if n.startswith("_") else n.replace("'", "").replace(",", "") for _, n in events], "U8")
    t = (np.arange(TOKEN_FRAMES) + 0.5) * TOKEN_STEP - start
    inside = (t >= times[0]) & (t < speech_seconds)
    out[inside] = names[np.searchsorted(times, t[inside], side="right") - 1]
    return out


def _mel(hz: np.ndarray) -> np.ndarray:
    return 2595 * np.log10(1 + hz / 700.0)


def _hz(mel: np.ndarray) -> np.ndarray:
    return 700 * (10 ** (mel / 2595.0) - 1)


def filterbank(nfilt: int, nfft: int, sr: int) -> np.ndarray:
    """Triangular mel filters (nfilt, nfft//2 + 1), as python_speech_features.get_filterbanks."""
    pts = _hz(np.linspace(_mel(np.array(0.0)), _mel(np.array(sr / 2)), nfilt + 2))
    bins = np.floor((nfft + 1) * pts / sr).astype(int)
    fb = np.zeros((nfilt, nfft // 2 + 1))
    for j in range(nfilt):
        for i in range(bins[j], bins[j + 1]):
            fb[j, i] = (i - bins[j]) / (bins[j + 1] - bins[j])
        for i in range(bins[j + 1], bins[j + 2]):
            fb[j, i] = (bins[j + 2] - i) / (bins[j + 2] - bins[j + 1])
    return fb


def mfcc(sig: np.ndarray, sr: int = SR, winlen: float = 0.025, winstep: float = 0.01, numcep: int = 13,
         nfilt: int = 26, nfft: int = 512, preemph: float = 0.97, ceplifter: int = 22
         ) -> tuple[np.ndarray, np.ndarray]:
    """MFCCs of clips ``sig`` (..., S): returns (mfcc (..., F, numcep), log energy (..., F)) float64."""
    sig = np.asarray(sig, dtype=np.float64)
    sig = np.concatenate([sig[..., :1], sig[..., 1:] - preemph * sig[..., :-1]], -1)
    flen, fstep = int(round(winlen * sr)), int(round(winstep * sr))
    slen = sig.shape[-1]
    nframes = 1 if slen <= flen else 1 + int(np.ceil((slen - flen) / fstep))
    pad = (nframes - 1) * fstep + flen - slen
    sig = np.concatenate([sig, np.zeros(sig.shape[:-1] + (pad,))], -1)
    idx = np.arange(flen)[None, :] + fstep * np.arange(nframes)[:, None]
    frames = sig[..., idx]
    pspec = np.abs(np.fft.rfft(frames, nfft)) ** 2 / nfft
    energy = pspec.sum(-1)
    energy = np.where(energy == 0, EPS, energy)
    feat = pspec @ filterbank(nfilt, nfft, sr).T
    feat = np.log(np.where(feat == 0, EPS, feat))
    feat = dct(feat, type=2, axis=-1, norm="ortho")[..., :numcep]
    feat = feat * (1 + (ceplifter / 2.0) * np.sin(np.pi * np.arange(numcep) / ceplifter))
    feat[..., 0] = np.log(energy)
    return feat, np.log(energy)


def audio_features(clips: np.ndarray) -> dict[str, np.ndarray]:
    """Both modes' audio features of clips (N, 48000): ``mfcc20`` (N, 150, 13) and ``energy20``
    (N, 150) for the token mode (20-ms frames), ``mfcc100`` (N, 30, 5) for the temporal mode
    (``winlen=winstep=0.1, numcep=5, nfft=2048``)."""
    m20, e20 = mfcc(clips, winlen=0.02, winstep=0.02, numcep=13, nfft=512)
    m100, _ = mfcc(clips, winlen=0.1, winstep=0.1, numcep=5, nfft=2048)
    return {"mfcc20": m20.astype(np.float32), "energy20": e20.astype(np.float32),
            "mfcc100": m100.astype(np.float32)}
