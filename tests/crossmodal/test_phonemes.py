"""The alternative audio tokeniser: espeak-ng phoneme events per 20-ms frame (spec §14.6)."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from betavae.cli import main
from betavae.crossmodal.commands import crossmodal
from betavae.data.audiovisual_audio import TOKEN_FRAMES, phoneme_frames
from betavae.data.audiovisual_generate import GenerationConfig, cache_path, generate
from betavae.data.audiovisual_vocab import utterance
from betavae.experiments.rundir import read_run_config


def test_phoneme_frames_known_answer():
    events = [(0.0, "m"), (0.1, "'u:"), (0.2, "_:"), (0.3, "n")]
    frames = phoneme_frames(events, speech_seconds=0.36, start=0.5)
    assert frames.shape == (TOKEN_FRAMES,)
    # frame f is centred at 0.02 f + 0.01 s; speech runs from 0.5 s to 0.86 s
    assert list(frames[24:44]) == [""] + ["m"] * 5 + ["u:"] * 5 + [""] * 5 + ["n"] * 3 + [""]
    assert (frames[:24] == "").all() and (frames[44:] == "").all()
    assert (phoneme_frames([], 1.0, 0.0) == "").all()


def test_cache_key_has_phonemes_only_when_on():
    """Sets generated before ``phonemes`` existed keep their cache entries (the key leaves the
    option out when it is off); a set with phoneme tokens is a different entry."""
    import hashlib

    from betavae.data.audiovisual_generate import FORMAT

    cfg = GenerationConfig(speech="tones")
    before = json.dumps([FORMAT, {k: v for k, v in cfg.model_dump().items() if k != "phonemes"}, "tones"],
                        sort_keys=True)
    assert cache_path(cfg).stem.endswith(hashlib.sha256(before.encode()).hexdigest()[:16])
    pytest.importorskip("espeakng_loader", reason="the 'speech' extra (espeakng-loader) is not installed")
    assert cache_path(GenerationConfig()) != cache_path(GenerationConfig(phonemes=True))


def test_phonemes_need_espeak():
    res = CliRunner().invoke(crossmodal, ["data", "--sets", "1", "--voices", "1", "--speech", "tones", "--phonemes"])
    assert res.exit_code != 0 and "phoneme tokens need espeak-ng speech" in str(res.exception)


def test_phoneme_tokens_name_the_words(tmp_path, monkeypatch):
    pytest.importorskip("espeakng_loader", reason="the 'speech' extra (espeakng-loader) is not installed")
    monkeypatch.setenv("BETAVAE_CACHE_DIR", str(tmp_path))
    corpus = generate(GenerationConfig(n_sets=2, n_voices=1, img_size=32, phonemes=True))
    plain = generate(GenerationConfig(n_sets=2, n_voices=1, img_size=32))
    assert np.array_equal(corpus.audio, plain.audio)  # the audio features are unchanged by phoneme events
    vocab, tokens = corpus.meta["phoneme_vocab"], corpus.extra["phon20"]
    assert vocab[0] == "" and tokens.shape == (100, TOKEN_FRAMES) and tokens.max() == len(vocab) - 1

    def phones(row: int) -> list[str]:
        """The row's phoneme sequence with repeats and silences removed."""
        seq = [vocab[i] for i in tokens[row] if i]
        return [p for i, p in enumerate(seq) if i == 0 or p != seq[i - 1]]

    pen, fork = phones(0), phones(20)  # "This is a pen", "This is a fork"
    assert utterance(0)[2] == "This is a pen" and utterance(20)[2] == "This is a fork"
    assert pen[:4] == fork[:4] == ["D", "I", "s", "I"] and pen[-3:] == ["p", "E", "n"] and fork[-3:] != pen[-3:]
    left = phones(25)  # "Move the pen to the left"
    assert left[:3] == ["m", "u:", "v"] and left[-4:] == ["l", "E", "f", "t"]
    # the speed ×0.7 audio set (rows 50..99 of set 1 use audio set 1) says the same phonemes, slower
    assert phones(75) == left and (tokens[75] > 0).sum() > (tokens[25] > 0).sum()
    faithful = corpus.with_mode("faithful").with_tokens("phonemes")
    assert faithful.audio_kind == "tokens" and faithful.audio is tokens
    # the whole pipeline on phoneme tokens, through the CLI (same cache, so no new synthesis)
    runs = tmp_path / "runs"
    assert main(["train", "crossmodal_separate", "data.n_sets=2", "data.n_voices=1", "data.img_size=32",
                 "data.tokens=phonemes", "train.epochs=1", "--runs-dir", str(runs)]) == 0
    (run,) = [p for p in runs.iterdir() if p.is_dir()]
    assert main(["eval", str(run), "-o", "translator.epochs=1", "-o", "baseline.epochs=1"]) == 0
    assert read_run_config(run).data.tokens == "phonemes"
    assert 0 <= json.loads((run / "eval.json").read_text())["values"]["words_real_audio.pair"] <= 100


def test_phoneme_tokens_without_phoneme_data_are_a_clear_error(tiny_corpus):
    from betavae.data.audiovisual import features_for
    from betavae.errors import BetavaeError

    with pytest.raises(BetavaeError, match="no phoneme tokens; generate it with --phonemes"):
        features_for(tiny_corpus, "faithful", "phonemes")
    with pytest.raises(BetavaeError, match="phoneme tokens are audio for the faithful mode"):
        features_for(tiny_corpus, "temporal", "phonemes")
    assert features_for(tiny_corpus, "faithful", "kmeans").audio_kind == "mfcc_frames"  # k-means tokens by default
