"""Every word the bot says comes from the catalogs, complete in every shipped language."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import polib
import pytest
from babel.messages.extract import extract_from_dir

from bot.i18n import LOCALES_DIR, Catalogs, compile_catalog

ROOT = Path(__file__).resolve().parent.parent
KEYWORDS = {"tr": None, "plural": (1, 2), "N_": None}
PLACEHOLDER = re.compile(r"\{(\w+)\}")
SHIPPED = sorted(p.parent.parent.name for p in LOCALES_DIR.glob("*/LC_MESSAGES/bot.po"))


def source_messages() -> set[tuple[str, str | None]]:
    found = set()
    for folder in ("bot", "handlers"):
        for _file, _line, message, _comments, _ctx in extract_from_dir(
                ROOT / folder, method_map=[("**.py", "python")], keywords=KEYWORDS):
            if isinstance(message, tuple):
                found.add((message[0], message[1]))
            else:
                found.add((message, None))
    return found


@pytest.mark.parametrize("language", SHIPPED)
def test_the_compiled_catalog_is_in_step_with_its_source(language):
    po = LOCALES_DIR / language / "LC_MESSAGES" / "bot.po"
    # Compare what the catalogs say, not their bytes: each Babel release stamps its own version in the header.
    assert _messages(po.with_suffix(".mo").read_bytes()) == _messages(compile_catalog(po)), \
        "run: .venv/bin/python -m bot.i18n update"


def _messages(mo: bytes) -> dict:
    import io

    from babel.support import Translations

    catalog = Translations(fp=io.BytesIO(mo))._catalog
    return {key: value for key, value in catalog.items() if key != ""}


def test_english_and_spanish_are_shipped():
    assert {"en", "es"} <= set(SHIPPED)


def test_the_sources_use_a_good_number_of_catalog_messages():
    # Guards the extraction itself: if the keywords stopped matching, every other check would pass vacuously.
    assert len(source_messages()) > 100


@pytest.mark.parametrize("language", SHIPPED)
def test_catalog_has_every_message_translated_and_nothing_fuzzy(language):
    po = polib.pofile(str(LOCALES_DIR / language / "LC_MESSAGES" / "bot.po"))
    entries = {(e.msgid, e.msgid_plural or None): e for e in po if not e.obsolete}
    problems = []
    for msgid, plural in sorted(source_messages(), key=str):
        entry = entries.get((msgid, plural))
        if entry is None:
            problems.append(f"missing: {msgid!r}")
            continue
        if "fuzzy" in entry.flags:
            problems.append(f"fuzzy: {msgid!r}")
        forms = list(entry.msgstr_plural.values()) if plural else [entry.msgstr]
        if plural and len(forms) < 2:
            problems.append(f"plural forms missing: {msgid!r}")
        expected = set(PLACEHOLDER.findall(msgid + (plural or "")))
        for form in forms:
            if not form.strip():
                problems.append(f"untranslated: {msgid!r}")
            elif set(PLACEHOLDER.findall(form)) != expected:
                problems.append(f"placeholders differ: {msgid!r} -> {form!r}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("language", SHIPPED)
def test_catalog_translations_format_without_errors(language):
    translator = Catalogs("en").get(language)
    for msgid, plural in source_messages():
        names = {name: "x" for name in PLACEHOLDER.findall(msgid + (plural or ""))}
        if plural:
            names.pop("count", None)
            assert translator.plural(msgid, plural, 2, **names)
        else:
            assert translator(msgid, **names)


def test_hours_are_formatted_by_cldr_in_each_language():
    catalogs = Catalogs("en")
    assert catalogs.get("en").hours(90) == "1.5 hours"
    assert catalogs.get("en").hours(60) == "1 hour"
    assert catalogs.get("es").hours(90) == "1,5 horas"
    assert catalogs.get("es").hours(-120, signed=True) == "-2 horas"
    assert catalogs.get("en").hours(120, signed=True) == "+2 hours"


def test_language_is_the_choice_then_telegram_then_default():
    catalogs = Catalogs("en")
    assert catalogs.pick("es", "en").language == "es"
    assert catalogs.pick(None, "es-ES").language == "es"
    assert catalogs.pick(None, "xx").language == "en"
    assert catalogs.pick(None, None).language == "en"


def _literal_texts(path: Path) -> list[tuple[int, str]]:
    """String constants that read like sentences and are not catalog keys, docstrings or log lines."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    allowed: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            owner = getattr(func.value, "id", "") if isinstance(func, ast.Attribute) else ""
            if name in ("tr", "plural", "N_") or owner in ("log", "logging") or name in (
                    "info", "warning", "error", "debug", "exception", "print", "SettingsError", "StorageError"):
                allowed.update(id(sub) for sub in ast.walk(node))
        if isinstance(node, ast.Compare):  # matching Telegram's own error wording, not saying anything
            allowed.update(id(sub) for sub in ast.walk(node))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Module, ast.ClassDef)):
            if node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant):
                allowed.add(id(node.body[0].value))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in allowed:
            if re.search(r"[A-Za-z]{2,}[ ,.!?]+[A-Za-z]{2,}", node.value) and not node.value.startswith("^") \
                    and "://" not in node.value:
                found.append((node.lineno, node.value))
    return found


def test_no_user_facing_text_is_written_outside_the_catalogs():
    offenders = []
    for path in sorted((ROOT / "handlers").glob("*.py")) + [ROOT / "bot" / "app.py", ROOT / "bot" / "messaging.py"]:
        offenders += [f"{path.name}:{line}: {text!r}" for line, text in _literal_texts(path)]
    assert not offenders, "\n".join(offenders)


def test_no_sql_outside_storage():
    sql = re.compile(r"\b(SELECT\s.+\sFROM|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM)\b", re.I | re.S)
    offenders = [str(path.relative_to(ROOT)) for folder in ("bot", "handlers")
                 for path in (ROOT / folder).rglob("*.py") if sql.search(path.read_text(encoding="utf-8"))]
    assert not offenders
