"""Configs: validation messages, overrides, shorthand, hashing, shipped configs."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from betavae.config import RunConfig, build_config, load_config, parse_override
from betavae.errors import BetavaeError
from betavae.shipped import SHIPPED_DIR as SHIPPED


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


# ---------------------------------------------------------------- ranges (issue 18)

#: names of numbers that are weights, capacities, rates, counts, sizes or seeds: never negative
RANGED = re.compile(r"(^|_)(beta|betas|gamma|alpha|weight|weights|lr|steps|batch|capacity|rate|epochs|"
                    r"seed|seeds|noise|sigma|theta|every|lam|kld|cosine|fraction|threads|workers|hidden|"
                    r"dim|size|n|count|max|min|p|iou|swap|decay|clip|damping|gain|tau|length|total|cycles)"
                    r"(_|$)")
#: signed by nature: positions, angles' limits, log-variances, offsets of a shape
SIGNED = {"q_low", "q_high", "look_at", "key_x0", "key_y", "init_s_kl", "init_s_recon", "heart_y0",
          "start", "end", "value_", "max", "tail", "margin",
          "n_min", "n_max"}  # (vsa scene sizes: one model validator checks 2 <= n_min <= n_max <= 5)


def _config_models() -> list[type]:
    import importlib
    import pkgutil

    from pydantic import BaseModel

    import betavae

    for info in pkgutil.walk_packages(betavae.__path__, "betavae."):
        importlib.import_module(info.name)
    found, todo = [], list(BaseModel.__subclasses__())
    while todo:
        cls = todo.pop()
        todo += cls.__subclasses__()
        if cls.__module__.startswith("betavae."):
            found.append(cls)
    return found


def _lower_bound(annotation: Any, metadata: list[Any]) -> float | None:
    """The smallest value the type admits (None: unbounded below); for containers, of each item."""
    import types
    import typing

    import annotated_types as at
    from pydantic.fields import FieldInfo

    metadata = [x for m in metadata for x in (m.metadata if isinstance(m, FieldInfo) else [m])]
    bounds = [m.ge for m in metadata if isinstance(m, at.Ge)] + [m.gt for m in metadata if isinstance(m, at.Gt)]
    if bounds:
        return max(bounds)
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        base, *meta = typing.get_args(annotation)
        return _lower_bound(base, [*meta, *metadata])
    if origin in (typing.Union, types.UnionType, list, tuple, dict):
        items = [a for a in typing.get_args(annotation) if a not in (type(None), Ellipsis, str)]
        lows = [_lower_bound(a, []) for a in items]
        return None if any(v is None for v in lows) else min(lows)
    return None


def _numeric(annotation: Any) -> bool:
    import typing

    if annotation in (int, float):
        return True
    return any(_numeric(a) for a in typing.get_args(annotation))


def test_every_weight_rate_count_and_seed_of_every_config_has_a_lower_bound():
    missing = []
    models = _config_models()
    assert len(models) > 40  # run, sweep, multimodal, crossmodal, vsa, components
    for cls in models:
        for name, field in cls.model_fields.items():
            if name in SIGNED or not RANGED.search(name) or not _numeric(field.annotation):
                continue
            low = _lower_bound(field.annotation, field.metadata)
            if low is None or low < 0:
                missing.append(f"{cls.__module__}.{cls.__name__}.{name}")
    assert missing == []


def test_every_weight_schedule_of_every_objective_refuses_negative_values():
    from betavae.objectives import OBJECTIVES
    from betavae.schedules import Schedule

    checked = 0
    for kind in OBJECTIVES.names():
        cls = OBJECTIVES.get(kind)
        for name, field in cls.model_fields.items():
            default = field.get_default(call_default_factory=True)
            if not isinstance(default, Schedule):
                continue
            for bad in (-1, {"kind": "linear", "start": -2, "end": 4}):
                with pytest.raises(BetavaeError) as err:
                    build_config({"objective": {"kind": kind, name: bad}})
                assert f"objective.{name}:" in str(err.value) and "must be >= 0" in str(err.value)
            build_config({"objective": {"kind": kind, name: 0}})  # zero is allowed
            checked += 1
    assert checked >= 8  # beta, betatcvae α/β/γ, capacity γ/C, factorvae γ, per_latent β


@pytest.mark.parametrize(("override", "key"), [
    ("objective.beta=-1", "objective.beta"),
    ("train.lr=-0.1", "train.lr"),
    ("train.batch_size=0", "train.batch_size"),
    ("train.adam_betas=[0.9,1.5]", "train.adam_betas.1"),
    ("seed=-3", "seed"),
])
def test_out_of_range_values_are_refused_at_load_with_the_key_named(override, key):
    with pytest.raises(BetavaeError) as err:
        load_config(None, [override])
    assert f"{key}:" in str(err.value)


def test_capacity_schedule_refuses_a_negative_capacity():
    with pytest.raises(BetavaeError, match=r"objective.capacity.c_max: .*greater than or equal to 0"):
        build_config({"objective": {"kind": "capacity", "capacity": {"kind": "capacity", "c_max": -5}}})


def test_the_fast_yaml_loader_reads_every_shipped_and_kept_config_as_the_python_one():
    """``read_yaml`` uses libyaml's loader where PyYAML has it: the values must equal the pure-Python
    safe loader's on every shipped config and every config kept in docs/."""
    from betavae.config import SAFE_LOADER, read_yaml

    root = Path(__file__).parents[2]
    files = sorted((root / "src" / "betavae" / "configs").glob("*.yaml")) + sorted((root / "docs").rglob("*.yaml"))
    assert len(files) > 40
    for f in files:
        assert read_yaml(f) == (yaml.load(f.read_text(encoding="utf-8"), Loader=yaml.SafeLoader) or {}), f
    assert SAFE_LOADER is getattr(yaml, "CSafeLoader", yaml.SafeLoader)
