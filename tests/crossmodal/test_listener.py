"""The word-level listener is fitted on the training rows only (issue #23): its ceiling on the test
rows is measured on utterances it has never heard."""

from __future__ import annotations

import numpy as np

from betavae.crossmodal.measures import fit_listener
from betavae.data.audiovisual import AudiovisualArrays
from betavae.data.audiovisual_splits import compositional
from betavae.metrics.translation import Listener


def _arrays(audio: np.ndarray, objects: np.ndarray, actions: np.ndarray) -> AudiovisualArrays:
    train, test = compositional(objects, actions, 0)
    return AudiovisualArrays(np.zeros((len(audio), 30, 2), np.float32), audio, train, np.zeros(0, np.int64), test,
                             {"object": objects, "action": actions})


def _labels(reps: int) -> tuple[np.ndarray, np.ndarray]:
    objects, actions = np.meshgrid(np.arange(5), np.arange(6), indexing="ij")
    return np.repeat(objects.ravel(), reps), np.repeat(actions.ravel(), reps)


def test_noise_audio_is_memorised_by_a_listener_fitted_on_all_rows_but_not_by_fit_listener():
    """Audio that is pure noise carries no word: a listener fitted on every row names the test rows
    it memorised (100 %), the training-rows listener does no better than guessing."""
    objects, actions = _labels(reps=4)
    audio = np.random.default_rng(0).normal(size=(len(objects), 30, 8)).astype(np.float32)
    data = _arrays(audio, objects, actions)
    yo, ya = objects[data.test], actions[data.test]
    leaky = Listener(audio, objects, actions).accuracy(audio[data.test], yo, ya)
    assert leaky == {"object": 100.0, "action": 100.0, "pair": 100.0}
    honest = fit_listener(data).accuracy(audio[data.test], yo, ya)
    assert honest["pair"] < 20.0  # 20 test rows, object 0 with actions 1-5: chance is 1/30 per pair


def test_a_held_out_objects_words_are_named_from_its_still_clips_and_the_other_objects_actions():
    """Audio that is the sum of an object word and an action word: fitted on the compositional
    split's training rows (object 0's action clips held out; its still clips kept), the listener
    names every held-out (object 0, action) pair."""
    objects, actions = _labels(reps=3)
    rng = np.random.default_rng(1)
    words_obj, words_act = rng.normal(size=(5, 30, 8)), rng.normal(size=(6, 30, 8))
    audio = (words_obj[objects] + words_act[actions] + 0.1 * rng.normal(size=(len(objects), 30, 8))).astype(np.float32)
    data = _arrays(audio, objects, actions)
    assert set(objects[data.train]) == set(range(5)) and not np.isin(data.test, data.train).any()
    got = fit_listener(data).accuracy(audio[data.test], objects[data.test], actions[data.test])
    assert got == {"object": 100.0, "action": 100.0, "pair": 100.0}
