"""The source's experiment table and its Good/Bad rule (spec/dsprites-vsa.md §6).

The study itself is a sweep file (``configs/sweep_vsa_grid.yaml``, full size
``sweep_vsa_grid_full.yaml``) run by ``bvae sweep``: every row × seed is an ordinary run folder,
evaluated by the vsa evaluator (``eval.json``, ``vsa.good``). What is specific to this study lives
here: the 17 settings with the label the source gave each by eye (:data:`SOURCE_ROWS`), the
operational rule that labels one run (:func:`is_good`), and the per-row summary the sweep's index
shows (:func:`summarise`, :func:`table`): the source's label beside the majority label over seeds
and the measured figures (mean ± sd over seeds).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

#: the data kind of each training stage
STAGE_DATA = {"pd": "paired_dsprites", "sd": "scene_dsprites", "psd": "paired_scene_dsprites"}


@dataclass(frozen=True)
class SourceRow:
    """One row of the source's table: stage (pd / psd), image loss, its reduction, κ, λ_cos and the
    source's by-eye label."""

    id: int
    stage: str
    image: str
    reduction: str
    kld: float
    cosine: float
    reported: str


SOURCE_ROWS = tuple(SourceRow(*r) for r in (
    (1, "pd", "mse", "sum", 1.0, 0.0, "Bad"), (2, "pd", "mse", "sum", 1.0, 1.0, "Bad"),
    (3, "pd", "mse", "mean", 1.0, 0.0, "Bad"), (4, "pd", "mse", "mean", 0.1, 0.0, "Bad"),
    (5, "pd", "mse", "mean", 0.01, 0.0, "Bad"), (6, "pd", "mse", "mean", 0.001, 0.0, "Bad"),
    (7, "pd", "mse", "mean", 1.0, 1.0, "Bad"), (8, "pd", "mse", "mean", 0.1, 1.0, "Bad"),
    (9, "pd", "mse", "mean", 0.01, 1.0, "Bad"), (10, "pd", "mse", "mean", 0.001, 1.0, "Bad"),
    (11, "pd", "bce", "sum", 1.0, 0.0, "Bad"), (12, "pd", "bce", "sum", 1.0, 1.0, "Bad"),
    (13, "pd", "bce", "sum", 0.1, 1.0, "Bad"), (14, "pd", "bce", "sum", 0.0, 1.0, "Good"),
    (15, "pd", "bce", "sum", 0.01, 1.0, "Good"), (16, "psd", "bce", "sum", 0.01, 1.0, "Good"),
    (17, "psd", "bce", "sum", 0.001, 1.0, "Bad"),
))


def settings_of(config: Any) -> tuple[str, str, str, float, float]:
    """(stage, image loss, reduction, κ, λ_cos) of a vsa run config."""
    o = config.objective
    return config.data.stage, o.image, o.reduction, float(o.kld), float(o.cosine)


def source_row(config: Any) -> SourceRow | None:
    """The source's row with this run's settings (None: a setting the source did not try)."""
    key = settings_of(config)
    return next((r for r in SOURCE_ROWS if (r.stage, r.image, r.reduction, r.kld, r.cosine) == key), None)


def is_good(stage: str, values: dict[str, Any], settings: Any) -> bool | None:
    """The operational rule of spec §6 for one run (thresholds from the evaluation settings):
    PD Good ⇔ swap IoU ≥ pd_iou and changed-feature swap accuracy ≥ pd_swap; PSD Good ⇔ scene IoU
    ≥ psd_iou, count accuracy ≥ psd_count and changed accuracy ≥ psd_swap. None for SD (no rule) or
    when a measure is missing (no classifier)."""
    s = settings
    need = {"pd": {"vsa.swap.iou": s.pd_iou, "vsa.swap_acc.changed": s.pd_swap},
            "psd": {"vsa.scene.iou": s.psd_iou, "vsa.scene.count_acc": s.psd_count,
                    "vsa.swap_acc.changed": s.psd_swap}}.get(stage)
    if need is None or any(k not in values for k in need):
        return None
    return all(values[k] >= t for k, t in need.items())


#: the stage's (swap or scene IoU, fraction of empty outputs) keys: what the collapse rule reads
COLLAPSE_KEYS = {"pd": ("vsa.swap.iou", "vsa.swap.empty"), "psd": ("vsa.scene.iou", "vsa.scene.empty")}


def is_collapsed(stage: str, values: dict[str, Any], settings: Any) -> bool | None:
    """The collapse rule (issue #23; the evidence is in docs/vsa.md, "The decisive study"): the
    swapped outputs' IoU ≤ ``collapse_iou``, a fraction ≥ ``collapse_empty`` of them empty, and
    the mean KL of one image's encoding ≤ ``collapse_kl`` nats (the decoder draws nothing from a
    code that carries almost nothing). None for SD or when a measure is missing."""
    keys = COLLAPSE_KEYS.get(stage)
    if keys is None or any(k not in values for k in (*keys, "vsa.latent.kl")):
        return None
    s = settings
    return bool(values[keys[0]] <= s.collapse_iou and values[keys[1]] >= s.collapse_empty
                and values["vsa.latent.kl"] <= s.collapse_kl)


def verdicts(stage: str, values: dict[str, Any], settings: Any, trusted: bool) -> dict[str, bool]:
    """``vsa.good`` (:func:`is_good`) and ``vsa.collapsed`` (:func:`is_collapsed`), each when defined.

    ``vsa.good`` reads the factor classifier's swap accuracies, so it is given only when that
    classifier is ``trusted`` (every head ≥ :data:`betavae.vsa.classifier.TRUST` on held-out images;
    issue #23: no classifier-based score is trusted before that). The collapse rule reads no
    classifier and is always given."""
    found = {"vsa.good": is_good(stage, values, settings) if trusted else None,
             "vsa.collapsed": is_collapsed(stage, values, settings)}
    return {k: bool(v) for k, v in found.items() if v is not None}


#: the summary's measured columns: (title, eval key; "iou"/"direct" pick the stage's own key)
COLUMNS = (("swap/scene IoU", "iou"), ("changed acc", "vsa.swap_acc.changed"),
           ("preserved acc", "vsa.swap_acc.preserved"), ("direct IoU", "direct"),
           ("count acc", "vsa.scene.count_acc"), ("cos shared", "vsa.latent.cos_shared"),
           ("recomb. full", "vsa.recombination.full"), ("log σ", "log_sigma"))


def _value(rec: dict[str, Any], key: str) -> float | None:
    if key == "iou":
        key = "vsa.swap.iou" if "vsa.swap.iou" in rec else "vsa.scene.iou"
    elif key == "direct":
        key = "vsa.direct.iou" if "vsa.direct.iou" in rec else "vsa.direct_scene.iou"
    v = rec.get(key)
    return None if v is None else float(v)


def summarise(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One line per row of the source's table that has evaluated runs, in the table's order.

    ``records``: one per evaluated run, ``{"row": SourceRow, "step": int, "vsa.good": bool, <eval
    values>, "log_sigma": float}``; a run without ``vsa.good`` (its classifier was not trusted) has
    no verdict. A line holds the row's settings, ``seeds`` (runs), ``good_runs``, ``measured`` (Good
    when more than half the runs are Good, Bad when they cannot be, else "no verdict": too many runs
    were judged with an untrusted classifier), ``steps`` and, per column of :data:`COLUMNS`, the
    mean over runs and (two runs or more) the standard deviation."""
    lines = []
    for row in SOURCE_ROWS:
        recs = [r for r in records if r["row"] == row]
        if not recs:
            continue
        good = sum(r.get("vsa.good") is True for r in recs)
        unjudged = sum(not isinstance(r.get("vsa.good"), bool) for r in recs)
        measured = "Good" if good * 2 > len(recs) else "Bad" if (good + unjudged) * 2 <= len(recs) else "no verdict"
        line: dict[str, Any] = {**asdict(row), "seeds": len(recs), "good_runs": good, "measured": measured,
                                "steps": max(r["step"] or 0 for r in recs)}
        for title, key in COLUMNS:
            vals = [v for v in (_value(r, key) for r in recs) if v is not None]
            line[title] = float(np.mean(vals)) if vals else None
            line[title + " sd"] = float(np.std(vals)) if len(vals) > 1 else None
        lines.append(line)
    return lines


HEAD = ("#", "model", "loss", "red.", "κ", "λ_cos", "reported", "measured", "good/seeds", "steps",
        *(t for t, _ in COLUMNS))


def _fmt(v: float | None, sd: float | None) -> str:
    if v is None:
        return "–"
    return f"{v:.3f}" if sd is None else f"{v:.3f}±{sd:.3f}"


def table(lines: list[dict[str, Any]]) -> list[list[Any]]:
    """The summary as table rows under :data:`HEAD` (numbers as mean±sd text, 3 decimals)."""
    return [[ln["id"], ln["stage"].upper(), ln["image"].upper(), ln["reduction"], f"{ln['kld']:g}",
             f"{ln['cosine']:g}", ln["reported"], ln["measured"], f"{ln['good_runs']}/{ln['seeds']}", ln["steps"],
             *(_fmt(ln[t], ln[t + " sd"]) for t, _ in COLUMNS)] for ln in lines]
