"""Sweep files: a base config, a grid (and zipped lists) of dotted keys, seeds -> many runs.

A sweep file (YAML, unknown keys refused)::

    name: beta-study                 # names the sweep directory runs/<name>/ (default)
    base: dsprites_quick             # config path (relative to this file), shipped name, or mapping
    set: {train.steps: 500}          # dotted overrides applied to the base of every run
    grid:                            # dotted key -> list of values: the cartesian product ...
      objective.beta: [1, 4, 16]
      model.latent_dim: [6, 10]
    zip:                             # ... times each group of equal-length lists, varied together
      - {train.lr: [1.0e-4, 5.0e-4], train.batch_size: [64, 128]}
    seeds: [0, 1, 2]                 # (or, without seeds, a zip group {seed: [0, 1], data.seed: [0, 1]})
    evaluate: {metrics: [mig, dci], preset: fast}   # or null: no evaluation (keys: the runs'
                                     # evaluator's, see EvaluateOptions)
    report: true                     # per-run report after evaluation, and the index report
    ensemble: 8                      # train up to 8 runs that differ only in seed (and objective)
                                     # as one batched model in one worker (default: each alone)

``grid`` may also be a list of such mappings (blocks); the runs are the union of the blocks'
products, e.g. one block per objective. Inside a block a value that is not a list is fixed for
the block (to sweep a list-valued key, give a list of lists). Assignments are applied parents
first, so ``objective: {kind: capacity, ...}`` can be refined by ``objective.capacity.c_max``.
Every run is validated before anything runs; its id is ``RunConfig.run_id()`` (resolved config
and seed), so the same file always names the same runs (see :func:`betavae.experiments.study.run_sweep`).
"""

from __future__ import annotations

import copy
import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from betavae.bounds import Seed
from betavae.config import RunConfig, build_config, describe_errors, read_yaml, set_dotted
from betavae.errors import BetavaeError
from betavae.shipped import shipped_path

KEY_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EvaluateOptions(BaseModel):
    """What each run is scored with after training (``eval.json``), read by the evaluator of the
    runs' task (:mod:`betavae.experiments.evaluators`), which checks the keys given when the sweep
    expands. The fields are the image metrics' options; other keys are other evaluators' settings
    (e.g. the vsa evaluator's ``n_items``), and an evaluator refuses keys it does not read."""

    model_config = ConfigDict(extra="allow", frozen=True)

    metrics: list[str] = Field(default_factory=lambda: ["mig"])
    preset: Literal["fast", "default"] = "fast"
    sizes: dict[str, int] | None = None
    seed: Seed = 0
    #: also write the per-factor and per-pair scores (``eval.json``'s ``breakdown``, docs/metrics.md)
    breakdown: bool | None = None


class SweepSpec(_Strict):
    """The contents of a sweep file (see the module docstring)."""

    name: str = Field("sweep", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    base: str | dict[str, Any] = Field(default_factory=dict)
    set: dict[str, Any] = Field(default_factory=dict)
    grid: dict[str, Any] | list[dict[str, Any]] = Field(default_factory=dict)
    zip: list[dict[str, list[Any]]] = Field(default_factory=list)
    seeds: list[Seed] | None = None
    evaluate: EvaluateOptions | None = Field(default_factory=EvaluateOptions)
    report: bool = True
    #: how often a run whose worker process died is started again (it resumes from its checkpoint)
    max_retries: int = Field(2, ge=0)
    #: at most this many runs that differ only in seed and objective train together as one
    #: ensemble (one process, one batched model; see betavae.train.ensemble); null: each alone
    ensemble: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _keys(self) -> SweepSpec:
        blocks = self.blocks()
        zipped = [k for g in self.zip for k in g]
        for key in [*self.set, *(k for b in blocks for k in b), *zipped]:
            if not re.match(KEY_PATTERN, key):
                raise ValueError(f"{key!r} is not a dotted config key (like objective.beta)")
            if key.startswith("seed.") or (key == "seed" and (key not in zipped or self.seeds is not None)):
                raise ValueError("sweep seeds with `seeds: [...]`, not as a grid key (or, without `seeds`, "
                                 "zip `seed` with keys that follow it, such as data.seed)")
        for group in self.zip:
            lengths = {k: len(v) for k, v in group.items()}
            if len(set(lengths.values())) > 1:
                raise ValueError(f"zip group lists must have equal lengths, got {lengths}")
        for block in blocks:
            for key, values in block.items():
                if isinstance(values, list) and not values:
                    raise ValueError(f"grid key {key!r} has an empty list of values")
        return self

    def blocks(self) -> list[dict[str, Any]]:
        return self.grid if isinstance(self.grid, list) else [self.grid]

    def swept_keys(self) -> list[str]:
        """Every dotted key the grid or zip assigns, in file order (the aggregate's columns)."""
        keys: list[str] = []
        for block in [*self.blocks(), *self.zip]:
            keys += [k for k in block if k not in keys]
        return keys


@dataclass(frozen=True)
class PlannedRun:
    """One expanded run: its validated config and the assignments that made it."""

    config: RunConfig
    assignments: dict[str, Any] = field(default_factory=dict)

    @property
    def run_id(self) -> str:
        return self.config.run_id()


@dataclass(frozen=True)
class Sweep:
    """A loaded sweep file: the spec, the base config tree and where it came from."""

    spec: SweepSpec
    base_tree: dict[str, Any]
    source: str = "sweep"

    def expand(self) -> list[PlannedRun]:
        """All runs, validated; raises one :class:`BetavaeError` naming the first bad run."""
        runs: dict[str, PlannedRun] = {}
        for assignments in _assignments(self.spec):
            tree = copy.deepcopy(self.base_tree)
            for key in sorted(self.spec.set, key=lambda k: k.count(".")):
                set_dotted(tree, key, copy.deepcopy(self.spec.set[key]))
            for key in sorted(assignments, key=lambda k: k.count(".")):
                set_dotted(tree, key, copy.deepcopy(assignments[key]))
            for seed in self.spec.seeds if self.spec.seeds is not None else [tree.get("seed", 0)]:
                tree["seed"] = seed
                shown = ", ".join(f"{k}={v!r}" for k, v in {**assignments, "seed": seed}.items())
                try:
                    config = RunConfig.model_validate(tree)
                except ValidationError as exc:
                    raise BetavaeError(
                        f"{self.source}: the run with {shown} is not a valid config: "
                        f"{describe_errors(exc, tree)}"
                    ) from None
                runs.setdefault(config.run_id(), PlannedRun(config, dict(assignments)))
        if not runs:
            raise BetavaeError(f"{self.source}: the sweep expands to no runs")
        if self.spec.evaluate is not None:
            from betavae.experiments.evaluators import evaluator_for

            for task in sorted({r.config.model.task for r in runs.values()}):
                try:
                    evaluator_for(task).check(self.spec.evaluate.model_dump(exclude_unset=True))
                except BetavaeError as exc:
                    raise BetavaeError(f"{self.source}: evaluate: {exc}") from None
        return list(runs.values())


def _assignments(spec: SweepSpec) -> list[dict[str, Any]]:
    """Every combination: union over grid blocks of (block product × zip groups' product)."""
    zip_choices = [
        [dict(zip(group, row, strict=True)) for row in zip(*group.values(), strict=True)]
        for group in spec.zip
    ]
    out: list[dict[str, Any]] = []
    for block in spec.blocks():
        axes = [[(k, x) for x in v] if isinstance(v, list) else [(k, v)] for k, v in block.items()]
        for point in itertools.product(*axes):
            for zipped in itertools.product(*zip_choices):
                combo = dict(point)
                for part in zipped:
                    combo.update(part)
                out.append(combo)
    return out


def load_sweep(path: str | Path) -> Sweep:
    """Read and validate a sweep file and its base config (nothing runs yet)."""
    path = Path(path)
    tree = read_yaml(path)
    try:
        spec = SweepSpec.model_validate(tree)
    except ValidationError as exc:
        raise BetavaeError(f"sweep file {path}: {_describe(exc)}") from None
    return Sweep(spec, resolve_base(spec.base, path.parent), source=str(path))


def sweep_from_dict(tree: dict[str, Any], root: str | Path = ".", source: str = "sweep") -> Sweep:
    """A :class:`Sweep` from a mapping (as in a sweep file); ``root`` resolves a relative base."""
    try:
        spec = SweepSpec.model_validate(tree)
    except ValidationError as exc:
        raise BetavaeError(f"{source}: {_describe(exc)}") from None
    return Sweep(spec, resolve_base(spec.base, Path(root)), source=source)


def resolve_base(base: str | dict[str, Any], root: Path) -> dict[str, Any]:
    """The base config tree: an inline mapping, a path (relative to ``root``) or a shipped name."""
    if isinstance(base, dict):
        tree = copy.deepcopy(base)
    else:
        candidates = [root / base, Path(base), shipped_path(base)]
        found = next((p for p in candidates if p.is_file()), None)
        if found is None:
            raise BetavaeError(f"sweep base {base!r} is neither a config file (looked in {root}) "
                               f"nor a shipped config name")
        tree = read_yaml(found)
    build_config(tree, source=f"sweep base {base if isinstance(base, str) else '(inline)'}")
    return tree


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"]) or "<top>"
        msg = err["msg"].removeprefix("Value error, ")
        parts.append(f"unknown key {key!r}" if err["type"] == "extra_forbidden" else f"{key}: {msg}")
    return "; ".join(parts)
