"""Run configuration: pydantic v2 models (frozen, unknown keys forbidden), YAML, dotted overrides.

A run is described by one :class:`RunConfig`. ``load_config(path, overrides)`` reads YAML,
applies ``a.b.c=value`` overrides (values parsed as YAML scalars/lists), validates, and turns
every validation problem into one :class:`~betavae.errors.BetavaeError` that names the key, what
was wrong and, for unknown keys, the allowed ones.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveFloat,
    PositiveInt,
    ValidationError,
    field_validator,
    model_validator,
)

from betavae.bounds import AdamBeta
from betavae.components import REGISTRY_FOR_BASE, component_field
from betavae.data import DATA
from betavae.data.base import DataConfig
from betavae.errors import BetavaeError
from betavae.models import MODELS
from betavae.models.base import ModelConfig
from betavae.objectives import OBJECTIVES
from betavae.objectives.base import ObjectiveConfig
from betavae.registry import import_modules
from betavae.train.stopping import check_names as check_stop_names
from betavae.train.stopping import check_task as check_stop_task


def load_components() -> None:
    """Import every module of ``betavae.data``, ``betavae.models`` and ``betavae.objectives``, so
    every registered data source, model and objective is known (idempotent)."""
    for package in ("betavae.data", "betavae.models", "betavae.objectives"):
        import_modules(package)


load_components()

DataField = component_field(DATA, DataConfig, default_kind="dsprites")
ModelField = component_field(MODELS, ModelConfig, default_kind="burgess")
ObjectiveField = component_field(OBJECTIVES, ObjectiveConfig, default_kind="beta")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LRSchedule(Strict):
    """The learning rate over a run's optimiser steps: ``constant`` (``train.lr``) or ``onecycle``
    (Smith & Topin 2019, PyTorch's ``OneCycleLR`` with its defaults: cosine warm-up over 30 % of
    the steps from max_lr/25 to ``max_lr``, then cosine decay to max_lr/25e4; stepped every step)."""

    kind: Literal["constant", "onecycle"] = "constant"
    max_lr: PositiveFloat | None = None

    @model_validator(mode="after")
    def _max_lr(self) -> LRSchedule:
        if self.kind == "onecycle" and self.max_lr is None:
            raise ValueError("lr_schedule.kind=onecycle needs lr_schedule.max_lr")
        if self.kind == "constant" and self.max_lr is not None:
            raise ValueError("lr_schedule.max_lr is only read by kind=onecycle")
        return self

    def build(self, optimizer: Any, total_steps: int) -> Any:
        """The scheduler the loop steps after every optimiser step (None for ``constant``)."""
        if self.kind == "constant":
            return None
        import torch

        return torch.optim.lr_scheduler.OneCycleLR(optimizer, self.max_lr, total_steps=total_steps)


class TrainConfig(Strict):
    """Optimisation and bookkeeping. Adam defaults follow disentanglement_lib (1e-4, 0.9/0.999).

    A run is ``steps`` optimiser steps, or ``epochs`` passes over the task's data (then
    ``log_every``, ``checkpoint_every`` and ``eval_every`` count epochs, and ``steps`` is null).
    """

    steps: PositiveInt | None = 100_000
    epochs: PositiveInt | None = None
    batch_size: PositiveInt = 64
    lr: PositiveFloat = 1e-4
    adam_betas: tuple[AdamBeta, AdamBeta] = (0.9, 0.999)
    adam_eps: PositiveFloat = 1e-8
    weight_decay: float = Field(0.0, ge=0)
    lr_schedule: LRSchedule = Field(default_factory=LRSchedule)
    #: each member's gradient is clipped to this L2 norm (over all its parameters); null: no clipping
    clip: PositiveFloat | None = None
    log_every: PositiveInt = 100
    checkpoint_every: PositiveInt = 1000
    steps_per_epoch: PositiveInt | None = None
    device: str = "auto"
    deterministic: bool = False
    threads: PositiveInt | None = None
    prefetch: int | None = Field(None, ge=0)
    report: bool = True
    #: plain (eager fp32, bit-reproducible), fast (plain's numerics within float tolerance) or
    #: fastest (adds bf16 autocast); see betavae.train.speed and docs/speed.md
    speed: Literal["plain", "fast", "fastest"] = "fast"
    eval_every: PositiveInt | None = None
    eval_metrics: list[str] = Field(default_factory=lambda: ["mig"])
    eval_preset: Literal["fast", "default"] = "fast"
    #: named early-stopping conditions (betavae.train.stopping), read after each periodic
    #: evaluation (needs eval_every); the first one met ends the run at that step
    stop_when: list[str] = Field(default_factory=list)
    #: experiment trackers that also get every metrics row, the config and the report's figures
    #: (betavae.experiments.trackers; docs/trackers.md); each is an optional extra
    trackers: list[Literal["tensorboard", "mlflow", "wandb"]] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _steps_or_epochs(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("epochs") is not None:
            if data.get("steps") is not None:
                raise ValueError("give train.steps or train.epochs, not both")
            data = {**data, "steps": None}
        return data

    @field_validator("stop_when")
    @classmethod
    def _stop_when(cls, v: list[str]) -> list[str]:
        check_stop_names(v)
        return v

    @field_validator("trackers")
    @classmethod
    def _trackers(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError(f"each tracker at most once, got {v}")
        return v

    @field_validator("device")
    @classmethod
    def _device(cls, v: str) -> str:
        if not re.fullmatch(r"auto|cpu|cuda(:\d+)?|mps", v):
            raise ValueError(f"device must be auto, cpu, cuda, cuda:N or mps, got {v!r}")
        return v

    @model_validator(mode="after")
    def _checkpoint_multiple(self) -> TrainConfig:
        for name in ("checkpoint_every", "eval_every"):
            value = getattr(self, name)
            if value is not None and value % self.log_every:
                raise ValueError(f"{name} ({value}) must be a multiple of log_every ({self.log_every})")
        if self.stop_when and self.eval_every is None:
            raise ValueError("train.stop_when is read after each periodic evaluation; set train.eval_every too")
        return self


#: YAML's safe loader, in C (libyaml, about 10× faster) where PyYAML was built with it: the same
#: constructor, so the same values (tested on every shipped and kept config)
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

#: (dotted key, default) of keys added after run ids were first handed out
HASHED_IF_SET = (("train.epochs", None), ("train.weight_decay", 0.0),
                 ("train.lr_schedule", {"kind": "constant", "max_lr": None}), ("train.clip", None),
                 ("train.trackers", []), ("train.stop_when", []), ("model.likelihood.link", "sigmoid"))


class RunConfig(Strict):
    """Everything that determines a run. Its hash (seed excluded) names the run folder."""

    name: str = "run"
    seed: int = Field(0, ge=0)
    data: DataField = Field(default_factory=lambda: DATA.get("dsprites")())
    model: ModelField = Field(default_factory=lambda: MODELS.get("burgess")())
    objective: ObjectiveField = Field(default_factory=lambda: OBJECTIVES.get("beta")())
    train: TrainConfig = Field(default_factory=TrainConfig)
    version: Literal[1] = 1

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", v):
            raise ValueError(
                "name must be 1-64 characters of letters, digits, '_', '.', '-' (used in folder names)"
            )
        return v

    @model_validator(mode="after")
    def _eval_metrics(self) -> RunConfig:
        """``train.eval_metrics`` must be scores the run's kind of model can be evaluated with."""
        try:
            self.model.check_eval_metrics(self.train.eval_metrics, self.train.eval_every)
        except BetavaeError as exc:
            raise ValueError(f"train.eval_metrics: {exc}") from None
        try:
            check_stop_task(self.train.stop_when, self.model.task)
        except ValueError as exc:
            raise ValueError(f"train.stop_when: {exc}") from None
        return self

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    def config_hash(self) -> str:
        """8 hex digits of SHA-256 over the canonical JSON of the resolved config, seed excluded.

        Keys added after the first release are hashed only when they differ from their default
        (:data:`HASHED_IF_SET`), so a config that does not use them keeps its run id."""
        d = self.to_dict()
        d.pop("seed")
        for dotted, default in HASHED_IF_SET:
            *parents, key = dotted.split(".")
            node = d
            for part in parents:
                node = node.get(part) if isinstance(node, dict) else None
            if isinstance(node, dict) and node.get(key, default) == default:
                node.pop(key, None)
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:8]

    def run_id(self) -> str:
        return f"{self.name}-{self.config_hash()}-s{self.seed}"


# ---------------------------------------------------------------- loading and overrides


def set_dotted(tree: dict[str, Any], dotted: str, value: Any) -> None:
    """Set ``tree[a][b][c] = value`` for ``dotted = "a.b.c"``, creating mappings as needed."""
    keys = dotted.split(".")
    node = tree
    for i, key in enumerate(keys[:-1]):
        child = node.get(key)
        if child is None:
            child = node[key] = {}
        elif not isinstance(child, dict):
            # a shorthand (e.g. beta: 4) being refined with beta.kind=...: start a mapping
            if isinstance(child, (int, float)) and keys[i + 1] != "kind":
                child = node[key] = {"kind": "constant", "value": child}
            else:
                child = node[key] = {}
        node = child
    node[keys[-1]] = value


def parse_override(text: str) -> tuple[str, Any]:
    """``"train.steps=100"`` -> ``("train.steps", 100)``; the value is parsed as YAML."""
    key, sep, raw = text.partition("=")
    if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*", key):
        raise BetavaeError(f"override {text!r} is not of the form dotted.key=value")
    try:
        return key, yaml.load(raw, Loader=SAFE_LOADER) if raw.strip() else ""
    except yaml.YAMLError as exc:
        raise BetavaeError(f"override {text!r}: value is not valid YAML ({exc})") from None


def read_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise BetavaeError(f"config file {path} does not exist")
    try:
        tree = yaml.load(path.read_text(encoding="utf-8"), Loader=SAFE_LOADER)
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise BetavaeError(f"config file {path} is not valid YAML: {first}") from None
    if tree is None:
        return {}
    if not isinstance(tree, dict):
        raise BetavaeError(f"config file {path} must hold a mapping at the top, got {type(tree).__name__}")
    return tree


def build_config(tree: dict[str, Any], source: str = "config") -> RunConfig:
    """Validate a config tree, raising one readable :class:`BetavaeError` on failure."""
    try:
        return RunConfig.model_validate(tree)
    except ValidationError as exc:
        raise BetavaeError(f"{source}: {describe_errors(exc, tree)}") from None


def load_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> RunConfig:
    """Read YAML (or start from defaults), apply dotted overrides, validate.

    A problem with a key that an override set (or a key inside it, or the section it belongs to)
    names the override (``override objective.beta=abc: ...``), not the file: the file is fine.
    """
    tree = read_yaml(path) if path is not None else {}
    parsed = []
    for text in overrides:
        key, value = parse_override(text)
        set_dotted(tree, key, value)
        parsed.append((text, key))
    try:
        return RunConfig.model_validate(tree)
    except ValidationError as exc:
        source = str(path) if path is not None else "config"
        parts = []
        for key, line in error_lines(exc, tree):
            blamed = [text for text, k in parsed if _related(k, key)]
            parts.append(f"{'override ' + ', '.join(blamed) if blamed else source}: {line}")
        raise BetavaeError("; ".join(parts)) from None


def _related(override_key: str, error_key: str) -> bool:
    """Whether an override of ``override_key`` can be the cause of a problem at ``error_key``."""
    return (override_key == error_key or override_key.startswith(error_key + ".")
            or error_key.startswith(override_key + "."))


def describe_errors(exc: ValidationError, tree: dict[str, Any], root: type[BaseModel] | None = None,
                    prefix: str = "") -> str:
    """One line per problem: ``key.path: message`` (+ allowed keys for unknown ones). ``root`` is
    the model that validated ``tree`` (default :class:`RunConfig`); ``prefix`` goes before every key."""
    return "; ".join(line for _, line in error_lines(exc, tree, root, prefix))


def error_lines(exc: ValidationError, tree: dict[str, Any], root: type[BaseModel] | None = None,
                prefix: str = "") -> list[tuple[str, str]]:
    """``(dotted key, readable line)`` for each validation problem."""
    lines = []
    for err in exc.errors():
        loc = [p for p in err["loc"] if not (isinstance(p, str) and "[" in p)]
        key = prefix + ".".join(str(p) for p in loc) or "<top>"
        if err["type"] == "extra_forbidden":
            allowed = allowed_keys(loc[:-1], tree, root)
            hint = f"; allowed keys: {', '.join(allowed)}" if allowed else ""
            lines.append((key, f"unknown key {key!r}{hint}"))
            continue
        msg = err["msg"].removeprefix("Value error, ")
        got = err.get("input")
        if "input" in err and not isinstance(got, dict) and f"got {got!r}" not in msg:
            msg = f"{msg} (got {got!r})"
        lines.append((key, f"{key}: {msg}"))
    return lines


def allowed_keys(loc: list[Any], tree: dict[str, Any], root: type[BaseModel] | None = None) -> list[str]:
    """Field names of the model found at ``loc`` below ``root`` (default :class:`RunConfig`),
    following ``kind`` for components."""
    model: type[BaseModel] | None = root or RunConfig
    node: Any = tree
    for part in loc:
        if model is None or part not in model.model_fields:
            return []
        node = node.get(part, {}) if isinstance(node, dict) else {}
        model = _field_model(model, part, node)
    if model is None:
        return []
    return sorted(f.alias or name for name, f in model.model_fields.items())


def _field_model(model: type[BaseModel], name: str, node: Any) -> type[BaseModel] | None:
    """The model class that validates field ``name`` of ``model`` for the raw value ``node``."""
    annotation = model.model_fields[name].annotation
    if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
        return None
    registry = REGISTRY_FOR_BASE.get(annotation)
    if registry is None:
        return annotation
    kind = node.get("kind") if isinstance(node, dict) else None
    return registry.get(kind) if kind in registry else None
