"""sklearn estimators with every setting spelled out, so sklearn version drift cannot move a score.

disentanglement_lib constructs ``GradientBoostingClassifier()``, ``LinearSVC(C=0.01,
class_weight="balanced")`` and ``LogisticRegression()`` and relies on the defaults of the day.
The values below are those defaults as of sklearn 1.3-1.9 (lbfgs, multinomial, max_iter 100;
LinearSVC ``dual="auto"``, which resolves to the primal solver for one feature), which also
reproduce the reference values of spec section 7. Older studies ran sklearn < 0.22, where
``LogisticRegression`` meant liblinear one-vs-rest and ``LinearSVC`` the dual solver: pass
those settings explicitly to mimic them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import sklearn
from sklearn.ensemble import GradientBoostingClassifier, HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC
from threadpoolctl import threadpool_limits

#: DCI (Eastwood & Williams 2018): sklearn's GradientBoostingClassifier defaults.
GBT_DEFAULTS: dict[str, Any] = {
    "loss": "log_loss",
    "learning_rate": 0.1,
    "n_estimators": 100,
    "subsample": 1.0,
    "min_samples_split": 2,
    "min_samples_leaf": 1,
    "min_weight_fraction_leaf": 0.0,
    "max_depth": 3,
    "min_impurity_decrease": 0.0,
    "init": None,
    "max_features": None,
    "max_leaf_nodes": None,
    "warm_start": False,
    "validation_fraction": 0.1,
    "n_iter_no_change": None,
    "tol": 1e-4,
    "ccp_alpha": 0.0,
}

#: DCI in the ``fast`` preset: histogram boosting with trees of the same depth, a quarter of
#: the stages at twice the learning rate (deviations: docs/metrics.md).
HIST_GBT_DEFAULTS: dict[str, Any] = {
    "loss": "log_loss",
    "learning_rate": 0.2,
    "max_iter": 25,
    "max_depth": 3,
    "max_leaf_nodes": 8,
    "min_samples_leaf": 20,
    "l2_regularization": 0.0,
    "max_bins": 255,
    "early_stopping": False,
}

#: Discrete SAP (Kumar et al. 2018): one LinearSVC per (code, factor).
SVC_DEFAULTS: dict[str, Any] = {
    "C": 0.01,
    "class_weight": "balanced",
    "penalty": "l2",
    "loss": "squared_hinge",
    "dual": False,
    "tol": 1e-4,
    "multi_class": "ovr",
    "fit_intercept": True,
    "intercept_scaling": 1.0,
    "max_iter": 1000,
}

#: Explicitness (Ridgeway & Mozer 2018) and the BetaVAE score (Higgins et al. 2017).
LOGREG_DEFAULTS: dict[str, Any] = {
    "solver": "lbfgs",
    "C": 1.0,
    "tol": 1e-4,
    "max_iter": 100,
    "fit_intercept": True,
    "class_weight": None,
}


@contextmanager
def single_threaded_blas() -> Iterator[None]:
    """Run BLAS on one thread: multi-threaded BLAS sums in another order, which moves
    LogisticRegression's solution (and so explicitness) by ~1e-7 with the core count. Scores
    are computed under this, so they do not depend on the machine or on ``n_jobs``."""
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def merged(defaults: dict[str, Any], overrides: dict[str, Any] | None) -> dict[str, Any]:
    """``defaults`` updated with ``overrides`` (a new dict)."""
    out = dict(defaults)
    out.update(overrides or {})
    return out


def make_gbt(params: dict[str, Any], seed: int) -> GradientBoostingClassifier:
    """A GradientBoostingClassifier with all settings explicit and a per-factor seed."""
    return GradientBoostingClassifier(random_state=seed, **params)


def make_hist_gbt(params: dict[str, Any], seed: int) -> HistGradientBoostingClassifier:
    """A HistGradientBoostingClassifier (fast preset)."""
    return HistGradientBoostingClassifier(random_state=seed, **params)


def make_svc(params: dict[str, Any], seed: int) -> LinearSVC:
    """A LinearSVC (the seed matters only for the dual solver)."""
    return LinearSVC(random_state=seed, **params)


def make_logreg(params: dict[str, Any], seed: int) -> LogisticRegression:
    """A LogisticRegression (the seed matters only for the sag/saga/liblinear solvers)."""
    return LogisticRegression(random_state=seed, **params)


def hist_gbt_importances(model: HistGradientBoostingClassifier, num_features: int) -> np.ndarray:
    """Split-gain feature importances of a fitted HistGradientBoostingClassifier, summing to 1.

    sklearn offers no ``feature_importances_`` for histogram boosting; this sums the loss
    reduction (``gain``) of every split per feature over all trees (``model._predictors``, a
    private attribute, stable since sklearn 0.21), the analogue of the impurity-based
    importances of GradientBoostingClassifier. All zeros if no tree split.
    """
    total = np.zeros(num_features, dtype=np.float64)
    for stage in model._predictors:
        for predictor in stage:
            nodes = predictor.nodes
            split = nodes["is_leaf"] == 0
            np.add.at(total, nodes["feature_idx"][split], np.maximum(nodes["gain"][split], 0.0))
    s = total.sum()
    return total / s if s > 0 else total


def versions() -> dict[str, str]:
    """Versions that can change a score: numpy, scipy, scikit-learn."""
    import scipy

    return {
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "scikit-learn": sklearn.__version__,
    }
