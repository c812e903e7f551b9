"""The two protocols' splits and the validation split (spec §4).

Symbol grounding: ``GroupShuffleSplit(n_splits=1, test_size=0.2, random_state=42)`` over the 30
group labels (six whole groups held out). Compositional, object k: every ``object{k}-action*``
row is held out (k's *still* rows stay in training). Validation: 20 % of the training rows by
row-level ``train_test_split(random_state=42)`` (the reference), or by groups (``val_split=group``).
scikit-learn is imported when a split is made: every module of :mod:`betavae.data` is imported with
the config, and ``sklearn.model_selection`` alone takes about a second to import.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from betavae.data.audiovisual_vocab import object_index
from betavae.errors import BetavaeError


@dataclass(frozen=True)
class Split:
    """Row indices (sorted int64) of one protocol split."""

    name: str
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray

    @property
    def fit(self) -> np.ndarray:
        """Training + validation rows (what the scalers and tokeniser may see)."""
        return np.sort(np.concatenate([self.train, self.val]))


def symbol_grounding(groups: np.ndarray, seed: int = 42, test_size: float = 0.2) -> tuple[np.ndarray, np.ndarray]:
    """(train rows, test rows): whole groups held out."""
    from sklearn.model_selection import GroupShuffleSplit

    if len(np.unique(groups)) < 2:
        raise BetavaeError("the symbol-grounding split needs at least two groups")
    gss = GroupShuffleSplit(n_splits=1, test_size=test_size, random_state=seed)
    train, test = next(gss.split(np.zeros(len(groups)), groups=groups))
    return np.sort(train), np.sort(test)


def compositional(objects: np.ndarray, actions: np.ndarray, held_out: int | str) -> tuple[np.ndarray, np.ndarray]:
    """(train rows, test rows): all action clips of object ``held_out`` are test rows."""
    k = object_index(held_out)
    test = (np.asarray(objects) == k) & (np.asarray(actions) > 0)
    if not test.any():
        raise BetavaeError(f"no action rows of object {k} in the data; nothing to hold out")
    return np.flatnonzero(~test), np.flatnonzero(test)


def validation(train: np.ndarray, groups: np.ndarray, how: str = "row", seed: int = 42,
               size: float = 0.2) -> tuple[np.ndarray, np.ndarray]:
    """Split training rows into (fit rows, validation rows), by rows or by groups."""
    from sklearn.model_selection import train_test_split

    if how == "row":
        tr, va = train_test_split(train, test_size=size, random_state=seed)
    elif how == "group":
        a, b = symbol_grounding(groups[train], seed, size)
        tr, va = train[a], train[b]
    else:
        raise BetavaeError(f"unknown val_split {how!r}; use row or group")
    return np.sort(tr), np.sort(va)


def make_split(labels: dict[str, np.ndarray], protocol: str, held_out: int | str | None = None,
               val_split: str = "row") -> Split:
    """The split of a protocol: ``symbol`` or ``compositional`` (with ``held_out`` object)."""
    if protocol == "symbol":
        train, test = symbol_grounding(labels["group"])
        name = "symbol"
    elif protocol == "compositional":
        if held_out is None:
            raise BetavaeError("the compositional protocol needs a held-out object")
        train, test = compositional(labels["object"], labels["action"], held_out)
        name = f"compositional{object_index(held_out)}"
    else:
        raise BetavaeError(f"unknown protocol {protocol!r}; use symbol or compositional")
    tr, va = validation(train, labels["group"], val_split)
    return Split(name, tr, va, test)
