"""Catalogs, the member's language, and hours, numbers and dates formatted with Babel's CLDR data.

Catalog keys are the English source strings with named placeholders (`{name}`). Every
placeholder value is HTML-escaped unless wrapped in `Safe`, so user text can never break
a message Telegram parses as HTML.
"""

from __future__ import annotations

import functools
import html
import io
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from babel import Locale
from babel.dates import format_date
from babel.numbers import format_decimal
from babel.support import Translations
from babel.units import format_unit

LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"
DOMAIN = "bot"


class Safe(str):
    """Already-safe HTML (built from escaped parts); placed into a message as is.

    It stays safe when concatenated: the plain side of `Safe + str` (or `str + Safe`) is
    escaped, so safety is never lost by building a line from pieces (and never doubled).
    """

    def __add__(self, other: str) -> Safe:
        return Safe(str.__add__(self, _escape(other)))

    def __radd__(self, other: str) -> Safe:
        return Safe(_escape(other) + str(self))


def bold(text: str) -> Safe:
    return Safe(f"<b>{_escape(text)}</b>")


def lines(*parts: str) -> Safe:
    """Lines of a message, each escaped unless already Safe."""
    return Safe("\n".join(_escape(part) for part in parts))


def N_(message: str) -> str:
    """Mark a string for the catalog where it is defined; translate it where it is used."""
    return message


def _escape(value: object) -> str:
    if isinstance(value, Safe):
        return value
    return html.escape(str(value), quote=False)


class Translator:
    """Everything one reader sees, in one language."""

    def __init__(self, language: str, translations: Translations) -> None:
        self.language = language
        self.locale = Locale.parse(language)
        self._t = translations

    # Tests set this to a set: every message asked for at run time is noted, and compared with
    # the catalogs (extraction alone misses messages built in ways it cannot see).
    used: set[str] | None = None

    def __call__(self, message: str, **params: object) -> Safe:
        if Translator.used is not None:
            Translator.used.add(message)
        text = self._t.gettext(message)
        return Safe(text.format(**{k: _escape(v) for k, v in params.items()}) if params else text)

    def plural(self, singular: str, plural: str, count: int, **params: object) -> Safe:
        if Translator.used is not None:
            Translator.used.add(singular)
        text = self._t.ngettext(singular, plural, count)
        params.setdefault("count", self.number(count))
        return Safe(text.format(**{k: _escape(v) for k, v in params.items()}))

    def hours(self, minutes: int, *, signed: bool = False) -> str:
        """Minutes as hours in words: "1.5 hours", "1,5 horas", "+2 hours"."""
        return _hours(self.locale, minutes, signed)

    def duration(self, minutes: int) -> str:
        """Under an hour in minutes ("30 minutes"), else in hours: for buttons people tap."""
        if 0 < minutes < 60:
            return format_unit(minutes, "duration-minute", length="long", locale=self.locale)
        return self.hours(minutes)

    def number(self, value: int) -> str:
        return format_decimal(value, locale=self.locale)

    def date(self, timestamp: int) -> str:
        return format_date(datetime.fromtimestamp(timestamp, tz=UTC), format="medium", locale=self.locale)

    def language_name(self, code: str, *, in_sentence: bool = False) -> str:
        """The language's own name: "Español" on a button, "español" inside a sentence."""
        name = Locale.parse(code).get_display_name(code) or code
        return name if in_sentence else name[:1].upper() + name[1:]


def compile_catalog(po_path: Path) -> bytes:
    """The .po catalog compiled to .mo bytes (fuzzy entries left out, as gettext does)."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with po_path.open("rb") as po:
        catalog = read_po(po, domain=DOMAIN)
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    return buffer.getvalue()


@functools.lru_cache(maxsize=4096)
def _hours(locale: Locale, minutes: int, signed: bool) -> str:
    # CLDR formatting is the costly part of a /balance reply, and the same few amounts recur.
    pattern = "+#,##0.##;-#,##0.##" if signed and minutes else None
    return format_unit(Decimal(minutes) / 60, "duration-hour", length="long", format=pattern, locale=locale)


def _load_catalog(po_path: Path) -> Translations:
    # The compiled .mo beside the .po loads in a millisecond; a test keeps it in step with the .po.
    mo_path = po_path.with_suffix(".mo")
    data = mo_path.read_bytes() if mo_path.exists() else compile_catalog(po_path)
    return Translations(fp=io.BytesIO(data), domain=DOMAIN)


class Catalogs:
    """All shipped languages, loaded once at start."""

    def __init__(self, default_language: str, locales_dir: Path = LOCALES_DIR) -> None:
        self.translators: dict[str, Translator] = {}
        for po in sorted(locales_dir.glob(f"*/LC_MESSAGES/{DOMAIN}.po")):
            code = po.parent.parent.name
            self.translators[code] = Translator(code, _load_catalog(po))
        if default_language not in self.translators:
            raise ValueError(f"no catalog for DEFAULT_LANGUAGE={default_language!r}; "
                             f"available: {', '.join(sorted(self.translators))}")
        self.default = default_language

    @property
    def languages(self) -> list[str]:
        return sorted(self.translators)

    def supported(self, code: str | None) -> str | None:
        """'es-ES' → 'es' if we ship it; None if we do not."""
        if not code:
            return None
        code = code.replace("-", "_")
        for candidate in (code, code.split("_")[0].lower()):
            if candidate in self.translators:
                return candidate
        return None

    def pick(self, chosen: str | None = None, telegram_code: str | None = None) -> Translator:
        """The member's own choice, else their Telegram language, else DEFAULT_LANGUAGE."""
        code = self.supported(chosen) or self.supported(telegram_code) or self.default
        return self.translators[code]

    def get(self, code: str | None) -> Translator:
        return self.translators[self.supported(code) or self.default]


def update_catalogs(root: Path = LOCALES_DIR.parent) -> None:
    """Re-extract the source strings into locales/bot.pot and merge them into every catalog.

    English is the source language: its catalog is filled with the source strings, so a
    test can hold every shipped catalog to the same standard (complete, nothing fuzzy).
    """
    import os

    from babel.messages.frontend import CommandLineInterface
    from babel.messages.pofile import read_po, write_po

    pot = root / "locales" / f"{DOMAIN}.pot"
    here = os.getcwd()
    os.chdir(root)  # so the catalogs name source files by their path in the project
    try:
        CommandLineInterface().run([
            "pybabel", "-q", "extract", "-F", "babel.cfg", "--no-default-keywords",
            "-k", "tr", "-k", "plural:1,2", "-k", "N_", "--sort-by-file", "--project", "timebank-bot",
            "-o", str(pot), ".",
        ])
    finally:
        os.chdir(here)
    for language in ("en", *sorted(p.name for p in (root / "locales").iterdir() if p.is_dir() and p.name != "en")):
        po = root / "locales" / language / "LC_MESSAGES" / f"{DOMAIN}.po"
        verb = "update" if po.exists() else "init"
        CommandLineInterface().run(["pybabel", "-q", verb, "-i", str(pot), "-d", str(root / "locales"),
                                    "-D", DOMAIN, "-l", language])
        if language == "en":
            with po.open("rb") as handle:
                catalog = read_po(handle, domain=DOMAIN)
            for message in catalog:
                if message.id:
                    message.string = message.id
                    message.flags.discard("fuzzy")
            with po.open("wb") as handle:
                write_po(handle, catalog, width=100)
    for po in sorted((root / "locales").glob(f"*/LC_MESSAGES/{DOMAIN}.po")):
        po.with_suffix(".mo").write_bytes(compile_catalog(po))


if __name__ == "__main__":
    import sys

    if sys.argv[1:] == ["update"]:
        update_catalogs()
    else:
        print("usage: python -m bot.i18n update", file=sys.stderr)
        sys.exit(2)
