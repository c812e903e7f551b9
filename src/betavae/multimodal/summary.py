"""Aggregate a study's records: means and spreads over seeds, per checkpoint or per window.

Langer et al. (2024) report means over 20 seeds, per checkpoint and averaged over epochs
60k–70k and 70k–80k; for a run of E epochs these windows are [0.75·E, 0.875·E) and
[0.875·E, E] (``pre`` and ``final``).
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

WINDOWS = {"pre": (0.75, 0.875), "final": (0.875, 1.0001)}


def curves(records: list[dict], measure: str, modality: str = "all") -> dict[str, dict[str, np.ndarray]]:
    """{schedule: {epoch, mean, median, std, min, max}} over seeds, for one measure and modality."""
    acc: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in records:
        if r["measure"] == measure and r["modality"] == modality:
            acc[r["schedule"]][r["epoch"]].append(r["value"])
    out = {}
    for sched, by_epoch in acc.items():
        epochs = np.array(sorted(by_epoch))
        vals = [np.asarray(by_epoch[e]) for e in epochs]
        out[sched] = {"epoch": epochs, "mean": np.array([v.mean() for v in vals]),
                      "std": np.array([v.std() for v in vals]),
                      "min": np.array([v.min() for v in vals]), "max": np.array([v.max() for v in vals]),
                      "median": np.array([np.median(v) for v in vals])}
    return out


def seed_means(records: list[dict], epochs: int, window: str = "final") -> dict[tuple[str, str, str], dict[int, float]]:
    """{(schedule, measure, modality): {seed: the mean of its checkpoints in the window}}."""
    lo, hi = WINDOWS[window]
    per_seed: dict[tuple, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in records:
        if lo * epochs <= r["epoch"] < hi * epochs and r["epoch"] > 0:
            per_seed[(r["schedule"], r["measure"], r["modality"])][r["seed"]].append(r["value"])
    return {key: {seed: float(np.mean(v)) for seed, v in seeds.items()} for key, seeds in per_seed.items()}


def window_means(records: list[dict], epochs: int, window: str = "final") -> dict[tuple[str, str, str], dict]:
    """{(schedule, measure, modality): {mean, std, min, max, n}}: per seed, average the checkpoints in the
    window; then mean and standard deviation over seeds."""
    out = {}
    for key, seeds in seed_means(records, epochs, window).items():
        v = np.array(list(seeds.values()))
        out[key] = {"mean": float(v.mean()), "std": float(v.std()), "min": float(v.min()),
                    "max": float(v.max()), "n": len(v)}
    return out


def window_intervals(records: list[dict], epochs: int, window: str = "final",
                     confidence: float = 0.95) -> dict[tuple[str, str, str], dict]:
    """{(schedule, measure, modality): {mean, low, high, n}}: the window's per-seed means, their
    mean and Student-t interval over seeds (low = high = None for one seed)."""
    from betavae.report.lessons import t_interval

    out = {}
    for key, seeds in seed_means(records, epochs, window).items():
        mean, low, high = t_interval(list(seeds.values()), confidence)
        out[key] = {"mean": mean, "low": low, "high": high, "n": len(seeds)}
    return out


def schedules_in(records: list[dict]) -> list[str]:
    return list(dict.fromkeys(r["schedule"] for r in records))


def modalities_in(records: list[dict], measure: str = "sme_mod") -> list[str]:
    return list(dict.fromkeys(r["modality"] for r in records if r["measure"] == measure))
