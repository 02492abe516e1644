"""Jinja2 for the console: one environment, templates from every domain module."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

PACKAGE_DIR = Path(__file__).resolve().parent.parent
# Every domain module (and sub-package) keeps its templates in a ``templates`` folder.
TEMPLATE_DIRS = sorted(
    str(path) for path in PACKAGE_DIR.rglob("templates") if path.is_dir()
)


def make_environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATE_DIRS),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["iso"] = _iso
    env.filters["amount"] = _amount
    return env


def _iso(moment: dt.datetime | None) -> str:
    return moment.isoformat() if moment else ""


def _amount(value: Decimal) -> str:
    return f"{value:,.2f}"


def hidden_csrf(token: str) -> Markup:
    return Markup('<input type="hidden" name="csrf_token" value="%s">') % token


def base_context(**values: Any) -> dict[str, Any]:
    return values
