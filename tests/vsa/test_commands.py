"""``bvae vsa`` through click's CliRunner on the group itself."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from betavae.cli import main
from betavae.errors import BetavaeError
from betavae.vsa.commands import vsa
from betavae.vsa.grid import load_grid, parse_ids

from .conftest import TINY_EVAL_OVERRIDES, TINY_OVERRIDES


def _sets(items):
    return [a for s in items for a in ("-s", s)]


def test_data_command_checks_pairs_and_writes_pictures(tmp_path):
    res = CliRunner().invoke(vsa, ["data", "--kind", "pd", "--n", "40", "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert "factors differing per pair: [1]" in res.output
    assert (tmp_path / "examples.png").is_file() and json.loads((tmp_path / "stats.json").read_text())["n"] == 40
    res = CliRunner().invoke(vsa, ["data", "--kind", "sd", "--n", "12", "--out", str(tmp_path)])
    assert res.exit_code == 0 and "histograms" in json.loads((tmp_path / "stats.json").read_text())


@pytest.mark.parametrize("args, message", [
    (["data", "--feature", "colour"], "unknown dSprites factor 'colour'"),
    (["data", "--kind", "sd", "--n-max", "6"], "2 <= n_min <= n_max <= 5"),
    (["data", "--kind", "sd", "--n-min", "5", "--gap", "30"], "cannot hold 5"),
])
def test_bad_input_is_one_clear_error(args, message):
    res = CliRunner().invoke(vsa, args)
    assert isinstance(res.exception, BetavaeError) and message in str(res.exception)


def test_train_then_eval(tmp_path, capsys):
    assert main(["train", "vsa_paired", "train.steps=2", *TINY_OVERRIDES, "--runs-dir", str(tmp_path)]) == 0
    (run,) = tmp_path.iterdir()
    assert (run / "weights.safetensors").is_file() and json.loads((run / "meta.json").read_text())["step"] == 2
    res = CliRunner().invoke(vsa, ["eval", str(run), *_sets(TINY_EVAL_OVERRIDES)])
    assert res.exit_code == 0, res.output
    assert "vsa.swap.iou" in res.output and (run / "eval.json").is_file()
    res = CliRunner().invoke(vsa, ["eval", str(run), "--no-diagnostics", *_sets(TINY_EVAL_OVERRIDES)])
    assert res.exit_code == 0 and "vsa.swap_acc.changed" in res.output
    res = CliRunner().invoke(vsa, ["eval", str(run), "-s", "eval.n_itmes=3"])
    assert isinstance(res.exception, BetavaeError) and "unknown key 'eval.n_itmes'" in str(res.exception)


def test_grid_prints_the_reported_column_beside_measured(tmp_path):
    spec = load_grid()
    assert len(spec.rows) == 17 and [r.id for r in spec.rows if r.reported == "Good"] == [14, 15, 16]
    args = ["grid", "--out", str(tmp_path), "--rows", "16,14", "--seeds", "0", "--steps", "2",
            *_sets(TINY_OVERRIDES + TINY_EVAL_OVERRIDES)]
    res = CliRunner().invoke(vsa, args)
    assert res.exit_code == 0, res.output
    lines = [ln for ln in res.output.splitlines() if ln.startswith("| 1")]
    assert len(lines) == 2 and "| Good |" in lines[0] and "PSD" in lines[1]
    grid = json.loads((tmp_path / "grid.json").read_text())
    assert [r["row"] for r in grid["records"]] == [14, 16]
    (row14,), (row16,) = tmp_path.glob("row14-*-s0"), tmp_path.glob("row16-*-s0")
    assert [r["run"] for r in grid["records"]] == [row14.name, row16.name]
    mtime = (row14 / "eval.json").stat().st_mtime
    assert (row16 / "weights.safetensors").stat().st_mtime <= mtime  # rows run in the order asked
    assert CliRunner().invoke(vsa, args).exit_code == 0  # finished runs are kept, not retrained
    assert (row14 / "eval.json").stat().st_mtime == mtime


def test_grid_row_selection():
    assert parse_ids("1-3,14", list(range(1, 18))) == [1, 2, 3, 14]
    with pytest.raises(BetavaeError, match="unknown grid row"):
        parse_ids("18", list(range(1, 18)))
