"""Refitting the renderer's geometry to reference images (`bvae data calibrate --refit`)."""

import numpy as np
import pytest

from betavae.data.dsprites import DSprites, RendererConfig, calibrate
from betavae.data.refit import refit
from betavae.errors import BetavaeError

# supersample 4 keeps the fit cheap; the method is the same at 16
START = RendererConfig(method="exact", supersample=4, subpixel=4)


def test_refit_recovers_a_perturbed_geometry():
    truth = START.model_copy(update={"square_side": 22.0, "ellipse_width": 23.5, "ellipse_height": 15.5,
                                     "heart_r": 6.0, "heart_threshold": 0.5})
    reference = DSprites(truth)
    result = refit(reference, START, 24, np.random.default_rng(0))
    fits = {f.shape: f for f in result.shapes}
    assert fits["heart"].iou_before < 0.93 and fits["square"].iou_before < 0.95
    for fit in fits.values():
        assert fit.iou_after > max(fit.iou_before, 0.97)
    assert result.config.square_side == pytest.approx(22.0, abs=0.4)
    assert result.config.ellipse_width == pytest.approx(23.5, abs=0.6)
    assert result.config.ellipse_height == pytest.approx(15.5, abs=0.6)
    # the fitted renderer generalises to images it was not fitted on
    fresh = calibrate(reference, result.config, 150, np.random.default_rng(7))
    before = calibrate(reference, START, 150, np.random.default_rng(7))
    assert fresh["iou.mean"] > 0.97 > before["iou.mean"]
    # thresholds are multiples of 1/S², so the fitted config renders what was measured
    assert (result.config.heart_threshold * 16) == pytest.approx(round(result.config.heart_threshold * 16))
    assert set(result.overrides()) >= {"square_side", "square_threshold", "heart_r"}


def test_refit_keeps_a_geometry_that_already_matches():
    result = refit(DSprites(START), START, 12, np.random.default_rng(1), shapes=("square", "ellipse"))
    for fit in result.shapes:
        assert fit.iou_before == 1.0 and fit.iou_after == 1.0 and fit.after == fit.before
    assert result.config == START


def test_refit_rejects_unknown_shapes():
    with pytest.raises(BetavaeError, match="unknown shape"):
        refit(DSprites(START), START, 4, np.random.default_rng(0), shapes=("star",))
