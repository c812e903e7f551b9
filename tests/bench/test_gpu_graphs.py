"""bench/gpu_graphs.py before it meets a GPU: the eager step of both models runs on the CPU, trains
(its loss falls), writes its figures, and the GPU-only variants say they were skipped."""

from __future__ import annotations

import json
import math

import pytest

from .scripts import load_bench


@pytest.mark.parametrize("config", ["quick", "table1"])
def test_eager_step_runs_on_the_cpu_and_the_graph_is_skipped(tmp_path, config):
    graphs = load_bench("gpu_graphs")
    out = tmp_path / "g.json"
    first = graphs.main(["--device", "cpu", "--config", config, "--steps", "1", "--warmup", "0"])
    found = graphs.main(["--device", "cpu", "--config", config, "--steps", "25", "--warmup", "0", "--batches", "4",
                         "--json", str(out)])
    assert json.loads(out.read_text()) == json.loads(json.dumps(found))
    assert found["eager"]["steps_per_s"] > 0 and found["eager"]["vs_eager"] == 1.0
    # the mean loss of the 25 steps is below the first step's: the bare step trains
    assert math.isfinite(found["eager"]["last50_loss"]) and found["eager"]["last50_loss"] < first["eager"]["last50_loss"]
    assert found["eager-capturable"] == found["graph"] == {"skipped": "needs CUDA"}


def test_bad_arguments_are_one_line_errors(capsys):
    graphs = load_bench("gpu_graphs")
    import torch

    if not torch.cuda.is_available():
        with pytest.raises(SystemExit) as exit_info:
            graphs.main(["--device", "cuda"])
        assert exit_info.value.code == 2 and "CUDA is not available here" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        graphs.main(["--device", "cpu", "--steps", "0"])
    assert "--steps and --batches must be ≥ 1" in capsys.readouterr().err
