"""`data.kind: images`: folders of PNG/JPEG and image arrays, cropped, resized, cached once;
bad files skipped and counted; clear errors; RGB training, traversals and report end to end."""

from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

from betavae.config import build_config
from betavae.data.images import ImageCollection, ImagesConfig
from betavae.errors import BetavaeError

from ..conftest import tiny_tree

RNG = np.random.default_rng(0)


def rgb(seed: int, h: int = 64, w: int = 64) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def save(path, arr, fmt=None, **kw):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path, fmt, **kw)
    return path


def load(path, **kw) -> ImageCollection:
    return ImagesConfig(path=path, **kw).build(progress=False)


@pytest.fixture
def folder(tmp_path):
    """b/1.png and a/2.png (64×64 RGB), c/3.PNG (RGBA), a/z.jpg; a text file, a corrupt JPEG and
    a truncated PNG."""
    root = tmp_path / "imgs"
    save(root / "b" / "1.png", rgb(1))
    save(root / "a" / "2.png", rgb(2))
    rgba = np.concatenate([rgb(3), np.full((64, 64, 1), 128, np.uint8)], axis=2)
    save(root / "c" / "3.PNG", rgba)
    save(root / "a" / "z.jpg", np.full((64, 64, 3), 200, np.uint8), quality=95)
    (root / "notes.txt").write_text("not an image")
    (root / "a" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 garbage")
    whole = (save(tmp_path / "t.png", rgb(4))).read_bytes()
    (root / "b" / "cut.png").write_bytes(whole[: len(whole) // 2])
    return root


def test_folder_round_trip_order_skips_and_counts(folder):
    data = load(folder)
    assert isinstance(data, ImageCollection) and data.ground_truth is False
    assert len(data) == 4 and data.factor_sizes == (4,) and data.observation_shape == (3, 64, 64)
    assert data.skipped == 2 and data.ignored == 1 and data.pixel_max == 255
    assert any("broken.jpg" in s for s in data.manifest["skipped_files"])
    imgs = data.images(np.arange(4))  # sorted by relative path: a/2.png, a/z.jpg, b/1.png, c/3.PNG
    np.testing.assert_array_equal(imgs[0], rgb(2).transpose(2, 0, 1))
    assert np.abs(imgs[1].astype(int) - 200).max() <= 2  # JPEG of a flat colour
    np.testing.assert_array_equal(imgs[2], rgb(1).transpose(2, 0, 1))
    np.testing.assert_array_equal(imgs[3], rgb(3).transpose(2, 0, 1))  # alpha dropped
    np.testing.assert_array_equal(data.observations(np.array([[2], [0]])), imgs[[2, 0]])


def test_grey_is_itu_601_luma(tmp_path):
    img = np.zeros((64, 64, 3), np.uint8)
    img[..., 0], img[..., 1], img[..., 2] = 100, 50, 200
    save(tmp_path / "f" / "x.png", img)
    data = load(tmp_path / "f", channels=1)
    assert data.observation_shape == (1, 64, 64)
    assert set(np.unique(data.images([0]))) == {(100 * 299 + 50 * 587 + 200 * 114) // 1000}


def test_sixteen_bit_grey_is_scaled_not_clipped(tmp_path):
    wide = (np.arange(64 * 64).reshape(64, 64) * 16).astype(np.uint16)
    save(tmp_path / "g" / "deep.png", wide)
    np.testing.assert_array_equal(load(tmp_path / "g", channels=1).images([0])[0, 0], wide // 257)


def test_large_jpeg_decoded_at_reduced_scale_matches_a_full_decode(tmp_path):
    yy, xx = np.mgrid[0:300, 0:400]
    photo = np.stack([xx * 255 // 400, yy * 255 // 300, (xx + yy) * 255 // 700], -1).astype(np.uint8)
    path = save(tmp_path / "j" / "big.jpg", photo, quality=95)
    fast = load(tmp_path / "j").images([0])[0].astype(int)
    with Image.open(path) as im:  # reference: full-size decode, centre 300-square, resize
        ref = np.asarray(im.convert("RGB").crop((50, 0, 350, 300)).resize((64, 64), Image.Resampling.BICUBIC))
    assert np.abs(fast - ref.transpose(2, 0, 1).astype(int)).max() <= 6


def test_centre_crop_then_resize(tmp_path):
    wide = np.zeros((64, 160, 3), np.uint8)  # 160 wide: the centre square is columns 48..111
    wide[:, 48:112] = 255
    save(tmp_path / "w" / "wide.png", wide)
    tall = np.zeros((256, 128, 3), np.uint8)  # the centre 128-square is rows 64..191, a 2× shrink
    tall[64:192] = 90
    save(tmp_path / "w" / "tall.png", tall)
    data = load(tmp_path / "w")
    assert (data.images([0]) == 90).all()  # tall.png: exactly the centre square, shrunk
    assert (data.images([1]) == 255).all()  # wide.png: exactly the centre square
    squashed = load(tmp_path / "w", crop="none").images([1])[0, 0]  # wide.png squashed to 64
    assert squashed[:, :12].max() < 30 and squashed[:, 26:38].min() > 225


def test_cache_is_reused_and_rebuilt_when_the_folder_changes(folder):
    first = load(folder)
    again = load(folder)
    assert again.pixels.filename == first.pixels.filename
    save(folder / "d" / "4.png", rgb(5))
    grown = load(folder)
    assert len(grown) == 5 and grown.pixels.filename != first.pixels.filename
    np.testing.assert_array_equal(grown.images([4])[0], rgb(5).transpose(2, 0, 1))
    path = folder / "a" / "2.png"
    save(path, rgb(6))
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    np.testing.assert_array_equal(load(folder).images([0])[0], rgb(6).transpose(2, 0, 1))
    assert load(folder, channels=1).observation_shape == (1, 64, 64)  # settings are in the key


def test_folder_errors(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(BetavaeError, match=r"empty: no PNG/JPEG files found .*0 other"):
        load(empty)
    (empty / "readme.md").write_text("x")
    with pytest.raises(BetavaeError, match="1 other file"):
        load(empty)
    (empty / "bad.png").write_bytes(b"not a png")
    with pytest.raises(BetavaeError, match=r"none of the 1 PNG/JPEG files could be decoded \(first: bad.png"):
        load(empty)
    with pytest.raises(BetavaeError, match="no such file or folder"):
        load(tmp_path / "missing")
    (tmp_path / "x.txt").write_text("x")
    with pytest.raises(BetavaeError, match="expected a folder of images or an .npy/.npz"):
        load(tmp_path / "x.txt")


def test_arrays_uint8_float_grey_and_resize(tmp_path):
    imgs = np.stack([rgb(i) for i in range(3)])
    np.save(tmp_path / "a.npy", imgs)
    np.testing.assert_array_equal(load(tmp_path / "a.npy").images(np.arange(3)), imgs.transpose(0, 3, 1, 2))
    np.savez(tmp_path / "f.npz", images=imgs.astype(np.float32) / 255, labels=np.zeros(3))
    np.testing.assert_array_equal(load(tmp_path / "f.npz").images(np.arange(3)), imgs.transpose(0, 3, 1, 2))
    big = np.zeros((2, 128, 128), np.uint8)
    big[1] = 77
    np.savez_compressed(tmp_path / "g.npz", big)
    grey = load(tmp_path / "g.npz", channels=1)
    assert grey.observation_shape == (1, 64, 64) and (grey.images([0]) == 0).all() and (grey.images([1]) == 77).all()
    as_rgb = load(tmp_path / "g.npz")
    assert as_rgb.observation_shape == (3, 64, 64) and (as_rgb.images([1]) == 77).all()


def test_array_errors_name_the_file(tmp_path):
    np.save(tmp_path / "shape.npy", np.zeros((2, 64, 64, 2), np.uint8))
    with pytest.raises(BetavaeError, match=r"shape.npy .*\(2, 64, 64, 2\), expected \(N, H, W\)"):
        load(tmp_path / "shape.npy")
    np.save(tmp_path / "range.npy", np.full((2, 64, 64), 2.0))
    with pytest.raises(BetavaeError, match=r"range.npy .*row 0: float pixels must lie in \[0, 1\]"):
        load(tmp_path / "range.npy")
    np.save(tmp_path / "obj.npy", np.array([None, 1], dtype=object), allow_pickle=True)
    with pytest.raises(BetavaeError, match="obj.npy: .*pickle"):
        load(tmp_path / "obj.npy")
    np.savez(tmp_path / "two.npz", a=np.zeros((1, 64, 64)), b=np.zeros((1, 64, 64)))
    with pytest.raises(BetavaeError, match=r"two.npz: holds arrays \['a', 'b'\]"):
        load(tmp_path / "two.npz")
    np.save(tmp_path / "cut.npy", np.zeros((4, 64, 64), np.uint8))
    raw = (tmp_path / "cut.npy").read_bytes()
    (tmp_path / "cut.npy").write_bytes(raw[:-100])
    with pytest.raises(BetavaeError, match="cut.npy: array 'cut.npy' is truncated"):
        load(tmp_path / "cut.npy")
    (tmp_path / "junk.npz").write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(BetavaeError, match="junk.npz: cannot be read as an .npz archive"):
        load(tmp_path / "junk.npz")


def test_rgb_trains_reports_and_metrics_refuse(tmp_path):
    from betavae.experiments.evaluate import evaluate_run
    from betavae.experiments.run import train
    from betavae.report import write_report

    imgs = np.stack([rgb(i) for i in range(16)])
    np.save(tmp_path / "imgs.npy", imgs)
    tree = tiny_tree(steps=4, checkpoint_every=4)
    tree["data"] = {"kind": "images", "path": str(tmp_path / "imgs.npy")}
    tree["model"]["likelihood"] = {"kind": "gaussian"}
    run = train(build_config(tree), tmp_path / "runs")
    write_report(run, n_images=8, n_seeds=1)
    assert (run / "report" / "reconstructions.png").exists()
    assert (run / "report" / "traverse.gif").exists()
    frame = np.asarray(Image.open(run / "report" / "reconstructions.png").convert("RGB")).astype(int)
    assert (np.abs(frame[..., 0] - frame[..., 1]) > 30).mean() > 0.05  # the noise inputs show in colour
    with pytest.raises(BetavaeError, match="no ground-truth factors"):
        evaluate_run(run, metrics=["mig"])


def test_progress_bar_when_asked(folder, capsys):
    load(folder, crop="none")  # hidden by default off a terminal
    assert "caching imgs" not in capsys.readouterr().err
    ImagesConfig(path=folder, channels=1).build(progress=True)
    err = capsys.readouterr().err
    assert "caching imgs" in err and "6/6" in err
