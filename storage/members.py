"""Telegram users and their memberships of timebanks."""

from __future__ import annotations

import sqlite3

from storage.db import reader, writer
from storage.rows import from_row
from timebank.models import Member

MEMBER_SELECT = (
    "SELECT m.id, m.timebank_id, m.user_id, m.number, m.status, m.account_id, a.balance, "
    "m.given_minutes, m.received_minutes, m.exchanges_count, m.people_helped, "
    "u.first_name, u.last_name, u.username, u.language, u.language_code, u.can_dm "
    "FROM members m JOIN accounts a ON a.id = m.account_id JOIN users u ON u.id = m.user_id "
)


def member_row(conn: sqlite3.Connection, where: str, params: tuple) -> Member | None:
    row = conn.execute(MEMBER_SELECT + "WHERE " + where, params).fetchone()
    return from_row(Member, row) if row else None


# --- users -------------------------------------------------------------------------------

@writer
def upsert_user(conn: sqlite3.Connection, user_id: int, first_name: str, last_name: str | None,
                username: str | None, language_code: str | None, now: int) -> None:
    conn.execute(
        "INSERT INTO users (id, first_name, last_name, username, language_code, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET first_name = excluded.first_name, "
        "last_name = excluded.last_name, username = excluded.username, "
        "language_code = excluded.language_code, updated_at = excluded.updated_at",
        (user_id, first_name, last_name, username, language_code, now),
    )


@reader
def user_snapshots(conn: sqlite3.Connection) -> dict[int, tuple]:
    """What we last stored of each user, so unchanged users cost no write."""
    return {
        row[0]: tuple(row[1:])
        for row in conn.execute(
            "SELECT id, first_name, last_name, username, language_code, language, can_dm FROM users")
    }


@writer
def set_language(conn: sqlite3.Connection, user_id: int, language: str) -> None:
    conn.execute("UPDATE users SET language = ? WHERE id = ?", (language, user_id))


@writer
def set_can_dm(conn: sqlite3.Connection, user_id: int, can_dm: bool) -> None:
    conn.execute("UPDATE users SET can_dm = ? WHERE id = ?", (int(can_dm), user_id))


# --- members -----------------------------------------------------------------------------

@writer
def join(conn: sqlite3.Connection, timebank_id: int, user_id: int, approval_required: bool,
         now: int) -> tuple[Member, bool]:
    """Join (or re-join) a timebank. Returns the member and whether anything changed."""
    existing = member_row(conn, "m.timebank_id = ? AND m.user_id = ?", (timebank_id, user_id))
    if existing and existing.status != "left":
        return existing, False
    status = "pending" if approval_required else "active"
    if existing:  # came back after leaving: same number, same balance; vetted once is enough
        conn.execute(
            "UPDATE members SET status = CASE WHEN approved_at IS NOT NULL THEN 'active' ELSE ? END, "
            "joined_at = ? WHERE id = ?",
            (status, now, existing.id),
        )
    else:
        number = conn.execute(
            "UPDATE timebanks SET next_number = next_number + 1 WHERE id = ? RETURNING next_number - 1",
            (timebank_id,),
        ).fetchone()[0]
        account_id = conn.execute(
            "INSERT INTO accounts (timebank_id, kind) VALUES (?, 'member')", (timebank_id,)
        ).lastrowid
        conn.execute(
            "INSERT INTO members (timebank_id, user_id, account_id, number, status, joined_at, approved_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (timebank_id, user_id, account_id, number, status, now, None if approval_required else now),
        )
    member = member_row(conn, "m.timebank_id = ? AND m.user_id = ?", (timebank_id, user_id))
    assert member is not None  # written just above, in this transaction
    return member, True


@reader
def by_user(conn: sqlite3.Connection, timebank_id: int, user_id: int) -> Member | None:
    return member_row(conn, "m.timebank_id = ? AND m.user_id = ?", (timebank_id, user_id))


@reader
def by_id(conn: sqlite3.Connection, member_id: int) -> Member | None:
    return member_row(conn, "m.id = ?", (member_id,))


@reader
def by_number(conn: sqlite3.Connection, timebank_id: int, number: int) -> Member | None:
    return member_row(conn, "m.timebank_id = ? AND m.number = ?", (timebank_id, number))


@reader
def by_username(conn: sqlite3.Connection, timebank_id: int, username: str) -> Member | None:
    return member_row(
        conn, "m.timebank_id = ? AND m.user_id IN (SELECT id FROM users WHERE username = ? COLLATE NOCASE)",
        (timebank_id, username),
    )


@reader
def memberships(conn: sqlite3.Connection, user_id: int) -> list[Member]:
    """Every timebank this person belongs to (any status), oldest first."""
    rows = conn.execute(MEMBER_SELECT + "WHERE m.user_id = ? ORDER BY m.id", (user_id,)).fetchall()
    return [from_row(Member, row) for row in rows]


@writer
def set_status(conn: sqlite3.Connection, member_id: int, from_statuses: tuple[str, ...], to_status: str,
               actor_id: int, action: str, detail: str | None, now: int) -> Member | None:
    """Move a member between statuses, guarded so it happens once; audited. None if not allowed."""
    marks = ",".join("?" * len(from_statuses))
    cur = conn.execute(
        f"UPDATE members SET status = ?, decided_at = ?, "
        f"approved_at = CASE WHEN ? = 'active' THEN coalesce(approved_at, ?) ELSE approved_at END "
        f"WHERE id = ? AND status IN ({marks})",
        (to_status, now, to_status, now, member_id, *from_statuses),
    )
    if cur.rowcount != 1:
        return None
    member = member_row(conn, "m.id = ?", (member_id,))
    assert member is not None  # updated just above, in this transaction
    conn.execute(
        "INSERT INTO audit (timebank_id, actor_id, action, member_id, detail, created_at) VALUES (?, ?, ?, ?, ?, ?)",
        (member.timebank_id, actor_id, action, member_id, detail, now),
    )
    return member


@writer
def keep_for_later(conn: sqlite3.Connection, user_id: int, text: str, now: int) -> None:
    conn.execute("INSERT INTO outbox (user_id, text, created_at) VALUES (?, ?, ?)", (user_id, text, now))


@writer
def take_kept(conn: sqlite3.Connection, user_id: int) -> list[str]:
    """Messages kept while we could not write to this person, oldest first; handed over once."""
    rows = conn.execute("DELETE FROM outbox WHERE user_id = ? RETURNING id, text", (user_id,)).fetchall()
    return [text for _, text in sorted(rows)]


# --- admins ------------------------------------------------------------------------------

@writer
def note_admin(conn: sqlite3.Connection, timebank_id: int, user_id: int, now: int) -> None:
    """Remember that Telegram said this person administers this timebank's group."""
    conn.execute(
        "INSERT INTO known_admins (timebank_id, user_id, seen_at) VALUES (?, ?, ?) "
        "ON CONFLICT (user_id, timebank_id) DO UPDATE SET seen_at = excluded.seen_at",
        (timebank_id, user_id, now),
    )


@reader
def admin_of(conn: sqlite3.Connection, user_id: int) -> list[int]:
    """The timebanks whose group this person was seen administering."""
    return [row[0] for row in conn.execute("SELECT timebank_id FROM known_admins WHERE user_id = ?", (user_id,))]


@reader
def pending_members(conn: sqlite3.Connection, timebank_id: int, limit: int) -> list[Member]:
    """Newcomers waiting for a coordinator, oldest first (the status index)."""
    rows = conn.execute(MEMBER_SELECT + "WHERE m.timebank_id = ? AND m.status = 'pending' ORDER BY m.id LIMIT ?",
                        (timebank_id, limit)).fetchall()
    return [from_row(Member, row) for row in rows]


@reader
def by_name(conn: sqlite3.Connection, timebank_id: int, name: str, limit: int = 2) -> list[Member]:
    """Members of this timebank (not left) whose first name or full name is `name`, ignoring case.

    Asked only when someone types a name in answer to "who?", never per message.
    """
    rows = conn.execute(
        MEMBER_SELECT + "WHERE m.timebank_id = ?1 AND m.status != 'left' AND (u.first_name = ?2 COLLATE NOCASE "
        "OR (u.first_name || ' ' || coalesce(u.last_name, '')) = ?2 COLLATE NOCASE) ORDER BY m.id LIMIT ?3",
        (timebank_id, name.strip(), limit),
    ).fetchall()
    return [from_row(Member, row) for row in rows]


@reader
def recent_partners(conn: sqlite3.Connection, member_id: int, limit: int) -> list[Member]:
    """Active members this member exchanged with most recently (their last 30 exchanges, by index)."""
    rows = conn.execute(
        "SELECT other FROM (SELECT id, receiver_id AS other FROM exchanges WHERE provider_id = ?1 "
        "UNION ALL SELECT id, provider_id FROM exchanges WHERE receiver_id = ?1 ORDER BY id DESC LIMIT 30)",
        (member_id,),
    ).fetchall()
    seen: list[int] = []
    for (other,) in rows:
        if other not in seen:
            seen.append(other)
    found = []
    for other in seen:
        member = member_row(conn, "m.id = ? AND m.status = 'active'", (other,))
        if member is not None:
            found.append(member)
        if len(found) == limit:
            break
    return found
