"""Benchmark of the array-metric suite (issue 10): default settings vs a sequential baseline.

    python bench/bench_metrics.py [--points 10000] [--repeats 1] [--grid]

Prints, measured in one run on the same arrays (10,000 train + 5,000 test points, 10 code
dimensions, 5 factors of 3, 4, 6, 8 and 10 classes, as disentanglement_lib draws them):

* ``baseline``: a STAND-IN for disentanglement_lib's cost, written for this project
  (disentanglement_lib needs TensorFlow 1 and cannot be installed here). It runs the same
  algorithms the way disentanglement_lib does: one metric after another, every metric
  discretising its own codes, one ``sklearn.metrics.mutual_info_score`` call per
  (code, factor) pair on the labels, the full D x D pair loop for the mean MI, one
  ``np.cov`` per pair for continuous SAP, and the per-factor GradientBoostingClassifiers one
  after another with sklearn's default threading (the SVM and logistic-regression metrics
  call this package's functions, which are the same sequential loops).
* ``suite``: :func:`betavae.metrics.evaluate` at the default (disentanglement_lib) settings.
* their ratio (target <= 0.55) and the largest difference between their values (must be 0
  up to rounding: the same seeds go to the same classifiers);
* ``fast``: the fast preset on the same arrays (target < 3 s) and its deviation;
* with ``--grid``: the fast preset's deviation from the exact values on the spec section 7
  grid (perfect / mixed / random codes);
* the CPU seconds other processes used meanwhile: the figures assume an idle machine.
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import numpy as np
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.metrics import mutual_info_score

from betavae.metrics import (
    completeness,
    disentanglement,
    evaluate,
    explicitness,
    irs,
    reference_grid,
    sap,
)
from betavae.metrics.discretize import histogram_discretize
from betavae.metrics.mig import mig_from_mi
from betavae.metrics.modularity import modularity_from_mi
from betavae.metrics.sap import top_two_gap
from betavae.metrics.unsupervised import (
    gaussian_total_correlation,
    gaussian_wasserstein_correlation,
)

SIZES = (3, 4, 6, 8, 10)


def make_arrays(n_train: int, n_test: int, seed: int = 0) -> tuple[np.ndarray, ...]:
    """Noisy, rotated codes of 5 factors plus 5 nuisance dimensions: (N, 10) and (N, 5)."""
    rs = np.random.RandomState(seed)
    n = n_train + n_test
    factors = np.stack([rs.randint(s, size=n) for s in SIZES], axis=1)
    signal = factors / (np.array(SIZES) - 1) + 0.1 * rs.randn(n, len(SIZES))
    codes = np.concatenate([signal, rs.randn(n, 5)], axis=1) @ np.linalg.qr(rs.randn(10, 10))[0]
    codes = codes.astype(np.float32)
    return codes[:n_train], factors[:n_train], codes[n_train:], factors[n_train:]


def _pairwise_mi(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """disentanglement_lib's pattern: one mutual_info_score call per pair, on the labels."""
    return np.array(
        [
            [mutual_info_score(b[:, j], a[:, i]) for j in range(b.shape[1])]
            for i in range(a.shape[1])
        ]
    )


def _dci_sequential(ctr, ftr, cte, fte, seed: int) -> dict[str, float]:  # noqa: ANN001
    """One ``GradientBoostingClassifier()`` per factor, one after another, drawing from
    NumPy's global stream seeded once, with the library's default thread settings (as
    disentanglement_lib)."""
    np.random.seed(seed)
    importance = np.zeros((ctr.shape[1], ftr.shape[1]))
    acc_train, acc_test = [], []
    for k in range(ftr.shape[1]):
        model = GradientBoostingClassifier().fit(ctr, ftr[:, k])
        importance[:, k] = np.abs(model.feature_importances_)
        acc_train.append(np.mean(model.predict(ctr) == ftr[:, k]))
        acc_test.append(np.mean(model.predict(cte) == fte[:, k]))
    return {
        "dci.disentanglement": disentanglement(importance),
        "dci.completeness": completeness(importance),
        "dci.informativeness_train": float(np.mean(acc_train)),
        "dci.informativeness_test": float(np.mean(acc_test)),
    }


def baseline(
    ctr: np.ndarray, ftr: np.ndarray, cte: np.ndarray, fte: np.ndarray, seed: int = 0
) -> dict[str, float]:
    """Sequential, undeduplicated stand-in for disentanglement_lib's array suite."""
    out: dict[str, float] = {}
    # MIG
    m = _pairwise_mi(histogram_discretize(ctr), ftr)
    entropy = np.array([mutual_info_score(ftr[:, k], ftr[:, k]) for k in range(ftr.shape[1])])
    out["mig"] = mig_from_mi(m, entropy)
    # DCI, discrete SAP: classifiers one after another
    out.update(_dci_sequential(ctr, ftr, cte, fte, seed))
    out.update(sap(ctr, ftr, cte, fte, seed=seed))
    # continuous SAP, one np.cov per pair
    score = np.zeros((ctr.shape[1], ftr.shape[1]))
    for i in range(ctr.shape[1]):
        for j in range(ftr.shape[1]):
            c = np.cov(ctr[:, i], ftr[:, j], ddof=1)
            score[i, j] = c[0, 1] ** 2 / (c[0, 0] * c[1, 1]) if c[0, 0] > 1e-12 else 0.0
    out["sap.continuous"] = top_two_gap(score)
    # modularity (discretises again) and explicitness
    out["modularity"] = modularity_from_mi(_pairwise_mi(histogram_discretize(ctr), ftr))
    out.update(explicitness(ctr, ftr, cte, fte, seed=seed))
    out.update(irs(ctr, ftr))
    # unsupervised (discretises again, full D x D loop)
    cov = np.cov(ctr, rowvar=False)
    binned = histogram_discretize(ctr)
    mi = _pairwise_mi(binned, binned)
    np.fill_diagonal(mi, 0.0)
    d = ctr.shape[1]
    wc = gaussian_wasserstein_correlation(cov)
    out.update(
        {
            "unsupervised.gaussian_total_correlation": gaussian_total_correlation(cov),
            "unsupervised.gaussian_wasserstein_correlation": wc,
            "unsupervised.gaussian_wasserstein_correlation_norm": wc / np.trace(cov),
            "unsupervised.mutual_info_score": float(mi.sum() / (d * d - d)),
        }
    )
    return out


def _busy_seconds() -> float:
    """CPU seconds all processes spent busy so far (Linux /proc/stat; 0 elsewhere)."""
    try:
        with open("/proc/stat") as fh:
            fields = [float(x) for x in fh.readline().split()[1:]]
    except OSError:
        return 0.0
    # user nice system idle iowait irq softirq steal [guest guest_nice, already in user]
    busy = sum(fields[:3]) + sum(fields[5:8])
    return busy / os.sysconf("SC_CLK_TCK")


def timed(fn, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN201
    """(wall seconds, CPU seconds used by OTHER processes meanwhile, result)."""
    busy, own = _busy_seconds(), sum(os.times()[:4])
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    wall = time.perf_counter() - start
    others = (_busy_seconds() - busy) - (sum(os.times()[:4]) - own)
    return wall, max(0.0, others), result


def grid_deviation() -> None:
    """Fast preset minus exact values on the spec section 7 grid."""
    factors, codes = reference_grid(0)
    print("\nfast preset deviation from the exact values on the spec section 7 grid:")
    for name, c in codes.items():
        exact = evaluate(c, factors, seed=0)["values"]
        fast = evaluate(c, factors, seed=0, preset="fast")["values"]
        devs = {k: fast[k] - exact[k] for k in exact if abs(fast[k] - exact[k]) > 5e-4}
        text = ", ".join(f"{k} {v:+.3f}" for k, v in devs.items()) or "none"
        print(f"  {name:8s} {text}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--points", type=int, default=10_000, help="training points (test = half)")
    parser.add_argument(
        "--repeats", type=int, default=1, help="timings repeated, the minimum is kept"
    )
    parser.add_argument(
        "--grid", action="store_true", help="also print the fast preset's grid deviations"
    )
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    arrays = make_arrays(args.points, args.points // 2)
    print(
        f"arrays: train {arrays[0].shape}, test {arrays[2].shape}, factor sizes {SIZES}; "
        f"cores: {len(os.sched_getaffinity(0))}; load average before: {os.getloadavg()[0]:.2f}"
    )
    t_base, t_suite, t_fast, t_others = [], [], [], []
    for _ in range(args.repeats):
        tb, ob, base = timed(baseline, *arrays)
        ts, os_, suite = timed(evaluate, *arrays, seed=0)
        tf, of, fast = timed(evaluate, *arrays, seed=0, preset="fast")
        t_base.append(tb)
        t_suite.append(ts)
        t_fast.append(tf)
        t_others.append((ob, os_, of))
    worst = max(base, key=lambda k: abs(base[k] - suite["values"][k]))
    diff = abs(base[worst] - suite["values"][worst])
    b, s = min(t_base), min(t_suite)
    print(f"baseline (sequential stand-in for disentanglement_lib): {b:8.2f} s")
    print(f"suite, default settings, n_jobs={suite['n_jobs']}:                {s:8.2f} s")
    print(f"ratio suite / baseline:                                 {s / b:8.3f}  (target <= 0.55)")
    print(f"max |suite - baseline| over {len(base)} values:              {diff:8.1e}  ({worst})")
    print(
        f"fast preset:                                            {min(t_fast):8.2f} s  (target < 3 s)"
    )
    devs = {
        k: fast["values"][k] - v
        for k, v in suite["values"].items()
        if abs(fast["values"][k] - v) > 5e-4
    }
    print(
        "fast preset deviation: " + (", ".join(f"{k} {d:+.3f}" for k, d in devs.items()) or "none")
    )
    print(
        "suite seconds per metric (summed task time): "
        + ", ".join(f"{k} {v:.2f}" for k, v in suite["seconds"].items())
    )
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    print(
        "CPU seconds used by other processes during baseline / suite / fast: "
        + "; ".join(f"{a:.1f} / {b:.1f} / {c:.1f}" for a, b, c in t_others)
        + "  (should be ~0: the figures assume an otherwise idle machine)"
    )
    if args.grid:
        grid_deviation()


if __name__ == "__main__":
    main()
