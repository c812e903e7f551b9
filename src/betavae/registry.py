"""A small name -> class registry used for schedules, objectives, models and data sources.

Adding a variant is one class and one ``@REGISTRY.register("name")``; contract tests iterate
over ``REGISTRY.names()`` so a new variant is tested the day it is added.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from betavae.errors import BetavaeError

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps a kind name to a class (or factory)."""

    def __init__(self, what: str) -> None:
        self.what = what
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def decorate(obj: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.what} {name!r} is registered twice")
            self._items[name] = obj
            return obj

        return decorate

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            raise BetavaeError(
                f"unknown {self.what} {name!r}; known: {', '.join(sorted(self._items))}"
            ) from None

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())


def import_modules(package: str) -> None:
    """Import every module of ``package`` (not its sub-packages), so each registers its classes.

    Registries find their modules this way: adding a variant is adding a module, with no import
    list to keep by hand. Idempotent (Python caches imported modules).
    """
    pkg = importlib.import_module(package)
    for info in pkgutil.iter_modules(pkg.__path__):
        if not info.ispkg and not info.name.startswith("_"):
            importlib.import_module(f"{package}.{info.name}")
