"""Offers and requests."""

from __future__ import annotations

import sqlite3

from storage.db import reader, writer
from storage.rows import from_row
from timebank.models import Page, Post

_SELECT = (
    "SELECT p.*, u.first_name || coalesce(' ' || u.last_name, '') AS author_name, m.number AS author_number "
    "FROM posts p JOIN members m ON m.id = p.author_id JOIN users u ON u.id = m.user_id "
)


def _load(conn: sqlite3.Connection, post_id: int) -> Post | None:
    row = conn.execute(_SELECT + "WHERE p.id = ?", (post_id,)).fetchone()
    return from_row(Post, row) if row else None


@writer
def create(conn: sqlite3.Connection, timebank_id: int, author_id: int, kind: str, text: str,
           source: tuple[int, int] | None, now: int, topic_id: int | None = None) -> tuple[Post, bool]:
    """A new open post; the same source message twice makes it once. `topic_id`: the forum topic
    it is announced in."""
    if source is not None:
        row = conn.execute("SELECT id FROM posts WHERE source_chat_id = ? AND source_message_id = ?",
                           source).fetchone()
        found = _load(conn, row[0]) if row else None
        if found is not None:
            return found, False
    days = conn.execute("SELECT post_days FROM timebanks WHERE id = ?", (timebank_id,)).fetchone()[0]
    chat, message = source if source else (None, None)
    cur = conn.execute(
        "INSERT INTO posts (timebank_id, author_id, kind, text, created_at, expires_at, source_chat_id, "
        "source_message_id, topic_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (timebank_id, author_id, kind, text, now, now + days * 86400, chat, message, topic_id),
    )
    post = _load(conn, cur.lastrowid or 0)
    assert post is not None  # inserted just above, in this transaction
    return post, True


@writer
def set_announcement(conn: sqlite3.Connection, post_id: int, chat_id: int, message_id: int) -> None:
    conn.execute("UPDATE posts SET announce_chat_id = ?, announce_message_id = ? WHERE id = ?",
                 (chat_id, message_id, post_id))


@reader
def get(conn: sqlite3.Connection, post_id: int) -> Post | None:
    return _load(conn, post_id)


@reader
def open_posts(conn: sqlite3.Connection, timebank_id: int, now: int, offset: int, limit: int) -> Page:
    rows = conn.execute(
        _SELECT + "WHERE p.timebank_id = ? AND p.status = 'open' AND p.expires_at > ? "
        "ORDER BY p.id DESC LIMIT ? OFFSET ?",
        (timebank_id, now, limit + 1, offset),
    ).fetchall()
    return Page([from_row(Post, r) for r in rows[:limit]], offset, len(rows) > limit)


@reader
def open_by_author(conn: sqlite3.Connection, author_id: int, now: int, limit: int) -> list[Post]:
    rows = conn.execute(
        _SELECT + "WHERE p.author_id = ? AND p.status = 'open' AND p.expires_at > ? ORDER BY p.id DESC LIMIT ?",
        (author_id, now, limit),
    ).fetchall()
    return [from_row(Post, r) for r in rows]


@writer
def close(conn: sqlite3.Connection, post_id: int, author_id: int, now: int) -> Post | None:
    """Close one's own open post; None when it is not theirs or not open (nothing changes)."""
    cur = conn.execute(
        "UPDATE posts SET status = 'closed', closed_at = ? WHERE id = ? AND author_id = ? AND status = 'open'",
        (now, post_id, author_id),
    )
    return _load(conn, post_id) if cur.rowcount == 1 else None
