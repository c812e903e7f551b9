"""Ray-only checks, and the wrapper that runs every ``ray``-marked test in a loopback-only
network namespace (``unshare -n``, as docs/sweeps.md prescribes), so a plain ``pytest`` run
covers them without Ray ever using an address but 127.0.0.1."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from betavae.experiments.executors import make_executor
from betavae.experiments.study import run_sweep

from .conftest import loopback_only, require_ray
from .test_sweep import tiny_sweep

ROOT = Path(__file__).parents[2]


@pytest.mark.ray
def test_ray_suite_in_loopback_namespace():
    """Re-run the ray-marked tests of tests/experiments inside ``unshare -n`` (root needed)."""
    if loopback_only():
        pytest.skip("already inside the loopback-only namespace")
    require_ray()
    if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("ip"):
        if os.environ.get("CI"):
            pytest.fail("the Ray tests need root, unshare and ip to make a loopback-only namespace")
        pytest.skip("needs root, unshare and ip (a private network namespace with only loopback)")
    inner = f"ip link set lo up && exec {sys.executable} -m pytest -q -p no:cacheprovider -m ray tests/experiments"
    proc = subprocess.run(["unshare", "-n", "sh", "-c", inner], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)
    tail = (proc.stdout + proc.stderr)[-4000:]
    assert proc.returncode == 0, tail
    summary = proc.stdout.strip().splitlines()[-1]
    passed = re.search(r"(\d+) passed", summary)
    assert passed and int(passed.group(1)) >= 6 and "failed" not in summary, tail
    assert re.search(r"\b1 skipped", summary), tail  # only this wrapper, inside


@pytest.mark.ray
def test_tasks_spread_over_both_nodes(tmp_path, ray_cluster):
    """Two one-CPU nodes, four runs: each node trains some of them (fractional GPU option accepted)."""
    import ray

    sweep = tiny_sweep(seeds=(0, 1, 2, 3))
    with make_executor("ray", 2, 1, address=ray_cluster.address) as ex:
        out = run_sweep(sweep, ex, tmp_path)
        nodes = [n["NodeManagerAddress"] for n in ray.nodes() if n["Alive"]]
    assert nodes == ["127.0.0.1", "127.0.0.1"]  # two nodes, loopback only
    assert out.statuses == {"finished": 4}
    assert len({r["pid"] for r in out.records}) >= 2  # both nodes' workers took tasks
