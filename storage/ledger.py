"""Exchanges and the double-entry ledger of transfers between accounts.

Every movement of time is a transfer (an exchange, a grant from the community account, a
donation to it, or a reversal) written by `post_transfer`: its legs sum to zero, and the
entries and cached balances are written with it. An exchange is the social workflow
(pending → confirmed / declined / cancelled / expired) that ends in a transfer.

A confirmation is one IMMEDIATE transaction: the state change is guarded in SQL
(`WHERE state = 'pending'`), and the transfer, its entries, the cached balances and the
counters /stats reads are written with it, so it happens exactly once or not at all.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Mapping
from dataclasses import replace

from storage.db import reader, writer
from storage.rows import from_row
from timebank import rules
from timebank.models import Entry, Exchange, Member, Page, Stats, Transfer
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
        provider=from_row(Member, row, "pm_"), receiver=from_row(Member, row, "rm_"), topic_id=row["topic_id"],
    )


# The exchange and its timebank's lowest balance in one read: what a confirmation needs.
_CONFIRM_SELECT = (
    _EXCHANGE_SELECT.replace("SELECT e.*, ", "SELECT e.*, tb.min_balance AS floor_minutes, ", 1)
    + "JOIN timebanks tb ON tb.id = e.timebank_id WHERE e.id = ?"
)


def _load(conn: sqlite3.Connection, exchange_id: int) -> Exchange | None:
    row = conn.execute(_EXCHANGE_SELECT + "WHERE e.id = ?", (exchange_id,)).fetchone()
    return _exchange(row) if row else None


def _must_load(conn: sqlite3.Connection, exchange_id: int | None) -> Exchange:
    """An exchange this transaction has just read or written: it is there."""
    assert exchange_id is not None
    exchange = _load(conn, exchange_id)
    assert exchange is not None, exchange_id
    return exchange


@reader
def get(conn: sqlite3.Connection, exchange_id: int) -> Exchange | None:
    return _load(conn, exchange_id)


@writer
def record(conn: sqlite3.Connection, timebank_id: int, provider_id: int, receiver_id: int,
           recorded_by: int, minutes: int, description: str, source: tuple[int, int] | None,
           now: int, topic_id: int | None = None) -> tuple[Exchange, bool]:
    """A pending exchange, checked against the rules. The same source message twice records it once.

    `topic_id`: the forum topic it was recorded in, where later notices about it go.
    """
    if source is not None:
        row = conn.execute(
            "SELECT id FROM exchanges WHERE source_chat_id = ? AND source_message_id = ?", source
        ).fetchone()
        if row:
            return _must_load(conn, row[0]), False
    tb = conn.execute("SELECT max_exchange, exchange_expiry_days, min_balance FROM timebanks WHERE id = ?",
                      (timebank_id,)).fetchone()
    found = {row[0]: (row[1], row[2]) for row in conn.execute(
        "SELECT m.id, m.status, a.balance FROM members m JOIN accounts a ON a.id = m.account_id "
        "WHERE m.id IN (?, ?) AND m.timebank_id = ?",
        (provider_id, receiver_id, timebank_id),
    )}
    other_id = receiver_id if recorded_by == provider_id else provider_id
    rules.check_can_exchange(found.get(recorded_by, (None,))[0], found.get(other_id, (None,))[0],
                             provider_id == receiver_id)
    rules.check_amount(minutes, tb["max_exchange"])
    # Refused now rather than at confirmation when the receiver could not pay it today
    # (confirm checks again: the balance may have moved since).
    rules.check_floor(found[receiver_id][1], minutes, tb["min_balance"])
    source_chat, source_message = source if source else (None, None)
    cur = conn.execute(
        "INSERT INTO exchanges (timebank_id, provider_id, receiver_id, recorded_by, minutes, description, "
        "created_at, expires_at, source_chat_id, source_message_id, topic_id) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (timebank_id, provider_id, receiver_id, recorded_by, minutes, description, now,
         now + tb["exchange_expiry_days"] * 86400, source_chat, source_message, topic_id),
    )
    return _must_load(conn, cur.lastrowid), True


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
    return _pending(exchange)


def _pending(exchange: Exchange | None) -> Exchange:
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
    row = conn.execute(_CONFIRM_SELECT, (exchange_id,)).fetchone()
    exchange = _pending(_exchange(row) if row else None)
    rules.check_may_decide(_parties(exchange), _party_of(exchange, user_id))
    if now >= exchange.expires_at:
        _guarded_state_change(conn, exchange_id, "expired", now)
        return _must_load(conn, exchange_id)
    me, other = ((exchange.provider, exchange.receiver) if exchange.counterparty is exchange.provider
                 else (exchange.receiver, exchange.provider))
    rules.check_can_exchange(me.status, other.status, False)

    # Few statements, each touching rows by primary key: the transaction stays short.
    # post_transfer checks the floor before it writes anything; the guarded state change
    # after it makes sure the minutes move once (under BEGIN IMMEDIATE it cannot fail).
    provider, receiver = exchange.provider, exchange.receiver
    legs = rules.double_entry(provider.account_id, receiver.account_id, exchange.minutes)
    post_transfer(
        conn, exchange.timebank_id, "exchange", legs, user_id, now,
        exchange_id=exchange_id, post_id=row["post_id"], floor_minutes=row["floor_minutes"],
        # Read with the exchange a moment ago, in this transaction: no second read.
        accounts={provider.account_id: (provider.timebank_id, "member", provider.balance),
                  receiver.account_id: (receiver.timebank_id, "member", receiver.balance)},
    )
    _guarded_state_change(conn, exchange_id, "confirmed", now)
    _count_confirmed(conn, exchange, now)
    (_, credit), (_, debit) = legs
    return replace(
        exchange, state="confirmed", decided_at=now,
        provider=replace(provider, balance=provider.balance + credit),
        receiver=replace(receiver, balance=receiver.balance + debit),
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
    return _must_load(conn, exchange_id)


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


# =========================================================================== transfers

# What post_transfer needs to know of an account: (timebank id, kind, balance).
AccountFacts = tuple[int, str, int]


def post_transfer(conn: sqlite3.Connection, timebank_id: int, kind: str, legs: list[tuple[int, int]],
                  actor_user_id: int, now: int, *, reason: str | None = None, exchange_id: int | None = None,
                  post_id: int | None = None, reverses_id: int | None = None, floor_minutes: int | None = None,
                  accounts: Mapping[int, AccountFacts] | None = None) -> Transfer:
    """Write one transfer: the only place that writes entries or changes a balance.

    A plain function of the caller's transaction (confirm, grant, donate, reverse, or
    `transfer` below): raises RuleError, having written nothing, unless the legs
    (account id, minutes) sum to zero with each account once and no zero leg, every
    account belongs to this timebank, and, when `floor_minutes` is given, no debited
    member account ends below it. The community account has no floor: it is the
    timebank's issuer, and its balance is minus everything it has put into circulation.
    `accounts` are the legs' (timebank id, kind, balance), when the caller has just read
    them in this transaction; otherwise they are read here.
    Returns the transfer with each leg's balance after it.
    """
    if kind not in rules.TRANSFER_KINDS:
        raise ValueError(f"not a kind of transfer: {kind!r}")
    if ((kind == "reversal") != (reverses_id is not None) or (kind == "exchange" and exchange_id is None)
            or (kind in ("grant", "donation") and exchange_id is not None)):
        raise ValueError(f"a {kind} transfer with exchange_id={exchange_id}, reverses_id={reverses_id}")
    rules.check_legs(legs)
    ids = [account for account, _ in legs]
    if accounts is None:
        accounts = {row[0]: (row[1], row[2], row[3]) for row in conn.execute(
            f"SELECT id, timebank_id, kind, balance FROM accounts WHERE id IN ({','.join('?' * len(ids))})", ids)}
    after = []
    for account, minutes in legs:
        facts = accounts.get(account)
        if facts is None or facts[0] != timebank_id:
            raise RuleError(Refusal.NOT_FOUND)
        _, account_kind, balance = facts
        if minutes < 0 and floor_minutes is not None and account_kind == "member":
            rules.check_floor(balance, -minutes, floor_minutes)
        after.append(Entry(account, minutes, balance + minutes))

    transfer_id = conn.execute(
        "INSERT INTO transfers (timebank_id, kind, actor_user_id, reason, exchange_id, post_id, reverses_id, "
        "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (timebank_id, kind, actor_user_id, reason, exchange_id, post_id, reverses_id, now),
    ).lastrowid
    assert transfer_id is not None
    conn.execute(
        "INSERT INTO entries (timebank_id, transfer_id, account_id, minutes, created_at) VALUES "
        + ", ".join(["(?, ?, ?, ?, ?)"] * len(legs)),
        [value for account, minutes in legs for value in (timebank_id, transfer_id, account, minutes, now)],
    )
    conn.execute(
        "UPDATE accounts SET balance = balance + CASE id " + "WHEN ? THEN ? " * len(legs)
        + f"END WHERE id IN ({','.join('?' * len(ids))})",
        [value for leg in legs for value in leg] + ids,
    )
    return Transfer(id=transfer_id, timebank_id=timebank_id, kind=kind, actor_user_id=actor_user_id, reason=reason,
                    exchange_id=exchange_id, post_id=post_id, reverses_id=reverses_id, created_at=now,
                    legs=tuple(after))


# post_transfer as its own transaction (tools, tests).
transfer = writer(post_transfer)


def _community_account(conn: sqlite3.Connection, timebank_id: int) -> tuple[int, int]:
    """(the community account's id, the timebank's lowest balance)."""
    row = conn.execute("SELECT a.id, tb.min_balance FROM accounts a JOIN timebanks tb ON tb.id = a.timebank_id "
                       "WHERE a.timebank_id = ? AND a.kind = 'community'", (timebank_id,)).fetchone()
    if row is None:
        raise RuleError(Refusal.NOT_FOUND)
    return row[0], row[1]


# Grants and donations move balances only: they are not exchanges, so no member's hours
# given or received, exchange count or people helped change, nor the timebank's hours
# exchanged, exchange count, pairs or monthly figures (those measure members helping members).

@writer
def grant(conn: sqlite3.Connection, timebank_id: int, member_ids: list[int], minutes: int, actor_user_id: int,
          reason: str | None, now: int) -> Transfer:
    """Hours from the community account to each of these active members: one transfer.

    A member named twice is granted once. The community account may go below zero.
    """
    rules.check_transfer_amount(minutes)
    wanted = list(dict.fromkeys(member_ids))
    if not wanted:
        raise RuleError(Refusal.NOT_FOUND)
    found = {row[0]: (row[1], row[2]) for row in conn.execute(
        f"SELECT id, status, account_id FROM members WHERE timebank_id = ? AND id IN ({','.join('?' * len(wanted))})",
        [timebank_id, *wanted])}
    for member_id in wanted:
        rules.check_grant_recipient(found.get(member_id, (None,))[0])
    community, floor = _community_account(conn, timebank_id)
    legs = rules.grant_legs(community, [found[m][1] for m in wanted], minutes)
    # The floor is passed like for any debit; the community account, the only one debited, is exempt.
    return post_transfer(conn, timebank_id, "grant", legs, actor_user_id, now, reason=reason, floor_minutes=floor)


@writer
def donate(conn: sqlite3.Connection, timebank_id: int, member_id: int, minutes: int, actor_user_id: int,
           now: int) -> Transfer:
    """An active member gives hours to the community account, within the timebank's lowest balance."""
    rules.check_transfer_amount(minutes)
    row = conn.execute("SELECT status, account_id FROM members WHERE id = ? AND timebank_id = ?",
                       (member_id, timebank_id)).fetchone()
    rules.check_active(row["status"] if row else None)
    community, floor = _community_account(conn, timebank_id)
    legs = rules.donation_legs(row["account_id"], community, minutes)
    return post_transfer(conn, timebank_id, "donation", legs, actor_user_id, now, floor_minutes=floor)


@writer
def reverse(conn: sqlite3.Connection, transfer_id: int, actor_user_id: int, reason: str | None,
            now: int) -> Transfer:
    """Undo a transfer with a new one, every leg negated; at most once, never a reversal itself.

    The lowest balance is not checked: a correction must always be possible. Reversing an
    exchange's transfer also marks the exchange 'reversed' and takes it out of every figure
    it was counted in when confirmed (see _count_reversed).
    """
    return _reverse(conn, transfer_id, actor_user_id, reason, now)


@writer
def reverse_exchange(conn: sqlite3.Connection, exchange_id: int, actor_user_id: int, reason: str | None,
                     now: int) -> tuple[Exchange, Transfer]:
    """`reverse` of a confirmed exchange's transfer, found by the exchange's id (what /reverse is given).

    Returns the exchange as it is now ('reversed', the parties' new balances) and the reversal.
    """
    row = conn.execute("SELECT id FROM transfers WHERE exchange_id = ? AND kind = 'exchange'",
                       (exchange_id,)).fetchone()
    if row is None:
        exchange = _load(conn, exchange_id)
        raise RuleError(Refusal.ALREADY_DECIDED if exchange else Refusal.NOT_FOUND, exchange=exchange)
    reversal = _reverse(conn, row[0], actor_user_id, reason, now)
    return _must_load(conn, exchange_id), reversal


def _reverse(conn: sqlite3.Connection, transfer_id: int, actor_user_id: int, reason: str | None,
             now: int) -> Transfer:
    original = conn.execute(
        "SELECT t.*, r.id AS reversed_by FROM transfers t LEFT JOIN transfers r ON r.reverses_id = t.id "
        "WHERE t.id = ?", (transfer_id,)).fetchone()
    if original is None:
        raise RuleError(Refusal.NOT_FOUND)
    try:
        rules.check_reversible(original["kind"], original["reversed_by"] is not None)
    except RuleError as refused:
        if original["exchange_id"] is None:
            raise
        raise RuleError(refused.refusal, exchange=_load(conn, original["exchange_id"])) from None
    legs = [(row[0], row[1]) for row in conn.execute(
        "SELECT account_id, minutes FROM entries WHERE transfer_id = ? ORDER BY id", (transfer_id,))]
    reversal = post_transfer(conn, original["timebank_id"], "reversal", rules.reversal_legs(legs), actor_user_id, now,
                             reason=reason, exchange_id=original["exchange_id"], post_id=original["post_id"],
                             reverses_id=transfer_id)
    if original["kind"] == "exchange":
        cur = conn.execute("UPDATE exchanges SET state = 'reversed' WHERE id = ? AND state = 'confirmed'",
                           (original["exchange_id"],))
        if cur.rowcount != 1:  # its transfer was not reversed, so it must be confirmed: never count twice
            raise RuleError(Refusal.ALREADY_REVERSED, exchange=_load(conn, original["exchange_id"]))
        _count_reversed(conn, original["exchange_id"], month_of(original["created_at"]))
    return reversal


def _count_reversed(conn: sqlite3.Connection, exchange_id: int, month: str) -> None:
    """Take a reversed exchange out of every figure _count_confirmed put it in, as if never confirmed.

    Including who has helped whom: people helped and distinct pairs drop when this was the
    pair's only confirmed exchange. A reversal says the exchange did not happen as
    recorded (wrong person, wrong amount, never took place); the right one is recorded
    and confirmed again, which counts the pair again. So every figure stays a function of
    the confirmed exchanges alone, and audit_sums can check it so.
    """
    provider_id, receiver_id, minutes, timebank_id = conn.execute(
        "SELECT provider_id, receiver_id, minutes, timebank_id FROM exchanges WHERE id = ?", (exchange_id,)).fetchone()
    left = conn.execute(
        "UPDATE helped SET minutes = minutes - ?, exchanges = exchanges - 1 WHERE provider_id = ? AND receiver_id = ? "
        "RETURNING exchanges", (minutes, provider_id, receiver_id)).fetchone()
    last = left is not None and left[0] <= 0
    if last:
        conn.execute("DELETE FROM helped WHERE provider_id = ? AND receiver_id = ?", (provider_id, receiver_id))
    conn.execute(
        "UPDATE members SET exchanges_count = exchanges_count - 1, "
        "given_minutes = given_minutes - CASE id WHEN ?1 THEN ?3 ELSE 0 END, "
        "received_minutes = received_minutes - CASE id WHEN ?2 THEN ?3 ELSE 0 END, "
        "people_helped = people_helped - CASE id WHEN ?1 THEN ?4 ELSE 0 END WHERE id IN (?1, ?2)",
        (provider_id, receiver_id, minutes, int(last)),
    )
    lost_pair = last and conn.execute(
        "SELECT 1 FROM helped WHERE provider_id = ? AND receiver_id = ?", (receiver_id, provider_id)
    ).fetchone() is None
    conn.execute(
        "UPDATE timebanks SET minutes_exchanged = minutes_exchanged - ?, "
        "exchanges_confirmed = exchanges_confirmed - 1, helper_pairs = helper_pairs - ? WHERE id = ?",
        (minutes, int(bool(lost_pair)), timebank_id),
    )
    conn.execute(
        "UPDATE monthly SET minutes = minutes - ?, exchanges = exchanges - 1 WHERE timebank_id = ? AND month = ?",
        (minutes, timebank_id, month),
    )


def _transfer(conn: sqlite3.Connection, row: sqlite3.Row) -> Transfer:
    legs = tuple(Entry(r[0], r[1]) for r in conn.execute(
        "SELECT account_id, minutes FROM entries WHERE transfer_id = ? ORDER BY id", (row["id"],)))
    return Transfer(id=row["id"], timebank_id=row["timebank_id"], kind=row["kind"],
                    actor_user_id=row["actor_user_id"], reason=row["reason"], exchange_id=row["exchange_id"],
                    post_id=row["post_id"], reverses_id=row["reverses_id"], created_at=row["created_at"], legs=legs)


@reader
def get_transfer(conn: sqlite3.Connection, transfer_id: int) -> Transfer | None:
    """A transfer and its legs (Entry.balance is None: balances now are on the accounts)."""
    row = conn.execute("SELECT * FROM transfers WHERE id = ?", (transfer_id,)).fetchone()
    return _transfer(conn, row) if row else None


@reader
def transfer_of_exchange(conn: sqlite3.Connection, exchange_id: int) -> Transfer | None:
    """The transfer a confirmed (or since reversed) exchange made; None if it never was confirmed."""
    row = conn.execute("SELECT * FROM transfers WHERE exchange_id = ? AND kind = 'exchange'",
                       (exchange_id,)).fetchone()
    return _transfer(conn, row) if row else None


@reader
def community_balance(conn: sqlite3.Connection, timebank_id: int) -> int:
    """The community account's balance: minus the hours it has granted, plus those donated to it."""
    row = conn.execute("SELECT balance FROM accounts WHERE timebank_id = ? AND kind = 'community'",
                       (timebank_id,)).fetchone()
    return row[0] if row else 0


# =========================================================================== audit

@reader
def audit_sums(conn: sqlite3.Connection, timebank_id: int) -> dict:
    """The ledger's invariants, computed the slow way (tests and /audit use this, never a hot path).

    All zero when all is well:
    - balances, entries: the sums of every cached balance and of every entry (the community
      account included);
    - mismatched_accounts: accounts whose balance is not the sum of their entries, plus cached
      figures that disagree with the confirmed (not reversed) exchanges they summarise: each
      member's given, received, exchanges and people helped; the timebank's hours
      exchanged, exchanges and pairs; the monthly rows; who helped whom;
    - unbalanced_exchanges: transfers of any kind whose legs do not sum to zero (or fewer
      than two, or in another timebank), plus exchanges whose ledger disagrees with their
      state (confirmed: one unreversed transfer of its minutes; reversed: a reversed one;
      otherwise none).
    """
    cached = conn.execute("SELECT coalesce(sum(balance), 0) FROM accounts WHERE timebank_id = ?",
                          (timebank_id,)).fetchone()[0]
    entries = conn.execute("SELECT coalesce(sum(minutes), 0) FROM entries WHERE timebank_id = ?",
                           (timebank_id,)).fetchone()[0]
    mismatched = conn.execute(
        "SELECT count(*) FROM accounts a WHERE a.timebank_id = ? AND a.balance != "
        "(SELECT coalesce(sum(minutes), 0) FROM entries WHERE account_id = a.id)", (timebank_id,)
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
    # The figures /stats shows.
    mismatched += (conn.execute(
        "WITH x AS (SELECT coalesce(sum(minutes), 0) AS minutes, count(*) AS n FROM exchanges "
        "           WHERE timebank_id = ?1 AND state = 'confirmed'), "
        "mo AS (SELECT coalesce(sum(minutes), 0) AS minutes, coalesce(sum(exchanges), 0) AS n FROM monthly "
        "       WHERE timebank_id = ?1), "
        "pairs AS (SELECT count(DISTINCT min(h.provider_id, h.receiver_id) || ':' || max(h.provider_id, "
        "          h.receiver_id)) AS n FROM helped h JOIN members m ON m.id = h.provider_id WHERE m.timebank_id = ?1) "
        "SELECT (tb.minutes_exchanged != x.minutes) + (tb.exchanges_confirmed != x.n) + (mo.minutes != x.minutes) "
        "     + (mo.n != x.n) + (tb.helper_pairs != pairs.n) FROM timebanks tb, x, mo, pairs WHERE tb.id = ?1",
        (timebank_id,)).fetchone() or (0,))[0]
    # Who helped whom: exactly one row per pair with confirmed exchanges, holding their sums
    # (rows of either side that find no equal row on the other).
    mismatched += conn.execute(
        "WITH pair AS (SELECT provider_id, receiver_id, sum(minutes) AS minutes, count(*) AS n FROM exchanges "
        "              WHERE timebank_id = ?1 AND state = 'confirmed' GROUP BY provider_id, receiver_id) "
        "SELECT (SELECT count(*) FROM helped h JOIN members m ON m.id = h.provider_id WHERE m.timebank_id = ?1) "
        "     + (SELECT count(*) FROM pair) "
        "     - 2 * (SELECT count(*) FROM pair JOIN helped h ON h.provider_id = pair.provider_id "
        "            AND h.receiver_id = pair.receiver_id AND h.minutes = pair.minutes AND h.exchanges = pair.n)",
        (timebank_id,)).fetchone()[0]

    unbalanced = conn.execute(
        "SELECT count(*) FROM (SELECT t.id FROM transfers t LEFT JOIN entries e ON e.transfer_id = t.id "
        "WHERE t.timebank_id = ? GROUP BY t.id HAVING coalesce(sum(e.minutes), 0) != 0 OR count(e.id) < 2 "
        "OR coalesce(sum(e.timebank_id != t.timebank_id), 0) > 0)", (timebank_id,)
    ).fetchone()[0]
    unbalanced += conn.execute(
        "SELECT count(*) FROM exchanges x LEFT JOIN transfers t ON t.exchange_id = x.id AND t.kind = 'exchange' "
        "WHERE x.timebank_id = ?1 AND CASE WHEN x.state IN ('confirmed', 'reversed') THEN "
        "  t.id IS NULL OR (SELECT count(*) FROM transfers r WHERE r.reverses_id = t.id) != (x.state = 'reversed') "
        "  OR (SELECT coalesce(sum(e.minutes), 0) FROM entries e JOIN members p ON p.account_id = e.account_id "
        "      WHERE e.transfer_id = t.id AND p.id = x.provider_id) != x.minutes "
        "ELSE t.id IS NOT NULL END", (timebank_id,)
    ).fetchone()[0]
    return {"balances": cached, "entries": entries, "mismatched_accounts": mismatched,
            "unbalanced_exchanges": unbalanced}


def month_of(ts: int) -> str:
    return time.strftime("%Y-%m", time.gmtime(ts))

