import numpy as np
import pytest

from betavae.data.audiovisual_files import load_npz, load_symbolgrounding, save_npz
from betavae.errors import BetavaeError


def _orig(tmp_path, n=100, video_dims=512):
    rng = np.random.default_rng(0)
    v, a = tmp_path / "v.npy", tmp_path / "a.npy"
    np.save(v, rng.uniform(-10, 4, (n, video_dims)).astype(np.float32))
    np.save(a, rng.integers(0, 29, (n, 150)))
    return v, a


def test_original_arrays_load(tmp_path):
    c = load_symbolgrounding(*_orig(tmp_path))
    assert c.n_rows == 100 and c.video_kind == "embedding" and c.audio_kind == "tokens"
    assert c.labels["group"][25] == "object0-action0"


def test_bad_files_get_clear_errors(tmp_path):
    v, a = _orig(tmp_path, video_dims=300)
    with pytest.raises(BetavaeError, match=r"shape \(100, 300\)"):
        load_symbolgrounding(v, a)
    v, _ = _orig(tmp_path)
    np.save(tmp_path / "a2.npy", np.zeros((99, 150), np.int64))
    with pytest.raises(BetavaeError, match="100 rows but audio has 99"):
        load_symbolgrounding(v, tmp_path / "a2.npy")
    with pytest.raises(BetavaeError, match="not found"):
        load_symbolgrounding(tmp_path / "nope.npy", v)


def test_pickled_audio_needs_the_trust_flag(tmp_path):
    torch = pytest.importorskip("torch")
    v, _ = _orig(tmp_path, n=50)
    rows = np.empty((50, 2), dtype=object)
    for i in range(50):
        rows[i, 0] = torch.randint(0, 29, (1, 140 + i))
        rows[i, 1] = "MOVE THE PEN TO THE LEFT" if i == 25 else "THIS IS A PEN"
    np.save(tmp_path / "obj.npy", rows, allow_pickle=True)
    with pytest.raises(BetavaeError, match="trust-pickle"):
        load_symbolgrounding(v, tmp_path / "obj.npy")
    c = load_symbolgrounding(v, tmp_path / "obj.npy", trust_pickle=True)
    assert c.audio.shape == (50, 150) and c.audio[0, 140:].sum() == 0
    assert c.meta["text_mismatches"] == 50 - 5 - 1  # rows 0-4 ("This is a pen") and 25 parse right


def test_generic_npz_round_trip_and_errors(tiny_corpus, tmp_path):
    path = tmp_path / "f.npz"
    save_npz(tiny_corpus.with_mode("temporal"), path)
    c = load_npz(path)
    assert c.n_rows == 100 and c.video.shape == (100, 30, 17)
    assert (c.labels["group"] == tiny_corpus.labels["group"]).all()
    np.savez(tmp_path / "bad.npz", video=np.zeros((10, 30, 17)), audio=np.zeros((10, 30, 5)),
             object=np.array(["pen"] * 9 + ["spork"]), action=np.array(["left"] * 10))
    with pytest.raises(BetavaeError, match="unknown object 'spork'"):
        load_npz(tmp_path / "bad.npz")
    np.savez(tmp_path / "bad2.npz", video=np.zeros((10, 30, 17)), audio=np.zeros((10, 30, 5)),
             object=np.array(["pen"] * 10), action=np.array(["jump"] * 10))
    with pytest.raises(BetavaeError, match="unknown action 'jump'"):
        load_npz(tmp_path / "bad2.npz")
    np.savez(tmp_path / "bad3.npz", video=np.zeros((10, 20, 17)), audio=np.zeros((10, 30, 5)))
    with pytest.raises(BetavaeError, match=r"expected \(N, 30, C\)"):
        load_npz(tmp_path / "bad3.npz")
    np.savez(tmp_path / "bad4.npz", video=np.zeros((50, 30, 17)), audio=np.zeros((40, 30, 5)))
    with pytest.raises(BetavaeError, match="50 rows but audio has 40"):
        load_npz(tmp_path / "bad4.npz")


class _Tripwire:
    """Unpickling this object records that pickle code ran (a hostile file's payload would run here)."""

    ran: list[str] = []

    def __reduce__(self):
        return (_Tripwire.ran.append, ("unpickled",))


def test_hostile_pickle_is_never_unpickled_without_the_flag(tmp_path):
    v, _ = _orig(tmp_path, n=50)
    rows = np.empty((50, 2), dtype=object)
    rows[:, 0] = [_Tripwire() for _ in range(50)]
    rows[:, 1] = "THIS IS A PEN"
    np.save(tmp_path / "hostile.npy", rows, allow_pickle=True)
    _Tripwire.ran.clear()
    with pytest.raises(BetavaeError, match="holds pickled Python objects"):
        load_symbolgrounding(v, tmp_path / "hostile.npy")
    assert _Tripwire.ran == []  # the default path refused before running any pickle code
