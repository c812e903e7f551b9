"""Disentanglement, completeness, informativeness (Eastwood & Williams 2018, "A Framework for
the Quantitative Evaluation of Disentangled Representations"), as disentanglement_lib computes
them: one gradient-boosted classifier per factor on all codes; its ``feature_importances_``
form the importance matrix R (D, K).

Exact randomness. disentanglement_lib constructs ``GradientBoostingClassifier()`` for each
factor in turn; with ``random_state=None`` every fit draws from NumPy's global
``RandomState``, one ``randint(0, 2**31 - 1)`` per regression tree (each tree's splitter
seeds itself once; a boosting stage fits one tree per class, one for a binary factor). So
after ``np.random.seed(s)`` factor k's classifier starts from the global stream advanced by
the trees of factors 0..k-1. :func:`gbt_streams` reproduces those start states by drawing the
same numbers on a copy of ``RandomState(s)`` (about 1,000 draws per factor: microseconds) and
gives each factor its own ``RandomState`` at its start state, so the factors still run in
parallel and the scores equal disentanglement_lib's run after ``np.random.seed(s)`` to the
last digit. Each fit checks that it ended where the next factor starts; a scikit-learn
whose trees draw differently raises instead of giving silently different numbers.
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

#: sklearn.tree._utils.RAND_R_MAX: each tree's splitter draws randint(0, RAND_R_MAX) once.
_RAND_R_MAX = 2**31 - 1

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


def disentanglement_per_code(importance: np.ndarray) -> np.ndarray:
    """(D,) per-code disentanglement 1 − H_K(R_d· / Σ_k R_dk) of a (D, K) importance matrix."""
    return _one_minus_entropy(importance.T)


def completeness_per_factor(importance: np.ndarray) -> np.ndarray:
    """(K,) per-factor completeness 1 − H_D(R_·k / Σ_d R_dk) of a (D, K) importance matrix."""
    return _one_minus_entropy(importance)


def disentanglement(importance: np.ndarray) -> float:
    """D = Σ_d ρ_d (1 − H_K(R_d· / Σ_k R_dk)), ρ_d = Σ_k R_dk / ΣR (uniform if ΣR = 0).

    Entropy base K with 1e-11 added to every entry, as disentanglement_lib (K = 1 gives 1).

    Args:
        importance: (D, K) non-negative importance matrix R.
    """
    per_code = disentanglement_per_code(importance)
    weights = importance if importance.sum() != 0.0 else np.ones_like(importance)
    return float(np.sum(per_code * weights.sum(axis=1) / weights.sum()))


def completeness(importance: np.ndarray) -> float:
    """C = Σ_k ρ_k (1 − H_D(R_·k / Σ_d R_dk)), ρ_k = Σ_d R_dk / ΣR (uniform if ΣR = 0).

    Entropy base D (D = 1 gives 1). ``importance``: (D, K).
    """
    per_factor = completeness_per_factor(importance)
    weights = importance if importance.sum() != 0.0 else np.ones_like(importance)
    return float(np.sum(per_factor * weights.sum(axis=0) / weights.sum()))


def trees_per_stage(y: np.ndarray) -> int:
    """Trees a boosting stage fits: one per class, one for a binary factor."""
    n = len(np.unique(y))
    return 1 if n <= 2 else n


#: One factor's randomness: an int ``random_state`` (``hist_gbt``), or for ``gbt`` its
#: ``RandomState`` at its start state and the state it must end in (see :func:`gbt_streams`).
FactorSeed = int | tuple[np.random.RandomState, np.random.RandomState]


def stream_state(seed: Seed) -> np.random.RandomState:
    """The global-stream stand-in: ``RandomState(seed)``, what ``np.random.seed(seed)`` sets.

    An int of 2**32 or more (``np.random.seed``'s limit) seeds it with its 32-bit words, least
    significant first, as ``np.random.seed(words)`` would; a Generator gives one draw in
    [0, 2**32) as the seed.
    """
    if isinstance(seed, np.random.Generator):
        return np.random.RandomState(int(seed.integers(0, 2**32)))
    as_generator(seed)  # validates the int
    value = int(seed)
    if value < 2**32:
        return np.random.RandomState(value)
    words = []
    while value:
        words.append(value & 0xFFFFFFFF)
        value >>= 32
    return np.random.RandomState(np.array(words, dtype=np.uint32))


def gbt_streams(
    state: np.random.RandomState, y_train: np.ndarray, params: dict[str, Any]
) -> list[tuple[np.random.RandomState, np.random.RandomState]]:
    """Per factor, (its RandomState at its start, the state its fit must end in).

    Factor k starts where disentanglement_lib's sequential loop would: ``state`` advanced by
    one ``randint(0, 2**31 - 1)`` per tree of factors 0..k-1 (``n_estimators`` stages x trees
    per stage). ``state`` itself is advanced past all factors.

    Args:
        state: the stream (e.g. ``RandomState(seed)``); advanced in place.
        y_train: (N, K) training classes (the classes decide the trees per stage).
        params: GradientBoostingClassifier settings; the draw count is known for
            ``subsample=1`` without early stopping (the defaults) only.
    """
    if params.get("subsample", 1.0) < 1.0 or params.get("n_iter_no_change") is not None:
        raise BetavaeError(
            "dci: the exact disentanglement_lib stream is defined for subsample=1.0 and "
            "n_iter_no_change=None (GradientBoostingClassifier's defaults); those settings "
            "draw a data-dependent number of random numbers"
        )
    out = []
    for k in range(y_train.shape[1]):
        start = np.random.RandomState()
        start.set_state(state.get_state())
        for _ in range(params.get("n_estimators", 100) * trees_per_stage(y_train[:, k])):
            state.randint(0, _RAND_R_MAX)
        end = np.random.RandomState()
        end.set_state(state.get_state())
        out.append((start, end))
    return out


def factor_seeds(
    seed: Seed, y_train: np.ndarray, classifier: Classifier, params: dict[str, Any]
) -> list[FactorSeed]:
    """The K per-factor seeds: the exact stream for ``gbt``, K integers from
    ``default_rng(seed)`` for ``hist_gbt`` (not disentanglement_lib's, and its fits draw no
    random numbers at these settings, so no stream to match)."""
    if classifier == "gbt":
        return list(gbt_streams(stream_state(seed), y_train, params))
    return list(estimator_seeds(as_generator(seed), y_train.shape[1]))


def _same_state(a: np.random.RandomState, b: np.random.RandomState) -> bool:
    sa, sb = a.get_state(), b.get_state()
    return sa[2] == sb[2] and np.array_equal(sa[1], sb[1])


def dci_factor(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    classifier: Classifier,
    params: dict[str, Any],
    seed: FactorSeed,
) -> tuple[np.ndarray, float, float]:
    """Fit one classifier for one factor: (|importances| (D,), train accuracy, test accuracy).

    ``seed``: an int, or (start RandomState, expected end state) for the exact ``gbt``
    stream; the start state is copied, never advanced, so a task can be rerun. Runs with
    BLAS/OpenMP on one thread (also inside a worker process), so the result does not depend
    on where it runs.
    """
    if classifier not in ("gbt", "hist_gbt"):
        raise BetavaeError(f"dci: classifier must be 'gbt' or 'hist_gbt', got {classifier!r}")
    with threadpool_limits(limits=1):
        if classifier == "gbt":
            expected = None
            if isinstance(seed, tuple):
                start, expected = seed
                state = np.random.RandomState()
                state.set_state(start.get_state())
                seed = state
            model = make_gbt(params, seed).fit(x_train, y_train)
            if expected is not None and not _same_state(seed, expected):
                raise BetavaeError(
                    "dci: this scikit-learn's GradientBoostingClassifier drew a different "
                    "number of random numbers than one per tree, so disentanglement_lib's "
                    "stream cannot be reproduced; use classifier 'hist_gbt' or report it"
                )
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
    seeds: list[FactorSeed],
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
        seed: int or Generator. ``gbt``: the values equal disentanglement_lib's
            ``compute_dci`` run after ``np.random.seed(seed)`` exactly (a Generator gives
            one int draw as that seed); each factor's classifier gets its own copy of the
            stream at the point where the sequential loop would reach it (see
            :func:`gbt_streams`), so ``n_jobs`` and ``backend`` never change a value.
            ``hist_gbt``: factor k gets the k-th of K integers from ``default_rng(seed)``.
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
    seeds = factor_seeds(seed, ftr, classifier, params)
    tasks = dci_tasks(ctr, ftr, cte, fte, seeds, classifier, params)
    results, _ = run_tasks(tasks, n_jobs, backend)
    return dci_summary([results[t.key] for t in tasks])
