"""Spec section 7: reference values of disentanglement_lib on the synthetic grid.

MIG, IRS and the unsupervised scores use all 2160 rows; DCI, SAP and modularity /
explicitness the first 1440 as train and the other 720 as test (``train_fraction=2/3``);
BetaVAE and FactorVAE sample the full grid by lookup with the section 5 defaults.
"""

from __future__ import annotations

import numpy as np
import pytest

from betavae.metrics import beta_vae_score, evaluate, factor_vae_score, gaussian_total_correlation

TABLE = {
    # MIG, DCI D, C, I_test, SAP disc, SAP cont, modularity, explicitness test, IRS, TC, BetaVAE, FactorVAE
    "perfect": (0.987, 1.00, 1.00, 1.00, 0.287, 0.998, 0.831, 1.00, 0.430, 0.002, 1.00, 1.00),
    "mixed": (0.043, 0.106, 0.087, 0.581, 0.037, 0.107, 0.676, 1.00, 0.322, 1.645, 0.474, 0.397),
    "random": (0.0014, 0.004, 0.004, 0.215, 0.009, 0.0006, 0.541, 0.50, 0.320, 0.007, 0.200, 0.221),
}
KEYS = [
    ("mig", 0.005),
    ("dci.disentanglement", 0.03),
    ("dci.completeness", 0.03),
    ("dci.informativeness_test", 0.03),
    ("sap", 0.03),
    ("sap.continuous", 0.005),
    ("modularity", 0.005),
    ("explicitness.test", 0.03),
    ("irs", 0.005),
    ("unsupervised.gaussian_total_correlation", 0.005),
]


@pytest.fixture(scope="module")
def suite_results(grid):
    factors, codes = grid
    # small sets: GBT is Python-bound, so processes (not threads) use both cores
    return {name: evaluate(c, factors, seed=0, backend="processes") for name, c in codes.items()}


@pytest.mark.parametrize("codes_name", list(TABLE))
@pytest.mark.parametrize("key,tol", KEYS, ids=[k for k, _ in KEYS])
def test_array_metrics_match_table(suite_results, codes_name, key, tol):
    expected = TABLE[codes_name][[k for k, _ in KEYS].index(key)]
    assert suite_results[codes_name]["values"][key] == pytest.approx(expected, abs=tol)


@pytest.mark.parametrize("codes_name", list(TABLE))
def test_sampled_scores_match_table(grid, grid_source, make_encoder, codes_name):
    factors, codes = grid
    encode = make_encoder(grid_source, factors, codes[codes_name])
    bvae = beta_vae_score(encode, grid_source, seed=0)
    fvae = factor_vae_score(encode, grid_source, seed=0)
    assert bvae["beta_vae.eval_accuracy"] == pytest.approx(TABLE[codes_name][10], abs=0.05)
    assert fvae["factor_vae.eval_accuracy"] == pytest.approx(TABLE[codes_name][11], abs=0.05)
    assert fvae["factor_vae.num_active_dims"] == 8


# Same construction with other seeds: perfect and random move by <= 0.04; mixed depends on
# the rotation. disentanglement_lib's own functions (run as described in docs/metrics.md)
# give mixed modularity 0.8015 and continuous SAP 0.1826 at seed 1, just outside the spec's
# bands; ours are equal to theirs to 1e-15, so those two points are expected failures of
# the spec's approximate bands, not of the implementation.
BANDS = {
    "mig": (0.02, 0.08),
    "modularity": (0.65, 0.80),
    "sap.continuous": (0.06, 0.18),
    "unsupervised.gaussian_total_correlation": (1.3, 1.7),
}
OUTSIDE_SPEC_BAND = {(1, "modularity"): 0.8015, (1, "sap.continuous"): 0.1826}


@pytest.fixture(scope="module")
def other_seed_results(grid_at):
    out = {}
    for seed in (1, 2):
        factors, codes = grid_at(seed)
        out[seed] = {
            n: evaluate(
                c, factors, seed=0, metrics=["mig", "modularity", "sap_continuous", "unsupervised"]
            )["values"]
            for n, c in codes.items()
        }
    return out


@pytest.mark.parametrize("seed", [1, 2])
def test_other_seed_perfect_and_random(other_seed_results, seed):
    r = other_seed_results[seed]
    for key, col in [
        ("mig", 0),
        ("modularity", 6),
        ("sap.continuous", 5),
        ("unsupervised.gaussian_total_correlation", 9),
    ]:
        assert r["perfect"][key] == pytest.approx(TABLE["perfect"][col], abs=0.04), key
        assert r["random"][key] == pytest.approx(TABLE["random"][col], abs=0.04), key


@pytest.mark.parametrize(
    "seed,key",
    [
        pytest.param(
            s,
            k,
            marks=pytest.mark.xfail(
                strict=True,
                reason=f"disentanglement_lib gives {OUTSIDE_SPEC_BAND[(s, k)]} here too "
                f"(outside the spec band {BANDS[k]})",
            )
            if (s, k) in OUTSIDE_SPEC_BAND
            else (),
        )
        for s in (1, 2)
        for k in BANDS
    ],
)
def test_other_seed_mixed_bands(other_seed_results, seed, key):
    lo, hi = BANDS[key]
    assert lo <= other_seed_results[seed]["mixed"][key] <= hi


@pytest.mark.parametrize("key,value", [("modularity", 0.8015), ("sap.continuous", 0.1826)])
def test_seed1_mixed_equals_disentanglement_lib(other_seed_results, key, value):
    assert other_seed_results[1]["mixed"][key] == pytest.approx(value, abs=5e-5)


def test_total_correlation_of_mixed_codes_is_rotation_only(grid):
    # perfect has near-diagonal covariance; the rotation alone creates the TC
    _, codes = grid
    cov = np.cov(codes["perfect"].astype(np.float64), rowvar=False)
    assert gaussian_total_correlation(cov) < 0.01
