"""Schedules: pure functions of an integer counter (optimiser step or epoch) -> float.

Every schedule is a frozen, serialisable config object (``kind`` + parameters) registered in
:data:`SCHEDULES`. ``values(t)`` is vectorised over an integer array and ``value(t)`` is the
scalar form; ``unit`` says whether the training loop feeds it the step or the 0-based epoch.
Formulas follow ``spec/disentanglement.md`` §3; see ``docs/schedules.md`` for the catalogue.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

import numpy as np
from pydantic import (
    AfterValidator,
    Field,
    PositiveFloat,
    PositiveInt,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from betavae.components import Component, component_field
from betavae.errors import BetavaeError
from betavae.registry import Registry

SCHEDULES: Registry = Registry("schedule")


class Schedule(Component):
    """Base class: subclasses implement :meth:`values` and :meth:`bounds`."""

    unit: Literal["step", "epoch"] = "step"

    def values(self, t: np.ndarray) -> np.ndarray:
        """Schedule values at counters ``t`` (any shape, integers >= 0): float64, same shape."""
        raise NotImplementedError

    def value(self, t: int) -> float:
        """The value at one counter."""
        return float(self.values(np.asarray([t], dtype=np.int64))[0])

    def at(self, step: int, epoch: int) -> float:
        """The value for the current step and epoch, chosen by :attr:`unit`."""
        return self.value(step if self.unit == "step" else epoch)

    def bounds(self) -> tuple[float, float]:
        """Inclusive lower and upper bounds of every value (used by contract tests and plots)."""
        raise NotImplementedError


@SCHEDULES.register("constant")
class Constant(Schedule):
    """β(t) = value."""

    kind: Literal["constant"] = "constant"
    value_: float = Field(0.0, alias="value")

    model_config = {**Schedule.model_config, "populate_by_name": True, "serialize_by_alias": True}

    def values(self, t: np.ndarray) -> np.ndarray:
        return np.full(np.shape(t), self.value_, dtype=np.float64)

    def bounds(self) -> tuple[float, float]:
        return (self.value_, self.value_)


@SCHEDULES.register("linear")
class Linear(Schedule):
    """Linear warm-up (Bowman et al. 2016; Sønderby et al. 2016): start + (end − start)·clip((t − t0)/length, 0, 1)."""

    kind: Literal["linear"] = "linear"
    start: float = 0.0
    end: float = 1.0
    t0: int = Field(0, ge=0)
    length: PositiveInt = 10_000

    def values(self, t: np.ndarray) -> np.ndarray:
        frac = np.clip((np.asarray(t, dtype=np.float64) - self.t0) / self.length, 0.0, 1.0)
        return self.start + (self.end - self.start) * frac

    def bounds(self) -> tuple[float, float]:
        return (min(self.start, self.end), max(self.start, self.end))


@SCHEDULES.register("cyclical")
class Cyclical(Schedule):
    """Cyclical annealing (Fu et al. 2019).

    τ = ((t − t0) mod ⌈T/M⌉) / (T/M); β = β_max·min(1, τ/R) with a linear ramp, or the same
    ramp shaped by a sigmoid (1/(1+e^(−12(τ/R − 0.5)))) or a half cosine (½(1 − cos πτ/R)).
    Before t0 the value is 0.
    """

    kind: Literal["cyclical"] = "cyclical"
    total: PositiveInt = 100_000
    cycles: PositiveInt = 4
    ratio: float = Field(0.5, gt=0.0, le=1.0)
    max: float = 1.0
    t0: int = Field(0, ge=0)
    ramp: Literal["linear", "sigmoid", "cosine"] = "linear"

    def values(self, t: np.ndarray) -> np.ndarray:
        t = np.asarray(t, dtype=np.int64)
        period = self.total / self.cycles
        shifted = t - self.t0
        tau = np.mod(shifted, math.ceil(period)) / period
        x = np.minimum(1.0, tau / self.ratio)
        if self.ramp == "sigmoid":
            x = np.where(x >= 1.0, 1.0, 1.0 / (1.0 + np.exp(-12.0 * (x - 0.5))))
        elif self.ramp == "cosine":
            x = 0.5 * (1.0 - np.cos(np.pi * x))
        return np.where(shifted < 0, 0.0, self.max * x)

    def bounds(self) -> tuple[float, float]:
        return (min(0.0, self.max), max(0.0, self.max))


@SCHEDULES.register("capacity")
class Capacity(Schedule):
    """Capacity ramp C(t) = C0 + (C_max − C0)·min(1, t/T_C) in nats (Burgess et al. 2018).

    With ``c0 = 0`` this equals disentanglement_lib's min(C_max, C_max·t/T_C).
    """

    kind: Literal["capacity"] = "capacity"
    c0: float = Field(0.0, ge=0.0)
    c_max: float = Field(25.0, ge=0.0)
    length: PositiveInt = 100_000

    def values(self, t: np.ndarray) -> np.ndarray:
        frac = np.minimum(1.0, np.asarray(t, dtype=np.float64) / self.length)
        return self.c0 + (self.c_max - self.c0) * frac

    def bounds(self) -> tuple[float, float]:
        return (min(self.c0, self.c_max), max(self.c0, self.c_max))


# The nine β strategies of the cross-modal translation thesis (Bangarwaa 2025, §4.4), verbatim.
# Each entry: (name, function of the 0-based epoch array e).
THESIS_STRATEGIES: dict[int, tuple[str, object]] = {
    1: ("Linear Scheduling", lambda e: np.minimum(0.05, e / 20)),
    2: ("Fixed Increment", lambda e: np.minimum(0.2, e / 50)),
    3: ("Incremental Step", lambda e: np.minimum(0.07, 0.005 * e)),
    4: ("Epoch-Based Scaling", lambda e: np.minimum(0.07, e / 20)),
    5: ("Alternative Fixed Increment", lambda e: np.minimum(0.07, 0.003 * e)),
    6: ("Gradual Ramp-Up", lambda e: np.minimum(0.07, 0.0025 * e)),
    7: ("Slow Increase Over Time", lambda e: np.minimum(0.07, (e / 30) * 0.07)),
    8: ("Higher Fixed Increment", lambda e: np.minimum(0.1, 0.005 * e)),
    # Named "Exponential Decay" in the thesis, but it rises from 0 towards 0.07.
    9: ("Exponential Decay", lambda e: 0.07 * (1.0 - np.exp(-e / 10))),
}
_THESIS_CAPS = {1: 0.05, 2: 0.2, 3: 0.07, 4: 0.07, 5: 0.07, 6: 0.07, 7: 0.07, 8: 0.1, 9: 0.07}


@SCHEDULES.register("thesis")
class Thesis(Schedule):
    """One of the nine β strategies of the thesis (1–9; #6 "Gradual Ramp-Up" was selected).

    The formulas are kept exactly as published, including #9 "Exponential Decay", which rises.
    Its β magnitudes belong to a mean-reduced loss (see docs/objectives.md for conversion).
    """

    kind: Literal["thesis"] = "thesis"
    unit: Literal["step", "epoch"] = "epoch"
    strategy: int = Field(6, ge=1, le=9)

    @property
    def strategy_name(self) -> str:
        return THESIS_STRATEGIES[self.strategy][0]

    def values(self, t: np.ndarray) -> np.ndarray:
        e = np.asarray(t, dtype=np.float64)
        return np.asarray(THESIS_STRATEGIES[self.strategy][1](e), dtype=np.float64)

    def bounds(self) -> tuple[float, float]:
        return (0.0, _THESIS_CAPS[self.strategy])


@SCHEDULES.register("exp_decay")
class ExpDecay(Schedule):
    """A true exponential decay β = start·exp(−t/tau) (offered beside, never instead of, thesis #9)."""

    kind: Literal["exp_decay"] = "exp_decay"
    unit: Literal["step", "epoch"] = "epoch"
    start: float = 0.07
    tau: PositiveFloat = 10.0

    def values(self, t: np.ndarray) -> np.ndarray:
        return self.start * np.exp(-np.asarray(t, dtype=np.float64) / self.tau)

    def bounds(self) -> tuple[float, float]:
        return (min(0.0, self.start), max(0.0, self.start))


@SCHEDULES.register("kl_weight")
class KLWeight(Schedule):
    """The four KL-weight schedules of Langer et al. (2024) for the Zambelli et al. (2020) VAE.

    - ``constant_1``: 1.
    - ``constant_0`` (Zambelli's original): 1 − min(e/decay_epochs, 1).
    - ``dyn_plateau_0`` / ``dyn_plateau_1`` [reconstruction from the paper's figure]: for
      e < e_dyn, c = ⌊e/P⌋, u = e − cP, r_c = max(r_min, round(d_start·(1 − cP/e_dyn))) with
      d_start = P by default,
      β = max(0, 1 − u/r_c); for e >= e_dyn, β = tail (0 or 1 by default of the variant).
    """

    kind: Literal["kl_weight"] = "kl_weight"
    unit: Literal["step", "epoch"] = "epoch"
    variant: Literal["constant_1", "constant_0", "dyn_plateau_0", "dyn_plateau_1"] = "dyn_plateau_0"
    epochs: PositiveInt = 80_000
    decay_epochs: PositiveInt = 1_000
    period: PositiveInt = 80
    e_dyn: PositiveInt = 70_000
    r_min: PositiveInt = 1
    #: length of the first descent (the spec's ``d_start``); None = ``period``
    d_start: PositiveInt | None = None
    tail: float | None = None

    @model_validator(mode="after")
    def _check(self) -> KLWeight:
        if self.e_dyn > self.epochs:
            raise ValueError(f"e_dyn ({self.e_dyn}) must not exceed epochs ({self.epochs})")
        return self

    @property
    def tail_value(self) -> float:
        if self.tail is not None:
            return self.tail
        return 1.0 if self.variant == "dyn_plateau_1" else 0.0

    def values(self, t: np.ndarray) -> np.ndarray:
        e = np.asarray(t, dtype=np.int64)
        if self.variant == "constant_1":
            return np.ones(e.shape, dtype=np.float64)
        if self.variant == "constant_0":
            return 1.0 - np.minimum(e / self.decay_epochs, 1.0)
        p = self.period
        c = e // p
        u = e - c * p
        r = np.maximum(self.r_min, np.round((self.d_start or p) * (1.0 - c * p / self.e_dyn)))
        dyn = np.maximum(0.0, 1.0 - u / r)
        return np.where(e < self.e_dyn, dyn, self.tail_value).astype(np.float64)

    def bounds(self) -> tuple[float, float]:
        return (min(0.0, self.tail_value), max(1.0, self.tail_value))


ScheduleField = component_field(SCHEDULES, Schedule, shorthand="value")


def _non_negative(schedule: Schedule) -> Schedule:
    low = schedule.bounds()[0]
    if low < 0:
        raise ValueError(f"must be >= 0 at every step (a loss weight or a capacity), but this "
                         f"{schedule.kind} schedule reaches {low:g}")
    return schedule


#: A schedule whose every value is >= 0 (by :meth:`Schedule.bounds`): loss weights (β, γ, α)
#: and capacities. A negative β, for instance, rewards KL and drives it to infinity without a NaN.
WeightField = Annotated[ScheduleField, AfterValidator(_non_negative)]


_ADAPTER = TypeAdapter(ScheduleField)


def parse_schedule(spec: object) -> Schedule:
    """Build a schedule from a number (constant) or a mapping with ``kind`` (pydantic errors)."""
    return _ADAPTER.validate_python(spec)


def schedule_from_dict(spec: dict) -> Schedule:
    """Like :func:`parse_schedule`, but bad input raises one readable :class:`BetavaeError`."""
    try:
        return parse_schedule(spec)
    except ValidationError as exc:
        msgs = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'] if '[' not in str(p)) or 'schedule'}: "
            f"{e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors()
        )
        raise BetavaeError(f"schedule {spec.get('kind')!r}: {msgs}") from None
