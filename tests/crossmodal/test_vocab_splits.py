import numpy as np
import pytest

from betavae.data.audiovisual_splits import compositional, make_split, symbol_grounding, validation
from betavae.data.audiovisual_vocab import (
    action_index,
    object_index,
    parse_text,
    row_labels,
    texts,
    utterance,
)
from betavae.errors import BetavaeError


def test_utterance_layout():
    assert utterance(0) == (0, 0, "This is a pen")
    assert utterance(24) == (4, 0, "This is a fork")
    assert utterance(25) == (0, 1, "Move the pen to the left")
    assert utterance(25 + 5 * 3 + 4) == (3, 5, "Rotate the knife")
    assert utterance(25 + 5 * 1 + 2) == (1, 3, "Move the phone up")
    assert len(texts()) == 30
    lab = row_labels(150)
    assert (lab["object"][:50] == lab["object"][100:]).all()
    assert len(np.unique(row_labels(36_000)["group"])) == 30
    assert lab["group"][0] == "object0-still" and lab["group"][25] == "object0-action0"


def test_parse_text_and_names():
    assert parse_text("move the Spoon to the right") == (2, 2)
    assert parse_text("THIS IS A FORK") == (4, 0)
    assert parse_text("rotate the spork") is None
    assert object_index("knife") == 3 and action_index("rotate") == 5 and object_index(2) == 2
    with pytest.raises(BetavaeError, match="unknown object 'spork'"):
        object_index("spork")
    with pytest.raises(BetavaeError, match="unknown action 'jump'"):
        action_index("jump")


def test_symbol_grounding_regression():
    """scikit-learn 1.9.1 holds out these six groups (spec §4): 10,080 test rows."""
    lab = row_labels(36_000)
    train, test = symbol_grounding(lab["group"])
    assert sorted(np.unique(lab["group"][test])) == [
        "object1-action2", "object1-action3", "object2-action3", "object2-still", "object3-still", "object4-action3"]
    assert len(test) == 10_080 and len(train) == 25_920
    assert not set(lab["group"][train]) & set(lab["group"][test])


@pytest.mark.parametrize("k", range(5))
def test_compositional_never_trains_on_held_out_pairs(k):
    lab = row_labels(36_000)
    split = make_split(lab, "compositional", k)
    seen = split.fit
    assert not ((lab["object"][seen] == k) & (lab["action"][seen] > 0)).any()
    assert len(split.test) == 3_600
    assert ((lab["object"][split.test] == k) & (lab["action"][split.test] > 0)).all()
    assert ((lab["object"][seen] == k) & (lab["action"][seen] == 0)).any()  # k's still rows stay
    assert len(np.intersect1d(split.train, split.val)) == 0
    assert len(split.val) == round(0.2 * 32_400)


def test_group_validation_and_errors():
    lab = row_labels(1000)
    train, _ = compositional(lab["object"], lab["action"], "pen")
    tr, va = validation(train, lab["group"], "group")
    assert not set(lab["group"][tr]) & set(lab["group"][va])
    with pytest.raises(BetavaeError, match="protocol"):
        make_split(lab, "zero-shot")
