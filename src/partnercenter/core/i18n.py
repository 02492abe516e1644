"""Languages: zh-CN (the default) and en.

Source strings are English. Translations live in gettext ``.po`` catalogues under
``partnercenter/locale/zh_CN/LC_MESSAGES``; every ``.po`` file in that folder is read at start
and merged, so each area of the product keeps its own catalogue. They are compiled in memory,
so there is no build step.
"""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency, format_decimal
from babel.support import NullTranslations, Translations

LOCALES = ("zh-CN", "en")
DEFAULT_LOCALE = "zh-CN"
LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"
LANGUAGE_NAMES = {"zh-CN": "简体中文", "en": "English"}


def N_(message: str) -> str:  # noqa: N802 - the conventional gettext marker name
    """Mark a string for extraction; it is translated later, where the reader is known."""
    return message


def normalise_locale(value: str) -> str:
    """``zh_CN``, ``zh-cn``, ``zh`` → ``zh-CN``; ``en-US``, ``en`` → ``en``."""
    lowered = value.replace("_", "-").lower()
    if lowered.startswith("zh"):
        return "zh-CN"
    if lowered.startswith("en"):
        return "en"
    raise ValueError(f"unsupported locale {value!r}; use one of {', '.join(LOCALES)}")


def best_locale(accept_language: str | None, default: str) -> str:
    """The first supported language of an ``Accept-Language`` header, else ``default``."""
    if not accept_language:
        return default
    for part in accept_language.split(","):
        tag = part.split(";")[0].strip()
        try:
            return normalise_locale(tag)
        except ValueError:
            continue
    return default


class Translator:
    """Translations and formats of one locale."""

    def __init__(self, locale: str, translations: NullTranslations) -> None:
        self.locale = locale
        self.babel_locale = Locale.parse(locale.replace("-", "_"))
        self._translations = translations

    def gettext(self, message: str) -> str:
        return self._translations.gettext(message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return self._translations.ngettext(singular, plural, n)

    def format_datetime(self, moment: dt.datetime | None, timezone: str) -> str:
        if moment is None:
            return ""
        local = moment.astimezone(ZoneInfo(timezone))
        return format_datetime(local, "medium", locale=self.babel_locale)

    def format_date(self, day: dt.date | None) -> str:
        if day is None:
            return ""
        return format_date(day, "medium", locale=self.babel_locale)

    def format_money(self, amount: Decimal, currency: str) -> str:
        return format_currency(amount, currency, locale=self.babel_locale)

    def format_number(self, number: int | Decimal) -> str:
        return format_decimal(number, locale=self.babel_locale)


def catalogue_files(locale: str) -> list[Path]:
    folder = LOCALE_DIR / locale.replace("-", "_") / "LC_MESSAGES"
    return sorted(folder.glob("*.po")) if folder.exists() else []


@cache
def translator(locale: str) -> Translator:
    locale = normalise_locale(locale)
    if locale == "en":
        return Translator(locale, NullTranslations())

    merged: Translations | None = None
    for path in catalogue_files(locale):
        with path.open("rb") as handle:
            catalog = read_po(handle, locale=locale.replace("-", "_"))
        buffer = io.BytesIO()
        write_mo(buffer, catalog)
        buffer.seek(0)
        part = Translations(buffer)
        if merged is None:
            merged = part
        else:
            merged.merge(part)
    return Translator(locale, merged or NullTranslations())
