"""Benchmark of the array-metric suite (issues 10, 20): default settings vs disentanglement_lib.

    python bench/bench_metrics.py [--points 10000] [--repeats 1] [--grid] [--dl-src DIR]
        [--bootstrap 20] [--udr-models 5]

With ``--dl-src DIR`` (a disentanglement_lib checkout or unzipped wheel: the directory that
holds the ``disentanglement_lib`` package; see docs/metrics.md) the baseline is
disentanglement_lib's OWN ``compute_*`` functions on the same arrays in the same run (gin,
absl and six stubbed, its discretiser set to the 20-bin histogram), each timed; its DCI runs
after ``np.random.seed(seed)``, so every value must equal the suite's. Without it, the
stand-in below.

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
* the new metrics (issue 20): DCI-ES, InfoMEC, UDR over ``--udr-models`` models (codes of
  the same rows, each a rotation of the benchmark codes), and the bootstrap
  (``--bootstrap`` replicates of every metric but the three classifier metrics, and one
  replicate of the whole suite's cost for scale);
* the CPU seconds other processes used meanwhile: the figures assume an idle machine.
"""

from __future__ import annotations

import argparse
import builtins
import os
import sys
import time
import types
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
    udr,
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

#: disentanglement_lib's metrics (the suite's first eight): the ratio compares these.
DL_METRICS = ["mig", "dci", "sap", "sap_continuous", "modularity", "explicitness", "irs", "unsupervised"]


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


def load_disentanglement_lib(src: str) -> types.SimpleNamespace:
    """disentanglement_lib's metric modules from ``src`` with gin, absl and six stubbed."""

    def stub(name: str, **attrs: object) -> types.ModuleType:
        module = types.ModuleType(name)
        module.__dict__.update(attrs)
        sys.modules[name] = module
        return module

    def configurable(*a, **k):  # noqa: ANN002, ANN003, ANN202
        return a[0] if a and callable(a[0]) else (lambda f: f)

    gin = stub("gin", REQUIRED=object(), configurable=configurable)
    gin.tf = stub("gin.tf", REQUIRED=gin.REQUIRED, configurable=configurable)
    stub("absl").logging = stub("absl.logging", info=lambda *a, **k: None)
    stub("six").moves = stub("six.moves", range=builtins.range)
    sys.path.insert(0, src)
    from disentanglement_lib.evaluation.metrics import (  # noqa: PLC0415
        dci,
        irs,
        mig,
        modularity_explicitness,
        sap_score,
        unsupervised_metrics,
        utils,
    )

    utils.make_discretizer = lambda target, num_bins=20: utils._histogram_discretize(target, num_bins)
    return types.SimpleNamespace(
        dci=dci, irs=irs, mig=mig, modex=modularity_explicitness, sap=sap_score,
        unsup=unsupervised_metrics,
    )


class Rows:
    """A ground-truth source that hands disentanglement_lib the next rows of fixed arrays."""

    def __init__(self, codes: np.ndarray, factors: np.ndarray) -> None:
        self.c, self.f, self.i = codes, factors, 0

    def sample(self, n: int, random_state: object) -> tuple[np.ndarray, np.ndarray]:
        s = slice(self.i, self.i + n)
        self.i += n
        return self.f[s], self.c[s]


def dl_baseline(dl: types.SimpleNamespace, ctr, ftr, cte, fte, seed: int = 0):  # noqa: ANN001, ANN201
    """disentanglement_lib's own functions on the arrays: (values, seconds per metric)."""
    codes, factors = np.concatenate([ctr, cte]), np.concatenate([ftr, fte])
    n, m = len(ctr), len(cte)

    def rows() -> Rows:
        return Rows(codes, factors)

    rs = np.random.RandomState
    ident = lambda x: x  # noqa: E731
    calls = {
        "mig": lambda: {"mig": dl.mig.compute_mig(rows(), ident, rs(0), num_train=n, batch_size=16)["discrete_mig"]},
        "dci": lambda: (np.random.seed(seed), dl.dci.compute_dci(rows(), ident, rs(0), num_train=n, num_test=m))[1],
        "sap": lambda: {"sap": dl.sap.compute_sap(rows(), ident, rs(0), num_train=n, num_test=m,
                                                  continuous_factors=False)["SAP_score"]},
        "sap_continuous": lambda: {"sap.continuous": dl.sap.compute_sap(
            rows(), ident, rs(0), num_train=n, num_test=m, continuous_factors=True)["SAP_score"]},
        "modularity_explicitness": lambda: dl.modex.compute_modularity_explicitness(
            rows(), ident, rs(0), num_train=n, num_test=m),
        "irs": lambda: dl.irs.compute_irs(rows(), ident, rs(0), num_train=n, batch_size=16),
        "unsupervised": lambda: dl.unsup.unsupervised_metrics(rows(), ident, rs(0), num_train=n, batch_size=16),
    }
    rename = {
        "disentanglement": "dci.disentanglement", "completeness": "dci.completeness",
        "informativeness_train": "dci.informativeness_train",
        "informativeness_test": "dci.informativeness_test", "modularity_score": "modularity",
        "explicitness_score_train": "explicitness.train", "explicitness_score_test": "explicitness.test",
        "IRS": "irs", "gaussian_total_correlation": "unsupervised.gaussian_total_correlation",
        "gaussian_wasserstein_correlation": "unsupervised.gaussian_wasserstein_correlation",
        "gaussian_wasserstein_correlation_norm": "unsupervised.gaussian_wasserstein_correlation_norm",
        "mutual_info_score": "unsupervised.mutual_info_score",
    }
    values, seconds = {}, {}
    for name, call in calls.items():
        start = time.perf_counter()
        out = call()
        seconds[name] = time.perf_counter() - start
        values.update({rename.get(k, k): float(v) for k, v in out.items() if rename.get(k, k) != "num_active_dims"})
    return values, seconds


def new_metric_rows(arrays: tuple[np.ndarray, ...], bootstrap: int, udr_models: int) -> None:
    """Time DCI-ES, InfoMEC, UDR and the bootstrap on the benchmark arrays."""
    print("\nnew metrics (issue 20) on the same arrays:")
    for name in ("dci_es", "infomec"):
        wall, others, r = timed(evaluate, *arrays, metrics=[name], seed=0)
        vals = ", ".join(f"{k} {v:.4f}" for k, v in r["values"].items())
        print(f"  {name:12s} {wall:7.2f} s  ({vals}; others used {others:.1f} CPU-s)")
    rng = np.random.default_rng(0)
    codes = arrays[0]
    models = [codes @ np.linalg.qr(rng.standard_normal((codes.shape[1],) * 2))[0] for _ in range(udr_models)]
    wall, others, r = timed(udr, models)
    print(f"  udr          {wall:7.2f} s  ({udr_models} models x {codes.shape[0]} rows, lasso; "
          f"others used {others:.1f} CPU-s)")
    cheap = [m for m in DL_METRICS + ["dci_es", "infomec"] if m not in ("dci", "sap", "explicitness")]
    wall0, _, _ = timed(evaluate, *arrays, metrics=cheap, seed=0)
    wall, others, r = timed(evaluate, *arrays, metrics=cheap, seed=0, bootstrap=bootstrap)
    print(f"  bootstrap    {wall:7.2f} s  ({bootstrap} replicates of {', '.join(cheap)}: "
          f"{(wall - wall0) / bootstrap:.3f} s per replicate; without: {wall0:.2f} s; "
          f"others used {others:.1f} CPU-s)")


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


OWN_CPU: list[float] = []  # CPU seconds this process used in each timed() call, in order


def timed(fn, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN201
    """(wall seconds, CPU seconds used by OTHER processes meanwhile, result); the CPU seconds
    this process used are appended to :data:`OWN_CPU`."""
    busy, own = _busy_seconds(), sum(os.times()[:4])
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    wall = time.perf_counter() - start
    used = sum(os.times()[:4]) - own
    OWN_CPU.append(used)
    others = (_busy_seconds() - busy) - used
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
    parser.add_argument("--dl-src", help="disentanglement_lib source dir: use its own functions")
    parser.add_argument("--bootstrap", type=int, default=20, help="replicates for the bootstrap row")
    parser.add_argument("--udr-models", type=int, default=5, help="models for the UDR row")
    parser.add_argument("--skip-new", action="store_true", help="skip the issue-20 metric rows")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    arrays = make_arrays(args.points, args.points // 2)
    print(
        f"arrays: train {arrays[0].shape}, test {arrays[2].shape}, factor sizes {SIZES}; "
        f"cores: {len(os.sched_getaffinity(0))}; load average before: {os.getloadavg()[0]:.2f}"
    )
    dl = load_disentanglement_lib(args.dl_src) if args.dl_src else None
    t_base, t_suite, t_fast, t_others = [], [], [], []
    dl_seconds: dict[str, float] = {}
    for _ in range(args.repeats):
        if dl is not None:
            tb, ob, (base, dl_seconds) = timed(dl_baseline, dl, *arrays)
        else:
            tb, ob, base = timed(baseline, *arrays)
        ts, os_, suite = timed(evaluate, *arrays, seed=0, metrics=DL_METRICS)
        tf, of, fast = timed(evaluate, *arrays, seed=0, preset="fast", metrics=DL_METRICS)
        cpu_base, cpu_suite = OWN_CPU[-3], OWN_CPU[-2]
        t_base.append(tb)
        t_suite.append(ts)
        t_fast.append(tf)
        t_others.append((ob, os_, of))
    worst = max(base, key=lambda k: abs(base[k] - suite["values"][k]))
    diff = abs(base[worst] - suite["values"][worst])
    b, s = min(t_base), min(t_suite)
    what = "disentanglement_lib's own functions" if dl else "sequential stand-in for disentanglement_lib"
    print(f"baseline ({what}): {b:8.2f} s")
    if dl_seconds:
        print("  disentanglement_lib seconds per metric: "
              + ", ".join(f"{k} {v:.2f}" for k, v in dl_seconds.items()))
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
    print(f"CPU seconds of this process: baseline {cpu_base:.1f}, suite {cpu_suite:.1f} "
          f"(the work done; on an idle 2-core machine the suite's wall time is about half its CPU)")
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    print(
        "CPU seconds used by other processes during baseline / suite / fast: "
        + "; ".join(f"{a:.1f} / {b:.1f} / {c:.1f}" for a, b, c in t_others)
        + "  (should be ~0: the figures assume an otherwise idle machine)"
    )
    if not args.skip_new:
        new_metric_rows(arrays, args.bootstrap, args.udr_models)
    if args.grid:
        grid_deviation()


if __name__ == "__main__":
    main()
