"""Jinja2 rendering of report pages: one page template, one small template per kind of section.

Templates live in selfimprove/report/templates (package data). Autoescaping is on everywhere, because
completions are model output and may contain anything, including HTML.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup


@dataclass
class Section:
    """One block of a page: an anchor id, a heading, and its rendered HTML."""

    id: str
    title: str
    html: Markup


def pct(value: Any, digits: int = 1) -> str:
    """A fraction as a percentage; '–' when missing."""
    return "–" if not isinstance(value, (int, float)) or isinstance(value, bool) else f"{100 * value:.{digits}f}%"


def num(value: Any, digits: int = 3) -> str:
    """A number with `digits` significant digits; '–' when missing."""
    return "–" if not isinstance(value, (int, float)) or isinstance(value, bool) else f"{value:.{digits}g}"


NUMERIC = re.compile(r"^(–|[-+]?\d[\d.,]*(e[-+]?\d+)?(%| points)?( \(k=\d+\))?( \[[-+\d.,e ]+\])?)$")


def numeric(cell: Any) -> bool:
    """Whether a table cell holds a number (right-aligned) rather than text."""
    return bool(NUMERIC.match(str(cell)))


@cache
def environment() -> Environment:
    env = Environment(loader=PackageLoader("selfimprove.report", "templates"), autoescape=True,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(pct=pct, num=num)
    env.tests["numeric"] = numeric
    return env


def fragment(template: str, **context: Any) -> Markup:
    """A section's HTML from templates/<template>."""
    return Markup(environment().get_template(template).render(**context))


def page(title: str, subtitle: str, sections: list[Section]) -> str:
    """The whole self-contained HTML document."""
    return environment().get_template("page.html.j2").render(
        title=title, subtitle=subtitle, sections=sections, generated=f"{datetime.now():%Y-%m-%d %H:%M}"
    )
