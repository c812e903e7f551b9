"""Data sources. Every ground-truth source offers the interface in :mod:`betavae.data.base`."""

from betavae.registry import Registry

DATA = Registry("data source")

__all__ = ["DATA"]
