"""The factor classifier's training settings, cache key and trust bar (issue #23; spec §7.2)."""

from __future__ import annotations

import pytest

from betavae.config import DATA
from betavae.vsa import classifier
from betavae.vsa.classifier import (
    TRUST,
    _key,
    classifier_train_config,
    get_classifier,
    store_classifier,
    trusted,
)
from betavae.vsa.settings import ClassifierSettings

DATA_CFG = DATA.get("paired_dsprites")()
TINY = ClassifierSettings(steps=3, batch_size=8, n_test=20)


def test_the_default_is_8000_constant_steps_at_1e_3_and_onecycle_is_an_option():
    s = ClassifierSettings()
    assert (s.steps, s.schedule, s.lr, s.batch_size) == (8000, "constant", 1e-3, 64)
    tc = classifier_train_config(s)
    assert tc.steps == 8000 and tc.lr == 1e-3 and tc.lr_schedule.kind == "constant"
    one = classifier_train_config(s.model_copy(update={"schedule": "onecycle"}))
    assert one.lr_schedule.kind == "onecycle" and one.lr_schedule.max_lr == 1e-3


def test_the_cache_key_follows_every_training_setting_and_drops_the_old_default():
    base = _key(ClassifierSettings(), DATA_CFG)
    assert base != "56e648c7cbaf2360"  # the key main gave the old default (4,000 constant steps)
    # and the old default's settings under today's code: a new key too (the cache format is v2)
    assert _key(ClassifierSettings(steps=4000), DATA_CFG) != "56e648c7cbaf2360"
    others = {_key(ClassifierSettings(**change), DATA_CFG) for change in
              ({"steps": 4000}, {"schedule": "onecycle"}, {"lr": 2e-3}, {"batch_size": 32}, {"seed": 1})}
    assert base not in others and len(others) == 5


def test_trusted_needs_every_head_at_the_bar():
    heads = {f"vsa.classifier.{n}": 1.0 for n in ("shape", "scale", "orientation", "posX", "posY")}
    assert TRUST == 0.98 and trusted(heads)
    assert trusted({**heads, "vsa.classifier.scale": 0.98})
    assert not trusted({**heads, "vsa.classifier.scale": 0.962})


def test_a_stored_classifier_is_read_back_without_training(monkeypatch):
    model, first = get_classifier(TINY, DATA_CFG)  # trains and caches
    monkeypatch.setattr(classifier, "train_classifier", lambda *a, **k: pytest.fail("trained again"))
    again, ceiling = get_classifier(TINY, DATA_CFG)
    assert ceiling == first
    assert store_classifier(model, TINY, DATA_CFG) == first  # the same weights measure the same
    other = TINY.model_copy(update={"steps": 4})
    monkeypatch.setattr(classifier, "train_classifier", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("new key")))
    with pytest.raises(RuntimeError, match="new key"):
        get_classifier(other, DATA_CFG)


def test_watch_sees_the_model_at_every_step():
    seen = []
    classifier.train_classifier(TINY, DATA_CFG, watch=lambda step, model: seen.append((step, model.training)))
    assert seen == [(1, True), (2, True), (3, True)]
