"""Run the array metrics together: discretise once, balance the classifiers over the cores.

``evaluate`` gives, for the same seed and settings, exactly the values of the individual
metric functions (each metric gets a fresh generator from the seed, as disentanglement_lib's
``evaluation.random_seed`` gives each metric a fresh ``RandomState``), in about half the time
on two cores.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import numpy as np

from betavae.errors import BetavaeError
from betavae.metrics._checks import (
    ConstantFactorWarning,
    RowMinimum,
    Seed,
    estimator_seeds,
    split,
    varying_factors,
)
from betavae.metrics._parallel import Backend, Task, resolve_n_jobs, run_tasks
from betavae.metrics.breakdown import dci_breakdown, infomec_breakdown, mig_breakdown
from betavae.metrics.dci import DCI_MIN_ROWS, dci_summary, dci_tasks, factor_seeds
from betavae.metrics.dci_es import DCI_ES_MIN_ROWS, dci_es_summary, loss_capacity_curve
from betavae.metrics.discretize import discrete_entropy, histogram_discretize, mutual_info_matrix
from betavae.metrics.estimators import versions
from betavae.metrics.infomec import (
    INFOMEC_MIN_ROWS,
    active_dimensions,
    bin_codes,
    infoe_factor,
    infom_infoc,
    normalized_mi,
    standardize_codes,
)
from betavae.metrics.irs import IRS_MIN_ROWS, irs_from_binned
from betavae.metrics.mig import MIG_MIN_ROWS, mig_from_mi
from betavae.metrics.modularity import (
    EXPLICITNESS_MIN_ROWS,
    MODULARITY_MIN_ROWS,
    explicitness_factor,
    explicitness_summary,
    modularity_from_mi,
    standardize,
)
from betavae.metrics.presets import Preset, get_preset
from betavae.metrics.sap import (
    SAP_CONTINUOUS_MIN_ROWS,
    SAP_MIN_ROWS,
    continuous_score_matrix,
    sap_discrete_column,
    top_two_gap,
)
from betavae.metrics.unsupervised import UNSUPERVISED_MIN_ROWS, unsupervised_from_binned

log = logging.getLogger(__name__)

#: Array metrics in the order they are reported.
ARRAY_METRICS = (
    "mig",
    "dci",
    "sap",
    "sap_continuous",
    "modularity",
    "explicitness",
    "irs",
    "unsupervised",
    "dci_es",
    "infomec",
)

#: scores that draw their own observations through an encoder (not arrays)
SAMPLED_METRICS = ("beta_vae", "factor_vae")
#: diagnostics of the encoder's posterior (means and log variances), no factors needed
#: (:mod:`betavae.metrics.posterior`); encoders that return codes only are skipped with a warning
POSTERIOR_METRICS = ("posterior",)
ALL_METRICS = (*ARRAY_METRICS, *SAMPLED_METRICS, *POSTERIOR_METRICS)


def check_metric_names(metrics: Sequence[str] | None) -> list[str]:
    """The metric names asked for (default: all of :data:`ALL_METRICS`); unknown names raise."""
    names = list(ALL_METRICS if metrics is None else metrics)
    unknown = [m for m in names if m not in ALL_METRICS]
    if unknown or not names:
        raise BetavaeError(f"unknown metric(s) {unknown}; choose from: {', '.join(ALL_METRICS)}")
    return names

#: The fewest rows each array metric accepts (declared in its module; docs/metrics.md).
MIN_ROWS: dict[str, RowMinimum] = {
    "mig": MIG_MIN_ROWS,
    "dci": DCI_MIN_ROWS,
    "sap": SAP_MIN_ROWS,
    "sap_continuous": SAP_CONTINUOUS_MIN_ROWS,
    "modularity": MODULARITY_MIN_ROWS,
    "explicitness": EXPLICITNESS_MIN_ROWS,
    "irs": IRS_MIN_ROWS,
    "unsupervised": UNSUPERVISED_MIN_ROWS,
    "dci_es": DCI_ES_MIN_ROWS,
    "infomec": INFOMEC_MIN_ROWS,
}

#: Rows each metric uses with one array: "all" rows, the "train" rows, or train and test
#: rows ("split"). With separate test arrays "all" means the train arrays.
ROWS_USED: dict[str, str] = {
    "mig": "all",
    "irs": "all",
    "unsupervised": "all",
    "modularity": "train",
    "sap_continuous": "train",
    "dci": "split",
    "sap": "split",
    "explicitness": "split",
    "dci_es": "split",
    "infomec": "all",
}

# rough seconds per (point x dimension [x class]) on the 2-core reference machine
_SVC_COST = 4e-8
_LOGREG_COST = 4e-7
_TREE_COST = 3e-8
_CHEAP_COST = 1e-7


def _as_seed_int(seed: Seed) -> int:
    """An int seed stays; a Generator gives one draw, the suite's base seed."""
    if isinstance(seed, np.random.Generator):
        return int(seed.integers(0, 2**63 - 1))
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise BetavaeError(f"seed must be an int or a numpy.random.Generator, got {seed!r}")
    return int(seed)


def _metric_seeds(seed: int, n: int) -> list[int]:
    """A metric's estimator seeds: its fresh generator, as the individual functions draw them."""
    return estimator_seeds(np.random.default_rng(seed), n)


def _mig_scores(mi: np.ndarray, factors: np.ndarray) -> dict[str, float]:
    return {"mig": mig_from_mi(mi, discrete_entropy(factors))}


def _modularity_scores(
    mi: np.ndarray | None, codes: np.ndarray, factors: np.ndarray, num_bins: int
) -> dict[str, float]:
    """From the shared MI matrix if given, else discretising the training codes."""
    if mi is None:
        mi = mutual_info_matrix(histogram_discretize(codes, num_bins), factors)
    return {"modularity": modularity_from_mi(mi)}


def _irs_scores(
    codes: np.ndarray, factors: np.ndarray, num_bins: int, quantile: float
) -> dict[str, float]:
    return irs_from_binned(codes, histogram_discretize(factors, num_bins), quantile)


def _infom_infoc_scores(
    codes: np.ndarray, factors: np.ndarray, num_bins: int
) -> tuple[dict[str, float], np.ndarray, np.ndarray]:
    """InfoM and InfoC, with the NMI matrix and active mask (for the breakdown)."""
    nmi, active = normalized_mi(bin_codes(codes, num_bins), factors), active_dimensions(codes)
    return infom_infoc(nmi, active), nmi, active


def _sap_continuous_scores(codes: np.ndarray, factors: np.ndarray) -> dict[str, float]:
    return {"sap.continuous": top_two_gap(continuous_score_matrix(codes, factors))}


Assembler = Callable[[dict[str, Any]], dict[str, float]]


def check_rows(names: Sequence[str], p: Preset, n_all: int, n_train: int, n_test: int) -> None:
    """Refuse, in one line naming each metric, rows given and minimum, too few rows for any
    chosen metric (the classifier metrics count the rows they use: at most ``max_train`` /
    ``max_test``)."""
    problems = []
    for name in names:
        kind = ROWS_USED[name]
        n, n_t = {"all": (n_all, 0), "train": (n_train, 0)}.get(
            kind,
            (min(n_train, p.max_train or n_train), min(n_test, p.max_test or n_test)),
        )
        problem = MIN_ROWS[name].shortfall(name, n, n_t, p.num_bins)
        if problem is not None:
            problems.append(problem)
    if problems:
        raise BetavaeError("too few rows: " + "; ".join(problems))


def factor_masks(
    names: Sequence[str],
    all_factors: np.ndarray,
    train_factors: np.ndarray,
    factor_names: Sequence[str] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Kept factor columns for the all-row metrics and for the training-row metrics.

    A factor is dropped only where it must be: from MIG and IRS if it is constant in all
    their rows, from the metrics that fit or count on the training rows (DCI, SAP,
    explicitness, modularity, continuous SAP) if it is constant there. One
    :class:`ConstantFactorWarning` per case names the factors and the metrics that dropped
    them. Raises :class:`BetavaeError` if a chosen metric keeps no factor.
    """
    keep_all, keep_train = varying_factors(all_factors), varying_factors(train_factors)
    users = [n for n in ARRAY_METRICS if n in names and n != "unsupervised"]
    all_users = [n for n in users if ROWS_USED[n] == "all"]
    train_users = [n for n in users if ROWS_USED[n] != "all"]

    def label(mask: np.ndarray) -> str:
        ks = np.flatnonzero(mask).tolist()
        return ", ".join(str(factor_names[k]) if factor_names else str(k) for k in ks)

    if (~keep_all).any() and users:
        warnings.warn(
            f"factor column(s) {label(~keep_all)} are constant and were dropped from "
            f"{', '.join(users)} (a constant factor has zero entropy)",
            ConstantFactorWarning,
            stacklevel=3,
        )
    train_only = keep_all & ~keep_train
    if train_only.any() and train_users:
        kept = f"; {', '.join(all_users)} use all rows and keep them" if all_users else ""
        warnings.warn(
            f"factor column(s) {label(train_only)} are constant in the training rows and were "
            f"dropped from {', '.join(train_users)}{kept}",
            ConstantFactorWarning,
            stacklevel=3,
        )
    for name in users:
        all_rows = ROWS_USED[name] == "all"
        if not (keep_all if all_rows else keep_train).any():
            where = "" if all_rows else " in the training rows"
            raise BetavaeError(
                f"{name}: every factor column is constant{where}; a metric needs at least one "
                "factor that varies"
            )
    return keep_all, keep_train


def _build_tasks(
    names: Sequence[str],
    p: Preset,
    seed: int,
    all_sets: tuple[np.ndarray, np.ndarray],
    train: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
    train_is_all: bool,
    prefix: str = "",
    labels: tuple[list[str], list[str]] | None = None,
) -> tuple[list[Task], dict[str, Assembler], dict[str, Assembler]]:
    """The tasks of the chosen metrics and, per metric, how to assemble its scores and (for
    MIG, DCI, InfoMEC) its breakdown (:mod:`betavae.metrics.breakdown`).

    The codes of ``all_sets`` are discretised once and their MI with the factors computed
    once, for MIG, the mean MI and (when the training rows are all rows) modularity. Task
    keys start with ``prefix`` (a bootstrap replicate's tasks run beside the others).
    ``labels``: names of the kept factor columns of the all-row and the training-row metrics.
    """
    (all_c, all_f), (ctr, ftr), (cte, fte) = all_sets, train, test
    names_all, names_train = labels or (
        [str(k) for k in range(all_f.shape[1])],
        [str(k) for k in range(ftr.shape[1])],
    )
    breakdown: dict[str, Assembler] = {}
    chosen = set(names)
    n_k = ftr.shape[1]
    settings = p.resolved()
    # the classifier metrics may use fewer points (fast preset)
    xtr, ytr, xte, yte = (
        ctr[: p.max_train],
        ftr[: p.max_train],
        cte[: p.max_test],
        fte[: p.max_test],
    )
    share_modularity = "modularity" in chosen and train_is_all
    binned = None
    if {"mig", "unsupervised"} & chosen or share_modularity:
        binned = histogram_discretize(all_c, p.num_bins)
    mi = mutual_info_matrix(binned, all_f) if "mig" in chosen or share_modularity else None
    cheap = _CHEAP_COST * all_c.size
    tasks: list[Task] = []
    assemble: dict[str, Assembler] = {}
    if "mig" in chosen:
        tasks.append(Task(f"{prefix}mig", partial(_mig_scores, mi, all_f), cheap))
        breakdown["mig"] = lambda r: mig_breakdown(mi, discrete_entropy(all_f), names_all)
    if "modularity" in chosen:
        shared_mi = mi if share_modularity else None
        fn = partial(_modularity_scores, shared_mi, ctr, ftr, p.num_bins)
        tasks.append(Task(f"{prefix}modularity", fn, cheap))
    if "unsupervised" in chosen:
        tasks.append(
            Task(f"{prefix}unsupervised", partial(unsupervised_from_binned, all_c, binned), 3 * cheap)
        )
    if "irs" in chosen:
        fn = partial(_irs_scores, all_c, all_f, p.num_bins, p.irs_quantile)
        tasks.append(Task(f"{prefix}irs", fn, 3 * cheap))
    if "sap_continuous" in chosen:
        fn = partial(_sap_continuous_scores, ctr, ftr)
        tasks.append(Task(f"{prefix}sap_continuous", fn, cheap))
    if "dci" in chosen:
        params = settings["dci_params"]
        seeds = factor_seeds(seed, ytr, p.dci_classifier, params)
        dci_t = dci_tasks(xtr, ytr, xte, yte, seeds, p.dci_classifier, params, f"{prefix}dci")
        tasks += dci_t
        assemble["dci"] = lambda r: dci_summary([r[t.key] for t in dci_t])
        breakdown["dci"] = lambda r: dci_breakdown(
            np.stack([r[t.key][0] for t in dci_t], axis=1),
            [r[t.key][1] for t in dci_t],
            [r[t.key][2] for t in dci_t],
            names_train,
        )
    if "sap" in chosen:
        seeds = _metric_seeds(seed, n_k)
        for k in range(n_k):
            args = (xtr, ytr[:, k], xte, yte[:, k], settings["svc_params"], seeds[k])
            tasks.append(
                Task(
                    f"{prefix}sap/{k}", partial(sap_discrete_column, *args), _SVC_COST * xtr.size
                )
            )
        assemble["sap"] = lambda r: {
            "sap": top_two_gap(np.stack([r[f"{prefix}sap/{k}"] for k in range(n_k)], axis=1))
        }
    if "explicitness" in chosen:
        seeds = _metric_seeds(seed, n_k)
        ztr, zte = standardize(xtr, xte)
        for k in range(n_k):
            args = (ztr, ytr[:, k], zte, yte[:, k], settings["logreg_params"], seeds[k])
            cost = _LOGREG_COST * ztr.size * len(np.unique(ytr[:, k]))
            fn = partial(explicitness_factor, *args)
            tasks.append(Task(f"{prefix}explicitness/{k}", fn, cost))
        assemble["explicitness"] = lambda r: explicitness_summary(
            [r[f"{prefix}explicitness/{k}"] for k in range(n_k)]
        )
    if "dci_es" in chosen:
        seeds = _metric_seeds(seed, n_k)
        cap = p.dci_es_capacities
        for k in range(n_k):
            fn = partial(loss_capacity_curve, xtr, ytr[:, k], xte, yte[:, k], cap, seeds[k])
            tasks.append(Task(f"{prefix}dci_es/{k}", fn, _TREE_COST * xtr.size * cap))
        assemble["dci_es"] = lambda r: dci_es_summary(
            [r[f"{prefix}dci_es/{k}"] for k in range(n_k)], xtr.shape[1]
        )
    if "infomec" in chosen:
        fn = partial(_infom_infoc_scores, all_c, all_f, p.num_bins)
        tasks.append(Task(f"{prefix}infomec/mc", fn, 2 * cheap))
        z = standardize_codes(all_c.astype(np.float64))
        dense = np.stack([np.unique(all_f[:, k], return_inverse=True)[1].reshape(-1)
                          for k in range(all_f.shape[1])], axis=1)
        for k in range(all_f.shape[1]):
            cost = _LOGREG_COST * z.size * len(np.unique(dense[:, k]))
            tasks.append(Task(f"{prefix}infomec/e{k}", partial(infoe_factor, z, dense[:, k]), cost))
        n_all_k = all_f.shape[1]
        assemble["infomec"] = lambda r: {
            **r[f"{prefix}infomec/mc"][0],
            "infomec.infoe": float(np.mean([r[f"{prefix}infomec/e{k}"] for k in range(n_all_k)])),
        }
        breakdown["infomec"] = lambda r: infomec_breakdown(
            r[f"{prefix}infomec/mc"][1],
            r[f"{prefix}infomec/mc"][2],
            [r[f"{prefix}infomec/e{k}"] for k in range(n_all_k)],
            names_all,
        )
    for name in names:
        assemble.setdefault(name, lambda r, name=name: r[prefix + name])
    return tasks, assemble, breakdown


def evaluate(
    codes_train: np.ndarray,
    factors_train: np.ndarray,
    codes_test: np.ndarray | None = None,
    factors_test: np.ndarray | None = None,
    *,
    metrics: Sequence[str] | None = None,
    preset: str | Preset = "default",
    settings: dict[str, Any] | None = None,
    seed: Seed = 0,
    n_jobs: int | None = None,
    backend: Backend = "threads",
    factor_names: Sequence[str] | None = None,
    bootstrap: int = 0,
    bootstrap_seed: int | None = None,
    confidence: float = 0.95,
    breakdown: bool = False,
    draws: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]] | None = None,
) -> dict[str, Any]:
    """Score codes with the array metrics, optionally with bootstrap confidence intervals.

    Rows: with separate test arrays, MIG, modularity, IRS, the unsupervised scores and
    continuous SAP use the train arrays (disentanglement_lib's 10,000 points) and DCI,
    discrete SAP and explicitness train on them and test on the test arrays. With one array,
    MIG, IRS and the unsupervised scores use all rows; the others split it by
    ``train_fraction`` (first ``ceil(f N)`` rows train).

    Args:
        codes_train: (N, D) posterior means. factors_train: (N, K) integer classes.
        codes_test, factors_test: optional independent test set (M, D), (M, K).
        metrics: names from :data:`ARRAY_METRICS` (default: all).
        preset: ``"default"`` (disentanglement_lib) or ``"fast"``, or a :class:`Preset`.
        settings: overrides of preset fields, e.g. ``{"num_bins": 10}``.
        seed: int, or a Generator from which one base seed is drawn; every metric gets a
            fresh generator from it, so its value does not depend on the other metrics.
        n_jobs: workers (``None``: all cores; 1: sequential). Values do not depend on it.
        backend: ``"threads"`` or ``"processes"`` for the DCI classifiers (threads suit large
            sets; processes also scale small ones, after about a second of start-up).
        factor_names: K names for the factor columns, used in messages (default: indices).
        bootstrap: number of bootstrap replicates (0: none). Replicate b resamples the
            training rows and the test rows, each with replacement and to its own size, and
            recomputes every chosen metric with the same estimator seeds; the interval of a
            value is the (1 ± confidence)/2 percentile pair of its replicates.
        bootstrap_seed: seed of the resampling (``numpy.random.default_rng``; default: the
            int base seed). Per replicate: training indices, then test indices.
        confidence: the intervals' coverage, in (0, 1).
        breakdown: also return per-factor and per-pair values of MIG, DCI and InfoMEC
            (:mod:`betavae.metrics.breakdown`), with intervals when bootstrapping.
        draws: instead of ``bootstrap``, independent replicate data sets
            ``(codes_train, factors_train, codes_test, factors_test)`` (test arrays given iff
            they are given above), each scored like the main arrays with the same estimator
            seeds; the interval of a value is the (1 ± confidence)/2 percentile pair of the
            draws. Use it when the data can be drawn again (a ground-truth source): resampling
            rows with replacement duplicates them, which biases the classifier and histogram
            metrics (docs/metrics.md, *Intervals*), fresh draws do not.

    Raises:
        BetavaeError: a chosen metric gets fewer rows than its :data:`MIN_ROWS`, or keeps no
            varying factor (constant factors are dropped per metric: see :func:`factor_masks`).

    Returns:
        ``values`` (namespaced float scores), ``settings`` (resolved preset with estimator
        parameters), ``seed`` (the int base seed), ``versions``, ``seconds`` (per metric: its
        summed task time; ``shared`` = validation, discretisation, MI), ``wall_seconds``,
        ``n_jobs``, ``n_train``/``n_test``/``n_all`` and ``warnings`` (messages raised);
        with ``bootstrap`` or ``draws``: ``intervals`` (value key -> ``[low, high]``) and
        ``bootstrap`` (``n``, ``confidence``, ``seed``, ``method`` = "percentile" for resamples or
        "draws" for independent draws, ``seconds``); with
        ``breakdown``: ``breakdown`` (flat key -> float) and, bootstrapping,
        ``breakdown_intervals``.
    """
    start = time.perf_counter()
    p = get_preset(preset, settings)
    names = list(ARRAY_METRICS if metrics is None else metrics)
    unknown = [m for m in names if m not in ARRAY_METRICS]
    if unknown or not names:
        raise BetavaeError(f"unknown metric(s) {unknown}; choose from {', '.join(ARRAY_METRICS)}")
    base_seed = _as_seed_int(seed)
    jobs = resolve_n_jobs(n_jobs)
    if isinstance(bootstrap, bool) or not isinstance(bootstrap, int | np.integer) or bootstrap < 0:
        raise BetavaeError(f"bootstrap must be a number of replicates >= 0, got {bootstrap!r}")
    if not 0.0 < confidence < 1.0:
        raise BetavaeError(f"confidence must lie in (0, 1), got {confidence}")
    draws = list(draws or ())
    if bootstrap and draws:
        raise BetavaeError("give bootstrap (resamples of these rows) or draws (independent data sets), not both")
    if any((d[2] is None) != (codes_test is None) for d in draws):
        raise BetavaeError("every draw must have test arrays exactly when the main arrays do")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ctr, ftr, cte, fte = split(
            codes_train, factors_train, codes_test, factors_test, p.train_fraction
        )
        separate = codes_test is not None
        n_all = ctr.shape[0] + (0 if separate else cte.shape[0])
        if factor_names is not None and len(factor_names) != ftr.shape[1]:
            raise BetavaeError(
                f"{len(factor_names)} factor names for {ftr.shape[1]} factor columns"
            )
        check_rows(names, p, n_all, ctr.shape[0], cte.shape[0])

        def prepare(ctr, ftr, cte, fte, prefix=""):  # noqa: ANN001, ANN202
            all_c = ctr if separate else np.concatenate([ctr, cte])
            all_f = ftr if separate else np.concatenate([ftr, fte])
            keep_all, keep_train = factor_masks(names, all_f, ftr, factor_names)
            ftr, fte, all_f = ftr[:, keep_train], fte[:, keep_train], all_f[:, keep_all]
            labels = [str(n) for n in factor_names] if factor_names is not None else [
                str(k) for k in range(len(keep_all))
            ]
            kept = ([labels[k] for k in np.flatnonzero(keep_all)],
                    [labels[k] for k in np.flatnonzero(keep_train)])
            return _build_tasks(
                names, p, base_seed, (all_c, all_f), (ctr, ftr), (cte, fte), separate, prefix, kept
            )

        tasks, assemble, breakdowns = prepare(ctr, ftr, cte, fte)
        replicates = []
        if bootstrap:
            rng = np.random.default_rng(base_seed if bootstrap_seed is None else bootstrap_seed)
            for b in range(int(bootstrap)):
                i = rng.integers(0, ctr.shape[0], ctr.shape[0])
                j = rng.integers(0, cte.shape[0], cte.shape[0])
                b_tasks, b_assemble, b_breakdowns = prepare(ctr[i], ftr[i], cte[j], fte[j], f"boot{b}:")
                tasks += b_tasks
                replicates.append((b_assemble, b_breakdowns))
        for b, draw in enumerate(draws):
            b_tasks, b_assemble, b_breakdowns = prepare(*split(*draw, p.train_fraction), f"draw{b}:")
            tasks += b_tasks
            replicates.append((b_assemble, b_breakdowns))
        shared = time.perf_counter() - start
        results, task_seconds = run_tasks(tasks, jobs, backend)
        values: dict[str, float] = {}
        seconds: dict[str, float] = {"shared": shared}
        for name in names:
            values.update(assemble[name](results))
            seconds[name] = sum(s for key, s in task_seconds.items() if key.split("/")[0] == name)
        extra: dict[str, Any] = {}

        def broken_down(parts: dict[str, Assembler]) -> dict[str, float]:
            return {k: v for n in names if n in parts for k, v in parts[n](results).items()}

        if breakdown:
            extra["breakdown"] = broken_down(breakdowns)
        if replicates:
            scored = [{k: v for n in names for k, v in a[n](results).items()} for a, _ in replicates]
            extra["intervals"] = percentile_intervals(scored, confidence)
            if breakdown:
                b_draws = [broken_down(parts) for _, parts in replicates]
                extra["breakdown_intervals"] = percentile_intervals(
                    [{k: d.get(k, np.nan) for k in extra["breakdown"]} for d in b_draws], confidence
                )
            extra["bootstrap"] = {
                "n": len(replicates),
                "confidence": confidence,
                "seed": None if draws else base_seed if bootstrap_seed is None else int(bootstrap_seed),
                "method": "draws" if draws else "percentile",
                "seconds": sum(s for key, s in task_seconds.items() if ":" in key),
            }
    messages = sorted({str(w.message) for w in caught})
    for message in messages:
        log.warning("%s", message)
    return {
        "values": values,
        "settings": p.resolved(),
        "seed": base_seed,
        "versions": versions(),
        "seconds": seconds,
        "wall_seconds": time.perf_counter() - start,
        "n_jobs": jobs,
        "backend": backend,
        "n_train": int(ctr.shape[0]),
        "n_test": int(cte.shape[0]),
        "n_all": int(n_all),
        "warnings": messages,
        **extra,
    }


def percentile_intervals(
    draws: Sequence[dict[str, float]], confidence: float = 0.95
) -> dict[str, list[float]]:
    """Percentile bootstrap intervals: per key, the (1 − c)/2 and (1 + c)/2 quantiles
    (NumPy's linear interpolation) of its replicate values, NaN replicates left out (NaN if
    all are NaN).

    Args:
        draws: one dict of values per replicate.
        confidence: coverage c in (0, 1).
    """
    out = {}
    q = [50.0 * (1.0 - confidence), 50.0 * (1.0 + confidence)]
    for key in draws[0]:
        vals = np.array([d[key] for d in draws], dtype=np.float64)
        vals = vals[~np.isnan(vals)]
        out[key] = [float(x) for x in np.percentile(vals, q)] if vals.size else [np.nan] * 2
    return out
