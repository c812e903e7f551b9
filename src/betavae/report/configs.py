"""A run config's shipped base, its difference from it, its schedules and its hyper-parameters.

Base rule (documented in docs/report.md): the shipped config (``betavae/configs/*.yaml``) whose
``name`` equals the run's name; otherwise, among shipped configs with the same data, model and
objective kinds, the one with the fewest differing keys (ties: alphabetical file name);
otherwise none, and the run is compared with the built-in defaults (``RunConfig()``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from betavae.config import RunConfig, build_config, read_yaml
from betavae.errors import BetavaeError
from betavae.schedules import Capacity, Constant, Schedule
from betavae.shipped import shipped_names, shipped_path

MISSING = "(absent)"


@dataclass
class ConfigDiff:
    """base: the shipped config's file stem (None: built-in defaults); rule: how it was chosen;
    rows: (dotted key, base value, run value) for every key whose values differ."""

    base: str | None
    rule: str
    rows: list[tuple[str, Any, Any]]


def shipped_configs() -> dict[str, RunConfig]:
    """The shipped configs by file stem (unreadable ones are skipped)."""
    out = {}
    for path in map(shipped_path, shipped_names()):
        try:
            out[path.stem] = build_config(read_yaml(path), source=str(path))
        except BetavaeError:
            continue
    return out


def flat_dict(tree: Any, prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}} -> {"a.b": 1}; lists and scalars are leaves."""
    if not isinstance(tree, dict):
        return {prefix.rstrip("."): tree}
    out: dict[str, Any] = {}
    for key, value in tree.items():
        out.update(flat_dict(value, f"{prefix}{key}."))
    return out


def diff_rows(base: RunConfig, run: RunConfig, collapse: bool = True,
              whole_on_kind: bool = False) -> list[tuple[str, Any, Any]]:
    """(key, base value, run value) for differing leaves, in the run's key order. A section that
    one side lacks altogether is one row: for reading, its size (``data.simulator``,
    ``(35 keys)``, ``(absent)``); with ``collapse=False``, the section itself (a dict), so that the
    row is an override that sets it (the zoo's retraining command). ``whole_on_kind`` also gives a
    section whose ``kind`` differs as one row (the whole section), for overrides that must not
    leave a field of the old kind behind."""
    return _diff(base.to_dict(), run.to_dict(), "", collapse, whole_on_kind)


def _diff(a: Any, b: Any, prefix: str, collapse: bool, whole_on_kind: bool) -> list[tuple[str, Any, Any]]:
    if isinstance(a, dict) and isinstance(b, dict) and not (whole_on_kind and a.get("kind") != b.get("kind")):
        keys = list(b) + [k for k in a if k not in b]
        return [row for k in keys
                for row in _diff(a.get(k, MISSING), b.get(k, MISSING), f"{prefix}{k}.", collapse, whole_on_kind)]
    key = prefix.rstrip(".")
    if a == b:
        return []
    if collapse and MISSING in (a, b) and isinstance(a if b == MISSING else b, dict):
        present = a if b == MISSING else b
        n = f"({len(flat_dict(present))} keys)"
        return [(key, n, MISSING) if b == MISSING else (key, MISSING, n)]
    return [(key, a, b)]


def _kinds(c: RunConfig) -> tuple[str, str, str]:
    return (c.data.kind, c.model.kind, c.objective.kind)


def config_diff(config: RunConfig, collapse: bool = True, whole_on_kind: bool = False) -> ConfigDiff:
    """The difference of ``config`` from the shipped base it matches (rule in the module doc);
    ``collapse`` and ``whole_on_kind`` as in :func:`diff_rows`."""
    shipped = shipped_configs()
    for stem, base in shipped.items():
        if base.name == config.name:
            return ConfigDiff(stem, f"same name ({config.name})", diff_rows(base, config, collapse, whole_on_kind))
    same = {stem: diff_rows(base, config, collapse, whole_on_kind) for stem, base in shipped.items()
            if _kinds(base) == _kinds(config)}
    if same:
        stem = min(same, key=lambda s: (len(same[s]), s))
        kinds = "/".join(_kinds(config))
        return ConfigDiff(stem, f"same data/model/objective kinds ({kinds}), fewest differences", same[stem])
    return ConfigDiff(None, "no shipped config has the same kinds: compared with the built-in defaults",
                      diff_rows(RunConfig(), config, collapse, whole_on_kind))


def schedule_fields(config: RunConfig) -> dict[str, Schedule]:
    """Every Schedule-valued field of the objective config, by field name."""
    obj = config.objective
    return {name: value for name in type(obj).model_fields if isinstance(value := getattr(obj, name), Schedule)}


def schedule_summary(schedule: Schedule) -> float:
    """One number for a schedule: a constant's value, the capacity ramp's C_max, else the largest value."""
    if isinstance(schedule, Constant):
        return float(schedule.value_)
    if isinstance(schedule, Capacity):
        return float(schedule.c_max)
    return float(schedule.bounds()[1])


def hyper_params(config: RunConfig) -> dict[str, float]:
    """The objective's weights as numbers, e.g. {"beta": 4.0} or {"gamma": 1000.0, "capacity": 25.0}.

    The plain VAE gives {"beta": 1.0}; schedules are summarised by :func:`schedule_summary`.
    """
    out = {name: schedule_summary(s) for name, s in schedule_fields(config).items()}
    if config.objective.kind == "vae" and "beta" not in out:
        out["beta"] = 1.0
    return out


#: Axis labels of hyper-parameters (the capacity schedule is summarised by C_max).
HYPER_LABELS = {"beta": "β", "gamma": "γ", "capacity": "C_max (nats)"}


def hyper_label(name: str) -> str:
    return HYPER_LABELS.get(name, name)
