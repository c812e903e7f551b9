"""Official-file loader (spec §4.3) on small synthetic archives built here (the real file is
not needed): happy path, caching, and one error per failure mode with its message."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest

from betavae.cache import cache_dir
from betavae.data.dsprites import grid_bases, value_tables
from betavae.data.dsprites_file import OfficialDSprites, load_dsprites_file
from betavae.errors import BetavaeError

SIZES = (1, 3, 2, 2, 3, 4)  # a 144-image grid in the official layout
N = int(np.prod(SIZES))


class Boom:
    """Unpickling this raises: proves that the loader never unpickles without the trust flag."""

    def __reduce__(self):
        return (_explode, ())


def _explode():
    raise RuntimeError("metadata was unpickled")


def arrays(seed: int = 0) -> dict[str, np.ndarray]:
    classes = np.stack(np.unravel_index(np.arange(N), SIZES), 1).astype(np.int64)
    tables = value_tables(SIZES)
    values = np.stack([tables[k][classes[:, k]] for k in range(6)], 1)
    imgs = (np.random.default_rng(seed).random((N, 64, 64)) < 0.05).astype(np.uint8)
    return {"imgs": imgs, "latents_classes": classes, "latents_values": values}


def write(path, **arrs):
    np.savez_compressed(path, **arrs)
    return path


@pytest.fixture
def good(tmp_path):
    return write(tmp_path / "dsprites.npz", **arrays(), metadata=np.array(Boom(), dtype=object))


def load(path, **kw):
    return load_dsprites_file(path, factor_sizes=SIZES, **kw)


def test_happy_path_packed_and_uint8_agree(good):
    ref = arrays()
    packed = load(good)
    plain = load(good, storage="uint8")
    assert isinstance(packed, OfficialDSprites) and len(packed) == N
    assert packed.pixels.shape == (N, 512) and plain.pixels.shape == (N, 64, 64)
    assert packed.metadata is None  # skipped: the Boom object was never unpickled
    idx = np.array([0, 5, N - 1, 5])
    np.testing.assert_array_equal(packed.images(idx)[:, 0], ref["imgs"][idx])
    np.testing.assert_array_equal(plain.images(idx), packed.images(idx))
    np.testing.assert_array_equal(packed.latents_classes, ref["latents_classes"])
    assert packed.latents_classes.dtype == np.int64 and packed.latents_values.dtype == np.float64


def test_cache_is_memory_mapped_and_reused(good, monkeypatch):
    first = load(good, cache=True)
    assert isinstance(first.pixels, np.memmap)
    files = list((cache_dir() / "dsprites").glob("official-*-packed.npy"))
    assert len(files) == 1 and not list(files[0].parent.glob(".*.tmp"))
    import betavae.data.dsprites_file as mod

    monkeypatch.setattr(mod, "_stream_imgs", lambda *a, **k: pytest.fail("decoded again"))
    second = load(good, cache=True)
    np.testing.assert_array_equal(second.images(np.arange(N)), first.images(np.arange(N)))


def test_trusted_metadata_is_read_only_with_the_flag(tmp_path):
    path = write(tmp_path / "m.npz", **arrays(), metadata=np.array({"date": "April 2017"}, dtype=object))
    assert load(path, trust_pickle=True).metadata == {"date": "April 2017"}
    boom = write(tmp_path / "b.npz", **arrays(), metadata=np.array(Boom(), dtype=object))
    with pytest.raises(BetavaeError, match="cannot unpickle 'metadata'.*set trust_pickle to false"):
        load(boom, trust_pickle=True)


def test_missing_file(tmp_path):
    with pytest.raises(BetavaeError) as err:
        load_dsprites_file(tmp_path / "nope.npz")
    msg = str(err.value)
    assert "nope.npz" in msg and "no such file" in msg and "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz" in msg
    assert "\n" not in msg
    with pytest.raises(BetavaeError, match="is not a file"):
        load_dsprites_file(tmp_path)


def test_corrupt_files(tmp_path, good):
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"this is not a zip archive" * 100)
    with pytest.raises(BetavaeError, match=r"junk\.npz: cannot be read as an \.npz archive"):
        load(junk)
    cut = tmp_path / "cut.npz"
    cut.write_bytes(good.read_bytes()[:3000])  # a zip header, then nothing
    with pytest.raises(BetavaeError, match=r"cut\.npz: .*(cannot|corrupt)"):
        load(cut)
    npy = tmp_path / "single.npy"
    np.save(npy, np.zeros(3))
    with pytest.raises(BetavaeError, match="single .npy array, not an .npz archive"):
        load(npy)


def test_corrupt_member_data(tmp_path):
    path = tmp_path / "flipped.npz"
    np.savez(path, **arrays())  # stored, not deflated: flip bytes inside imgs.npy
    raw = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("imgs.npy")
    start = info.header_offset + 300  # inside the pixel data of imgs.npy
    raw[start : start + 60] = bytes(1 - b for b in raw[start : start + 60])  # still 0/1 values
    path.write_bytes(bytes(raw))
    with pytest.raises(BetavaeError, match=r"flipped\.npz: cannot decode 'imgs' \(BadZipFile: Bad CRC-32"):
        load(path)


def test_missing_array(tmp_path):
    a = arrays()
    del a["imgs"]
    with pytest.raises(BetavaeError, match=r"missing array\(s\) imgs \(found: latents_classes, latents_values\)"):
        load(write(tmp_path / "x.npz", **a))


def test_wrong_shape(tmp_path, good):
    a = arrays()
    a["latents_values"] = a["latents_values"][:, :5]
    with pytest.raises(BetavaeError, match=r"'latents_values' has shape \(144, 5\) .* expected \(144, 6\) float64"):
        load(write(tmp_path / "x.npz", **a))
    a = arrays()
    a["imgs"] = a["imgs"][:, :32]
    with pytest.raises(BetavaeError, match=r"'imgs' has shape \(144, 32, 64\) and dtype uint8.*expected \(144, 64, 64\)"):
        load(write(tmp_path / "y.npz", **a))
    # Without the test-only sizes the loader expects the official grid.
    with pytest.raises(BetavaeError, match=r"'latents_classes' has shape \(144, 6\).*expected \(737280, 6\) int64"):
        load_dsprites_file(good)


def test_wrong_dtype(tmp_path):
    a = arrays()
    a["latents_classes"] = a["latents_classes"].astype(np.int32)
    with pytest.raises(BetavaeError, match=r"'latents_classes' has shape \(144, 6\) and dtype int32, expected \(144, 6\) int64"):
        load(write(tmp_path / "x.npz", **a))
    a = arrays()
    a["imgs"] = a["imgs"].astype(np.float32)
    with pytest.raises(BetavaeError, match=r"'imgs' .* dtype float32.* uint8"):
        load(write(tmp_path / "y.npz", **a))


def test_bad_values(tmp_path):
    a = arrays()
    a["imgs"][7, 3, 3] = 255
    with pytest.raises(BetavaeError, match="pixel values above 1"):
        load(write(tmp_path / "x.npz", **a))
    a = arrays()
    a["latents_values"][10, 2] = 0.55
    with pytest.raises(BetavaeError, match=r"latents_values column 2 row 10 is 0\.55, expected 0\.5"):
        load(write(tmp_path / "y.npz", **a))
    a = arrays()
    a["latents_classes"][4, 5] = 9
    with pytest.raises(BetavaeError, match=r"latents_classes column 5 has classes outside 0\.\.3"):
        load(write(tmp_path / "z.npz", **a))


def test_bad_ordering(tmp_path):
    a = arrays()
    a["latents_classes"][[3, 4]] = a["latents_classes"][[4, 3]]
    a["latents_values"][[3, 4]] = a["latents_values"][[4, 3]]
    with pytest.raises(BetavaeError, match=r"not in grid order \(first mismatch at row 3: \[0, 0, 0, 0, 1, 0\]\)"):
        load(write(tmp_path / "x.npz", **a))
    assert (arrays()["latents_classes"] @ grid_bases(SIZES) == np.arange(N)).all()
