"""Ray-only checks, and the wrapper that runs every ``ray``-marked test in a loopback-only
network namespace (``unshare -n``, as docs/sweeps.md prescribes), so a plain ``pytest`` run
covers them without Ray ever using an address but 127.0.0.1."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from betavae.errors import BetavaeError
from betavae.experiments.executors import make_executor
from betavae.experiments.study import run_sweep

from ..conftest import loopback_only, require_loopback, require_ray
from .test_sweep import tiny_sweep

ROOT = Path(__file__).parents[2]


@pytest.mark.ray
@pytest.mark.parametrize(("selection", "at_least"), [("not slow", 1), pytest.param("slow", 9, marks=pytest.mark.slow)])
def test_ray_suite_in_loopback_namespace(selection, at_least):
    """Re-run the ray-marked tests of every directory inside ``unshare -n`` (root needed): the
    default suite's (``not slow``) here, the slow ones in ``pytest -m slow``."""
    if loopback_only():
        pytest.skip("already inside the loopback-only namespace")
    require_ray()
    if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("ip"):
        if os.environ.get("CI"):
            pytest.fail("the Ray tests need root, unshare and ip to make a loopback-only namespace")
        pytest.skip("needs root, unshare and ip (a private network namespace with only loopback)")
    inner = (f"ip link set lo up && exec {sys.executable} -m pytest -q -p no:cacheprovider "
             f"-m 'ray and {selection}' tests")
    proc = subprocess.run(["unshare", "-n", "sh", "-c", inner], cwd=ROOT, capture_output=True, text=True,
                          timeout=3600)
    tail = (proc.stdout + proc.stderr)[-4000:]
    assert proc.returncode == 0, tail
    summary = proc.stdout.strip().splitlines()[-1]
    passed = re.search(r"(\d+) passed", summary)
    assert passed and int(passed.group(1)) >= at_least and "failed" not in summary, tail
    assert re.search(r"\b1 skipped", summary), tail  # only this wrapper, inside


@pytest.mark.ray
@pytest.mark.slow  # a two-node cluster: ≈ 40 s; the default suite keeps the fresh-machine Ray sweep below
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


FIRST_SWEEP = """
import json, sys
from pathlib import Path
from betavae.experiments.executors import make_executor
from betavae.experiments.study import run_sweep
from tests.experiments.test_sweep import tiny_sweep
with make_executor("ray", 1, 1) as ex:
    print(json.dumps(run_sweep(tiny_sweep(), ex, Path(sys.argv[1])).statuses))
"""


@pytest.mark.ray
def test_a_first_local_sweep_on_a_fresh_machine(tmp_path):
    """``--executor ray`` without ``--address`` on a machine that never ran Ray (fresh HOME and
    TMPDIR, no Ray temp dir) starts its own Ray under $TMPDIR/ray and trains; a stale
    ``ray_current_cluster`` and a ``RAY_ADDRESS`` naming dead clusters do not redirect it."""
    require_ray()
    require_loopback()
    # a short TMPDIR: Ray's AF_UNIX sockets live under it (< 108 bytes)
    tmp = Path(tempfile.mkdtemp(prefix="rayf"))
    home = tmp_path / "home"
    home.mkdir()
    try:
        first_local_sweeps(tmp_path, home, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def first_local_sweeps(tmp_path: Path, home: Path, tmp: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_TMPDIR", "XDG_CACHE_HOME")}
    env.update(HOME=str(home), TMPDIR=str(tmp), RAY_ADDRESS="127.0.0.1:1",
               PYTHONPATH=os.pathsep.join([str(ROOT / "src"), str(ROOT), env.get("PYTHONPATH", "")]))
    address_file = tmp / "ray" / "ray_current_cluster"
    for attempt in ("fresh", "stale"):
        if attempt == "stale":  # as an earlier `ray start` leaves it, naming a cluster now gone
            address_file.write_text("127.0.0.1:2")
        proc = subprocess.run([sys.executable, "-c", FIRST_SWEEP, str(tmp_path / attempt)], cwd=tmp_path,
                              env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert json.loads(proc.stdout.strip().splitlines()[-1]) == {"finished": 1}
        assert (tmp / "ray" / "session_latest").is_dir()  # Ray's files went to the fresh TMPDIR
    assert address_file.read_text() == "127.0.0.1:2"


def test_an_unreachable_cluster_is_a_one_line_error(monkeypatch):
    """Ray's ConnectionError (no cluster at ``auto``, nothing at HOST:PORT) becomes a BetavaeError."""
    require_ray()
    import ray

    def refuse(**kwargs):
        assert kwargs["address"] == "auto"
        raise ConnectionError("Could not find any running Ray instance.\nmore detail")

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", refuse)
    with pytest.raises(BetavaeError) as err:
        make_executor("ray", 1, 1, address="auto").connect()
    assert str(err.value) == ("cannot join the Ray cluster at 'auto': Could not find any running Ray "
                              "instance. (start one with `ray start --head`, or leave out --address "
                              "for a local Ray)")


def test_a_too_long_temp_folder_is_a_one_line_error(monkeypatch):
    """Ray refuses AF_UNIX socket paths over 107 bytes (a long $TMPDIR): the error says what to set."""
    require_ray()
    import ray

    def refuse(**kwargs):
        assert kwargs["address"] == "local" and kwargs["num_cpus"] == 2
        raise OSError("validate_socket_filename failed: AF_UNIX path length cannot exceed 107 bytes: /x")

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", refuse)
    with pytest.raises(BetavaeError, match=r"too long \(validate_socket_filename failed: AF_UNIX path length "
                                           r"cannot exceed 107 bytes: /x\); set RAY_TMPDIR to a short folder"):
        make_executor("ray", 2, 1).connect()
