"""Timebanks (one per Telegram group) and their community account."""

from __future__ import annotations

import sqlite3

from storage.db import reader, writer
from storage.rows import from_row
from timebank.models import Timebank

_COLUMNS = (
    "id, chat_id, title, language, approval_required, min_balance, max_exchange, "
    "exchange_expiry_days, post_days, weekly_digest, in_group, welcome_message_id"
)


def _get(conn: sqlite3.Connection, chat_id: int) -> Timebank | None:
    row = conn.execute(f"SELECT {_COLUMNS} FROM timebanks WHERE chat_id = ?", (chat_id,)).fetchone()
    return from_row(Timebank, row) if row else None


@writer
def ensure(conn: sqlite3.Connection, chat_id: int, title: str, now: int) -> tuple[Timebank, bool]:
    """The timebank of a group, set up with its community account on first sight."""
    existing = _get(conn, chat_id)
    if existing:
        if existing.title != title or not existing.in_group:
            conn.execute("UPDATE timebanks SET title = ?, in_group = 1 WHERE id = ?", (title, existing.id))
            existing = _get(conn, chat_id) or existing
        return existing, False
    cur = conn.execute("INSERT INTO timebanks (chat_id, title, created_at) VALUES (?, ?, ?)", (chat_id, title, now))
    conn.execute("INSERT INTO accounts (timebank_id, kind) VALUES (?, 'community')", (cur.lastrowid,))
    created = _get(conn, chat_id)
    assert created is not None  # inserted just above, in this transaction
    return created, True


@reader
def all_timebanks(conn: sqlite3.Connection) -> list[Timebank]:
    return [from_row(Timebank, row) for row in conn.execute(f"SELECT {_COLUMNS} FROM timebanks")]


@writer
def set_welcome(conn: sqlite3.Connection, timebank_id: int, message_id: int) -> None:
    conn.execute("UPDATE timebanks SET welcome_message_id = ? WHERE id = ?", (message_id, timebank_id))


@writer
def set_in_group(conn: sqlite3.Connection, chat_id: int, in_group: bool) -> Timebank | None:
    conn.execute("UPDATE timebanks SET in_group = ? WHERE chat_id = ?", (int(in_group), chat_id))
    return _get(conn, chat_id)


@writer
def move_chat(conn: sqlite3.Connection, old_chat_id: int, new_chat_id: int) -> Timebank | None:
    """A group became a supergroup: the timebank follows it to its new id."""
    if _get(conn, new_chat_id) is None:
        conn.execute("UPDATE timebanks SET chat_id = ? WHERE chat_id = ?", (new_chat_id, old_chat_id))
    return _get(conn, new_chat_id)


_SETTABLE = {"language", "approval_required", "min_balance", "max_exchange",
             "exchange_expiry_days", "post_days", "weekly_digest"}


@writer
def update_settings(conn: sqlite3.Connection, timebank_id: int, values: dict) -> Timebank:
    unknown = set(values) - _SETTABLE
    if unknown:
        raise ValueError(f"not a timebank setting: {sorted(unknown)}")
    for name, value in values.items():
        conn.execute(f"UPDATE timebanks SET {name} = ? WHERE id = ?", (value, timebank_id))
    row = conn.execute(f"SELECT {_COLUMNS} FROM timebanks WHERE id = ?", (timebank_id,)).fetchone()
    return from_row(Timebank, row)
