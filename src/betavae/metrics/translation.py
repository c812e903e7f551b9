"""Metrics of the cross-modal thesis and the stronger tests it lacks (spec/crossmodal.md §8, §11): pure arrays.

- :func:`latent_metrics`: MSE, MAE and cosine distance = 100·(1 − mean cos) between predicted and
  true vectors (rows flattened); "accuracy" = 100 − distance.
- :class:`Listener`: which object and which action an audio feature array (30, Ca) names: two
  multinomial logistic regressions on the flattened *real* audio features. Decoding a translated
  audio latent and asking the listener gives the word-level accuracy on held-out pairs.
- :func:`controls`: the same-split controls of §11c on latents: the training-mean audio latent, a
  1-nearest-neighbour video→audio lookup, and a linear (least-squares) regressor.
- :func:`retrieval`: §11b: is the training audio latent nearest to a translation, or the nearest
  (object, action) class centroid of training audio latents, of the right utterance? An
  utterance's text is fixed by its (object, action) pair, so "right utterance" = right pair.
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.neighbors import KNeighborsRegressor, NearestNeighbors

from betavae.data.audiovisual_vocab import ACTIONS, OBJECTS


def cosine(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Row-wise cosine of flattened samples: (N, ...) × (N, ...) → (N,)."""
    a, b = x.reshape(len(x), -1).astype(np.float64), y.reshape(len(y), -1).astype(np.float64)
    den = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return np.divide((a * b).sum(1), den, out=np.zeros(len(a)), where=den > 0)


def latent_metrics(pred: np.ndarray, true: np.ndarray) -> dict[str, float]:
    """``mse``, ``mae`` (means over all elements) and ``cos_dist`` = 100·(1 − mean cos)."""
    d = pred.astype(np.float64) - true
    return {"mse": float((d**2).mean()), "mae": float(np.abs(d).mean()),
            "cos_dist": float(100 * (1 - cosine(pred, true).mean()))}


class Listener:
    """Object (0..4) and action (0 = still, 1..5) classifiers on real audio features (N, 30, Ca)."""

    def __init__(self, audio: np.ndarray, objects: np.ndarray, actions: np.ndarray, seed: int = 0) -> None:
        x = audio.reshape(len(audio), -1)
        self.obj = LogisticRegression(max_iter=1000, random_state=seed).fit(x, objects)
        self.act = LogisticRegression(max_iter=1000, random_state=seed).fit(x, actions)

    def accuracy(self, audio: np.ndarray, objects: np.ndarray, actions: np.ndarray) -> dict[str, float]:
        """Percent of rows whose object, action, and both (``pair``) the listener names correctly."""
        x = audio.reshape(len(audio), -1)
        po, pa = self.obj.predict(x) == objects, self.act.predict(x) == actions
        return {"object": float(100 * po.mean()), "action": float(100 * pa.mean()),
                "pair": float(100 * (po & pa).mean())}


def controls(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray) -> dict[str, np.ndarray]:
    """Predictions (N_test, D) of the mean, 1-NN and linear controls from video latents."""
    return {
        "mean": np.broadcast_to(y_train.mean(0), (len(x_test), y_train.shape[1])).copy(),
        "nearest": KNeighborsRegressor(1).fit(x_train, y_train).predict(x_test),
        "linear": LinearRegression().fit(x_train, y_train).predict(x_test),
    }


def retrieval(pred: np.ndarray, train_latents: np.ndarray, train_obj: np.ndarray, train_act: np.ndarray,
              test_obj: np.ndarray, test_act: np.ndarray) -> dict[str, dict]:
    """Retrieval accuracy (percent) of predicted audio latents ``pred`` (N, z) against training
    audio latents (N_train, z) labelled (object, action), by Euclidean distance, for two rules:
    ``nearest`` (the nearest training latent) and ``centroid`` (the nearest class mean). Each rule
    gives ``pair`` (= the right utterance), ``object`` and ``action`` accuracy, the object
    accuracy per true object (``per_object``) and the action accuracy per true action
    (``per_action``, only those present in the test rows). Both protocols hold out whole
    (object, action) pairs, which can never be retrieved, so ``pair`` is 0 by construction there;
    object and action are the informative parts."""
    pairs = train_obj * len(ACTIONS) + train_act
    classes = np.unique(pairs)
    centroids = np.stack([train_latents[pairs == c].mean(0) for c in classes])
    found = {
        "nearest": pairs[NearestNeighbors(n_neighbors=1).fit(train_latents).kneighbors(pred)[1][:, 0]],
        "centroid": classes[NearestNeighbors(n_neighbors=1).fit(centroids).kneighbors(pred)[1][:, 0]],
    }
    out = {}
    for rule, hit in found.items():
        ok_obj, ok_act = hit // len(ACTIONS) == test_obj, hit % len(ACTIONS) == test_act
        out[rule] = {"pair": float(100 * (ok_obj & ok_act).mean()), "object": float(100 * ok_obj.mean()),
                     "action": float(100 * ok_act.mean()),
                     "per_object": {OBJECTS[k]: float(100 * ok_obj[test_obj == k].mean()) for k in np.unique(test_obj)},
                     "per_action": {ACTIONS[a]: float(100 * ok_act[test_act == a].mean()) for a in np.unique(test_act)}}
    return out
