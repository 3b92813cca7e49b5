"""Commands sent by anonymous admins, waiting for one of them to confirm it is them."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from storage.db import reader, writer


@dataclass(frozen=True)
class AnonymousCommand:
    id: int
    timebank_id: int
    command: str
    args: str
    topic_id: int | None


@writer
def keep(conn: sqlite3.Connection, timebank_id: int, command: str, args: str, topic_id: int | None,
         now: int) -> int:
    return conn.execute(
        "INSERT INTO anonymous_commands (timebank_id, command, args, topic_id, created_at) VALUES (?, ?, ?, ?, ?)",
        (timebank_id, command, args, topic_id, now),
    ).lastrowid or 0


@reader
def get(conn: sqlite3.Connection, command_id: int) -> AnonymousCommand | None:
    row = conn.execute("SELECT id, timebank_id, command, args, topic_id FROM anonymous_commands WHERE id = ?",
                       (command_id,)).fetchone()
    return AnonymousCommand(*row) if row else None


@writer
def take(conn: sqlite3.Connection, command_id: int) -> AnonymousCommand | None:
    """The command, once: a second press finds nothing."""
    row = conn.execute("DELETE FROM anonymous_commands WHERE id = ? RETURNING id, timebank_id, command, args, "
                       "topic_id", (command_id,)).fetchone()
    return AnonymousCommand(*row) if row else None
