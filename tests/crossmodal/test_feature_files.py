"""Training on the original feature files: ``data.video_file`` / ``data.audio_file`` (spec §15).

Video (N, 512) embeddings become (30, 17) after a per-column MinMax of the first 510 dims; audio
(N, 150) integer tokens become (30, 5) after a per-column MinMax; both fitted on the split's
training + validation rows, as the old ``--video-file/--audio-file`` path did."""

from __future__ import annotations

import numpy as np
import pytest

import betavae
from betavae.cli import main
from betavae.config import load_config
from betavae.crossmodal.train import VAESettings, train_vae
from betavae.data.audiovisual import AudiovisualConfig
from betavae.data.audiovisual_splits import make_split
from betavae.data.audiovisual_vocab import row_labels
from betavae.experiments.rundir import read_metrics
from betavae.shipped import shipped_path

N = 100  # two 50-row blocks: every one of the 30 groups is present


def original_files(tmp_path, n=N, video_shape=(512,), audio=None):
    """Synthetic originals written with np.save (no pickle): video ~ U(-10, 4), tokens in 0..28."""
    rng = np.random.default_rng(7)
    v, a = tmp_path / "video.npy", tmp_path / "audio.npy"
    np.save(v, rng.uniform(-10, 4, (n, *video_shape)).astype(np.float32))
    np.save(a, rng.integers(0, 29, (n, 150)) if audio is None else audio)
    return v, a


def scaled(x: np.ndarray, fit: np.ndarray) -> np.ndarray:
    """Per-column MinMax fitted on rows ``fit`` (float64; a constant column would get range 1)."""
    lo, hi = x[fit].min(0), x[fit].max(0)
    return (x - lo) / np.where(hi > lo, hi - lo, 1.0)


def test_embeddings_and_tokens_are_prepared_as_the_old_path_did(tmp_path):
    v, a = original_files(tmp_path)
    data = AudiovisualConfig(video_file=str(v), audio_file=str(a)).build()
    split = make_split(row_labels(N), "symbol")  # labels from the row index, the reference's split
    assert np.array_equal(data.train, split.train) and np.array_equal(data.val, split.val)
    assert np.array_equal(data.test, split.test)
    assert len(data.train) + len(data.val) + len(data.test) == N
    assert data.video.shape == (N, 30, 17) and data.audio.shape == (N, 30, 5)
    assert data.video.dtype == data.audio.dtype == np.float32
    fit = split.fit
    video, tokens = np.load(v), np.load(a)
    np.testing.assert_allclose(data.video, scaled(video[:, :510].astype(np.float64), fit).reshape(N, 30, 17),
                               rtol=0, atol=1e-6)
    np.testing.assert_allclose(data.audio, scaled(tokens.astype(np.float64), fit).reshape(N, 30, 5), rtol=0, atol=1e-6)
    # fitted on the fit rows: exactly [0, 1] there, each column touching both ends
    for x in (data.video, data.audio):
        flat = x.reshape(N, -1)[fit]
        assert flat.min() == 0.0 and flat.max() == 1.0
        assert (flat.min(0) == 0).all() and (flat.max(0) == 1).all()
    assert (data.labels["object"] == row_labels(N)["object"]).all()
    assert AudiovisualConfig(video_file=str(v), audio_file=str(a)).feature_dims() == (17, 5)


def test_bvae_train_on_the_original_files(tmp_path, monkeypatch):
    """`bvae train crossmodal_joint data.video_file=V data.audio_file=A`: 3 steps on the prepared
    arrays, the same history as the study's train_vae on them, a loadable run."""
    v, a = original_files(tmp_path)
    monkeypatch.chdir(tmp_path)  # relative paths, as a user types them
    files = ["data.video_file=video.npy", "data.audio_file=audio.npy"]
    data = load_config(shipped_path("crossmodal_joint"), files).data.build()
    batch = -(-len(data.train) // 3)  # three steps an epoch
    args = [*files, "train.epochs=1", f"train.batch_size={batch}", "train.report=false"]
    assert main(["train", "crossmodal_joint", *args, "--runs-dir", "runs"]) == 0
    config = load_config(shipped_path("crossmodal_joint"), args)
    run = tmp_path / "runs" / config.run_id()
    rows = read_metrics(run)
    assert [(r["step"], r["epoch"]) for r in rows] == [(3, 1)]
    _, hist = train_vae(data.video, data.audio, data.train, data.val, "joint", [6], [0],
                        VAESettings(epochs=1, batch_size=batch, speed="fast"))
    for key in ("loss", "train_acc", "val_acc", "kl_v", "kl_a"):
        assert rows[0][key] == hist[key][0, 0], key
    loaded = betavae.load_run(run)
    assert loaded.config.data.video_file == "video.npy" and loaded.config.data.trust_pickle is False
    x = np.concatenate([data.video, data.audio], 2)
    out = loaded.predict(x[:8])
    assert out.shape == (8, 30, 22) and 0 <= out.min() and out.max() <= 1


def test_sequence_files_train_on_what_their_export_holds(tmp_path, capsys):
    """(N, 30, 17) + (N, 30, 5) files, and the generic .npz `bvae crossmodal data --export` writes
    of them, give the model the same arrays and the same split."""
    rng = np.random.default_rng(3)
    v, a = tmp_path / "v.npy", tmp_path / "a.npy"
    np.save(v, rng.normal(size=(N, 30, 17)).astype(np.float32))
    np.save(a, rng.normal(size=(N, 30, 5)).astype(np.float32))
    out = tmp_path / "export.npz"
    assert main(["crossmodal", "data", "--video-file", str(v), "--audio-file", str(a), "--export", str(out)]) == 0
    assert f"{N} rows; video sequence (100, 30, 17), audio sequence (100, 30, 5)" in capsys.readouterr().out
    for mode in ("faithful", "temporal"):
        files = AudiovisualConfig(video_file=str(v), audio_file=str(a), mode=mode).build()
        exported = AudiovisualConfig(npz=str(out), mode=mode).build()
        for name in ("video", "audio", "train", "val", "test"):
            assert np.array_equal(getattr(files, name), getattr(exported, name)), (mode, name)
        fit = np.sort(np.concatenate([files.train, files.val]))  # scaled per channel over (fit rows, steps)
        assert (files.video[fit].min((0, 1)) == 0).all() and (files.video[fit].max((0, 1)) == 1).all()


def test_run_ids_of_configs_without_the_files_are_unchanged():
    # known answers: the ids main gave the shipped configs before the file options existed
    joint = load_config(shipped_path("crossmodal_joint"))
    assert joint.config_hash() == "df99ee31"
    assert load_config(shipped_path("crossmodal_separate")).config_hash() == "beb99b86"
    assert not {"video_file", "audio_file", "trust_pickle"} & set(joint.to_dict()["data"])
    files = load_config(shipped_path("crossmodal_joint"), ["data.video_file=v.npy", "data.audio_file=a.npy"])
    assert files.to_dict()["data"]["video_file"] == "v.npy" and files.config_hash() != "df99ee31"
    trusted = load_config(shipped_path("crossmodal_joint"),
                          ["data.video_file=v.npy", "data.audio_file=a.npy", "data.trust_pickle=true"])
    assert trusted.to_dict()["data"]["trust_pickle"] is True
    assert len({files.config_hash(), trusted.config_hash()}) == 2
    assert load_config(shipped_path("crossmodal_joint"), ["data.video_file=null"]).config_hash() == "df99ee31"


def _one_line_error(capsys, overrides, runs) -> str:
    assert main(["train", "crossmodal_joint", *overrides, "train.epochs=1", "--runs-dir", str(runs)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    return err


def test_bad_feature_files_are_one_line_errors_and_write_nothing(tmp_path, capsys):
    rng = np.random.default_rng(0)
    v, a = original_files(tmp_path)
    np.save(tmp_path / "v300.npy", rng.normal(size=(N, 300)).astype(np.float32))
    np.save(tmp_path / "a99.npy", rng.integers(0, 29, (N - 1, 150)))
    nan = np.load(v)
    nan[3, 7] = np.nan
    np.save(tmp_path / "vnan.npy", nan)
    rows = np.empty((N, 2), dtype=object)
    rows[:, 0] = [np.arange(140) % 29 for _ in range(N)]
    rows[:, 1] = "THIS IS A PEN"
    np.save(tmp_path / "pickled.npy", rows, allow_pickle=True)
    np.savez(tmp_path / "f.npz", video=np.zeros((N, 30, 17)), audio=np.zeros((N, 30, 5)))
    runs = tmp_path / "runs"
    cases = {
        "shape (100, 300); expected (N, 512) or (N, 30, 17)": [f"data.video_file={tmp_path / 'v300.npy'}",
                                                               f"data.audio_file={a}"],
        "video has 100 rows but audio has 99": [f"data.video_file={v}", f"data.audio_file={tmp_path / 'a99.npy'}"],
        "vnan.npy contains NaN or infinite values": [f"data.video_file={tmp_path / 'vnan.npy'}",
                                                     f"data.audio_file={a}"],
        "holds pickled Python objects; loading it runs code. Pass --trust-pickle (bvae train: data.trust_pickle=true)":
            [f"data.video_file={v}", f"data.audio_file={tmp_path / 'pickled.npy'}"],
        "npz and video_file/audio_file are two sources of features; give one":
            [f"data.video_file={v}", f"data.audio_file={a}", f"data.npz={tmp_path / 'f.npz'}"],
        "give both video_file and audio_file": [f"data.video_file={v}"],
        "trust_pickle applies to an audio_file only": ["data.trust_pickle=true"],
        "is an .npz archive; give one array as .npy": [f"data.video_file={tmp_path / 'f.npz'}", f"data.audio_file={a}"],
        "temporal mode needs per-frame video features": [f"data.video_file={v}", f"data.audio_file={a}",
                                                         "data.mode=temporal"],
    }
    for message, overrides in cases.items():
        assert message in _one_line_error(capsys, overrides, runs), message
    assert not runs.exists() or not any(runs.iterdir())  # nothing written for a bad source


def test_pickled_audio_trains_with_trust_pickle(tmp_path):
    """The original object array ([tokens (1, L), transcription] rows), with data.trust_pickle:
    tokens zero-padded to 150, then as integer tokens."""
    torch = pytest.importorskip("torch")
    v, _ = original_files(tmp_path)
    rng = np.random.default_rng(1)
    tokens = [rng.integers(1, 29, 120 + i % 40) for i in range(N)]
    rows = np.empty((N, 2), dtype=object)
    rows[:, 0] = [torch.as_tensor(t)[None] for t in tokens]
    rows[:, 1] = "THIS IS A PEN"
    np.save(tmp_path / "pickled.npy", rows, allow_pickle=True)
    padded = np.zeros((N, 150), np.int64)
    for i, t in enumerate(tokens):
        padded[i, :min(len(t), 150)] = t[:150]
    np.save(tmp_path / "plain.npy", padded)
    trusted = AudiovisualConfig(video_file=str(v), audio_file=str(tmp_path / "pickled.npy"), trust_pickle=True).build()
    plain = AudiovisualConfig(video_file=str(v), audio_file=str(tmp_path / "plain.npy")).build()
    assert np.array_equal(trusted.audio, plain.audio) and np.array_equal(trusted.video, plain.video)
    assert trusted.audio.shape == (N, 30, 5)
