"""The DSprites source, its config, the rendered-grid cache and calibration."""

from __future__ import annotations

import pickle

import numpy as np
import pydantic
import pytest

import betavae.data.dsprites as ds
import betavae.data.dsprites_file as dsf
from betavae.data import DATA
from betavae.data.base import GroundTruthData
from betavae.data.dsprites import DSprites, DSpritesConfig, RendererConfig, calibrate
from betavae.data.dsprites_file import grid_cache_path, open_grid_cache
from betavae.data.render import TemplateRenderer, render_exact
from betavae.errors import BetavaeError


def test_protocol_and_shapes():
    src = DATA.get("dsprites")().build()
    assert isinstance(src, DSprites) and isinstance(src, GroundTruthData)
    assert src.factor_names == ("shape", "scale", "orientation", "posX", "posY")
    assert src.factor_sizes == (3, 6, 40, 32, 32)
    assert (len(src), src.observation_shape, src.pixel_max) == (737280, (1, 64, 64), 1)
    rng = np.random.default_rng(0)
    f = src.sample_factors(64, rng)
    assert f.shape == (64, 5) and f.dtype == np.int64
    obs = src.observations(f)
    assert obs.shape == (64, 1, 64, 64) and obs.dtype == np.uint8 and obs.max() == 1
    idx = src.index(f)
    np.testing.assert_array_equal(src.factors(idx), f)
    np.testing.assert_array_equal(src.images(idx), obs)
    np.testing.assert_array_equal(obs, TemplateRenderer()(f))
    with pytest.raises(BetavaeError, match="out of range"):
        src.images(np.array([737280]))
    with pytest.raises(BetavaeError, match="column 1"):
        src.observations(np.array([[0, 6, 0, 0, 0]]))


def small_grid(monkeypatch, n: int) -> None:
    """Let the first ``n`` grid images stand in for all (the source's bound and the cache's size)."""
    monkeypatch.setattr(ds, "NUM_IMAGES", n)
    monkeypatch.setattr(dsf, "NUM_IMAGES", n)


def test_pickles_without_its_templates(monkeypatch):
    src = DSprites(RendererConfig(heart_threshold=0.75))
    f = src.sample_factors(32, np.random.default_rng(3))
    blob = pickle.dumps(src)
    assert len(blob) < 10_000  # the description, not the 88 MiB template store
    np.testing.assert_array_equal(pickle.loads(blob).observations(f), src.observations(f))
    small_grid(monkeypatch, 512)
    cached = DSprites(grid_cache=True)
    again = pickle.loads(pickle.dumps(cached))
    assert isinstance(again._rows, np.memmap) and len(pickle.dumps(cached)) < 10_000
    np.testing.assert_array_equal(again.images(np.arange(512)), cached.images(np.arange(512)))


def test_sampling_is_uniform_and_only_uses_the_given_rng():
    src = DSprites()
    a = src.sample_factors(20000, np.random.default_rng(7))
    b = src.sample_factors_uniform(20000, np.random.default_rng(7))
    np.testing.assert_array_equal(a, b)
    for k, n in enumerate(src.factor_sizes):
        counts = np.bincount(a[:, k], minlength=n)
        assert counts.min() > 0 and len(counts) == n
        # chi-square with n − 1 dof: mean n − 1, sd √(2(n − 1)); 6 sd is never hit by chance
        chi2 = ((counts - len(a) / n) ** 2 / (len(a) / n)).sum()
        assert chi2 < (n - 1) + 6 * np.sqrt(2 * (n - 1))


def test_config_validation_and_round_trip():
    cfg = DSpritesConfig.model_validate({"kind": "dsprites", "renderer": {"heart_threshold": 0.7}})
    assert cfg.renderer.heart_threshold == 0.7 and cfg.renderer.square_side == 20.0
    assert DSpritesConfig.model_validate(cfg.model_dump()) == cfg
    assert DSpritesConfig.model_validate_json(cfg.model_dump_json()) == cfg
    with pytest.raises(pydantic.ValidationError):
        DSpritesConfig.model_validate({"kind": "dsprites", "colour": 1})
    with pytest.raises(pydantic.ValidationError):
        DSpritesConfig.model_validate({"kind": "dsprites", "renderer": {"thresh": 1}})
    with pytest.raises(pydantic.ValidationError, match="multiple of supersample"):
        RendererConfig(subpixel=24)
    with pytest.raises(pydantic.ValidationError):
        cfg.cache = True  # frozen
    exact = DSpritesConfig(renderer=RendererConfig(method="exact")).build()
    f = np.array([[2, 3, 17, 9, 20]])
    np.testing.assert_array_equal(exact.observations(f), render_exact(f))


def test_config_with_path_uses_the_official_loader(monkeypatch, tmp_path):
    calls = {}

    class Fake:
        def images(self, idx):
            calls["idx"] = idx
            return np.zeros((len(idx), 64, 64), np.uint8)

    def fake_loader(path, **kw):
        calls.update(path=path, **kw)
        return Fake()

    import betavae.data.dsprites_file as mod

    monkeypatch.setattr(mod, "load_dsprites_file", fake_loader)
    src = DSpritesConfig(path=tmp_path / "d.npz", storage="uint8").build()
    obs = src.observations(np.array([[1, 2, 3, 4, 5]]))
    assert obs.shape == (1, 1, 64, 64)
    assert calls["idx"].tolist() == [245760 + 2 * 40960 + 3 * 1024 + 4 * 32 + 5]
    assert calls["storage"] == "uint8" and calls["trust_pickle"] is False


def test_calibrate_against_itself_and_a_perturbed_renderer():
    rng = np.random.default_rng(0)
    cfg = RendererConfig()
    same = calibrate(DSprites(cfg), cfg, 300, rng)
    for shape in ("square", "ellipse", "heart"):
        assert same[f"iou.{shape}"] == 1.0
    assert same["iou.mean"] == 1.0 and same["n"] == 300
    assert sum(same[f"n.{s}"] for s in ("square", "ellipse", "heart")) == 300
    assert same["pixel_mean.reference"] == same["pixel_mean.renderer"]
    fat_heart = RendererConfig(heart_r=6.5, heart_threshold=0.5)
    other = calibrate(DSprites(fat_heart), cfg, 300, np.random.default_rng(0))
    assert other["iou.square"] == 1.0 and other["iou.ellipse"] == 1.0
    assert 0.6 < other["iou.heart"] < 0.95
    assert other["pixel_mean.reference"] > other["pixel_mean.renderer"]
    # the exact reference against the fast renderer: outline pixels only
    exact = calibrate(DSprites(RendererConfig(method="exact")), cfg, 150, np.random.default_rng(1))
    assert min(exact[f"iou.{s}"] for s in ("square", "ellipse", "heart")) > 0.99


def test_grid_cache_is_built_once_atomically(monkeypatch):
    small_grid(monkeypatch, 2048)
    cfg = RendererConfig()
    assert open_grid_cache(cfg, build=False) is None
    rows = open_grid_cache(cfg)
    path = grid_cache_path(cfg)
    assert rows.shape == (2048, 512) and path.exists() and not list(path.parent.glob(".*.tmp"))
    src = DSprites(cfg, grid_cache=True)
    idx = np.array([0, 1000, 2047, 5])
    np.testing.assert_array_equal(src.images(idx), DSprites(cfg).images(idx))
    monkeypatch.setattr(dsf, "make_renderer", lambda c: pytest.fail("rendered again"))
    open_grid_cache(cfg)
    assert grid_cache_path(RendererConfig(heart_h=7.0)) != path  # keyed by every parameter


def test_grid_cache_rebuilds_a_malformed_file(monkeypatch):
    small_grid(monkeypatch, 1024)
    cfg = RendererConfig(subpixel=16)
    path = grid_cache_path(cfg)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, np.zeros((10, 512), np.uint8))  # wrong shape, e.g. from an older layout
    rows = open_grid_cache(cfg)
    assert rows.shape == (1024, 512) and rows[:64].any()
