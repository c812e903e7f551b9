"""Report sections each system registers for its runs' reports (issue #19: one report pipeline).

A section is a function ``section(builder, options)`` that draws figures and adds tables to a
:class:`~betavae.report.build.Builder` (``builder.add``, ``builder.add_table``; every drawing step
isolated by ``builder.attempt``, so a failure becomes a note on the page, never an exception).
``@report_section("task")`` registers one for the runs of a training task
(``config.model.task``); the page (``report/templates/run.*.j2``, Jinja2 with autoescape) is the
same for every system. Every module of this package is imported on first use, so a system adds
its sections by adding a module.

The multi-run index (``report/index.py``) has sections too: ``@index_section("task")`` registers
``section(builder, rows)``, called with the index rows of that task's runs (``run``, ``config``,
``eval``, ``step``, ... of :func:`betavae.report.rows.run_row`) and a builder whose figures go to
the index's folder; a system's study table (the vsa grid's Good/Bad table) is one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from betavae.registry import import_modules


@dataclass(frozen=True)
class SectionOptions:
    """What ``write_report`` was asked for: images to encode, seed images, RNG seed, device."""

    n_images: int = 512
    n_seeds: int = 3
    rng_seed: int = 0
    device: str = "cpu"


Section = Callable[[Any, SectionOptions], None]
_SECTIONS: dict[str, list[Section]] = {}


def report_section(task: str) -> Callable[[Section], Section]:
    """Register ``fn`` as a section of the reports of ``task``'s runs (in registration order)."""
    def register(fn: Section) -> Section:
        _SECTIONS.setdefault(task, []).append(fn)
        return fn

    return register


def sections_for(task: str) -> list[Section]:
    """The sections registered for ``task`` (none: the page shows curves, config and metadata)."""
    import_modules("betavae.report.sections")
    return list(_SECTIONS.get(task, []))


IndexSection = Callable[[Any, list[dict[str, Any]]], None]
_INDEX_SECTIONS: dict[str, list[IndexSection]] = {}


def index_section(task: str) -> Callable[[IndexSection], IndexSection]:
    """Register ``fn(builder, rows)`` as a section of the index for the runs of ``task``."""
    def register(fn: IndexSection) -> IndexSection:
        _INDEX_SECTIONS.setdefault(task, []).append(fn)
        return fn

    return register


def index_sections_for(task: str) -> list[IndexSection]:
    """The index sections registered for ``task`` (none: the index shows its common tables)."""
    import_modules("betavae.report.sections")
    return list(_INDEX_SECTIONS.get(task, []))
