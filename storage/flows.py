"""Guided flows in progress: one row per person, written at every step (see bot/flows.py)."""

from __future__ import annotations

import json
import sqlite3

from storage.db import reader, writer
from timebank.models import Flow

_COLUMNS = "id, user_id, command, step, chat_id, timebank_id, answers, message_id, message_buttons"


def _flow(row: sqlite3.Row) -> Flow:
    return Flow(id=row["id"], user_id=row["user_id"], command=row["command"], step=row["step"],
                chat_id=row["chat_id"], timebank_id=row["timebank_id"], answers=json.loads(row["answers"]),
                message_id=row["message_id"], message_buttons=bool(row["message_buttons"]))


@writer
def start(conn: sqlite3.Connection, user_id: int, command: str, step: str, chat_id: int,
          timebank_id: int | None, answers: dict, now: int) -> Flow:
    """A new flow for this person, replacing any they had (a new command starts afresh)."""
    conn.execute("DELETE FROM flows WHERE user_id = ?", (user_id,))
    row = conn.execute(
        f"INSERT INTO flows (user_id, command, step, chat_id, timebank_id, answers, created_at, updated_at) "
        f"VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING {_COLUMNS}",
        (user_id, command, step, chat_id, timebank_id, json.dumps(answers), now, now),
    ).fetchone()
    return _flow(row)


@reader
def current(conn: sqlite3.Connection, user_id: int) -> Flow | None:
    row = conn.execute(f"SELECT {_COLUMNS} FROM flows WHERE user_id = ?", (user_id,)).fetchone()
    return _flow(row) if row else None


@writer
def advance(conn: sqlite3.Connection, flow_id: int, step: str, timebank_id: int | None, answers: dict,
            now: int) -> Flow | None:
    """Move a flow to its next question; None if it ended meanwhile."""
    row = conn.execute(
        f"UPDATE flows SET step = ?, timebank_id = ?, answers = ?, updated_at = ? WHERE id = ? RETURNING {_COLUMNS}",
        (step, timebank_id, json.dumps(answers), now, flow_id),
    ).fetchone()
    return _flow(row) if row else None


@writer
def set_question(conn: sqlite3.Connection, flow_id: int, message_id: int, has_buttons: bool) -> None:
    conn.execute("UPDATE flows SET message_id = ?, message_buttons = ? WHERE id = ?",
                 (message_id, int(has_buttons), flow_id))


@writer
def finish(conn: sqlite3.Connection, flow_id: int) -> bool:
    """End a flow (done or cancelled); False if it had already ended."""
    return conn.execute("DELETE FROM flows WHERE id = ?", (flow_id,)).rowcount == 1


@writer
def finish_for(conn: sqlite3.Connection, user_id: int) -> Flow | None:
    """End whatever flow this person has (/cancel); the flow that ended, if any."""
    row = conn.execute(f"DELETE FROM flows WHERE user_id = ? RETURNING {_COLUMNS}", (user_id,)).fetchone()
    return _flow(row) if row else None
