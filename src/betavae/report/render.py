"""Jinja2 rendering of the HTML and Markdown reports (HTML autoescaped; Markdown escaped by filter).

The HTML pages are self-contained: inline CSS, a few lines of inline JavaScript to sort tables,
images by relative path, no external requests.
"""

from __future__ import annotations

import html
import math
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from betavae.io import atomic_write_text

DASH = "—"


def fmt(value: Any, digits: int = 5) -> str:
    """A number with ``digits`` significant digits (ints as they are); None -> '—'; others str()."""
    if value is None:
        return DASH
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return str(value)
        return f"{value:.{digits}g}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(fmt(v, digits) for v in value) + "]"
    return str(value)


def sort_key(value: Any) -> str:
    """The ``data-sort`` attribute of a table cell: full-precision numbers, else the text."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return repr(float(value))
    return fmt(value)


def md(value: Any) -> str:
    """Text for a Markdown table cell: formatted, HTML-escaped, pipes and newlines neutralised."""
    text = html.escape(fmt(value), quote=False)
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("`", "\\`").replace("\n", " ")


def md_fence(text: str, lang: str = "") -> str:
    """A fenced code block whose fence is longer than any backtick run inside ``text``."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{lang}\n{text.rstrip()}\n{fence}"


def split_after(text: Any) -> list[str]:
    """``"a.b_c"`` -> ``["a.", "b_", "c"]``: the places a long metric name may wrap (HTML ``<wbr>``)."""
    return [part for part in re.split(r"(?<=[._])", str(text)) if part]


@lru_cache(maxsize=1)
def environment() -> Any:
    """The Jinja2 environment: package templates, autoescape for ``*.html.j2``, strict undefined."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("betavae.report", "templates"),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",), default_for_string=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(fmt=fmt, md=md, md_fence=md_fence, sort_key=sort_key, split_after=split_after)
    return env


def render(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context)


def write_pages(html_path: Path, md_path: Path, stem: str, context: dict[str, Any]) -> Path:
    """Render ``{stem}.html.j2`` and ``{stem}.md.j2`` with ``context`` and write both atomically."""
    atomic_write_text(md_path, render(f"{stem}.md.j2", **context))
    atomic_write_text(html_path, render(f"{stem}.html.j2", **context))
    return html_path
