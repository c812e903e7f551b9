"""Reports a researcher opens: per-run ``report.html``/``report.md`` and a multi-run index.

``write_report(run_dir)`` and ``write_index(runs_dir)`` build them from files on disk
(see docs/report.md). Imported lazily, so ``bvae --help`` stays fast.
"""

from __future__ import annotations

from typing import Any

__all__ = ["write_report", "write_index"]


def __getattr__(name: str) -> Any:
    if name == "write_report":
        from betavae.report.build import write_report

        return write_report
    if name == "write_index":
        from betavae.report.index import write_index

        return write_index
    raise AttributeError(f"module 'betavae.report' has no attribute {name!r}")
