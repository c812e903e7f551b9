"""docs/studies/keep_runs.py: finished runs are kept without weights; copied back, the sweep only reports them."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

from betavae.experiments.executors import work_needed

SCRIPT = Path(__file__).resolve().parents[1] / "docs" / "studies" / "keep_runs.py"
spec = importlib.util.spec_from_file_location("keep_runs", SCRIPT)
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)


def _run(folder: Path, status: str, measured: bool) -> None:
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text("name: x\n")
    (folder / "meta.json").write_text(json.dumps({"status": status}))
    (folder / "metrics.jsonl").write_text('{"step": 1}\n')
    (folder / "weights.safetensors").write_bytes(b"w" * 100)
    (folder / "state.pt").write_bytes(b"s" * 100)
    if measured:
        (folder / "eval.json").write_text('{"values": {}}')
        (folder / "report.html").write_text("<html></html>")


def test_keeps_finished_runs_without_weights_and_the_sweep_skips_them(tmp_path):
    sweep = tmp_path / "sweep"
    _run(sweep / "done-s0", "finished", True)
    _run(sweep / "training-s0", "running", False)
    _run(sweep / "unmeasured-s0", "finished", False)
    assert mod.keep(sweep, tmp_path / "kept") == ["done-s0"]
    kept = tmp_path / "kept" / "done-s0"
    assert sorted(p.name for p in kept.iterdir()) == ["config.yaml", "eval.json", "meta.json", "metrics.jsonl"]
    fresh = tmp_path / "next-session"
    shutil.copytree(tmp_path / "kept", fresh)
    assert work_needed(fresh / "done-s0", evaluate=True, report=True) == "report"  # neither trained nor measured again
