"""Did a run's curves stop improving? The rule a zoo card states.

Windows: A = the logged rows with step in (0.8 S, 0.9 S], B = (0.9 S, S], S the last step.

* Reconstruction: the run is still improving when the mean ``recon`` of B lies more than
  :data:`RECON_TOL` (relative) below that of A.
* Every score logged during training (``eval.*`` rows, ``train.eval_every``): still improving
  when its mean over B exceeds its mean over A by more than :data:`SCORE_TOL` (absolute; the
  scores lie in [0, 1]). A score with no row in A or B compares its last two rows instead.

``plateaued`` is True when nothing is still improving, False when something is, None when the
rows are too few to tell (no recon rows in A or B).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from betavae.viz.figures import column

#: Relative fall of the mean reconstruction NLL from window A to window B that counts as improving.
RECON_TOL = 0.01
#: Absolute rise of an eval score's mean from window A to window B that counts as improving.
SCORE_TOL = 0.02


def _windows(steps: np.ndarray, values: np.ndarray, last: float) -> tuple[np.ndarray, np.ndarray]:
    a = values[(steps > 0.8 * last) & (steps <= 0.9 * last)]
    b = values[steps > 0.9 * last]
    return a, b


def eval_keys(rows: Sequence[dict[str, Any]]) -> list[str]:
    """The ``eval.*`` keys of the rows, in first-seen order."""
    keys: dict[str, None] = {}
    for row in rows:
        keys.update((k, None) for k in row if k.startswith("eval."))
    return list(keys)


def plateau(rows: Sequence[dict[str, Any]], recon_key: str = "recon", rising_scores: bool = True) -> dict[str, Any]:
    """{"plateaued", "reasons" (what is still improving, with numbers), "recon", "scores",
    "recon_tol", "score_tol"} from the rows of ``metrics.jsonl``; ``recon_key`` names the logged
    reconstruction term (a vsa run's is ``image``); ``rising_scores=False`` leaves the ``eval.*``
    rows out (a multimodal run logs its integration measures there: KLs in nats, not scores that
    should rise)."""
    out: dict[str, Any] = {"plateaued": None, "reasons": [], "recon": None, "scores": {},
                           "recon_tol": RECON_TOL, "score_tol": SCORE_TOL}
    steps, recon = column(rows, recon_key)
    if not len(steps):
        out["reasons"].append("no reconstruction rows logged")
        return out
    last = float(steps.max())
    a, b = _windows(steps, recon, last)
    if len(a) and len(b):
        fall = (a.mean() - b.mean()) / abs(a.mean())
        out["recon"] = {"window_a": float(a.mean()), "window_b": float(b.mean()), "relative_fall": float(fall),
                        "rows_a": len(a), "rows_b": len(b)}
        if fall > RECON_TOL:
            out["reasons"].append(f"reconstruction NLL fell {100 * fall:.2f} % over the last 10 % of the steps "
                                  f"({a.mean():.2f} → {b.mean():.2f} nats; tolerance {100 * RECON_TOL:g} %)")
    else:
        out["reasons"].append("too few logged rows in the last 20 % of the steps to tell")
    for key in eval_keys(rows) if rising_scores else []:
        s, v = column(rows, key)
        a, b = _windows(s, v, last)
        if len(a) and len(b):
            before, after, how = float(a.mean()), float(b.mean()), "mean over the last 10 % vs the 10 % before"
        elif len(v) >= 2:
            before, after, how = float(v[-2]), float(v[-1]), "last row vs the row before"
        else:
            continue
        out["scores"][key] = {"before": before, "after": after, "rise": after - before, "compared": how}
        if after - before > SCORE_TOL:
            out["reasons"].append(f"{key.removeprefix('eval.')} rose {after - before:+.4f} ({before:.4f} → "
                                  f"{after:.4f}, {how}; tolerance {SCORE_TOL:g})")
    if out["recon"] is not None:
        out["plateaued"] = not out["reasons"]
    return out
