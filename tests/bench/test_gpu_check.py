"""bench/gpu_check.py works before it meets a GPU: its tiny CPU version runs every kind of check."""

from __future__ import annotations

import json
import math

import pytest

from .scripts import load_bench


def load_script():
    return load_bench("gpu_check")


@pytest.mark.slow
def test_tiny_cpu_version_runs_each_system_and_reports_numbers(tmp_path):
    gpu_check = load_script()
    out = tmp_path / "gpu.json"
    only = "env,dsprites:plain,ensemble,multimodal:float32,crossmodal:fast,vsa,metrics"
    assert gpu_check.main(["--tiny", "--only", only, "--json", str(out)]) == 0
    rows = json.loads(out.read_text())
    assert set(rows) == set(only.split(","))
    assert not [name for name, row in rows.items() if "error" in row]
    assert rows["env"]["cuda_available"] in (True, False)
    assert rows["dsprites:plain"]["steps"] == 4 and rows["dsprites:plain"]["steps_per_s"] > 0
    assert math.isfinite(rows["dsprites:plain"]["loss"])
    assert rows["ensemble"]["single_steps_per_s"] > 0
    assert {"K=2", "K=3"} <= set(rows["ensemble"]) and rows["ensemble"]["K=3"]["member_steps_per_s"] > 0
    assert rows["multimodal:float32"]["seeds"] == 2 and rows["multimodal:float32"]["member_epochs_per_s"] > 0
    assert rows["crossmodal:fast"]["members"] == 2 and math.isfinite(rows["crossmodal:fast"]["final_loss_mean"])
    assert {"pd", "sd", "psd"} <= set(rows["vsa"]) and all(rows["vsa"][s]["steps_per_s"] > 0 for s in ("pd", "sd", "psd"))
    assert 0 <= rows["metrics"]["mig"] <= 1


def test_a_failing_check_is_reported_and_the_others_still_run(tmp_path, monkeypatch):
    gpu_check = load_script()
    row = gpu_check.run_child("no-such-check", tiny=True, limit=120)
    assert row["error"].startswith("KeyError")
