"""Shared fixtures: tiny, fast run configs on the built-in dSprites; the sweep executors under test.

Executors under test (``executor_kind``): ``local`` always; ``ray`` on a two-node loopback cluster
(marked ``ray``), shared by every directory's sweep tests (one cluster per session). Ray must only
ever talk over loopback (docs/sweeps.md): the Ray cases run in a private network namespace with
only ``lo`` up. In a normal session they are skipped here and run by
``tests/experiments/test_ray.py::test_ray_suite_in_loopback_namespace``, which re-runs
``pytest -m ray tests`` inside ``unshare -n``. Without ray installed they skip, except under CI
(``CI`` set), where they fail.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import tempfile
from pathlib import Path

import pytest

from betavae.config import build_config


def tiny_tree(**train) -> dict:
    """A config that trains the Burgess model a few steps at batch 8 (≈0.05 s/step on 2 cores)."""
    t = {"steps": 12, "batch_size": 8, "log_every": 2, "checkpoint_every": 4, "lr": 1e-3,
         "prefetch": 1, "threads": 1, "report": False,
         "speed": "plain"}
    t.update(train)
    return {"name": "tiny", "seed": 3, "model": {"kind": "burgess", "latent_dim": 4},
            "objective": {"kind": "beta", "beta": 4}, "train": t}


@pytest.fixture
def tiny_config():
    return build_config(tiny_tree())


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Every test uses a private cache directory (never the user's)."""
    monkeypatch.setenv("BETAVAE_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))


# ------------------------------------------------------------------ executors under test
#: The Ray cases of the sweep tests are also ``slow`` (the default suite keeps test_ray.py's own
#: loopback-cluster tests; ``pytest -m slow`` runs these in the namespace): they were ~110 s of
#: the default suite's 767 s on 2 cores.
EXECUTOR_PARAMS = ["local", pytest.param("ray", marks=[pytest.mark.ray, pytest.mark.slow])]


def loopback_only() -> bool:
    """True inside a network namespace whose only interface is loopback."""
    return [name for _, name in socket.if_nameindex()] == ["lo"]


def require_ray() -> None:
    if importlib.util.find_spec("ray") is None:
        if os.environ.get("CI"):
            pytest.fail("ray is not installed but CI is set: install betavae[ray] for the Ray tests")
        pytest.skip("ray is not installed (pip install 'betavae[ray]')")


def require_loopback() -> None:
    if not loopback_only():
        pytest.skip("Ray tests run inside a loopback-only network namespace; "
                    "test_ray.py::test_ray_suite_in_loopback_namespace runs them there")


@pytest.fixture(scope="session")
def ray_cluster():
    """A head node and a worker node of 1 CPU each, loopback only, dashboard off."""
    require_ray()
    require_loopback()
    import ray
    from ray.cluster_utils import Cluster

    # Ray's *default* temp dir (RAY_TMPDIR, else TMPDIR, else /tmp, + "/ray") is where Cluster
    # writes ray_current_cluster, whatever temp_dir the nodes get, and Ray does not create it:
    # point it at this session's own folder and give the nodes the same one, so nothing depends
    # on (or is left in) /tmp/ray. Short path: AF_UNIX sockets live under it (< 108 bytes).
    temp = Path(tempfile.mkdtemp(prefix="ray"))
    (temp / "ray").mkdir()
    with pytest.MonkeyPatch.context() as env:
        env.setenv("RAY_TMPDIR", str(temp))
        env.delenv("RAY_ADDRESS", raising=False)
        cluster = Cluster(initialize_head=True, head_node_args={
            "num_cpus": 1, "include_dashboard": False, "temp_dir": str(temp / "ray")})
        cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        # one driver connection for the session: executors find Ray initialised and keep it, so
        # the workers' processes (and their imports) are reused from test to test
        ray.init(address=cluster.address, include_dashboard=False, log_to_driver=False)
        yield cluster
        if ray.is_initialized():
            ray.shutdown()
        cluster.shutdown()
    shutil.rmtree(temp, ignore_errors=True)


@pytest.fixture(params=EXECUTOR_PARAMS)
def executor_kind(request):
    """("local", {}) or ("ray", {"address": ...}) — what make_executor needs. Ray workers inherit
    the session's BETAVAE_CACHE_DIR from the cluster's processes."""
    if request.param == "local":
        return "local", {}
    return "ray", {"address": request.getfixturevalue("ray_cluster").address}


def run_shared_sweep(tmp_path_factory, sweep, name: str):
    """Run ``sweep`` once with the local executor (2 workers) in a new session folder, with the
    session's cache: (its folder, the first sweep's outcome). For session fixtures that several
    test files read; whatever runs there later may only read the folder or skip every run."""
    from betavae.experiments.executors import make_executor
    from betavae.experiments.study import run_sweep

    out = tmp_path_factory.mktemp(name)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BETAVAE_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))
        with make_executor("local", 2, 1) as ex:
            first = run_sweep(sweep, ex, out)
    return out, first


@pytest.fixture(scope="session")
def tiny_crossmodal_study_run(tmp_path_factory):
    """The tiny cross-modal study (tests/experiments/test_crossmodal_sweep.py::tiny_study: 6 runs
    in 3 ensembles), shared by the sweep test and the browser test (see :func:`run_shared_sweep`)."""
    from .experiments.test_crossmodal_sweep import tiny_study

    return run_shared_sweep(tmp_path_factory, tiny_study(), "xm-study")
