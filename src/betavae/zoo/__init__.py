"""The model zoo: trained models shipped inside the package, each with a card of verified scores.

* :func:`load` (``betavae.zoo.load(NAME, device="cpu")``): the model as :func:`betavae.load_run`
  gives a run, after every file is checked against the manifest (sha256 and size).
* :func:`names`, :func:`read_card`, :func:`export` (a normal run folder), :func:`add_model`
  (the maintainer's ``bvae zoo add``).

Layout and rules: ``betavae/zoo/models/<NAME>/`` and ``manifest.json`` (:mod:`betavae.zoo.store`);
docs/zoo.md. Imports are lazy, so ``import betavae.zoo`` stays light.
"""

from __future__ import annotations

from typing import Any

_LAZY = {
    "load": ("betavae.zoo.use", "load"),
    "read_card": ("betavae.zoo.use", "read_card"),
    "export": ("betavae.zoo.use", "export"),
    "add_model": ("betavae.zoo.add", "add_model"),
    "names": ("betavae.zoo.store", "model_names"),
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'betavae.zoo' has no attribute {name!r}")
