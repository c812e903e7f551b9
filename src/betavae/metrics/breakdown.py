"""Per-factor and per-pair breakdowns of MIG, DCI and InfoMEC: which factor is captured (and by
which code dimension), and which pairs of factors share a code dimension.

A summary score averages over factors; a study of correlated factors needs the pair. Every
breakdown is a flat dict of floats with keys ``metric[factor]``, ``metric[z<d>]`` (code
dimension d) and ``metric.shared[a,b]`` (factors a < b in column order), so bootstrap
intervals apply to each entry like to any value.

Shared pair score, for a (D, K) matrix of *shares* s_dk (how much of factor k code d holds,
in [0, 1]): shared(a, b) = max_d min(s_da, s_db), 1 when one dimension fully holds both
factors, 0 when no dimension holds any of both. The shares are MI / H(v_k) for MIG (so
the breakdown uses MIG's binned MI), the factor's importance share R_dk / Σ_d R_dk for DCI,
and NMI_kj for InfoMEC (active dimensions only).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from betavae.metrics.dci import completeness_per_factor, disentanglement_per_code
from betavae.metrics.infomec import preferences
from betavae.metrics.mig import mig_per_factor


def shared_pairs(shares: np.ndarray) -> np.ndarray:
    """(K, K) matrix S_ab = max_d min(s_da, s_db) of a (D, K) share matrix (diagonal: max_d s_dk)."""
    s = np.asarray(shares, dtype=np.float64)
    return np.minimum(s[:, :, None], s[:, None, :]).max(axis=0)


def _per(prefix: str, names: Sequence[str], values: np.ndarray) -> dict[str, float]:
    return {f"{prefix}[{n}]": float(v) for n, v in zip(names, values, strict=True) if np.isfinite(v)}


def _pairs(prefix: str, names: Sequence[str], matrix: np.ndarray) -> dict[str, float]:
    k = len(names)
    return {
        f"{prefix}.shared[{names[a]},{names[b]}]": float(matrix[a, b])
        for a in range(k)
        for b in range(a + 1, k)
    }


def code_names(d: int) -> list[str]:
    """``z0 .. z{D-1}``: code dimensions by column index."""
    return [f"z{j}" for j in range(d)]


def mig_breakdown(mi: np.ndarray, entropy: np.ndarray, factor_names: Sequence[str]) -> dict[str, float]:
    """``mig[f]`` (the factor's gap / H), ``mig.top_code[f]`` (index of the dimension with the
    most MI), ``mig.shared[a,b]`` from (D, K) MI and (K,) entropies."""
    shares = mi / entropy[None, :]
    return {
        **_per("mig", factor_names, mig_per_factor(mi, entropy)),
        **_per("mig.top_code", factor_names, np.argmax(mi, axis=0).astype(float)),
        **_pairs("mig", factor_names, shared_pairs(shares)),
    }


def dci_breakdown(
    importance: np.ndarray,
    acc_train: Sequence[float],
    acc_test: Sequence[float],
    factor_names: Sequence[str],
) -> dict[str, float]:
    """``dci.completeness[f]``, ``dci.informativeness_train[f]`` / ``_test[f]``,
    ``dci.disentanglement[z<d>]`` and ``dci.shared[a,b]`` from the (D, K) importances."""
    totals = importance.sum(axis=0)
    shares = np.divide(importance, totals, out=np.zeros_like(importance), where=totals > 0)
    return {
        **_per("dci.completeness", factor_names, completeness_per_factor(importance)),
        **_per("dci.informativeness_train", factor_names, np.asarray(acc_train)),
        **_per("dci.informativeness_test", factor_names, np.asarray(acc_test)),
        **_per("dci.disentanglement", code_names(importance.shape[0]), disentanglement_per_code(importance)),
        **_pairs("dci", factor_names, shared_pairs(shares)),
    }


def infomec_breakdown(
    nmi: np.ndarray, active: np.ndarray, infoe: Sequence[float], factor_names: Sequence[str]
) -> dict[str, float]:
    """``infomec.infoc[f]``, ``infomec.infoe[f]``, ``infomec.infom[z<d>]`` (active dimensions
    with information) and ``infomec.shared[a,b]`` from the (K, D) NMI."""
    pruned = nmi[:, active]
    out = _per("infomec.infoe", factor_names, np.asarray(infoe))
    if pruned.shape[1] == 0:
        return out
    active_names = [n for n, a in zip(code_names(nmi.shape[1]), active, strict=True) if a]
    return {
        **_per("infomec.infoc", factor_names, preferences(pruned, 1)),
        **out,
        **_per("infomec.infom", active_names, preferences(pruned, 0)),
        **_pairs("infomec", factor_names, shared_pairs(pruned.T)),
    }
