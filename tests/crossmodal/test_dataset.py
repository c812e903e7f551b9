import numpy as np
import pytest

from betavae.data import audiovisual_render as render
from betavae.data.audiovisual_audio import CLIP, mfcc
from betavae.data.audiovisual_features import prepare
from betavae.data.audiovisual_generate import (
    GenerationConfig,
    audio_clip,
    cache_path,
    digest,
    generate,
    set_pairs,
)
from betavae.data.audiovisual_speech import Voice, default_voices
from tests.crossmodal.conftest import TINY


def test_shapes_and_layout(tiny_corpus):
    c = tiny_corpus
    assert c.n_rows == TINY.n_rows == 100
    assert c.video.shape == (100, 512) and c.audio.shape == (100, 150, 13)
    assert c.extra["motion"].shape == (100, 30, 17) and c.extra["mfcc100"].shape == (100, 30, 5)
    assert (c.labels["group"][:50] == c.labels["group"][50:]).all()
    assert (c.labels["voice"] == np.repeat([0, 1], 50)).all()
    prep = prepare(c, np.arange(80))
    assert prep.video.shape == (100, 30, 17) and prep.audio.shape == (100, 30, 5)
    assert prep.video[:80].min() >= 0 and prep.video[:80].max() <= 1
    t = prepare(c.with_mode("temporal"), np.arange(80))
    assert t.video.shape == (100, 30, 17) and t.audio.shape == (100, 30, 5)


def test_set_pairs_cover_all_augmentation_pairs():
    assert sorted(set_pairs(36)) == [(v, a) for v in range(6) for a in range(6)]
    assert sorted(p[0] for p in set_pairs(6)) == list(range(6))
    assert sorted(p[1] for p in set_pairs(6)) == list(range(6))


def test_regeneration_is_bit_identical(tiny_corpus, tmp_path, monkeypatch):
    first = cache_path(TINY).read_bytes()
    monkeypatch.setenv("BETAVAE_CACHE_DIR", str(tmp_path))
    again = generate(TINY)
    assert again.meta["digest"] == tiny_corpus.meta["digest"]
    assert np.array_equal(again.video, tiny_corpus.video) and np.array_equal(again.audio, tiny_corpus.audio)
    assert cache_path(TINY).read_bytes() == first  # same bytes for the same settings
    assert digest({"a": np.zeros(2)}) != digest({"a": np.zeros(3)})


def test_motion_features_follow_the_action():
    rng = np.random.default_rng(3)
    vel = {}
    for action in range(6):
        scene = render.draw_scene(rng, 2, action)
        f = render.motion_features(render.render_mask(scene, 96))
        vel[action] = (f[:, 2].mean(), f[:, 3].mean(), abs(f[:, 6].sum()))
    assert vel[1][0] < 0 < vel[2][0]  # left, right in x
    assert vel[3][1] < 0 < vel[4][1]  # up (y grows downwards), down
    assert vel[5][2] > 1.2 and vel[0][2] < 0.2  # rotate turns by about π/2, still does not
    assert abs(vel[0][0]) < 1e-3 and abs(vel[0][1]) < 1e-3


def test_flip_keeps_the_direction_word():
    rng = np.random.default_rng(4)
    for action, axis in ((1, 2), (2, 2), (3, 3), (4, 3)):
        scene = render.draw_scene(rng, 0, action)
        mask = render.render_mask(scene, 64)
        plain = render.motion_features(mask)[:, axis].mean()
        flipped = render.motion_features(render.augment_mask(mask, render.VIDEO_SETS.index("flip"), action))[:, axis].mean()
        assert np.sign(plain) == np.sign(flipped) != 0


def test_audio_clips_are_three_seconds_and_not_silent(tiny_corpus):
    for u in (0, 3, 27, 49):
        x = audio_clip(TINY, 1, u)
        assert x.shape == (CLIP,) == (48_000,) and np.abs(x).max() > 0.05
    # volume ×0.5 repeat (u mod 5 = 3) is quieter than the plain one (u mod 5 = 0)
    assert np.abs(audio_clip(TINY, 0, 3)).max() < np.abs(audio_clip(TINY, 0, 0)).max()
    assert mfcc(np.zeros((2, CLIP)), winlen=0.1, winstep=0.1, numcep=5, nfft=2048)[0].shape == (2, 30, 5)


def test_mfcc_equals_python_speech_features():
    psf = pytest.importorskip("python_speech_features", reason="the 'speech' extra is not installed")
    x = np.random.default_rng(0).standard_normal(CLIP) * 0.1
    for wl, nc, nfft in ((0.1, 5, 2048), (0.02, 13, 512)):
        ours, _ = mfcc(x, winlen=wl, winstep=wl, numcep=nc, nfft=nfft)
        assert np.allclose(ours, psf.mfcc(x, 16000, winlen=wl, winstep=wl, numcep=nc, nfft=nfft), atol=1e-9)


def test_espeak_speech_is_real_and_reproducible(tmp_path, monkeypatch):
    pytest.importorskip("espeakng_loader", reason="the 'speech' extra (espeakng-loader) is not installed")
    from betavae.data.audiovisual_speech import synthesize_espeak

    voice = Voice("m1", 160, 50)
    a = synthesize_espeak(voice, ["Move the pen to the left", "This is a pen"])
    b = synthesize_espeak(voice, ["Move the pen to the left", "This is a pen"])
    assert 0.8 < len(a[0]) / 16_000 < 3.0 and np.abs(a[0]).max() > 0.1
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))  # fresh process each time
    assert len(default_voices(20)) == 20 and len(set(default_voices(20))) == 20
    monkeypatch.setenv("BETAVAE_CACHE_DIR", str(tmp_path))
    c = generate(GenerationConfig(n_sets=1, n_voices=1, img_size=32, speech="espeak"))
    assert c.n_rows == 50 and "espeakng-loader" in c.meta["speech"]


def test_missing_espeak_is_a_clear_error(monkeypatch):
    import builtins

    from betavae.data import audiovisual_speech as speech
    from betavae.errors import BetavaeError

    real = builtins.__import__

    def fake(name, *args, **kw):
        if name == "espeakng_loader":
            raise ImportError(name)
        return real(name, *args, **kw)

    monkeypatch.setattr(builtins, "__import__", fake)
    with pytest.raises(BetavaeError, match=r"betavae\[speech\]"):
        speech.espeak_paths()


def test_missing_espeak_data_is_a_clear_error(tmp_path, monkeypatch):
    loader = pytest.importorskip("espeakng_loader", reason="the 'speech' extra (espeakng-loader) is not installed")
    from betavae.data import audiovisual_speech as speech
    from betavae.errors import BetavaeError

    monkeypatch.setattr(loader, "get_data_path", lambda: str(tmp_path))
    with pytest.raises(BetavaeError, match="espeak-ng data incomplete"):
        speech.espeak_paths()


def test_data_command_without_the_speech_extra_is_one_line(monkeypatch, capsys):
    """The cache key asks for espeak's version first: that path must give the same one-line error."""
    import builtins
    import importlib.metadata

    from betavae.cli import main

    real = builtins.__import__

    def fake(name, *args, **kw):
        if name == "espeakng_loader":
            raise ImportError(name)
        return real(name, *args, **kw)

    def no_distribution(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(builtins, "__import__", fake)
    monkeypatch.setattr(importlib.metadata, "version", no_distribution)  # as without the extra installed
    assert main(["crossmodal", "data", "--sets", "1", "--voices", "1", "--img-size", "32"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "betavae[speech]" in err and "Traceback" not in err
