"""The lessons of the large studies, for any sweep (Locatello et al. 2019, "Challenging Common
Assumptions in the Unsupervised Learning of Disentangled Representations"): seeds matter as
much as hyper-parameters, the metrics disagree, and good models cannot be chosen without
labels. For the runs of a sweep folder this computes, from each run's eval.json:

* per metric, the share of its variance over runs explained by each swept hyper-parameter
  (its main effect) and by the seed (the spread within one setting);
* the Spearman rank correlation between every pair of metrics over runs;
* the run each supervised metric would choose, and the run UDR would choose (from
  ``udr.json``, written by :func:`sweep_udr` / ``bvae eval RUNS_DIR --udr``), with where UDR's
  pick ranks by each metric;
* each setting's mean over seeds with its Student-t confidence interval;
* for the study scripts (docs/studies/): the difference of two arms' means with Welch's interval
  (:func:`welch`) and Holm's adjustment of a family of p values (:func:`holm`).

Pure functions of the index rows (``hyper``, ``seed``, ``eval``, ``run``), so they are tested
on synthetic sweeps whose answers are known.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from betavae.io import atomic_write_json
from betavae.metrics.udr import spearman_matrix

UDR_FILE = "udr.json"

#: Supervised scores, higher is better, in the order shown (those present in any eval.json).
SUPERVISED_KEYS = (
    "mig", "dci.disentanglement", "dci.completeness", "dci.informativeness_test", "sap",
    "sap.continuous", "modularity", "explicitness.test", "irs", "beta_vae.eval_accuracy",
    "factor_vae.eval_accuracy", "dci_es.explicitness", "infomec.infom", "infomec.infoc",
    "infomec.infoe",
)


def swept(rows: Sequence[dict[str, Any]]) -> list[str]:
    """Hyper-parameters that take more than one value over the rows, in first-seen order."""
    names: list[str] = []
    for r in rows:
        names += [n for n in r["hyper"] if n not in names]
    return [n for n in names if len({repr(r["hyper"].get(n)) for r in rows}) > 1]


def _setting(row: dict[str, Any], names: Sequence[str]) -> tuple[str, ...]:
    return tuple(repr(row["hyper"].get(n)) for n in names)


def _scored(rows: Sequence[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    out = []
    for r in rows:
        v = r["eval"].get(key)
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v):
            out.append(r)
    return out


def replicated(rows: Sequence[dict[str, Any]], names: Sequence[str]) -> bool:
    """True when some setting of the swept hyper-parameters ``names`` was run with 2+ seeds."""
    settings = [_setting(r, names) for r in rows]
    return any(settings.count(g) > 1 for g in set(settings))


def variance_shares(rows: Sequence[dict[str, Any]], key: str, names: Sequence[str]) -> dict[str, float]:
    """Shares of the variance of ``key`` over runs: SS_h / SS_total per hyper-parameter h (the
    spread of its group means), ``seed`` = SS_within / SS_total (the spread of runs around
    their setting's mean: what changing only the seed does) and ``interaction`` = the rest
    (0 in a balanced sweep without interactions). Empty if fewer than two runs, no spread, or no
    setting run with two seeds or more (then the seed's share cannot be told from the
    hyper-parameters')."""
    scored = _scored(rows, key)
    y = np.array([r["eval"][key] for r in scored], dtype=np.float64)
    if len(y) < 2 or np.allclose(y, y.mean(), rtol=0, atol=0) or not replicated(scored, names):
        return {}
    total = float(np.sum((y - y.mean()) ** 2))

    def between(groups: list[tuple[str, ...]]) -> float:
        means = {g: y[[i for i, h in enumerate(groups) if h == g]].mean() for g in set(groups)}
        return float(sum((means[g] - y.mean()) ** 2 for g in groups))

    out = {n: between([_setting(r, [n]) for r in scored]) / total for n in names}
    settings = [_setting(r, names) for r in scored]
    means = {g: y[[i for i, h in enumerate(settings) if h == g]].mean() for g in set(settings)}
    out["seed"] = float(sum((y[i] - means[g]) ** 2 for i, g in enumerate(settings))) / total
    out["interaction"] = max(0.0, 1.0 - sum(out.values()))
    return out


def rank_correlations(rows: Sequence[dict[str, Any]], keys: Sequence[str]) -> np.ndarray:
    """(M, M) Spearman ρ between metrics over the runs that have both (NaN if < 3 such runs)."""
    m = len(keys)
    out = np.full((m, m), np.nan)
    for a in range(m):
        for b in range(m):
            both = [r for r in rows if r in _scored(rows, keys[a]) and r in _scored(rows, keys[b])]
            if len(both) >= 3:
                x = np.array([[r["eval"][keys[a]], r["eval"][keys[b]]] for r in both])
                out[a, b] = spearman_matrix(x[:, :1], x[:, 1:], absolute=False)[0, 0]
    return out


def choices(
    rows: Sequence[dict[str, Any]], keys: Sequence[str], udr_scores: dict[str, float] | None = None
) -> dict[str, Any]:
    """The run each metric would choose (its maximum; the first in row order on ties), UDR's
    choice, and UDR's pick's rank by each metric (1 + the runs with a strictly higher value,
    so ties share a rank) and value."""
    by_metric = {}
    for key in keys:
        scored = _scored(rows, key)
        if scored:
            by_metric[key] = max(scored, key=lambda r: r["eval"][key])["run"]
    out: dict[str, Any] = {"by_metric": by_metric, "udr": None, "udr_rank": {}, "udr_value": {}}
    if udr_scores:
        pick = max(udr_scores, key=lambda run: udr_scores[run])
        out["udr"] = pick
        for key in by_metric:
            scored = _scored(rows, key)
            mine = [r["eval"][key] for r in scored if r["run"] == pick]
            if mine:
                out["udr_rank"][key] = 1 + sum(r["eval"][key] > mine[0] for r in scored)
                out["udr_value"][key] = float(mine[0])
    return out


def t_interval(y: Sequence[float], confidence: float = 0.95) -> tuple[float, float | None, float | None]:
    """(mean, low, high) of the Student-t interval mean ± t s/√n over the values ``y`` (t at
    (1 + confidence)/2 with n − 1 degrees of freedom; no interval for n = 1)."""
    y = np.asarray(y, dtype=np.float64)
    n, mean = len(y), float(y.mean())
    if n < 2:
        return mean, None, None
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1) * y.std(ddof=1) / math.sqrt(n))
    return mean, mean - half, mean + half


def welch(a: Sequence[float], b: Sequence[float], level: float = 0.95) -> dict[str, float]:
    """mean(a) − mean(b) with its Welch t interval, t and two-sided p (unequal variances; the seeds
    of two arms are separate runs, so the difference is not paired)."""
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    va, vb = x.var(ddof=1) / len(x), y.var(ddof=1) / len(y)
    se = math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va ** 2 / (len(x) - 1) + vb ** 2 / (len(y) - 1))
    diff = float(x.mean() - y.mean())
    half = float(stats.t.ppf(0.5 + level / 2, df) * se)
    t = diff / se
    return {"diff": diff, "lo": diff - half, "hi": diff + half, "t": t, "df": df,
            "p": float(2 * stats.t.sf(abs(t), df))}


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm's step-down adjustment of a family of p values (same order as given): the k-th smallest
    is multiplied by (m − k + 1), made non-decreasing, and capped at 1."""
    order = sorted(range(len(pvalues)), key=lambda i: pvalues[i])
    out, running = [1.0] * len(pvalues), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(pvalues) - rank) * pvalues[i]))
        out[i] = running
    return out


def setting_intervals(
    rows: Sequence[dict[str, Any]], key: str, names: Sequence[str], confidence: float = 0.95
) -> list[dict[str, Any]]:
    """Per setting of ``names``: seeds n, mean, and the Student-t interval mean ± t s/√n
    (t at (1 + confidence)/2 with n − 1 degrees of freedom; none for n = 1)."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for r in _scored(rows, key):
        groups.setdefault(_setting(r, names), []).append(r)
    out = []
    for rs in groups.values():
        mean, low, high = t_interval([r["eval"][key] for r in rs], confidence)
        out.append({"setting": {nm: rs[0]["hyper"].get(nm) for nm in names}, "n": len(rs), "mean": mean,
                    "low": low, "high": high})
    return out


def sweep_lessons(
    rows: Sequence[dict[str, Any]], udr_scores: dict[str, float] | None = None, confidence: float = 0.95
) -> dict[str, Any]:
    """All four lessons for the index (keys: ``hypers``, ``metrics``, ``shares``,
    ``correlations``, ``choices``, ``intervals``, ``confidence``)."""
    names = swept(rows)
    keys = [k for k in SUPERVISED_KEYS if _scored(rows, k)]
    return {
        "hypers": names,
        "metrics": keys,
        "runs": max((len(_scored(rows, k)) for k in keys), default=0),
        "replicated": replicated(rows, names),
        "shares": {k: variance_shares(rows, k, names) for k in keys},
        "correlations": rank_correlations(rows, keys).tolist(),
        "choices": choices(rows, keys, udr_scores),
        "intervals": {k: setting_intervals(rows, k, names, confidence) for k in keys},
        "confidence": confidence,
    }


def sweep_udr(
    runs_dir: str | Path, num_points: int = 1000, seed: int = 0, device: str = "cpu",
    correlation: str = "lasso",
) -> dict[str, Any]:
    """UDR of every run of a sweep folder; writes ``RUNS_DIR/udr.json``.

    All runs encode the same ``num_points`` observations of the first run's data set. As in
    Duan et al., a run is scored against the runs of its own hyper-parameter setting (other
    seeds); a run alone in its setting is scored against all other runs (``mode: "all"``).
    """
    from betavae.experiments.evaluate import evaluate_udr
    from betavae.experiments.load import load_run
    from betavae.report.rows import find_runs, run_row

    runs_dir = Path(runs_dir)
    run_dirs = find_runs(runs_dir)
    loaded = [load_run(r, device=device) for r in run_dirs]
    rows = [run_row(r) for r in run_dirs]
    result = evaluate_udr([r.encode for r in loaded], loaded[0].source, num_points, seed, correlation)
    pairwise = np.array(result["pairwise"])
    names = swept(rows)
    settings = [_setting(r, names) for r in rows]
    scores, modes = {}, {}
    for i, row in enumerate(rows):
        peers = [j for j in range(len(rows)) if j != i and settings[j] == settings[i]]
        modes[row["run"]] = "seeds" if peers else "all"
        peers = peers or [j for j in range(len(rows)) if j != i]
        scores[row["run"]] = float(np.median(pairwise[peers, i]))
    out = {"runs": [r["run"] for r in rows], "model_scores": scores, "mode": modes,
           "pairwise": result["pairwise"], "correlation": correlation, "num_points": num_points,
           "seed": seed, "kl_filtered": result["kl_filtered"]}
    atomic_write_json(runs_dir / UDR_FILE, out)
    return out


def load_lessons(runs_dir: Path, rows: Sequence[dict[str, Any]]) -> tuple[dict[str, Any] | None, list[str]]:
    """The index's lessons section: :func:`sweep_lessons` with UDR scores from ``udr.json`` if
    present; ``(None, [why])`` if they cannot be computed (the index is still written)."""
    import json

    udr_scores = None
    path = Path(runs_dir) / UDR_FILE
    try:
        if path.is_file():
            udr_scores = {k: float(v) for k, v in json.loads(path.read_text())["model_scores"].items()}
        return sweep_lessons(rows, udr_scores), []
    except Exception as exc:  # noqa: BLE001 - the index table must still be written
        return None, [f"the sweep lessons could not be computed ({type(exc).__name__}: {exc})"]
