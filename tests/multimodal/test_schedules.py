"""The four KL-weight schedules of Langer et al. (2024) from the schedule library (spec §5a)."""

import numpy as np
import pytest

from betavae.errors import BetavaeError
from betavae.multimodal.schedules import study_schedule


def spec_dynamic(e, P=80, e_dyn=70_000, d_start=80, d_min=1, tail=0.0):
    """The spec's formula, written out independently."""
    if e >= e_dyn:
        return tail
    c, p = divmod(e, P)
    d = max(d_min, round(d_start * (1 - c * P / e_dyn)))
    return max(0.0, 1 - p / d)


def test_full_length_schedules_match_the_spec():
    e = np.array([0, 1, 40, 79, 80, 500, 999, 1000, 5000, 35_040, 69_999, 70_000, 79_999])
    assert (study_schedule("const1", 80_000).values(e) == 1).all()
    np.testing.assert_allclose(study_schedule("const0", 80_000).values(e), 1 - np.minimum(e / 1000, 1))
    for name, tail in (("dyn_plateau0", 0.0), ("dyn_plateau1", 1.0)):
        got = study_schedule(name, 80_000).values(e)
        np.testing.assert_allclose(got, [spec_dynamic(int(x), tail=tail) for x in e])
    # β = 1 recurs every 80 epochs; the first descent takes all 80 epochs; later descents are shorter
    v = study_schedule("dyn_plateau0", 80_000).values(np.arange(70_000))
    assert (v[::80] == 1).all() and (v[1:80] > 0).all() and (v[60_000:60_080] == 0).sum() > 40


def test_time_scale_keeps_the_shape():
    s = study_schedule("dyn_plateau1", 800)  # scale 0.01: period floored at 8, e_dyn 700, decay 10
    assert (s.period, s.e_dyn, s.decay_epochs) == (8, 700, 10)
    v = s.values(np.arange(700))
    assert (v[::8] == 1).all() and v[1] == pytest.approx(7 / 8) and (v[600:700] < 1).sum() > 50
    assert study_schedule("dyn_plateau1", 40_000).period == 40  # proportional above the floor
    assert study_schedule("dyn_plateau1", 800, min_period=1).period == 1
    c0 = study_schedule("const0", 800)
    assert c0.value(5) == pytest.approx(0.5) and c0.value(10) == 0.0
    assert study_schedule("dyn_plateau1", 800).value(700) == 1.0


def test_unknown_study_schedule():
    with pytest.raises(BetavaeError, match="unknown schedule 'constant1'; study schedules: const1"):
        study_schedule("constant1", 100)


def test_d_start_parameter():
    """d_start (the first descent's length) is a parameter; the default is the period."""
    from betavae.schedules import KLWeight

    s = KLWeight(variant="dyn_plateau_0", d_start=40)
    e = np.array([0, 20, 39, 40, 79, 80, 100])
    np.testing.assert_allclose(s.values(e), [spec_dynamic(int(x), d_start=40) for x in e])
    assert s.value(40) == 0.0 and KLWeight(variant="dyn_plateau_0").value(40) == 0.5
