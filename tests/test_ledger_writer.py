"""The ledger of transfers at storage level: grants, donations, the floor, reversals, append-only entries.

Plain synchronous connections and the writers' `.sync` forms: no Telegram.
"""

from __future__ import annotations

import sqlite3
from dataclasses import replace

import pytest

from storage import ledger
from storage import members as member_store
from storage import timebanks as timebank_store
from storage.db import open_sync
from timebank.rules import Refusal, RuleError

T0 = 1_700_000_000  # 2023-11-14
DAY = 86400
ADMIN = 999
ALL_ZERO = {"balances": 0, "entries": 0, "mismatched_accounts": 0, "unbalanced_exchanges": 0}


class Bank:
    """One timebank with active members on a fresh database."""

    def __init__(self, conn: sqlite3.Connection, chat_id: int = -100) -> None:
        self.conn = conn
        self.timebank, _ = timebank_store.ensure.sync(conn, chat_id, "Bank", T0)
        self.id = self.timebank.id
        self.community = conn.execute("SELECT id FROM accounts WHERE timebank_id = ? AND kind = 'community'",
                                      (self.id,)).fetchone()[0]
        self.members: dict[str, object] = {}

    def add(self, name: str, user_id: int):
        member_store.upsert_user.sync(self.conn, user_id, name, None, name.lower(), "en", T0)
        member, _ = member_store.join.sync(self.conn, self.id, user_id, False, T0)
        self.members[name] = member
        return member

    def balance(self, name: str) -> int:
        return self.conn.execute("SELECT a.balance FROM accounts a JOIN members m ON m.account_id = a.id "
                                 "WHERE m.id = ?", (self.members[name].id,)).fetchone()[0]

    def community_balance(self) -> int:
        return ledger.community_balance.sync(self.conn, self.id)

    def counters(self, name: str) -> tuple:
        return self.conn.execute("SELECT given_minutes, received_minutes, exchanges_count, people_helped "
                                 "FROM members WHERE id = ?", (self.members[name].id,)).fetchone()[:]

    def exchange(self, provider: str, receiver: str, minutes: int, now: int):
        """Recorded by the provider, confirmed by the receiver."""
        p, r = self.members[provider], self.members[receiver]
        recorded, _ = ledger.record.sync(self.conn, self.id, p.id, r.id, p.id, minutes, "help", None, now)
        return ledger.confirm.sync(self.conn, recorded.id, r.user_id, now + 60)

    def audit(self) -> dict:
        return ledger.audit_sums.sync(self.conn, self.id)


def snapshot(conn: sqlite3.Connection) -> dict:
    """Everything a ledger write may touch."""
    tables = {
        "accounts": "SELECT id, balance FROM accounts",
        "members": "SELECT id, given_minutes, received_minutes, exchanges_count, people_helped, status FROM members",
        "timebanks": "SELECT id, minutes_exchanged, exchanges_confirmed, helper_pairs FROM timebanks",
        "exchanges": "SELECT id, state, decided_at FROM exchanges",
        "transfers": "SELECT * FROM transfers",
        "entries": "SELECT * FROM entries",
        "helped": "SELECT * FROM helped",
        "monthly": "SELECT * FROM monthly WHERE exchanges != 0",
    }
    return {name: [tuple(row) for row in conn.execute(sql + " ORDER BY 1")] for name, sql in tables.items()}


def transfer_without_balances(transfer):
    """A transfer as read back: its legs without the balances the writer returned."""
    return replace(transfer, legs=tuple(replace(leg, balance=None) for leg in transfer.legs))


@pytest.fixture
def conn(tmp_path):
    connection = open_sync(tmp_path / "ledger.sqlite3")
    yield connection
    connection.close()


@pytest.fixture
def bank(conn) -> Bank:
    bank = Bank(conn)
    for number, name in enumerate(("Alice", "Bob", "Carol", "Dan"), start=1):
        bank.add(name, 1000 + number)
    return bank


def test_a_grant_to_many_is_one_transfer_from_the_community_account(bank):
    names = ["Alice", "Bob", "Carol"]
    member_ids = [bank.members[n].id for n in names]
    # 3 × 4 h: the community account ends far below the members' lowest balance (−10 h), and may.
    transfer = ledger.grant.sync(bank.conn, bank.id, member_ids, 240, ADMIN, "community day", T0)
    assert transfer.kind == "grant" and transfer.actor_user_id == ADMIN and transfer.reason == "community day"
    assert sum(leg.minutes for leg in transfer.legs) == 0
    assert [(leg.minutes, leg.balance) for leg in transfer.legs] == [(-720, -720), (240, 240), (240, 240), (240, 240)]
    assert [bank.balance(n) for n in names] == [240, 240, 240]
    assert bank.balance("Dan") == 0
    assert bank.community_balance() == -720
    assert bank.conn.execute("SELECT count(*) FROM transfers").fetchone()[0] == 1
    assert bank.conn.execute("SELECT count(*), sum(minutes) FROM entries WHERE transfer_id = ?",
                             (transfer.id,)).fetchone()[:] == (4, 0)
    # A grant is no exchange: nobody gave or received help.
    assert all(bank.counters(n) == (0, 0, 0, 0) for n in names)
    assert ledger.stats.sync(bank.conn, bank.id, T0).minutes_exchanged == 0
    assert ledger.get_transfer.sync(bank.conn, transfer.id).legs[1].minutes == 240
    assert bank.audit() == ALL_ZERO


def test_a_grant_only_goes_to_active_members_of_the_timebank(bank, conn):
    other = Bank(conn, chat_id=-200)
    stranger = other.add("Stranger", 5000)
    bank.conn.execute("UPDATE members SET status = 'suspended' WHERE id = ?", (bank.members["Dan"].id,))
    before = snapshot(conn)
    with pytest.raises(RuleError) as caught:
        ledger.grant.sync(conn, bank.id, [bank.members["Alice"].id, stranger.id], 60, ADMIN, None, T0)
    assert caught.value.refusal is Refusal.COUNTERPARTY_NOT_MEMBER
    with pytest.raises(RuleError) as caught:
        ledger.grant.sync(conn, bank.id, [bank.members["Dan"].id], 60, ADMIN, None, T0)
    assert caught.value.refusal is Refusal.COUNTERPARTY_SUSPENDED
    with pytest.raises(RuleError) as caught:
        ledger.grant.sync(conn, bank.id, [bank.members["Alice"].id], 50, ADMIN, None, T0)
    assert caught.value.refusal is Refusal.AMOUNT_NOT_STEP
    assert snapshot(conn) == before


def test_a_donation_moves_hours_to_the_community_account(bank):
    bank.exchange("Alice", "Bob", 120, T0)
    alice = bank.members["Alice"]
    transfer = ledger.donate.sync(bank.conn, bank.id, alice.id, 90, alice.user_id, T0 + DAY)
    assert transfer.kind == "donation" and transfer.actor_user_id == alice.user_id
    assert bank.balance("Alice") == 30
    assert bank.community_balance() == 90
    assert bank.counters("Alice") == (120, 0, 1, 1)  # the donation is not help given
    assert bank.audit() == ALL_ZERO


def test_the_floor_refuses_a_donation_and_nothing_changes(bank):
    bank.conn.execute("UPDATE timebanks SET min_balance = -120 WHERE id = ?", (bank.id,))
    bob = bank.members["Bob"]
    before = snapshot(bank.conn)
    with pytest.raises(RuleError) as caught:
        ledger.donate.sync(bank.conn, bank.id, bob.id, 135, bob.user_id, T0)
    assert caught.value.refusal is Refusal.BELOW_FLOOR
    assert (caught.value.limit_minutes, caught.value.balance_minutes) == (-120, 0)
    assert snapshot(bank.conn) == before
    ledger.donate.sync(bank.conn, bank.id, bob.id, 120, bob.user_id, T0)  # down to the floor exactly
    assert bank.balance("Bob") == -120
    assert bank.audit() == ALL_ZERO


def test_recording_an_exchange_beyond_the_floor_is_refused_at_once(bank):
    alice, bob = bank.members["Alice"], bank.members["Bob"]
    bank.exchange("Alice", "Bob", 600, T0)  # Bob at −10 h, the default floor
    before = snapshot(bank.conn)
    with pytest.raises(RuleError) as caught:
        ledger.record.sync(bank.conn, bank.id, alice.id, bob.id, alice.id, 15, "one more", None, T0 + DAY)
    assert caught.value.refusal is Refusal.BELOW_FLOOR
    assert (caught.value.limit_minutes, caught.value.balance_minutes) == (-600, -600)
    assert snapshot(bank.conn) == before


def test_confirming_checks_the_floor_again(bank):
    alice, bob = bank.members["Alice"], bank.members["Bob"]
    first, _ = ledger.record.sync(bank.conn, bank.id, alice.id, bob.id, alice.id, 600, "a", None, T0)
    second, _ = ledger.record.sync(bank.conn, bank.id, alice.id, bob.id, alice.id, 60, "b", None, T0)
    ledger.confirm.sync(bank.conn, first.id, bob.user_id, T0 + 60)
    before = snapshot(bank.conn)
    with pytest.raises(RuleError) as caught:
        ledger.confirm.sync(bank.conn, second.id, bob.user_id, T0 + 120)
    assert caught.value.refusal is Refusal.BELOW_FLOOR
    assert snapshot(bank.conn) == before
    assert ledger.get.sync(bank.conn, second.id).state == "pending"


def test_a_confirmation_is_an_exchange_transfer_by_the_one_who_confirmed(bank):
    confirmed = bank.exchange("Alice", "Bob", 90, T0)
    assert (confirmed.provider.balance, confirmed.receiver.balance) == (90, -90)
    transfer = ledger.transfer_of_exchange.sync(bank.conn, confirmed.id)
    assert transfer.kind == "exchange" and transfer.exchange_id == confirmed.id
    assert transfer.actor_user_id == bank.members["Bob"].user_id
    assert sorted((leg.account_id, leg.minutes) for leg in transfer.legs) == sorted(
        [(bank.members["Alice"].account_id, 90), (bank.members["Bob"].account_id, -90)])


def test_confirm_stays_a_handful_of_statements(bank):
    """The benchmark measures confirm: going through post_transfer must not add reads."""
    alice, bob = bank.members["Alice"], bank.members["Bob"]
    recorded, _ = ledger.record.sync(bank.conn, bank.id, alice.id, bob.id, alice.id, 60, "x", None, T0)
    statements: list[str] = []
    bank.conn.set_trace_callback(statements.append)
    try:
        ledger.confirm.sync(bank.conn, recorded.id, bob.user_id, T0 + 60)
    finally:
        bank.conn.set_trace_callback(None)
    assert len(statements) <= 12, statements  # BEGIN, 10 statements at most, COMMIT


def test_reversing_a_confirmed_exchange_puts_everything_back(bank):
    bank.exchange("Carol", "Alice", 60, T0)       # figures of another pair, left alone
    before = snapshot(bank.conn)
    stats_before = ledger.stats.sync(bank.conn, bank.id, T0)
    confirmed = bank.exchange("Alice", "Bob", 120, T0 + DAY)
    assert bank.counters("Alice") == (120, 60, 2, 1)
    transfer = ledger.transfer_of_exchange.sync(bank.conn, confirmed.id)

    reversal = ledger.reverse.sync(bank.conn, transfer.id, ADMIN, "never happened", T0 + 40 * DAY)
    assert reversal.kind == "reversal" and reversal.reverses_id == transfer.id
    assert reversal.exchange_id == confirmed.id and reversal.reason == "never happened"
    assert sorted((leg.account_id, leg.minutes) for leg in reversal.legs) == sorted(
        (leg.account_id, -leg.minutes) for leg in transfer.legs)
    assert ledger.get.sync(bank.conn, confirmed.id).state == "reversed"
    assert (bank.balance("Alice"), bank.balance("Bob")) == (-60, 0)
    assert bank.counters("Alice") == (0, 60, 1, 0)
    assert bank.counters("Bob") == (0, 0, 0, 0)
    assert ledger.stats.sync(bank.conn, bank.id, T0) == stats_before
    after = snapshot(bank.conn)
    # Nothing was deleted from the ledger: two transfers and four entries more.
    assert len(after["transfers"]) == len(before["transfers"]) + 2
    assert len(after["entries"]) == len(before["entries"]) + 4
    for name in ("accounts", "members", "timebanks", "helped", "monthly"):
        assert after[name] == before[name], name
    assert bank.audit() == ALL_ZERO

    with pytest.raises(RuleError) as caught:
        ledger.reverse.sync(bank.conn, transfer.id, ADMIN, "again", T0 + 41 * DAY)
    assert caught.value.refusal is Refusal.ALREADY_REVERSED
    assert caught.value.exchange is not None and caught.value.exchange.state == "reversed"
    with pytest.raises(RuleError) as caught:
        ledger.reverse_exchange.sync(bank.conn, confirmed.id, ADMIN, "again", T0 + 41 * DAY)
    assert caught.value.refusal is Refusal.ALREADY_REVERSED
    with pytest.raises(RuleError) as caught:
        ledger.reverse.sync(bank.conn, reversal.id, ADMIN, "undo the undo", T0 + 41 * DAY)
    assert caught.value.refusal is Refusal.NOT_REVERSIBLE
    assert snapshot(bank.conn) == after


def test_reversing_one_of_a_pairs_exchanges_keeps_the_pair(bank):
    first = bank.exchange("Alice", "Bob", 60, T0)
    bank.exchange("Alice", "Bob", 30, T0 + 35 * DAY)  # another month
    reversed_exchange, reversal = ledger.reverse_exchange.sync(bank.conn, first.id, ADMIN, None, T0 + 36 * DAY)
    assert reversed_exchange.state == "reversed" and reversal.kind == "reversal"
    assert (reversed_exchange.provider.balance, reversed_exchange.receiver.balance) == (30, -30)
    assert bank.counters("Alice") == (30, 0, 1, 1)  # Bob is still someone Alice helped
    assert ledger.stats.sync(bank.conn, bank.id, T0).helper_pairs == 1
    months = dict(bank.conn.execute("SELECT month, minutes FROM monthly WHERE timebank_id = ?", (bank.id,)).fetchall())
    assert months == {ledger.month_of(T0): 0, ledger.month_of(T0 + 35 * DAY): 30}  # out of the month it counted in
    assert bank.audit() == ALL_ZERO


def test_a_reversal_is_never_refused_by_the_floor(bank):
    first = bank.exchange("Alice", "Bob", 600, T0)   # Alice +10 h
    bank.exchange("Carol", "Alice", 600, T0 + 1)     # Alice 0
    bank.exchange("Dan", "Alice", 600, T0 + 2)       # Alice −10 h: the floor
    ledger.reverse_exchange.sync(bank.conn, first.id, ADMIN, "wrong person", T0 + DAY)
    assert bank.balance("Alice") == -1200
    assert bank.audit() == ALL_ZERO


def test_grants_and_donations_can_be_reversed(bank):
    alice = bank.members["Alice"]
    granted = ledger.grant.sync(bank.conn, bank.id, [alice.id], 60, ADMIN, None, T0)
    donated = ledger.donate.sync(bank.conn, bank.id, alice.id, 30, alice.user_id, T0)
    ledger.reverse.sync(bank.conn, granted.id, ADMIN, "typo", T0)
    assert (bank.balance("Alice"), bank.community_balance()) == (-30, 30)
    ledger.reverse.sync(bank.conn, donated.id, ADMIN, None, T0)
    assert (bank.balance("Alice"), bank.community_balance()) == (0, 0)
    with pytest.raises(RuleError) as caught:
        ledger.reverse.sync(bank.conn, 12345, ADMIN, None, T0)
    assert caught.value.refusal is Refusal.NOT_FOUND
    assert bank.audit() == ALL_ZERO


@pytest.mark.parametrize("legs, refusal", [
    ([(0, 60), (1, -45)], Refusal.UNBALANCED_TRANSFER),      # does not sum to zero
    ([(0, 60)], Refusal.UNBALANCED_TRANSFER),                # one leg
    ([(0, 60), (0, -60)], Refusal.UNBALANCED_TRANSFER),      # one account twice
    ([(0, 60), (1, -60), (2, 0)], Refusal.AMOUNT_NOT_POSITIVE),
])
def test_a_transfer_that_is_not_one_is_refused_with_nothing_written(bank, legs, refusal):
    accounts = [bank.members[n].account_id for n in ("Alice", "Bob", "Carol")]
    legs = [(accounts[index], minutes) for index, minutes in legs]
    before = snapshot(bank.conn)
    with pytest.raises(RuleError) as caught:
        ledger.transfer.sync(bank.conn, bank.id, "grant", legs, ADMIN, T0)
    assert caught.value.refusal is refusal
    assert snapshot(bank.conn) == before


def test_a_transfer_stays_inside_its_timebank(bank, conn):
    other = Bank(conn, chat_id=-200)
    stranger = other.add("Stranger", 5000)
    before = snapshot(conn)
    with pytest.raises(RuleError) as caught:
        ledger.transfer.sync(conn, bank.id, "grant", [(bank.community, -60), (stranger.account_id, 60)], ADMIN, T0)
    assert caught.value.refusal is Refusal.NOT_FOUND
    assert snapshot(conn) == before


def test_entries_and_transfers_cannot_be_changed_or_deleted(bank):
    transfer = ledger.grant.sync(bank.conn, bank.id, [bank.members["Alice"].id], 60, ADMIN, None, T0)
    for statement in ("UPDATE entries SET minutes = minutes * 2", "DELETE FROM entries",
                      "UPDATE transfers SET reason = 'edited'", "DELETE FROM transfers"):
        with pytest.raises(sqlite3.IntegrityError, match="never"):
            bank.conn.execute(statement)
    assert ledger.get_transfer.sync(bank.conn, transfer.id) == transfer_without_balances(transfer)
    assert bank.conn.execute("SELECT count(*) FROM transfers").fetchone()[0] == 1


def test_a_transfer_is_reversed_at_most_once_even_in_sql(bank):
    transfer = ledger.grant.sync(bank.conn, bank.id, [bank.members["Alice"].id], 60, ADMIN, None, T0)
    ledger.reverse.sync(bank.conn, transfer.id, ADMIN, None, T0)
    with pytest.raises(sqlite3.IntegrityError):
        bank.conn.execute("INSERT INTO transfers (timebank_id, kind, actor_user_id, reverses_id, created_at) "
                          "VALUES (?, 'reversal', ?, ?, ?)", (bank.id, ADMIN, transfer.id, T0))


def test_the_audit_notices_a_broken_ledger(bank):
    bank.exchange("Alice", "Bob", 60, T0)
    assert bank.audit() == ALL_ZERO
    conn = bank.conn
    transfer_id = conn.execute("INSERT INTO transfers (timebank_id, kind, actor_user_id, created_at) "
                               "VALUES (?, 'grant', ?, ?)", (bank.id, ADMIN, T0)).lastrowid
    conn.executemany("INSERT INTO entries (timebank_id, transfer_id, account_id, minutes, created_at) "
                     "VALUES (?, ?, ?, ?, ?)", [(bank.id, transfer_id, bank.members["Carol"].account_id, 45, T0),
                                                (bank.id, transfer_id, bank.members["Dan"].account_id, -30, T0)])
    assert bank.audit() == {"balances": 0, "entries": 15, "mismatched_accounts": 2, "unbalanced_exchanges": 1}
    conn.execute("UPDATE members SET given_minutes = 0 WHERE id = ?", (bank.members["Alice"].id,))
    assert bank.audit()["mismatched_accounts"] == 3
    conn.execute("UPDATE helped SET minutes = minutes + 15")  # the row, and the pair without its row
    assert bank.audit()["mismatched_accounts"] == 5
    conn.execute("UPDATE timebanks SET helper_pairs = 2 WHERE id = ?", (bank.id,))
    assert bank.audit()["mismatched_accounts"] == 6
    conn.execute("UPDATE exchanges SET state = 'declined'")  # a confirmed exchange's transfer without it
    assert bank.audit()["unbalanced_exchanges"] == 2
