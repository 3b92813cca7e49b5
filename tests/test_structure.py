"""The shape of the code: layers import downwards only, one command table, one place for aiosqlite's insides."""

from __future__ import annotations

import ast
from pathlib import Path

import aiosqlite
import pytest

from bot import callbacks
from bot.commands import COMMANDS
from tests.harness import texts

ROOT = Path(__file__).resolve().parent.parent
# Who may import whom (our packages only). bot/app.py and bot/commands.py wire handlers in.
ALLOWED = {
    "timebank": {"timebank"},
    "storage": {"storage", "timebank"},
    "bot": {"bot", "storage", "timebank"},
    "handlers": {"handlers", "bot", "storage", "timebank"},
}
WIRING = {"bot/app.py", "bot/commands.py"}


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_the_core_imports_neither_telegram_nor_sqlite():
    for path in (ROOT / "timebank").glob("*.py"):
        for name in imports_of(path):
            top = name.split(".")[0]
            assert top not in ("telegram", "sqlite3", "aiosqlite"), f"{path.name} imports {name}"


def test_no_module_imports_a_higher_layer():
    problems = []
    for package, allowed in ALLOWED.items():
        for path in (ROOT / package).rglob("*.py"):
            relative = path.relative_to(ROOT).as_posix()
            for name in imports_of(path):
                top = name.split(".")[0]
                if top in ALLOWED and top not in allowed and not (relative in WIRING and top == "handlers"):
                    problems.append(f"{relative} imports {name}")
    assert problems == []


def test_sql_lives_only_in_storage():
    for package in ("bot", "handlers", "timebank"):
        for path in (ROOT / package).rglob("*.py"):
            assert "sqlite3" not in {n.split(".")[0] for n in imports_of(path)}, path


def test_aiosqlite_still_has_what_the_one_hop_transaction_uses():
    # storage/db.py Database._hop reaches inside aiosqlite; a release that moves these must fail here,
    # clearly, rather than in every test at once.
    assert callable(getattr(aiosqlite.Connection, "_execute", None)), \
        "aiosqlite.Connection._execute is gone: update storage.db.Database._hop"
    assert isinstance(getattr(aiosqlite.Connection, "_conn", None), property), \
        "aiosqlite.Connection._conn is gone: update storage.db.Database._hop"


def test_no_handler_splits_callback_data_itself():
    for path in (ROOT / "handlers").glob("*.py"):
        assert '.split(":")' not in path.read_text(encoding="utf-8"), path


def test_command_names_are_unique_and_described():
    names = [command.name for command in COMMANDS]
    assert len(names) == len(set(names))
    assert all(command.description for command in COMMANDS)


async def test_menus_and_help_follow_the_command_table(world, community):
    member_menu = world.tg.wait_for(lambda t: t.commands(), timeout=5)
    admin_menu = world.tg.commands(scope_type="all_chat_administrators")
    assert [c["command"] for c in member_menu] == [c.name for c in COMMANDS if not c.admin]
    assert [c["command"] for c in admin_menu] == [c.name for c in COMMANDS]
    member_help = texts(await community["alice"].says("/help"))
    admin_help = texts(await community["ada"].says("/help", -1001234567890))
    for command in COMMANDS:
        assert (f"/{command.name} — " in member_help) is not command.admin
        assert f"/{command.name} — {command.description}" in admin_help


@pytest.mark.parametrize("command", [c for c in COMMANDS])
def test_every_command_in_the_table_has_a_catalog_description(command):
    from bot.i18n import Catalogs

    spanish = Catalogs("en").get("es")
    assert spanish(command.description) != command.description


def test_nothing_shipped_points_outside_the_repository():
    # A person who clones the repository has no ../shared: README and the code must stand alone.
    shipped = [ROOT / "README.md", ROOT / "bench" / "README.md",
               *[p for package in ("bot", "handlers", "storage", "timebank") for p in (ROOT / package).rglob("*.py")]]
    for path in shipped:
        assert "../shared" not in path.read_text(encoding="utf-8"), path


BIGGEST = [
    callbacks.ExchangeButton("cancel", 10**17), callbacks.PageButton("b", 10**17, 10**8),
    callbacks.ClosePostButton(10**17), callbacks.NewcomerButton("approve", 10**17), callbacks.LanguageButton("pt_BR"),
    callbacks.FlowButton(10**17, "m720"), callbacks.TimebankChoiceButton(10**17), callbacks.AnonymousButton(10**17),
]


@pytest.mark.parametrize("button", BIGGEST, ids=lambda b: type(b).__name__)
def test_every_button_kind_round_trips_within_telegrams_64_bytes(button):
    data = button.pack()
    assert len(data.encode()) <= 64
    assert type(button).parse(data) == button
    others = [type(other) for other in BIGGEST if type(other) is not type(button)]
    assert not any(kind.matches(data) for kind in others), "two kinds of button would claim the same data"
