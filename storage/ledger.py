"""Exchanges and the double-entry ledger.

A confirmation is one IMMEDIATE transaction: the state change is guarded in SQL
(`WHERE state = 'pending'`), and the two entries, the cached balances and the
counters /stats reads are written with it, so it happens exactly once or not at all.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import replace

from storage.db import reader, writer
from storage.rows import from_row
from timebank import rules
from timebank.models import Exchange, Member, Page, Stats
from timebank.rules import Refusal, RuleError

_PARTY = (
    "{p}.id AS {p}_id, {p}.timebank_id AS {p}_timebank_id, {p}.user_id AS {p}_user_id, "
    "{p}.number AS {p}_number, {p}.status AS {p}_status, {p}.account_id AS {p}_account_id, "
    "{p}a.balance AS {p}_balance, {p}u.first_name AS {p}_first_name, {p}u.last_name AS {p}_last_name, "
    "{p}u.username AS {p}_username, {p}u.language AS {p}_language, "
    "{p}u.language_code AS {p}_language_code, {p}u.can_dm AS {p}_can_dm"
)
_EXCHANGE_SELECT = (
    "SELECT e.*, " + _PARTY.format(p="pm") + ", " + _PARTY.format(p="rm") + " FROM exchanges e "
    "JOIN members pm ON pm.id = e.provider_id JOIN accounts pma ON pma.id = pm.account_id "
    "JOIN users pmu ON pmu.id = pm.user_id "
    "JOIN members rm ON rm.id = e.receiver_id JOIN accounts rma ON rma.id = rm.account_id "
    "JOIN users rmu ON rmu.id = rm.user_id "
)


def _exchange(row: sqlite3.Row) -> Exchange:
    return Exchange(
        id=row["id"], timebank_id=row["timebank_id"], provider_id=row["provider_id"],
        receiver_id=row["receiver_id"], recorded_by=row["recorded_by"], minutes=row["minutes"],
        description=row["description"], state=row["state"], created_at=row["created_at"],
        expires_at=row["expires_at"], decided_at=row["decided_at"],
        ask_chat_id=row["ask_chat_id"], ask_message_id=row["ask_message_id"],
        receipt_chat_id=row["receipt_chat_id"], receipt_message_id=row["receipt_message_id"],
        provider=from_row(Member, row, "pm_"), receiver=from_row(Member, row, "rm_"),
    )


def _load(conn: sqlite3.Connection, exchange_id: int) -> Exchange | None:
    row = conn.execute(_EXCHANGE_SELECT + "WHERE e.id = ?", (exchange_id,)).fetchone()
    return _exchange(row) if row else None


@reader
def get(conn: sqlite3.Connection, exchange_id: int) -> Exchange | None:
    return _load(conn, exchange_id)


@writer
def record(conn: sqlite3.Connection, timebank_id: int, provider_id: int, receiver_id: int,
           recorded_by: int, minutes: int, description: str, source: tuple[int, int] | None,
           now: int) -> tuple[Exchange, bool]:
    """A pending exchange, checked against the rules. The same source message twice records it once."""
    if source is not None:
        row = conn.execute(
            "SELECT id FROM exchanges WHERE source_chat_id = ? AND source_message_id = ?", source
        ).fetchone()
        if row:
            return _load(conn, row[0]), False
    tb = conn.execute("SELECT max_exchange, exchange_expiry_days FROM timebanks WHERE id = ?",
                      (timebank_id,)).fetchone()
    statuses = dict(conn.execute(
        "SELECT id, status FROM members WHERE id IN (?, ?) AND timebank_id = ?",
        (provider_id, receiver_id, timebank_id),
    ).fetchall())
    other_id = receiver_id if recorded_by == provider_id else provider_id
    rules.check_can_exchange(statuses.get(recorded_by), statuses.get(other_id), provider_id == receiver_id)
    rules.check_amount(minutes, tb["max_exchange"])
    source_chat, source_message = source if source else (None, None)
    cur = conn.execute(
        "INSERT INTO exchanges (timebank_id, provider_id, receiver_id, recorded_by, minutes, description, "
        "created_at, expires_at, source_chat_id, source_message_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (timebank_id, provider_id, receiver_id, recorded_by, minutes, description, now,
         now + tb["exchange_expiry_days"] * 86400, source_chat, source_message),
    )
    return _load(conn, cur.lastrowid), True


@writer
def set_messages(conn: sqlite3.Connection, exchange_id: int, ask_chat_id: int | None, ask_message_id: int | None,
                 receipt_chat_id: int, receipt_message_id: int) -> None:
    """Where the request and the receipt are, so both can be edited to the outcome."""
    conn.execute(
        "UPDATE exchanges SET ask_chat_id = ?, ask_message_id = ?, receipt_chat_id = ?, receipt_message_id = ? "
        "WHERE id = ?",
        (ask_chat_id, ask_message_id, receipt_chat_id, receipt_message_id, exchange_id),
    )


def _party_of(exchange: Exchange, user_id: int) -> int | None:
    if user_id == exchange.provider.user_id:
        return exchange.provider_id
    if user_id == exchange.receiver.user_id:
        return exchange.receiver_id
    return None


def _parties(exchange: Exchange) -> rules.ExchangeParties:
    return rules.ExchangeParties(exchange.provider_id, exchange.receiver_id, exchange.recorded_by)


def _guarded_state_change(conn: sqlite3.Connection, exchange_id: int, state: str, now: int) -> None:
    cur = conn.execute(
        "UPDATE exchanges SET state = ?, decided_at = ? WHERE id = ? AND state = 'pending'",
        (state, now, exchange_id),
    )
    if cur.rowcount != 1:  # cannot happen under BEGIN IMMEDIATE, but never move money twice
        raise RuleError(Refusal.ALREADY_DECIDED)


def _pending_or_refuse(conn: sqlite3.Connection, exchange_id: int) -> Exchange:
    exchange = _load(conn, exchange_id)
    if exchange is None:
        raise RuleError(Refusal.NOT_FOUND)
    if exchange.state != "pending":
        raise RuleError(Refusal.ALREADY_DECIDED, exchange=exchange)
    return exchange


@writer
def confirm(conn: sqlite3.Connection, exchange_id: int, user_id: int, now: int) -> Exchange:
    """The counterparty confirms: minutes move from receiver to provider, exactly once.

    Returns the exchange with its new state and both parties' new balances (state 'expired'
    if it had run out of time); the members' other counters are as they were before, which
    is all the replies need. Raises RuleError, changing nothing, when the rules refuse.
    """
    exchange = _pending_or_refuse(conn, exchange_id)
    rules.check_may_decide(_parties(exchange), _party_of(exchange, user_id))
    if now >= exchange.expires_at:
        _guarded_state_change(conn, exchange_id, "expired", now)
        return _load(conn, exchange_id)
    me, other = ((exchange.provider, exchange.receiver) if exchange.counterparty is exchange.provider
                 else (exchange.receiver, exchange.provider))
    rules.check_can_exchange(me.status, other.status, False)
    floor = conn.execute("SELECT min_balance FROM timebanks WHERE id = ?", (exchange.timebank_id,)).fetchone()[0]
    rules.check_floor(exchange.receiver.balance, exchange.minutes, floor)

    _guarded_state_change(conn, exchange_id, "confirmed", now)
    (provider_account, credit), (receiver_account, debit) = rules.double_entry(
        exchange.provider.account_id, exchange.receiver.account_id, exchange.minutes)
    # Few statements, each touching rows by primary key: the transaction stays short.
    conn.execute(
        "INSERT INTO entries (timebank_id, account_id, exchange_id, minutes, created_at) "
        "VALUES (?1, ?2, ?4, ?5, ?7), (?1, ?3, ?4, ?6, ?7)",
        (exchange.timebank_id, provider_account, receiver_account, exchange_id, credit, debit, now),
    )
    conn.execute(
        "UPDATE accounts SET balance = balance + CASE id WHEN ?1 THEN ?2 ELSE ?4 END WHERE id IN (?1, ?3)",
        (provider_account, credit, receiver_account, debit),
    )
    _count_confirmed(conn, exchange, now)
    return replace(
        exchange, state="confirmed", decided_at=now,
        provider=replace(exchange.provider, balance=exchange.provider.balance + credit),
        receiver=replace(exchange.receiver, balance=exchange.receiver.balance + debit),
    )


def _count_confirmed(conn: sqlite3.Connection, exchange: Exchange, now: int) -> None:
    """Keep the figures /balance and /stats read current, in the confirming transaction."""
    minutes, provider_id, receiver_id = exchange.minutes, exchange.provider_id, exchange.receiver_id
    first_time = conn.execute(
        "INSERT INTO helped (provider_id, receiver_id, minutes, exchanges) VALUES (?, ?, ?, 1) "
        "ON CONFLICT (provider_id, receiver_id) DO UPDATE SET minutes = minutes + excluded.minutes, "
        "exchanges = exchanges + 1 RETURNING exchanges = 1",
        (provider_id, receiver_id, minutes),
    ).fetchone()[0]
    conn.execute(
        "UPDATE members SET exchanges_count = exchanges_count + 1, "
        "given_minutes = given_minutes + CASE id WHEN ?1 THEN ?3 ELSE 0 END, "
        "received_minutes = received_minutes + CASE id WHEN ?2 THEN ?3 ELSE 0 END, "
        "people_helped = people_helped + CASE id WHEN ?1 THEN ?4 ELSE 0 END WHERE id IN (?1, ?2)",
        (provider_id, receiver_id, minutes, int(first_time)),
    )
    # A new pair of people is counted once, whichever of them helped first.
    new_pair = first_time and conn.execute(
        "SELECT 1 FROM helped WHERE provider_id = ? AND receiver_id = ?", (receiver_id, provider_id)
    ).fetchone() is None
    conn.execute(
        "UPDATE timebanks SET minutes_exchanged = minutes_exchanged + ?, "
        "exchanges_confirmed = exchanges_confirmed + 1, helper_pairs = helper_pairs + ? WHERE id = ?",
        (minutes, int(bool(new_pair)), exchange.timebank_id),
    )
    conn.execute(
        "INSERT INTO monthly (timebank_id, month, minutes, exchanges) VALUES (?, ?, ?, 1) "
        "ON CONFLICT (timebank_id, month) DO UPDATE SET minutes = minutes + excluded.minutes, "
        "exchanges = exchanges + 1",
        (exchange.timebank_id, month_of(now), minutes),
    )


def _end_unconfirmed(conn: sqlite3.Connection, exchange_id: int, user_id: int, now: int, may, state: str) -> Exchange:
    exchange = _pending_or_refuse(conn, exchange_id)
    may(_parties(exchange), _party_of(exchange, user_id))
    _guarded_state_change(conn, exchange_id, state, now)
    return _load(conn, exchange_id)


@writer
def decline(conn: sqlite3.Connection, exchange_id: int, user_id: int, now: int) -> Exchange:
    """The counterparty says it did not happen: nothing moves."""
    return _end_unconfirmed(conn, exchange_id, user_id, now, rules.check_may_decide, "declined")


@writer
def cancel(conn: sqlite3.Connection, exchange_id: int, user_id: int, now: int) -> Exchange:
    """The recorder takes it back while it is pending: nothing moves."""
    return _end_unconfirmed(conn, exchange_id, user_id, now, rules.check_may_cancel, "cancelled")


@reader
def pending_for(conn: sqlite3.Connection, member_id: int, limit: int) -> tuple[list[Exchange], list[Exchange]]:
    """(waiting for my answer, mine waiting for others), oldest first."""
    rows = conn.execute(
        _EXCHANGE_SELECT + "WHERE e.state = 'pending' AND (e.provider_id = ?1 OR e.receiver_id = ?1) "
        "ORDER BY e.id LIMIT ?2",
        (member_id, limit),
    ).fetchall()
    exchanges = [_exchange(r) for r in rows]
    return ([e for e in exchanges if e.recorded_by != member_id],
            [e for e in exchanges if e.recorded_by == member_id])


@reader
def history(conn: sqlite3.Connection, member_id: int, offset: int, limit: int) -> Page:
    """A member's exchanges, newest first (two index range scans, merged by SQLite)."""
    rows = conn.execute(
        _EXCHANGE_SELECT + "WHERE e.id IN (SELECT id FROM (SELECT id FROM exchanges WHERE provider_id = ?1 "
        "UNION ALL SELECT id FROM exchanges WHERE receiver_id = ?1) ORDER BY id DESC LIMIT ?2 OFFSET ?3) "
        "ORDER BY e.id DESC",
        (member_id, limit + 1, offset),
    ).fetchall()
    return Page([_exchange(r) for r in rows[:limit]], offset, len(rows) > limit)


@reader
def stats(conn: sqlite3.Connection, timebank_id: int, now: int) -> Stats:
    tb = conn.execute(
        "SELECT minutes_exchanged, exchanges_confirmed, helper_pairs FROM timebanks WHERE id = ?", (timebank_id,)
    ).fetchone()
    members = conn.execute(
        "SELECT count(*) FROM members WHERE timebank_id = ? AND status = 'active'", (timebank_id,)
    ).fetchone()[0]
    month = conn.execute(
        "SELECT minutes FROM monthly WHERE timebank_id = ? AND month = ?", (timebank_id, month_of(now))
    ).fetchone()
    return Stats(members=members, minutes_exchanged=tb[0], minutes_this_month=month[0] if month else 0,
                 exchanges=tb[1], helper_pairs=tb[2])


@reader
def audit_sums(conn: sqlite3.Connection, timebank_id: int) -> dict:
    """The ledger's invariants, computed the slow way (tests and /audit use this, never a hot path)."""
    cached = conn.execute("SELECT coalesce(sum(balance), 0) FROM accounts WHERE timebank_id = ?",
                          (timebank_id,)).fetchone()[0]
    entries = conn.execute("SELECT coalesce(sum(minutes), 0) FROM entries WHERE timebank_id = ?",
                           (timebank_id,)).fetchone()[0]
    mismatched = conn.execute(
        "SELECT count(*) FROM accounts a WHERE a.timebank_id = ? AND a.balance != "
        "(SELECT coalesce(sum(minutes), 0) FROM entries WHERE account_id = a.id)", (timebank_id,)
    ).fetchone()[0]
    unbalanced = conn.execute(
        "SELECT count(*) FROM (SELECT exchange_id FROM entries WHERE timebank_id = ? "
        "GROUP BY exchange_id HAVING sum(minutes) != 0)", (timebank_id,)
    ).fetchone()[0]
    # The per-member figures /balance shows, against the confirmed exchanges they summarise.
    mismatched += conn.execute(
        "SELECT count(*) FROM members m WHERE m.timebank_id = ?1 AND ("
        "m.given_minutes != (SELECT coalesce(sum(minutes), 0) FROM exchanges "
        "  WHERE provider_id = m.id AND state = 'confirmed') OR "
        "m.received_minutes != (SELECT coalesce(sum(minutes), 0) FROM exchanges "
        "  WHERE receiver_id = m.id AND state = 'confirmed') OR "
        "m.exchanges_count != (SELECT count(*) FROM exchanges "
        "  WHERE (provider_id = m.id OR receiver_id = m.id) AND state = 'confirmed') OR "
        "m.people_helped != (SELECT count(*) FROM helped WHERE provider_id = m.id))", (timebank_id,)
    ).fetchone()[0]
    return {"balances": cached, "entries": entries, "mismatched_accounts": mismatched,
            "unbalanced_exchanges": unbalanced}


def month_of(ts: int) -> str:
    return time.strftime("%Y-%m", time.gmtime(ts))

