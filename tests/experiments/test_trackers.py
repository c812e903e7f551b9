"""Experiment trackers (train.trackers, issue #24): what each tracker holds, read back with its own
reader, equals metrics.jsonl — for a dSprites run and a VSA run, after a kill -9 and a resume, and
for a sweep's grouping; a missing package gives the one-line install hint before anything is made.

A tracker whose package is missing is skipped, except under CI (``CI`` set), where that fails.
"""

from __future__ import annotations

import glob
import importlib.util
import json
import math
import os
import signal
import struct
import subprocess
import sys
import time
import typing
from pathlib import Path

import numpy as np
import pytest
import yaml

from betavae.config import TrainConfig, build_config, load_config
from betavae.errors import BetavaeError
from betavae.experiments.lock import LOCK_FILE
from betavae.experiments.run import train
from betavae.experiments.rundir import read_metrics
from betavae.experiments.trackers import (
    STATE_FILE,
    TRACKERS,
    RunTrackers,
    load_trackers,
    read_state,
    scalars,
)
from betavae.experiments.trackers.base import sweep_name
from betavae.experiments.trackers.mlflow import default_uri
from betavae.shipped import shipped_path
from tests.conftest import tiny_tree
from tests.vsa.conftest import TINY_OVERRIDES as VSA_TINY

load_trackers()
NAMES = TRACKERS.names()


def require(name: str) -> None:
    module = TRACKERS.get(name).module
    if importlib.util.find_spec(module) is None:
        if os.environ.get("CI"):
            pytest.fail(f"{module} is not installed but CI is set: install betavae[trackers]")
        pytest.skip(f"{module} is not installed (pip install 'betavae[{TRACKERS.get(name).extra}]')")


@pytest.fixture(autouse=True)
def _local_trackers(monkeypatch):
    """Nothing reaches a user's tracker settings (a set MLFLOW_TRACKING_URI, WANDB_MODE=online)."""
    for var in ("MLFLOW_TRACKING_URI", "WANDB_MODE", "WANDB_PROJECT", "WANDB_DIR"):
        monkeypatch.delenv(var, raising=False)


# ---------------------------------------------------------------- readers (each tracker's own)


def read_tensorboard(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """Scalars as TensorBoard's server reads them (plugin accumulator: applies the purge marker)."""
    from tensorboard.backend.event_processing.plugin_event_accumulator import EventAccumulator
    from tensorboard.util import tensor_util

    acc = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"tensors": 0})
    acc.Reload()
    return {tag: [(e.step, float(tensor_util.make_ndarray(e.tensor_proto))) for e in acc.Tensors(tag)]
            for tag in acc.Tags()["tensors"] if acc.SummaryMetadata(tag).plugin_data.plugin_name == "scalars"}


def mlflow_client(run_dir: Path):
    from mlflow import MlflowClient

    run = read_state(run_dir)["mlflow"]["run"]
    os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")  # as for bvae: MLflow 3 asks for it
    return MlflowClient(tracking_uri=run["uri"]), run["run_id"]


def read_mlflow(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    client, run_id = mlflow_client(run_dir)
    keys = client.get_run(run_id).data.metrics
    return {k: sorted((m.step, m.value) for m in client.get_metric_history(run_id, k)) for k in keys}


def wandb_records(run_dir: Path) -> list:
    """Every record of the run's offline ``.wandb`` files (one per session, in session order),
    parsed with W&B's own protobuf ``Record``. wandb ≥ 0.2x ships no Python reader of the file,
    so its framing (LevelDB log: 32 KiB blocks of records with a 7-byte header) is read here."""
    from wandb.proto import wandb_internal_pb2

    run_id = read_state(run_dir)["wandb"]["run"]["id"]
    records = []
    for path in sorted(glob.glob(str(run_dir / "wandb" / f"offline-run-*-{run_id}" / f"run-{run_id}.wandb"))):
        data = Path(path).read_bytes()
        assert data[:4] == b":W&B"
        pos, chunks = 7, b""
        while pos + 7 <= len(data):
            block_left = 32768 - pos % 32768
            if block_left < 7:
                pos += block_left
                continue
            _, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
            if kind == 0:
                pos += block_left
                continue
            chunks += data[pos + 7:pos + 7 + length]
            pos += 7 + length
            if kind in (1, 4):  # FULL, LAST
                record = wandb_internal_pb2.Record()
                record.ParseFromString(chunks)
                records.append(record)
                chunks = b""
    return records


def read_wandb(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    out: dict[str, list[tuple[int, float]]] = {}
    for record in wandb_records(run_dir):
        if record.WhichOneof("record_type") != "history":
            continue
        for item in record.history.item:
            if len(item.nested_key) > 1:  # a field of an image: not a scalar
                continue
            key, value = item.key or item.nested_key[0], json.loads(item.value_json)
            if not key.startswith("_") and isinstance(value, (int, float)):
                out.setdefault(key, []).append((record.history.step.num, float(value)))
    return out


READERS = {"tensorboard": read_tensorboard, "mlflow": read_mlflow, "wandb": read_wandb}


def expected(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    out: dict[str, list[tuple[int, float]]] = {}
    for row in read_metrics(run_dir):
        for key, value in scalars(row).items():
            out.setdefault(key, []).append((row["step"], value))
    return out


def assert_same(got: dict, want: dict) -> None:
    assert sorted(got) == sorted(want)
    for key in want:
        assert [s for s, _ in got[key]] == [s for s, _ in want[key]], key  # every step once, in order
        for (_, a), (_, b) in zip(got[key], want[key], strict=True):
            assert a == b or (math.isnan(a) and math.isnan(b)), (key, a, b)


# ---------------------------------------------------------------- tests


def test_config_names_are_the_registered_trackers():
    (args,) = typing.get_args(TrainConfig.model_fields["trackers"].annotation)
    assert sorted(typing.get_args(args)) == NAMES == ["mlflow", "tensorboard", "wandb"]
    with pytest.raises(BetavaeError, match="each tracker at most once"):
        build_config(tiny_tree(trackers=["mlflow", "mlflow"]))


@pytest.mark.parametrize("name", NAMES)
def test_missing_package_gives_the_install_hint_before_any_folder(name, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, TRACKERS.get(name).module, None)  # `import` raises ImportError
    with pytest.raises(BetavaeError) as err:
        train(build_config(tiny_tree(trackers=[name])), tmp_path / "runs")
    extra = {"tensorboard": "tb", "mlflow": "mlflow", "wandb": "wandb"}[name]
    assert str(err.value) == (f"train.trackers: {name} needs the {TRACKERS.get(name).package} package; "
                              f"install it with `pip install 'betavae[{extra}]'`")
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("name", NAMES)
def test_logged_scalars_equal_metrics_jsonl(name, tmp_path, monkeypatch):
    require(name)
    monkeypatch.chdir(tmp_path)
    run_dir = train(build_config(tiny_tree(trackers=[name])), tmp_path / "runs")
    want = expected(run_dir)
    assert [s for s, _ in want["loss"]] == list(range(2, 13, 2)) and "kl_per_dim/3" in want and "lr" in want
    assert_same(READERS[name](run_dir), want)
    assert read_state(run_dir)[name]["logged_through"] == 12
    config = build_config(tiny_tree(trackers=[name]))
    if name == "mlflow":
        client, run_id = mlflow_client(run_dir)
        run = client.get_run(run_id)
        assert run.info.status == "FINISHED" and run.info.run_name == run_dir.name
        assert run.data.params["train.lr"] == "0.001" and run.data.params["model.latent_dim"] == "4"
        assert read_state(run_dir)["mlflow"]["run"]["uri"] == (tmp_path / "mlruns").as_uri()
    if name == "wandb":
        run = next(r.run for r in wandb_records(run_dir) if r.WhichOneof("record_type") == "run")
        got = {item.key: json.loads(item.value_json) for item in run.config.update}
        assert {k: got[k] for k in config.to_dict()} == config.to_dict() and run.display_name == run_dir.name
    if name == "tensorboard":
        assert list((run_dir / "tensorboard").glob("events.out.tfevents.*"))


@pytest.mark.parametrize("name", NAMES)
def test_a_vsa_run_is_tracked_too(name, tmp_path, monkeypatch):
    """Every system trains through the one trainer: the VSA shipped config, tiny."""
    require(name)
    monkeypatch.chdir(tmp_path)
    config = load_config(shipped_path("vsa_paired"), [*VSA_TINY, "train.steps=3", f"train.trackers=[{name}]"])
    run_dir = train(config, tmp_path / "runs")
    want = expected(run_dir)
    assert [s for s, _ in want["loss"]] == [1, 2, 3] and "swap" in want  # the VSA objective's own term
    assert_same(READERS[name](run_dir), want)


def _bvae(args, cwd):
    # not this process's W&B service (WANDB_SERVICE, set by the tests above): each `bvae` its own
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("WANDB_")},
           "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    return subprocess.Popen([sys.executable, "-m", "betavae.cli", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.mark.slow
def test_kill_9_then_resume_logs_every_step_once(tmp_path):
    """`bvae train` with every tracker killed with SIGKILL after a checkpoint and after rows past
    it; `bvae train --resume`; each tracker then holds each step once, equal to metrics.jsonl."""
    for name in NAMES:
        require(name)
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(tiny_tree(steps=120, checkpoint_every=10, trackers=NAMES)))
    killed = _bvae(["train", str(config), "--runs-dir", "runs"], tmp_path)
    run_dir, ckpt = None, 0
    while killed.poll() is None:
        found = list((tmp_path / "runs").glob("*/state.pt"))
        if found:
            run_dir = found[0].parent
            rows = read_metrics(run_dir)
            if rows and rows[-1]["step"] >= 20 and rows[-1]["step"] % 10:  # rows past a checkpoint
                killed.send_signal(signal.SIGKILL)
                break
        time.sleep(0.02)
    killed.wait()
    assert run_dir is not None and killed.returncode == -signal.SIGKILL, killed.stdout.read()
    import torch

    ckpt = torch.load(run_dir / "state.pt", weights_only=True)["step"]
    assert read_metrics(run_dir)[-1]["step"] > ckpt  # the resume must drop rows past the checkpoint
    resumed = _bvae(["train", "--resume", str(run_dir)], tmp_path)
    assert resumed.wait(timeout=600) == 0, resumed.stdout.read()
    want = expected(run_dir)
    assert [s for s, _ in want["loss"]] == list(range(2, 121, 2))
    for name in NAMES:
        assert_same(READERS[name](run_dir), want)
    client, run_id = mlflow_client(run_dir)
    assert client.get_run(run_id).info.status == "FINISHED"
    # W&B is durable only once closed: the killed session's fragment was replaced by the resumed one
    (fragment,) = (run_dir / "wandb").glob("offline-run-*")
    assert read_state(run_dir)["wandb"] == {"run": {"id": fragment.name.split("-")[-1], "mode": "offline",
                                                    "fragment": fragment.name}, "logged_through": 120, "open": False}


def test_a_sweeps_runs_are_grouped_by_the_sweep(tmp_path):
    sweep = tmp_path / "runs" / "my-sweep"
    (sweep / "a-1-s0").mkdir(parents=True)
    (tmp_path / "runs" / "b-2-s0").mkdir()
    assert sweep_name(sweep / "a-1-s0") is None
    (sweep / LOCK_FILE).touch()
    assert sweep_name(sweep / "a-1-s0") == "my-sweep" and sweep_name(tmp_path / "runs" / "b-2-s0") is None
    # both land in one MLflow store beside runs/
    assert default_uri(sweep / "a-1-s0") == default_uri(tmp_path / "runs" / "b-2-s0") == (tmp_path / "mlruns").as_uri()


@pytest.mark.parametrize("name", NAMES)
def test_report_figures_are_logged_as_images(name, tmp_path):
    require(name)
    import imageio.v3 as iio

    run_dir = tmp_path / "runs" / "my-sweep" / "r-1-s0"
    (run_dir / "report" / "sub").mkdir(parents=True)
    (run_dir.parent / LOCK_FILE).touch()
    png = np.zeros((6, 5, 3), np.uint8)
    png[1, 2] = (255, 0, 0)
    iio.imwrite(run_dir / "report" / "curves.png", png)
    iio.imwrite(run_dir / "report" / "sub" / "traverse.gif", np.stack([png, 255 - png]), loop=0)
    trackers = RunTrackers([name], run_dir, {"train": {"lr": 0.5}})
    trackers.start(0)
    trackers.log({"step": 1, "loss": 2.5, "time": 1.0})
    trackers.commit(1)
    trackers.images(run_dir / "report")
    trackers.close("finished")
    assert read_state(run_dir)[name]["logged_through"] == 1 and (run_dir / STATE_FILE).is_file()
    assert READERS[name](run_dir) == {"loss": [(1, 2.5)]}
    if name == "tensorboard":
        from tensorboard.backend.event_processing.plugin_event_accumulator import EventAccumulator
        from tensorboard.util import tensor_util

        acc = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"tensors": 0})
        acc.Reload()
        (event,) = acc.Tensors("report/curves.png")
        width, height, encoded = tensor_util.make_ndarray(event.tensor_proto)
        assert (int(width), int(height)) == (5, 6) and np.array_equal(iio.imread(encoded), png)
        assert "report/sub/traverse.gif" in acc.Tags()["tensors"]
    if name == "mlflow":
        client, run_id = mlflow_client(run_dir)
        assert client.get_experiment(client.get_run(run_id).info.experiment_id).name == "my-sweep"
        assert [f.path for f in client.list_artifacts(run_id, "report")] == ["report/curves.png", "report/sub"]
        assert [f.path for f in client.list_artifacts(run_id, "report/sub")] == ["report/sub/traverse.gif"]
    if name == "wandb":
        records = wandb_records(run_dir)
        run = next(r.run for r in records if r.WhichOneof("record_type") == "run")
        assert run.run_group == "my-sweep" and run.display_name == run_dir.name
        images: dict[str, dict] = {}
        for r in records:
            for i in r.history.item if r.WhichOneof("record_type") == "history" else ():
                if len(i.nested_key) > 1:
                    images.setdefault(i.nested_key[0], {})[i.nested_key[1]] = json.loads(i.value_json)
        assert images["report/curves.png"]["_type"] == "image-file"
        assert (images["report/curves.png"]["width"], images["report/curves.png"]["height"]) == (5, 6)
        assert "report/sub/traverse.gif" in images
