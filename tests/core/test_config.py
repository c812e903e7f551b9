"""Configs: validation messages, overrides, shorthand, hashing, shipped configs."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from betavae.cli import SHIPPED
from betavae.config import RunConfig, build_config, load_config, parse_override
from betavae.errors import BetavaeError


def test_defaults_are_beta_h_on_dsprites():
    cfg = build_config({})
    assert cfg.data.kind == "dsprites" and cfg.model.kind == "burgess"
    assert cfg.model.latent_dim == 10 and cfg.model.likelihood.kind == "bernoulli"
    assert cfg.objective.kind == "beta" and cfg.objective.beta.value(123) == 4.0
    assert (cfg.train.batch_size, cfg.train.lr, cfg.train.adam_betas) == (64, 1e-4, (0.9, 0.999))


def test_unknown_key_names_it_and_the_allowed_ones():
    with pytest.raises(BetavaeError) as err:
        build_config({"train": {"stepz": 10}})
    msg = str(err.value)
    assert "train.stepz" in msg and "steps" in msg and "batch_size" in msg


def test_unknown_key_inside_a_component():
    with pytest.raises(BetavaeError) as err:
        build_config({"objective": {"kind": "capacity", "gama": 3}})
    msg = str(err.value)
    assert "objective.gama" in msg and "gamma" in msg and "capacity" in msg


def test_unknown_top_level_key():
    with pytest.raises(BetavaeError, match=r"unknown key 'tran'.*train"):
        build_config({"tran": {}})


def test_wrong_type_is_named():
    with pytest.raises(BetavaeError, match=r"train\.steps"):
        build_config({"train": {"steps": "many"}})
    with pytest.raises(BetavaeError, match=r"train\.lr"):
        build_config({"train": {"lr": -1}})


def test_unknown_kind_lists_choices():
    with pytest.raises(BetavaeError, match=r"unknown objective kind 'betta'.*beta.*capacity.*vae"):
        build_config({"objective": {"kind": "betta"}})


def test_checkpoint_must_be_multiple_of_log_every():
    with pytest.raises(BetavaeError, match="multiple"):
        build_config({"train": {"log_every": 3, "checkpoint_every": 10}})


def test_overrides_and_schedule_shorthand(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"objective": {"kind": "beta", "beta": 2}}))
    cfg = load_config(path, ["train.steps=7", "objective.beta.kind=linear", "objective.beta.end=3",
                             "objective.beta.length=10", "seed=5"])
    assert cfg.train.steps == 7 and cfg.seed == 5
    assert cfg.objective.beta.kind == "linear" and cfg.objective.beta.value(5) == pytest.approx(1.5)
    cfg2 = load_config(path, ["objective.beta=6.5"])
    assert cfg2.objective.beta.value(0) == 6.5


def test_bad_override_syntax():
    with pytest.raises(BetavaeError, match="dotted.key=value"):
        parse_override("train.steps")
    with pytest.raises(BetavaeError, match="not valid YAML"):
        parse_override("train.steps=[1,")


def test_malformed_yaml_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: {steps: 3\n")
    with pytest.raises(BetavaeError, match="not valid YAML"):
        load_config(bad)
    lst = tmp_path / "list.yaml"
    lst.write_text("- 1\n- 2\n")
    with pytest.raises(BetavaeError, match="mapping"):
        load_config(lst)
    with pytest.raises(BetavaeError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")


def test_resolved_round_trip_and_hash():
    cfg = build_config({"objective": {"kind": "capacity"}, "seed": 2})
    again = build_config(yaml.safe_load(cfg.to_yaml()))
    assert again == cfg and again.config_hash() == cfg.config_hash()
    # seed is not part of the hash, but is part of the run id
    other_seed = build_config({"objective": {"kind": "capacity"}, "seed": 9})
    assert other_seed.config_hash() == cfg.config_hash() and other_seed.run_id() != cfg.run_id()
    assert cfg.run_id() == f"run-{cfg.config_hash()}-s2"
    changed = build_config({"objective": {"kind": "capacity", "gamma": 100}, "seed": 2})
    assert changed.config_hash() != cfg.config_hash()


def test_config_is_frozen():
    cfg = build_config({})
    with pytest.raises(ValidationError, match="frozen"):
        cfg.train.steps = 3  # type: ignore[misc]


def test_bad_run_name():
    with pytest.raises(BetavaeError, match="name"):
        build_config({"name": "../escape"})


@pytest.mark.parametrize("path", sorted(Path(SHIPPED).glob("dsprites_*.yaml")), ids=lambda p: p.stem)
def test_shipped_configs_validate(path):
    cfg = load_config(path)
    assert isinstance(cfg, RunConfig)


def test_shipped_reference_values():
    burgess = load_config(SHIPPED / "dsprites_capacity_burgess.yaml")
    assert burgess.objective.gamma.value(0) == 1000
    assert burgess.objective.capacity.value(100_000) == 25 and burgess.objective.capacity.value(0) == 0
    cap = load_config(SHIPPED / "dsprites_capacity.yaml")  # the settings that train here (docs/speed.md)
    assert cap.objective.gamma.value(0) == 20
    assert cap.objective.capacity.value(4_000) == 10 and cap.objective.capacity.value(2_000) == 5
    g100 = load_config(SHIPPED / "dsprites_capacity_g100.yaml")
    assert g100.objective.gamma.value(0) == 100
    beta_h = load_config(SHIPPED / "dsprites_beta_h.yaml")
    assert beta_h.objective.beta.value(0) == 4
