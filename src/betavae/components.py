"""Registered, config-described components (schedules, objectives, models, data sources).

Each variant is a frozen pydantic model with a ``kind: Literal["name"]`` field, registered in a
:class:`~betavae.registry.Registry`. :func:`component_field` turns a registry into a pydantic
field type that validates ``{"kind": ..., **params}`` against the registered class, names the
allowed kinds on error, and serialises every field of the chosen subclass.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, SerializeAsAny

from betavae.registry import Registry


class Component(BaseModel):
    """Base of every registered config: frozen, unknown keys forbidden."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: str


def parse_component(
    registry: Registry, value: Any, shorthand: str | None = None, default_kind: str | None = None
) -> Any:
    """Validate ``value`` as one of ``registry``'s classes, chosen by its ``kind``.

    A bare number is accepted as ``{"kind": "constant", shorthand: number}`` when ``shorthand``
    names the field (so ``beta: 4`` means a constant schedule). A mapping without ``kind`` takes
    ``default_kind`` when one is given (so ``model.latent_dim=6`` alone keeps the default model).
    """
    if isinstance(value, Component):
        return value
    if shorthand is not None and isinstance(value, (int, float)) and not isinstance(value, bool):
        value = {"kind": "constant", shorthand: value}
    if not isinstance(value, dict):
        raise ValueError(f"expected a mapping with a 'kind' key, got {value!r}")
    if "kind" not in value and default_kind is not None:
        value = {"kind": default_kind, **value}
    if "kind" not in value:
        raise ValueError(f"missing 'kind'; choose one of: {', '.join(registry.names())}")
    kind = value["kind"]
    if kind not in registry:
        raise ValueError(f"unknown {registry.what} kind {kind!r}; choose one of: {', '.join(registry.names())}")
    return registry.get(kind).model_validate(value)


REGISTRY_FOR_BASE: dict[type, Registry] = {}


def component_field(
    registry: Registry, base: type[Component], shorthand: str | None = None, default_kind: str | None = None
) -> Any:
    """The annotated pydantic type for a field holding one registered component."""
    REGISTRY_FOR_BASE[base] = registry

    def validate(value: Any) -> Any:
        return parse_component(registry, value, shorthand, default_kind)

    return Annotated[SerializeAsAny[base], BeforeValidator(validate)]
