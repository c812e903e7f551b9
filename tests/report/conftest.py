"""Shared fixtures: one short real run with its report, a folder of three tiny runs, and a folder
of a β-VAE run and a capacity run with full eval.json files."""

from __future__ import annotations

import json

import pytest

from betavae.config import build_config
from betavae.experiments.run import train
from betavae.report import write_index, write_report

from ..conftest import tiny_tree

#: An eval.json metric name that would run script if it reached the page unescaped.
HOSTILE = "<script>window.pwned=1</script>"


def write_eval(run_dir, values):
    (run_dir / "eval.json").write_text(json.dumps({"values": values, "settings": {}, "seconds": {}}))


#: Every metric name `bvae eval` writes (all metrics), so the index tables are as wide as real ones.
EVAL_KEYS = ("beta_vae.eval_accuracy", "beta_vae.train_accuracy", "dci.completeness", "dci.disentanglement",
             "dci.informativeness_test", "dci.informativeness_train", "explicitness.test",
             "explicitness.test_factors_skipped", "explicitness.train", "factor_vae.eval_accuracy",
             "factor_vae.num_active_dims", "factor_vae.train_accuracy", "irs", "irs.num_active_dims", "mig",
             "modularity", "posterior.active_units", "posterior.information", "posterior.information_joint",
             "posterior.informative_latents", "posterior.kl", "posterior.offset", "posterior.width",
             "sap", "sap.continuous", "unsupervised.gaussian_total_correlation",
             "unsupervised.gaussian_wasserstein_correlation",
             "unsupervised.gaussian_wasserstein_correlation_norm", "unsupervised.mutual_info_score")


def train_tiny(root, beta=4.0, seed=3, objective=None, name="tiny", **train_opts):
    tree = tiny_tree(**train_opts)
    tree["name"] = name
    tree["objective"] = objective or {"kind": "beta", "beta": beta}
    tree["seed"] = seed
    return train(build_config(tree), root)


@pytest.fixture(scope="session")
def cache_env(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BETAVAE_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))
        yield


@pytest.fixture(scope="session")
def reported_run(tmp_path_factory, cache_env):
    """A 12-step real run with an eval.json (one hostile metric name) and its report."""
    run_dir = train_tiny(tmp_path_factory.mktemp("runs"))
    write_eval(run_dir, {"mig": 0.125, "dci.disentanglement": 0.5, HOSTILE: 1.0})
    write_report(run_dir, n_images=32, n_seeds=2)
    return run_dir


@pytest.fixture(scope="session")
def runs_folder(tmp_path_factory, cache_env):
    """Three tiny runs (β = 1 seed 0, β = 4 seeds 0 and 1) with eval.json and the index."""
    root = tmp_path_factory.mktemp("sweep")
    for i, (beta, seed) in enumerate([(1.0, 0), (4.0, 0), (4.0, 1)]):
        run = train_tiny(root, beta=beta, seed=seed, steps=6, checkpoint_every=6)
        write_eval(run, {"mig": 0.1 * (i + 1)})
    write_index(root, build_runs=True, n_images=16, n_seeds=1)
    return root


@pytest.fixture(scope="session")
def mixed_runs_folder(tmp_path_factory, cache_env):
    """One β-VAE run and one capacity run (6 steps each; names as long as the shipped configs give)
    with every eval metric, and the index."""
    root = tmp_path_factory.mktemp("mixed")
    capacity = {"kind": "capacity", "gamma": 20, "capacity": {"kind": "capacity", "c0": 0, "c_max": 10, "length": 6}}
    for i, (name, objective) in enumerate([("dsprites-quick", None), ("dsprites-capacity", capacity)]):
        run = train_tiny(root, objective=objective, name=name, seed=0, steps=6, checkpoint_every=6)
        write_eval(run, {key: 0.0123 * (i + 1) * (j + 1) for j, key in enumerate(EVAL_KEYS)})
    write_index(root)
    return root
