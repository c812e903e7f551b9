"""The zoo's pure rules: plateau, row thinning, retraining commands, float16 storage."""

from __future__ import annotations

import pytest
import torch
import yaml

from betavae.config import build_config, load_config
from betavae.errors import BetavaeError
from betavae.shipped import shipped_path
from betavae.zoo.add import store_weights
from betavae.zoo.card import thin_rows, wall_seconds
from betavae.zoo.plateau import plateau
from betavae.zoo.retrain import format_value, from_argv, parse_retrain, retrain_command

from ..conftest import tiny_tree


def rows(recon, steps=None, **scores):
    steps = steps or list(range(10, 10 * len(recon) + 1, 10))
    out = [{"step": s, "recon": r} for s, r in zip(steps, recon, strict=True)]
    for key, values in scores.items():
        for row, v in zip(out, values, strict=True):
            if v is not None:
                row[f"eval.{key}"] = v
    return out


def test_plateau_flat_falling_rising_and_unknown():
    flat = plateau(rows([100.0] * 100))
    assert flat["plateaued"] is True and flat["reasons"] == [] and flat["recon"]["relative_fall"] == 0.0
    # steps 10..1000: window A = (800, 900] (recon 100), B = (900, 1000] (recon 95): a 5 % fall
    falling = plateau(rows([100.0] * 90 + [95.0] * 10))
    assert falling["plateaued"] is False and falling["recon"]["relative_fall"] == pytest.approx(0.05)
    assert falling["reasons"] == ["reconstruction NLL fell 5.00 % over the last 10 % of the steps "
                                  "(100.00 → 95.00 nats; tolerance 1 %)"]
    assert plateau(rows([100.0] * 90 + [99.5] * 10))["plateaued"] is True  # 0.5 % < 1 %
    mig = [None] * 100
    mig[84], mig[89], mig[94], mig[99] = 0.20, 0.20, 0.25, 0.27  # A mean 0.20, B mean 0.26
    rising = plateau(rows([100.0] * 100, mig=mig))
    assert rising["plateaued"] is False and rising["scores"]["eval.mig"]["rise"] == pytest.approx(0.06)
    mig[94], mig[99] = 0.21, 0.20  # +0.005 < 0.02
    assert plateau(rows([100.0] * 100, mig=mig))["plateaued"] is True
    # too few rows: nothing in (0.8 S, 0.9 S]
    few = plateau(rows([100.0, 90.0], steps=[10, 20]))
    assert few["plateaued"] is None and few["recon"] is None
    assert plateau([])["plateaued"] is None


def test_plateau_of_another_reconstruction_term_without_the_eval_rows():
    """A vsa run logs its reconstruction as ``image``; a multimodal run's eval.* rows are KLs in
    nats (they may rise as the model learns), which the rule leaves out with rising_scores=False."""
    vsa = [{"step": r["step"], "image": r["recon"]} for r in rows([100.0] * 90 + [95.0] * 10)]
    assert plateau(vsa)["plateaued"] is None  # no "recon" rows
    assert plateau(vsa, "image")["plateaued"] is False
    measures = [None] * 100
    measures[84], measures[89], measures[94], measures[99] = 1.0, 1.0, 7.0, 9.0
    mm = rows([100.0] * 100, sme_mod=measures)
    assert plateau(mm)["plateaued"] is False
    assert plateau(mm, rising_scores=False) == {**plateau(rows([100.0] * 100)), "plateaued": True}


def test_thin_rows_keeps_eval_rows_and_the_last():
    rs = rows([1.0] * 1000, mig=[0.5 if i % 97 == 0 else None for i in range(1000)])
    kept = thin_rows(rs, 100)
    assert kept[0] is rs[0] and kept[-1] is rs[-1]
    assert [r for r in rs if "eval.mig" in r] == [r for r in kept if "eval.mig" in r]
    assert 100 <= len(kept) <= 100 + 11 and [r["step"] for r in kept] == sorted(r["step"] for r in kept)
    assert thin_rows(rs[:50], 100) == rs[:50]


def test_wall_seconds_sums_sessions():
    meta = {"sessions": [{"start": "2026-01-01T00:00:00+00:00", "end": "2026-01-01T00:01:00+00:00"},
                         {"start": "2026-01-02T00:00:00+00:00", "end": "2026-01-02T00:00:30+00:00"}]}
    assert wall_seconds(meta) == 90.0
    assert wall_seconds({"start_time": "2026-01-01T00:00:00+00:00", "end_time": "2026-01-01T01:00:00+00:00"}) == 3600
    assert wall_seconds({}) is None


@pytest.mark.parametrize("value", [1e-05, 0.0001, 4.0, 3, True, None, "dsprites", "1e-3", "yes", [0.9, 0.999], []])
def test_format_value_parses_back(value):
    parsed = yaml.safe_load(format_value(value))
    assert parsed == value and type(parsed) is type(value)


def test_retrain_from_argv_and_from_the_diff():
    config = load_config(shipped_path("dsprites_beta_h"), ["objective.beta=16", "train.steps=2000", "seed=2"])
    argv = ["/venv/bin/bvae", "train", "src/betavae/configs/dsprites_beta_h.yaml", "objective.beta=16",
            "--runs-dir", "runs", "train.steps=2000", "--no-progress", "seed=2"]
    assert from_argv(argv) == "bvae train dsprites_beta_h objective.beta=16 train.steps=2000 seed=2"
    assert retrain_command(config, {"argv": argv}) == (
        "bvae train dsprites_beta_h objective.beta=16 train.steps=2000 seed=2",
        "the run's command line (meta.json argv)")
    assert from_argv(["bvae", "train", "dsprites_beta_h", "--seeds", "0-3"]) is None
    assert from_argv(["bvae", "train", "/tmp/mine.yaml"]) is None
    # a sweep's run (no train argv): the difference from the shipped base, same resolved config
    command, how = retrain_command(config, {"argv": ["bvae", "sweep", "x"]})
    assert how == "the difference from the shipped config" and command.startswith("bvae train dsprites_beta_h ")
    assert parse_retrain(command).to_dict() == config.to_dict()
    tiny = build_config(tiny_tree(lr=1e-05))
    command, _ = retrain_command(tiny, {})
    assert "train.lr=1.0e-05" in command and parse_retrain(command).to_dict() == tiny.to_dict()
    # an argv that does not reproduce the config (the shipped file changed since) is not used
    assert retrain_command(tiny, {"argv": ["bvae", "train", "dsprites_quick"]})[1] == \
        "the difference from the shipped config"
    with pytest.raises(BetavaeError, match="not a `bvae train` command"):
        parse_retrain("bvae sweep x")


def test_store_weights_float16_and_bfloat16_for_large_values(tmp_path):
    from safetensors import safe_open

    small = {"w": torch.tensor([1.0, -2.5, 1e-3]), "n": torch.tensor([3])}
    info = store_weights(small, tmp_path / "a.safetensors", {"step": "1"})
    change = abs(float(torch.tensor(1e-3)) - float(torch.tensor(1e-3).half()))  # the only value float16 rounds
    assert info == {"dtype": "float16", "parameters": 3, "max_abs_change": change}
    big = {"w": torch.tensor([1.0, 1e5])}
    assert store_weights(big, tmp_path / "b.safetensors", {})["dtype"] == "bfloat16"
    with safe_open(tmp_path / "a.safetensors", "pt") as fh:
        assert fh.get_tensor("w").dtype == torch.float16 and fh.get_tensor("n").dtype == torch.int64
        assert fh.metadata()["stored_dtype"] == "torch.float16"
