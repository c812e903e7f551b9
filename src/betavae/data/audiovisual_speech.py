"""Synthetic speech: espeak-ng through the ``espeakng-loader`` package, or a tone fallback (spec §14.3–14.4).

espeak-ng is driven through ``ctypes`` (no system binary): ``espeak_Initialize`` in synchronous
mode (22,050 Hz), a synth callback collecting int16 samples, ``espeak_SetVoiceByName("en+f3")``,
``espeak_SetParameter`` for rate (1) and pitch (3), ``espeak_Synth`` + ``espeak_Synchronize``.
The library keeps state across calls in one process (re-synthesising a text later gives different
audio), so each voice is synthesised in a **fresh subprocess** in a fixed canonical order, and the
waveforms are cached, keyed by texts, voice, parameters and library version. Output is resampled
to 16 kHz (``resample_poly(x, 320, 441)``).

With ``phonemes=True`` the library is initialised with ``espeakINITIALIZE_PHONEME_EVENTS`` and the
callback also collects the phoneme events (start sample at 22,050 Hz, mnemonic such as ``'E``):
the spec's alternative tokeniser (§14.6). Checked here with espeakng-loader 0.2.4: the events
arrive, and the audio is bit-identical to synthesis without them.

``tones`` is a deterministic formant-like pseudo-speech (one voiced syllable per word, formants
from a hash of the word): no dependency, used when the ``speech`` extra is absent by choice.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import zlib
from dataclasses import dataclass

import numpy as np

from betavae.errors import BetavaeError

SR = 16_000
#: espeak-ng variants whose output is bit-identical across processes; f3 and f5 add random
#: "breath" noise (measured: two fresh processes differ), so they are left out.
VARIANTS = ("m1", "f1", "m3", "f2", "m7", "f4", "m2", "klatt", "m5")
#: audio augmentation sets (spec §14.4): synthesis rate factor, pitch offset, volume gain
AUDIO_SETS = (
    ("identity", 1.0, 0, 1.0),
    ("speed0.7", 0.7, 0, 1.0),
    ("speed1.3", 1.3, 0, 1.0),
    ("pitch+", 1.0, 15, 1.0),
    ("pitch++", 1.0, 30, 1.0),
    ("volume2", 1.0, 0, 2.0),
)


@dataclass(frozen=True)
class Voice:
    variant: str
    rate: int  # words per minute
    pitch: int  # 0..100

    def shifted(self, rate_factor: float, pitch_offset: int) -> Voice:
        return Voice(self.variant, int(round(self.rate * rate_factor)), min(100, self.pitch + pitch_offset))


def default_voices(n: int, seed: int = 0) -> list[Voice]:
    """A fixed, seeded list of ``n`` (variant, rate 130–200 wpm, pitch 30–70) voices."""
    rng = np.random.default_rng([seed, 5])
    return [Voice(VARIANTS[i % len(VARIANTS)], int(rng.integers(130, 201)), int(rng.integers(30, 71)))
            for i in range(n)]


def espeak_paths() -> tuple[str, str]:
    """(library path, data path) of the installed espeakng-loader, or a clear error."""
    try:
        import espeakng_loader
    except ImportError:
        raise BetavaeError(
            "espeak-ng speech needs the 'speech' extra: pip install 'betavae[speech]' "
            "(or generate with --speech tones for formant-like pseudo-speech)") from None
    from pathlib import Path

    lib, data = espeakng_loader.get_library_path(), espeakng_loader.get_data_path()
    if not Path(lib).is_file():
        raise BetavaeError(f"espeak-ng library missing at {lib}; reinstall espeakng-loader")
    if not (Path(data) / "phontab").is_file() or not (Path(data) / "en_dict").is_file():
        raise BetavaeError(f"espeak-ng data incomplete at {data} (no phontab/en_dict); reinstall espeakng-loader")
    return lib, data


def espeak_version() -> str:
    """The installed espeakng-loader's version (part of the data cache key); a clear error without it."""
    from importlib.metadata import PackageNotFoundError, version

    espeak_paths()  # one-line error when the 'speech' extra is missing or its data incomplete
    try:
        return "espeakng-loader " + version("espeakng-loader")
    except PackageNotFoundError:
        raise BetavaeError("espeakng-loader is importable but not installed as a package; "
                           "reinstall it: pip install 'betavae[speech]'") from None


#: espeak_EVENT_TYPE of a phoneme event (speak_lib.h), and the end of an event list
_PHONEME_EVENT, _LIST_TERMINATED = 7, 0
Events = list[tuple[float, str]]  # (start in seconds, phoneme mnemonic) per utterance


def _event_type():  # noqa: ANN202
    """ctypes mirror of speak_lib.h's ``espeak_EVENT``."""
    import ctypes

    class EventId(ctypes.Union):
        _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]

    class Event(ctypes.Structure):
        _fields_ = [("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint), ("text_position", ctypes.c_int),
                    ("length", ctypes.c_int), ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
                    ("user_data", ctypes.c_void_p), ("id", EventId)]

    return Event


def _espeak_in_this_process(voice: Voice, texts: list[str], phonemes: bool = False
                            ) -> tuple[list[np.ndarray], list[list[tuple[int, str]]]]:
    """Synthesise ``texts`` in order (int16 at 22,050 Hz) and, with ``phonemes``, each text's
    phoneme events (start sample, mnemonic). Call only in a fresh process."""
    import ctypes

    lib_path, data_path = espeak_paths()
    lib = ctypes.CDLL(lib_path)
    if lib.espeak_Initialize(2, 0, data_path.encode(), 1 if phonemes else 0) != 22050:
        raise BetavaeError(f"espeak-ng failed to initialise with data at {data_path}")
    chunks: list[np.ndarray] = []
    events: list[tuple[int, str]] = []
    event_type = _event_type()
    proto = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(event_type))

    def collect(wav, n, ev):  # noqa: ANN001
        if n > 0:
            chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
        i = 0
        while phonemes and ev and ev[i].type != _LIST_TERMINATED:
            if ev[i].type == _PHONEME_EVENT:
                events.append((ev[i].sample, ev[i].id.string.decode(errors="replace")))
            i += 1
        return 0

    callback = proto(collect)  # keep a reference while synthesising
    lib.espeak_SetSynthCallback(callback)
    if lib.espeak_SetVoiceByName(f"en+{voice.variant}".encode()) != 0:
        raise BetavaeError(f"espeak-ng has no voice variant {voice.variant!r}")
    lib.espeak_SetParameter(1, voice.rate, 0)
    lib.espeak_SetParameter(3, voice.pitch, 0)
    out, out_events = [], []
    for text in texts:
        chunks.clear()
        events.clear()
        raw = text.encode()
        lib.espeak_Synth(raw, len(raw) + 1, 0, 0, 0, 0, None, None)
        lib.espeak_Synchronize()
        out.append(np.concatenate(chunks) if chunks else np.zeros(0, np.int16))
        out_events.append(list(events))
    return out, out_events


def to_16k(x: np.ndarray) -> np.ndarray:
    """int16 at 22,050 Hz -> float32 in [-1, 1] at 16 kHz."""
    from scipy.signal import resample_poly

    return resample_poly(x.astype(np.float64) / 32768.0, 320, 441).astype(np.float32)


def synthesize_espeak(voice: Voice, texts: list[str]) -> list[np.ndarray]:
    """``texts`` spoken by ``voice``, float32 at 16 kHz, synthesised in a fresh subprocess."""
    return _espeak_subprocess(voice, texts, phonemes=False)[0]


def synthesize_espeak_phonemes(voice: Voice, texts: list[str]) -> tuple[list[np.ndarray], list[Events]]:
    """``texts`` spoken by ``voice`` (float32 at 16 kHz) and their phoneme events (start in
    seconds, mnemonic), synthesised in a fresh subprocess."""
    return _espeak_subprocess(voice, texts, phonemes=True)


def _espeak_subprocess(voice: Voice, texts: list[str], phonemes: bool) -> tuple[list[np.ndarray], list[Events]]:
    espeak_paths()
    request = json.dumps({"voice": [voice.variant, voice.rate, voice.pitch], "texts": texts, "phonemes": phonemes})
    proc = subprocess.run([sys.executable, "-m", "betavae.data.audiovisual_speech"], input=request.encode(),
                          capture_output=True, check=False)
    if proc.returncode != 0:
        raise BetavaeError(f"espeak-ng synthesis failed: {proc.stderr.decode(errors='replace').strip()[-300:]}")
    with np.load(__import__("io").BytesIO(proc.stdout), allow_pickle=False) as z:
        waves = [to_16k(x) for x in np.split(z["samples"], z["ends"][:-1])]
        events = unpack_events(z)
    return waves, events


def pack_events(events: list[Events]) -> dict[str, np.ndarray]:
    """Per-utterance events as flat arrays (for ``.npz``): ``ev_time`` (s), ``ev_name`` and the
    per-utterance ``ev_ends``."""
    flat = [e for per_text in events for e in per_text]
    return {"ev_time": np.array([e[0] for e in flat], np.float64), "ev_name": np.array([e[1] for e in flat], "U8"),
            "ev_ends": np.cumsum([len(e) for e in events], dtype=np.int64)}


def unpack_events(arrays) -> list[Events]:  # noqa: ANN001 (a mapping or an open NpzFile)
    """The inverse of :func:`pack_events`."""
    ends = arrays["ev_ends"][:-1]
    return [list(zip(t.tolist(), n.tolist(), strict=True))
            for t, n in zip(np.split(arrays["ev_time"], ends), np.split(arrays["ev_name"], ends), strict=True)]


def synthesize_tones(voice: Voice, texts: list[str]) -> list[np.ndarray]:
    """Formant-like pseudo-speech (float32, 16 kHz): one voiced syllable per word.

    Syllable length ∝ letters / rate; f0 = 80 + 2·pitch Hz (+40 % for f-variants); two formants
    from ``crc32(word)``; 40 ms gaps. Deterministic, no dependency.
    """
    f0 = (80 + 2.0 * voice.pitch) * (1.4 if voice.variant.startswith("f") else 1.0)
    out = []
    for text in texts:
        parts = []
        for word in text.lower().split():
            h = zlib.crc32(word.encode())
            dur = (0.06 + 0.05 * len(word)) * 160.0 / voice.rate
            t = np.arange(int(dur * SR)) / SR
            f1, f2 = 300 + h % 500, 900 + (h >> 9) % 1500
            glottal = 0.5 * (1 + np.sign(np.sin(2 * np.pi * f0 * t))) * np.exp(-((t * f0) % 1) * 3)
            syll = glottal * (0.6 * np.sin(2 * np.pi * f1 * t) + 0.4 * np.sin(2 * np.pi * f2 * t))
            parts += [syll * np.hanning(len(t)) * 0.5, np.zeros(int(0.04 * SR))]
        out.append(np.concatenate(parts).astype(np.float32))
    return out


def speech_key(backend: str, voice: Voice, texts: list[str]) -> str:
    version = espeak_version() if backend == "espeak" else "tones-1"
    blob = json.dumps([backend, version, voice.variant, voice.rate, voice.pitch, texts, SR])
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def _main() -> None:
    """Subprocess entry: JSON {voice, texts, phonemes} on stdin -> npz on stdout: int16 ``samples``
    with per-text ``ends``, and the phoneme events (:func:`pack_events`)."""
    import io

    req = json.loads(sys.stdin.buffer.read())
    waves, events = _espeak_in_this_process(Voice(*req["voice"]), req["texts"], req.get("phonemes", False))
    seconds = [[(sample / 22050.0, name) for sample, name in per_text] for per_text in events]
    buf = io.BytesIO()
    np.savez(buf, samples=np.concatenate(waves), ends=np.cumsum([len(w) for w in waves]), **pack_events(seconds))
    sys.stdout.buffer.write(buf.getvalue())


if __name__ == "__main__":
    _main()
