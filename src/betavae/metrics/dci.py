"""Disentanglement, completeness, informativeness (Eastwood & Williams 2018, "A Framework for
the Quantitative Evaluation of Disentangled Representations"), as disentanglement_lib computes
them: one gradient-boosted classifier per factor on all codes; its ``feature_importances_``
form the importance matrix R (D, K).
"""

from __future__ import annotations

from functools import partial
from typing import Any, Literal

import numpy as np
from scipy.stats import entropy
from threadpoolctl import threadpool_limits

from betavae.errors import BetavaeError
from betavae.metrics._checks import (
    CLASSIFIER_MIN_ROWS,
    DEFAULT_TRAIN_FRACTION,
    Seed,
    as_generator,
    constant_factor_mask,
    estimator_seeds,
    split,
)
from betavae.metrics._parallel import Backend, Task, run_tasks
from betavae.metrics.estimators import (
    GBT_DEFAULTS,
    HIST_GBT_DEFAULTS,
    hist_gbt_importances,
    make_gbt,
    make_hist_gbt,
    merged,
)

Classifier = Literal["gbt", "hist_gbt"]

#: 10 training and 5 test rows (a classifier metric).
DCI_MIN_ROWS = CLASSIFIER_MIN_ROWS

# seconds per (point x code dimension x tree) of GradientBoostingClassifier on this project's
# 2-core reference machine; only the ratios between tasks matter for scheduling
_GBT_COST = 2.2e-7
_HIST_COST = 2.0e-8


def _one_minus_entropy(columns: np.ndarray) -> np.ndarray:
    """1 − entropy of each column (normalised, 1e-11 added) in base = number of rows.

    A single row (one factor for D, one code for C) has zero entropy: 1, where
    disentanglement_lib divides by log 1 and returns NaN.
    """
    if columns.shape[0] == 1:
        return np.ones(columns.shape[1])
    return 1.0 - entropy(columns + 1e-11, base=columns.shape[0])


def disentanglement(importance: np.ndarray) -> float:
    """D = Σ_d ρ_d (1 − H_K(R_d· / Σ_k R_dk)), ρ_d = Σ_k R_dk / ΣR (uniform if ΣR = 0).

    Entropy base K with 1e-11 added to every entry, as disentanglement_lib (K = 1 gives 1).

    Args:
        importance: (D, K) non-negative importance matrix R.
    """
    per_code = _one_minus_entropy(importance.T)
    weights = importance if importance.sum() != 0.0 else np.ones_like(importance)
    return float(np.sum(per_code * weights.sum(axis=1) / weights.sum()))


def completeness(importance: np.ndarray) -> float:
    """C = Σ_k ρ_k (1 − H_D(R_·k / Σ_d R_dk)), ρ_k = Σ_d R_dk / ΣR (uniform if ΣR = 0).

    Entropy base D (D = 1 gives 1). ``importance``: (D, K).
    """
    per_factor = _one_minus_entropy(importance)
    weights = importance if importance.sum() != 0.0 else np.ones_like(importance)
    return float(np.sum(per_factor * weights.sum(axis=0) / weights.sum()))


def trees_per_stage(y: np.ndarray) -> int:
    """Trees a boosting stage fits: one per class, one for a binary factor."""
    n = len(np.unique(y))
    return 1 if n <= 2 else n


def dci_factor(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    classifier: Classifier,
    params: dict[str, Any],
    seed: int,
) -> tuple[np.ndarray, float, float]:
    """Fit one classifier for one factor: (|importances| (D,), train accuracy, test accuracy).

    Runs with BLAS/OpenMP on one thread (also inside a worker process), so the result does
    not depend on where it runs.
    """
    if classifier not in ("gbt", "hist_gbt"):
        raise BetavaeError(f"dci: classifier must be 'gbt' or 'hist_gbt', got {classifier!r}")
    with threadpool_limits(limits=1):
        if classifier == "gbt":
            model = make_gbt(params, seed).fit(x_train, y_train)
            importance = np.abs(model.feature_importances_)
        else:
            model = make_hist_gbt(params, seed).fit(x_train, y_train)
            importance = hist_gbt_importances(model, x_train.shape[1])
        acc_train = float(np.mean(model.predict(x_train) == y_train))
        acc_test = float(np.mean(model.predict(x_test) == y_test))
    return importance, acc_train, acc_test


def dci_tasks(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    seeds: list[int],
    classifier: Classifier,
    params: dict[str, Any],
    prefix: str = "dci",
) -> list[Task]:
    """One task per factor, costed by points x dimensions x trees per stage x stages."""
    stages = params.get("n_estimators", params.get("max_iter", 100))
    unit = _GBT_COST if classifier == "gbt" else _HIST_COST
    tasks = []
    for k in range(y_train.shape[1]):
        cost = unit * x_train.size * stages * trees_per_stage(y_train[:, k])

        args = (x_train, y_train[:, k], x_test, y_test[:, k], classifier, params, seeds[k])
        tasks.append(Task(f"{prefix}/{k}", partial(dci_factor, *args), cost, remote=True))
    return tasks


def dci_summary(per_factor: list[tuple[np.ndarray, float, float]]) -> dict[str, float]:
    """Scores from the per-factor (importance, train acc, test acc) in factor order."""
    importance = np.stack([imp for imp, _, _ in per_factor], axis=1)
    return {
        "dci.disentanglement": disentanglement(importance),
        "dci.completeness": completeness(importance),
        "dci.informativeness_train": float(np.mean([a for _, a, _ in per_factor])),
        "dci.informativeness_test": float(np.mean([a for _, _, a in per_factor])),
    }


def dci(
    codes: np.ndarray,
    factors: np.ndarray,
    codes_test: np.ndarray | None = None,
    factors_test: np.ndarray | None = None,
    *,
    train_fraction: float = DEFAULT_TRAIN_FRACTION,
    seed: Seed = 0,
    classifier: Classifier = "gbt",
    classifier_params: dict[str, Any] | None = None,
    n_jobs: int | None = None,
    backend: Backend = "threads",
) -> dict[str, float]:
    """DCI disentanglement, completeness and informativeness.

    Args:
        codes, factors: (N, D) codes and (N, K) integer classes (train, or all rows with
            ``train_fraction``); disentanglement_lib: 10,000 train, 5,000 test.
        codes_test, factors_test: independent test arrays (optional).
        train_fraction: first ``ceil(f N)`` rows train when no test arrays are given.
        seed: int or Generator; factor k's classifier gets ``random_state`` = the k-th of K
            integers drawn up front, so the parallel and sequential paths agree exactly.
        classifier: ``"gbt"`` (GradientBoostingClassifier, disentanglement_lib) or
            ``"hist_gbt"`` (HistGradientBoostingClassifier with split-gain importances; fast).
        classifier_params: overrides of ``GBT_DEFAULTS`` / ``HIST_GBT_DEFAULTS``.
        n_jobs: workers for the per-factor classifiers (``None``: all cores; 1: sequential).
        backend: ``"threads"`` or ``"processes"`` (see :mod:`betavae.metrics._parallel`);
            the values do not depend on it or on ``n_jobs``.

    Returns:
        ``dci.disentanglement``, ``dci.completeness`` (in [0, 1]) and
        ``dci.informativeness_train`` / ``dci.informativeness_test`` (mean accuracy).
    """
    if classifier not in ("gbt", "hist_gbt"):
        raise BetavaeError(f"dci: classifier must be 'gbt' or 'hist_gbt', got {classifier!r}")
    ctr, ftr, cte, fte = split(codes, factors, codes_test, factors_test, train_fraction)
    DCI_MIN_ROWS.check("dci", ctr.shape[0], cte.shape[0])
    keep = constant_factor_mask(ftr, "dci", " in the training rows")
    ftr, fte = ftr[:, keep], fte[:, keep]
    defaults = GBT_DEFAULTS if classifier == "gbt" else HIST_GBT_DEFAULTS
    params = merged(defaults, classifier_params)
    seeds = estimator_seeds(as_generator(seed), ftr.shape[1])
    tasks = dci_tasks(ctr, ftr, cte, fte, seeds, classifier, params)
    results, _ = run_tasks(tasks, n_jobs, backend)
    return dci_summary([results[t.key] for t in tasks])
