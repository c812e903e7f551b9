"""Shared fixtures: one short real run with its report, and a folder of three tiny runs."""

from __future__ import annotations

import json

import pytest

from betavae.config import build_config
from betavae.report import write_index, write_report
from betavae.train.loop import train

from ..conftest import tiny_tree

#: An eval.json metric name that would run script if it reached the page unescaped.
HOSTILE = "<script>window.pwned=1</script>"


def write_eval(run_dir, values):
    (run_dir / "eval.json").write_text(json.dumps({"values": values, "settings": {}, "seconds": {}}))


def train_tiny(root, beta=4.0, seed=3, **train_opts):
    tree = tiny_tree(**train_opts)
    tree["objective"]["beta"] = beta
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
