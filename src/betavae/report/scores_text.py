"""An evaluation (``eval.json``'s dict) as terminal text: what ``bvae eval`` and ``bvae zoo eval`` print."""

from __future__ import annotations

import json


def scores_text(result: dict, fmt: str = "table") -> str:
    """One line per value (with its interval, then a line naming the bootstrap), or JSON if ``fmt == "json"``."""
    if fmt == "json":
        return json.dumps(result, indent=2, default=str)
    lines = []
    for values_key, intervals_key in (("values", "intervals"), ("breakdown", "breakdown_intervals")):
        intervals = result.get(intervals_key, {})
        for key, value in result.get(values_key, {}).items():
            line = f"{key:48s} {score_text(value)}" if isinstance(value, float) else f"{key:48s} {value}"
            if key in intervals:
                lo, hi = intervals[key]
                line += f"  [{lo:.4f}, {hi:.4f}]"
            lines.append(line)
    if result.get("intervals"):
        lines.append("intervals: " + intervals_text(result["bootstrap"]))
    return "\n".join(lines)


def intervals_text(record: dict) -> str:
    """How the intervals were made, from an evaluation's ``bootstrap`` record."""
    if record.get("method") == "draws":
        return (f"{100 * record['confidence']:g}% percentile range of {record['n']} independent draws "
                "of the evaluation sets")
    return f"{record['method']} {100 * record['confidence']:g}% over {record['n']} bootstrap replicates"


def score_text(value: float) -> str:
    """Four decimals (the disentanglement scores lie in [0, 1]); four significant digits for values
    that would lose them so (the multimodal measures span orders of magnitude)."""
    return f"{value:.4f}" if value == 0 or 1e-3 <= abs(value) < 1e6 else f"{value:.4g}"
