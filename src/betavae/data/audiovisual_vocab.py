"""Objects, actions, utterances and the 50-row layout of De Ponte & Rauchas (2022) (spec §2, §4).

Row r has utterance u = r mod 50: u < 25 is "This is a X" (five repeats per object, objects in
order), u >= 25 is action a = (u − 25) mod 5 on object k = (u − 25) // 5. Actions here are indexed
0 = still, 1..5 = left, right, up, down, rotate (the spec's ``action{a}`` is our index − 1).
"""

from __future__ import annotations

import re

import numpy as np

from betavae.errors import BetavaeError

OBJECTS = ("pen", "phone", "spoon", "knife", "fork")
ACTIONS = ("still", "left", "right", "up", "down", "rotate")
BLOCK = 50
_PHRASES = {
    "left": "Move the {} to the left",
    "right": "Move the {} to the right",
    "up": "Move the {} up",
    "down": "Move the {} down",
    "rotate": "Rotate the {}",
}


def utterance(u: int) -> tuple[int, int, str]:
    """(object index, action index, text) of utterance ``u`` in 0..49."""
    if not 0 <= u < BLOCK:
        raise BetavaeError(f"utterance index {u} is outside 0..49")
    if u < 25:
        k = u // 5
        return k, 0, f"This is a {OBJECTS[k]}"
    k, a = divmod(u - 25, 5)
    return k, a + 1, _PHRASES[ACTIONS[a + 1]].format(OBJECTS[k])


def texts() -> list[str]:
    """The 30 distinct utterance texts, in first-appearance order of the block."""
    seen: dict[str, None] = {}
    for u in range(BLOCK):
        seen.setdefault(utterance(u)[2], None)
    return list(seen)


def row_labels(n_rows: int) -> dict[str, np.ndarray]:
    """Per-row ``utterance``, ``object``, ``action`` (int arrays (N,)) and ``group`` (str array)."""
    u = np.arange(n_rows) % BLOCK
    table = np.array([utterance(i)[:2] for i in range(BLOCK)])
    obj, act = table[u, 0], table[u, 1]
    return {"utterance": u, "object": obj, "action": act, "group": group_labels(obj, act)}


def group_labels(obj: np.ndarray, act: np.ndarray) -> np.ndarray:
    """``object{k}-still`` or ``object{k}-action{a}`` (a = action index − 1), as in the reference."""
    names = np.array([f"object{k}-still" if a == 0 else f"object{k}-action{a - 1}"
                      for k in range(len(OBJECTS)) for a in range(len(ACTIONS))])
    return names[np.asarray(obj) * len(ACTIONS) + np.asarray(act)]


def object_index(name: str | int) -> int:
    """Index of an object given by name (pen, phone, spoon, knife, fork) or index 0..4."""
    return _lookup(name, OBJECTS, "object")


def action_index(name: str | int) -> int:
    """Index of an action given by name (still, left, right, up, down, rotate) or index 0..5."""
    return _lookup(name, ACTIONS, "action")


def _lookup(name: str | int, names: tuple[str, ...], what: str) -> int:
    if isinstance(name, (int, np.integer)) and 0 <= int(name) < len(names):
        return int(name)
    key = str(name).strip().lower()
    if key in names:
        return names.index(key)
    if key.isdigit() and int(key) < len(names):
        return int(key)
    raise BetavaeError(f"unknown {what} {name!r}; known {what}s: {', '.join(names)} (or 0..{len(names) - 1})")


_TEXT_RES = [
    (re.compile(r"this is an? (\w+)", re.I), None),
    (re.compile(r"move the (\w+) to the left", re.I), "left"),
    (re.compile(r"move the (\w+) to the right", re.I), "right"),
    (re.compile(r"move the (\w+) up", re.I), "up"),
    (re.compile(r"move the (\w+) down", re.I), "down"),
    (re.compile(r"rotate the (\w+)", re.I), "rotate"),
]


def parse_text(text: str) -> tuple[int, int] | None:
    """(object, action) named by a (possibly ASR) transcription, or None if it does not parse."""
    for pattern, action in _TEXT_RES:
        m = pattern.search(text)
        if m and m.group(1).lower() in OBJECTS:
            return OBJECTS.index(m.group(1).lower()), ACTIONS.index(action or "still")
    return None
