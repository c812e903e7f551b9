"""Evaluation measures and the classifier's tolerance rule: known answers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from betavae.metrics.vsa_images import bce_per_image, count_objects, count_report, iou, match
from betavae.vsa.classifier import correct
from betavae.vsa.evaluate import swap_accuracy


def test_iou_and_bce():
    a = np.zeros((3, 4, 4), bool)
    b = a.copy()
    a[0, :2], b[0, 1:3] = True, True  # 4 common of 12
    a[1, 0, 0] = True
    assert iou(a, b).tolist() == pytest.approx([4 / 12, 0.0, 1.0])
    logits, x = np.random.default_rng(0).normal(size=(2, 1, 8, 8)), np.ones((2, 1, 8, 8))
    ref = torch.nn.functional.binary_cross_entropy_with_logits(
        torch.tensor(logits), torch.tensor(x), reduction="none").sum((1, 2, 3))
    assert np.allclose(bce_per_image(logits, x), ref.numpy())


def test_counting_matching_and_confusion():
    img = np.zeros((10, 10), bool)
    img[0:2, 0:2] = img[5:8, 5:8] = True
    img[2, 2] = True  # touches the first block diagonally: same 8-connected object
    img[0, 9] = True  # a speck below a_min
    assert count_objects(img[None], a_min=2).tolist() == [2]
    target = np.zeros((10, 10), bool)
    target[5:8, 5:9] = True
    got = match(img, [np.zeros((10, 10), bool), target], a_min=2)
    assert got[0] is None and got[1].sum() == 9
    rep = count_report(np.array([2, 3, 3, 7]), np.array([2, 3, 4, 5]), "s")
    assert rep["s.count_acc"] == 0.5 and rep["s.count_acc.n4"] == 0.0
    assert rep["s.count_confusion"][2][3] == 1 and rep["s.count_confusion"][3][6] == 1


def test_classifier_tolerance_rule():
    true = np.array([[0, 2, 0, 10, 10], [2, 2, 0, 10, 10], [1, 3, 5, 10, 10]])
    pred = np.array([[0, 2, 10, 11, 9], [2, 2, 10, 12, 10], [1, 3, 24, 10, 10]])
    ok = correct(pred, true)
    assert ok[0].all()  # square: 10 steps is 0.25 step from π/2; positions within ±1
    assert not ok[1, 2] and not ok[1, 3]  # heart: 10 steps is far; posX off by 2
    assert ok[2, 2]  # ellipse: 19 steps is 0.5 step from π


def test_swap_accuracy_splits_changed_and_preserved():
    ok = np.array([[1, 1, 0, 1, 1], [0, 1, 1, 1, 1]], bool)
    out = swap_accuracy(ok, np.array([2, 1]), "a")
    assert out["a.changed"] == 0.5 and out["a.preserved"] == 0.5 and out["a.full"] == 0.0
    assert out["a.changed.orientation"] == 0.0 and out["a.changed.scale"] == 1.0
