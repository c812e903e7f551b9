"""Schedules: the contract over every registered kind, and formulas at known steps."""

from __future__ import annotations

import math

import numpy as np
import pytest

from betavae.schedules import SCHEDULES, THESIS_STRATEGIES, parse_schedule

# A few parameterisations of every registered kind (the contract test fails for a new kind until
# it is listed here, so nothing is added untested).
EXAMPLES = {
    "constant": [{"value": 4.0}, {"value": 0.0}],
    "linear": [{"start": 0, "end": 1, "length": 100}, {"start": 2, "end": 0.5, "t0": 30, "length": 7}],
    "cyclical": [{"total": 1000, "cycles": 4}, {"total": 999, "cycles": 3, "ratio": 0.3, "ramp": "sigmoid"},
                 {"total": 500, "ramp": "cosine", "max": 2, "t0": 50}],
    "capacity": [{}, {"c0": 0.5, "c_max": 30, "length": 500}],
    "thesis": [{"strategy": s} for s in range(1, 10)],
    "exp_decay": [{}, {"start": 1.0, "tau": 3}],
    "kl_weight": [{"variant": v, "epochs": 8000, "e_dyn": 7000, "decay_epochs": 100, "period": 80}
                  for v in ("constant_1", "constant_0", "dyn_plateau_0", "dyn_plateau_1")],
}


def all_examples():
    for kind in SCHEDULES.names():
        for params in EXAMPLES.get(kind, [None]):
            yield pytest.param(kind, params, id=f"{kind}-{params}")


@pytest.mark.parametrize("kind,params", list(all_examples()))
def test_contract(kind, params):
    assert params is not None, f"schedule {kind!r} has no example in EXAMPLES: add one"
    sched = parse_schedule({"kind": kind, **params})
    t = np.arange(0, 9000, 7)
    v = sched.values(t)
    # deterministic and pure
    np.testing.assert_array_equal(v, sched.values(t))
    # vectorised equals scalar
    scalar = np.array([sched.value(int(i)) for i in t[:300]])
    np.testing.assert_array_equal(v[:300], scalar)
    # finite and within the declared bounds
    lo, hi = sched.bounds()
    assert np.all(np.isfinite(v))
    assert v.min() >= lo - 1e-12 and v.max() <= hi + 1e-12
    # config round trip (JSON form) gives an equal object and equal values
    again = parse_schedule(sched.model_dump(mode="json", by_alias=True))
    assert again == sched
    np.testing.assert_array_equal(again.values(t), v)
    # shape preserved for 2-D counters
    assert sched.values(t[:12].reshape(3, 4)).shape == (3, 4)


def test_number_is_constant():
    s = parse_schedule(2.5)
    assert s.kind == "constant" and s.value(0) == 2.5 and s.value(10**9) == 2.5


def test_linear_known_points():
    s = parse_schedule({"kind": "linear", "start": 0, "end": 1, "t0": 100, "length": 1000})
    assert s.value(0) == 0 and s.value(100) == 0
    assert s.value(600) == pytest.approx(0.5)
    assert s.value(1100) == 1 and s.value(5000) == 1


def test_cyclical_fu_et_al():
    # T = 1000, M = 4 -> period 250; R = 0.5 -> ramps over 125 steps then holds.
    s = parse_schedule({"kind": "cyclical", "total": 1000, "cycles": 4, "ratio": 0.5, "max": 1})
    assert s.value(0) == 0
    assert s.value(62) == pytest.approx(62 / 125)
    assert s.value(125) == 1 and s.value(249) == 1
    assert s.value(250) == 0 and s.value(250 + 25) == pytest.approx(0.2)


def test_cyclical_ramps_monotone_within_a_cycle():
    for ramp in ("linear", "sigmoid", "cosine"):
        s = parse_schedule({"kind": "cyclical", "total": 400, "cycles": 2, "ramp": ramp})
        v = s.values(np.arange(200))
        assert np.all(np.diff(v) >= -1e-12), ramp
        assert v[-1] == pytest.approx(1.0)


def test_capacity_burgess_and_disentanglement_lib():
    s = parse_schedule({"kind": "capacity"})  # 0 -> 25 nats over 1e5 steps
    assert s.value(0) == 0 and s.value(50_000) == pytest.approx(12.5)
    assert s.value(100_000) == 25 and s.value(300_000) == 25
    t = np.arange(0, 200_000, 997)
    np.testing.assert_allclose(s.values(t), np.minimum(25, 25 * t / 100_000))
    s2 = parse_schedule({"kind": "capacity", "c0": 0.5, "c_max": 30, "length": 10})
    assert s2.value(5) == pytest.approx(15.25)


# The thesis table: (strategy, cap, first epoch at which the cap is reached)
THESIS_CAPS = [(1, 0.05, 1), (2, 0.2, 10), (3, 0.07, 14), (4, 0.07, 2), (5, 0.07, 24),
               (6, 0.07, 28), (7, 0.07, 30), (8, 0.1, 20)]


@pytest.mark.parametrize("strategy,cap,first", THESIS_CAPS)
def test_thesis_caps(strategy, cap, first):
    s = parse_schedule({"kind": "thesis", "strategy": strategy})
    v = s.values(np.arange(100))
    reached = np.flatnonzero(np.isclose(v, cap))
    assert reached[0] == first
    assert np.all(v[: first] < cap) and np.all(np.isclose(v[first:], cap))


def test_thesis_formulas_verbatim():
    e = np.arange(71, dtype=float)
    s6 = parse_schedule({"kind": "thesis"})  # default strategy 6, the selected one
    assert s6.strategy == 6 and s6.unit == "epoch" and s6.strategy_name == "Gradual Ramp-Up"
    np.testing.assert_allclose(s6.values(e.astype(int)), np.minimum(0.07, 0.0025 * e))
    assert parse_schedule({"kind": "thesis", "strategy": 7}).value(15) == pytest.approx(0.035)
    assert len(THESIS_STRATEGIES) == 9


def test_thesis_nine_rises_despite_its_name():
    s = parse_schedule({"kind": "thesis", "strategy": 9})
    assert s.strategy_name == "Exponential Decay"
    assert s.value(0) == 0
    assert s.value(10) == pytest.approx(0.0442, abs=5e-5)
    assert s.value(30) == pytest.approx(0.0665, abs=5e-5)
    assert s.value(69) == pytest.approx(0.0699, abs=5e-5)
    assert np.all(np.diff(s.values(np.arange(200))) > 0)
    assert np.all(s.values(np.arange(2000)) <= 0.07)  # approaches 0.07 (reached in float64)


def test_exp_decay_decays():
    s = parse_schedule({"kind": "exp_decay"})
    assert s.value(0) == pytest.approx(0.07) and s.value(10) == pytest.approx(0.07 / math.e)


def test_kl_weight_constant_schedules():
    c1 = parse_schedule({"kind": "kl_weight", "variant": "constant_1"})
    assert np.all(c1.values(np.arange(80_000)) == 1)
    c0 = parse_schedule({"kind": "kl_weight", "variant": "constant_0"})
    assert c0.value(0) == 1 and c0.value(500) == pytest.approx(0.5)
    assert c0.value(1000) == 0 and c0.value(79_999) == 0


def test_kl_weight_dynamic_plateau():
    d0 = parse_schedule({"kind": "kl_weight", "variant": "dyn_plateau_0"})
    d1 = parse_schedule({"kind": "kl_weight", "variant": "dyn_plateau_1"})
    e = np.arange(80_000)
    v0, v1 = d0.values(e), d1.values(e)
    # restarts at 1 every P = 80 epochs
    assert np.all(v0[: 70_000: 80] == 1)
    # first cycle falls linearly over the whole period (r_0 = 80)
    np.testing.assert_allclose(v0[:80], 1 - np.arange(80) / 80)
    # later cycles fall faster: cycle c = 437 starts at 34960, r = round(80*(1-34960/70000)) = 40
    c = 437
    np.testing.assert_allclose(v0[c * 80: c * 80 + 41], np.maximum(0, 1 - np.arange(41) / 40))
    assert np.all(v0[c * 80 + 40: c * 80 + 80] == 0)
    # the two agree until E_dyn = 70,000 and differ only in the tail
    np.testing.assert_array_equal(v0[:70_000], v1[:70_000])
    assert np.all(v0[70_000:] == 0) and np.all(v1[70_000:] == 1)
    # the plateau at 0 grows: zero count per period is non-decreasing
    zeros = (v0[:70_000].reshape(-1, 80) == 0).sum(1)
    assert np.all(np.diff(zeros) >= 0) and zeros[0] == 0 and zeros[-1] >= 78


@pytest.mark.parametrize("bad,needle", [
    ({"kind": "nope"}, "unknown schedule kind 'nope'"),
    ({"kind": "linear", "lenght": 3}, "lenght"),
    ({"kind": "thesis", "strategy": 10}, "strategy"),
    ({"kind": "linear", "length": 0}, "length"),
    ({"kind": "kl_weight", "e_dyn": 90_000}, "e_dyn"),
])
def test_bad_schedule_configs(bad, needle):
    with pytest.raises(Exception, match=needle):
        parse_schedule(bad)
