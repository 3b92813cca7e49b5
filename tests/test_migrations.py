"""Migrations: every file applies to an empty database, and a database written by the
version-1 code (entries belonging to exchanges) migrates forward with nothing lost."""

from __future__ import annotations

import random
import re
import sqlite3
import time
from importlib import resources

import pytest

from storage import ledger
from storage.db import StorageError, _split_sql, open_sync

T0 = 1_690_000_000  # 2023-07-22
DAY = 86400
ALL_ZERO = {"balances": 0, "entries": 0, "mismatched_accounts": 0, "unbalanced_exchanges": 0}


def migration_files() -> dict[int, str]:
    folder = resources.files("storage") / "migrations"
    return {int(item.name[:3]): item.read_text(encoding="utf-8")
            for item in folder.iterdir() if re.match(r"^\d{3}_.*\.sql$", item.name)}


def test_every_migration_applies_to_an_empty_database(tmp_path):
    files = migration_files()
    assert sorted(files) == list(range(1, max(files) + 1)), "migrations are numbered 001, 002, … without gaps"
    conn = open_sync(tmp_path / "empty.sqlite3")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == max(files)
    assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    columns = {row[1] for row in conn.execute("PRAGMA table_info(entries)")}
    assert {"transfer_id", "account_id", "minutes"} <= columns and "exchange_id" not in columns
    triggers = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
    assert {"entries_are_append_only_u", "entries_are_append_only_d"} <= triggers
    conn.close()
    again = open_sync(tmp_path / "empty.sqlite3")  # opening again applies nothing twice
    assert again.execute("PRAGMA user_version").fetchone()[0] == max(files)
    again.close()


# --------------------------------------------------------------------------- version 1, as it was written

def schema_v1(path) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("BEGIN")
    for statement in _split_sql(migration_files()[1]):
        conn.execute(statement)
    conn.execute("PRAGMA user_version=1")
    conn.execute("COMMIT")
    return conn


class OldBot:
    """Writes rows the way the version-1 storage code did (git show 9e5f80b:storage/ledger.py)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.messages = 0

    def timebank(self, chat_id: int, title: str, now: int, **settings) -> int:
        columns = ", ".join(["chat_id", "title", "created_at", *settings])
        marks = ", ".join("?" * (3 + len(settings)))
        tb = self.conn.execute(f"INSERT INTO timebanks ({columns}) VALUES ({marks})",
                               (chat_id, title, now, *settings.values())).lastrowid
        self.conn.execute("INSERT INTO accounts (timebank_id, kind) VALUES (?, 'community')", (tb,))
        return tb

    def member(self, timebank_id: int, user_id: int, name: str, status: str, now: int) -> int:
        self.conn.execute("INSERT OR IGNORE INTO users (id, first_name, username, language_code, updated_at) "
                          "VALUES (?, ?, ?, 'en', ?)", (user_id, name, name.lower(), now))
        number = self.conn.execute("UPDATE timebanks SET next_number = next_number + 1 WHERE id = ? "
                                   "RETURNING next_number - 1", (timebank_id,)).fetchone()[0]
        account = self.conn.execute("INSERT INTO accounts (timebank_id, kind) VALUES (?, 'member')",
                                    (timebank_id,)).lastrowid
        return self.conn.execute(
            "INSERT INTO members (timebank_id, user_id, account_id, number, status, joined_at, approved_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (timebank_id, user_id, account, number, status, now, None if status == "pending" else now)).lastrowid

    def post(self, timebank_id: int, author_id: int, kind: str, text: str, now: int, status: str = "open") -> int:
        return self.conn.execute(
            "INSERT INTO posts (timebank_id, author_id, kind, category, text, status, created_at, expires_at) "
            "VALUES (?, ?, ?, 'garden', ?, ?, ?, ?)",
            (timebank_id, author_id, kind, text, status, now, now + 30 * DAY)).lastrowid

    def record(self, timebank_id: int, provider: int, receiver: int, recorded_by: int, minutes: int, now: int,
               post_id: int | None = None) -> int:
        self.messages += 1
        return self.conn.execute(
            "INSERT INTO exchanges (timebank_id, provider_id, receiver_id, recorded_by, minutes, description, "
            "post_id, created_at, expires_at, source_chat_id, source_message_id) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (timebank_id, provider, receiver, recorded_by, minutes, "help", post_id, now, now + 14 * DAY,
             -100 - timebank_id, self.messages)).lastrowid

    def end(self, exchange_id: int, state: str, now: int) -> None:
        cur = self.conn.execute("UPDATE exchanges SET state = ?, decided_at = ? WHERE id = ? AND state = 'pending'",
                                (state, now, exchange_id))
        assert cur.rowcount == 1

    def confirm(self, exchange_id: int, now: int) -> None:
        """The version-1 confirm: entries carry the exchange's id; counters kept with them."""
        conn = self.conn
        ex = conn.execute(
            "SELECT e.timebank_id, e.provider_id, e.receiver_id, e.minutes, pm.account_id, rm.account_id "
            "FROM exchanges e JOIN members pm ON pm.id = e.provider_id JOIN members rm ON rm.id = e.receiver_id "
            "WHERE e.id = ?", (exchange_id,)).fetchone()
        timebank_id, provider_id, receiver_id, minutes, provider_account, receiver_account = ex
        conn.execute("BEGIN IMMEDIATE")
        self.end(exchange_id, "confirmed", now)
        conn.execute(
            "INSERT INTO entries (timebank_id, account_id, exchange_id, minutes, created_at) "
            "VALUES (?1, ?2, ?4, ?5, ?7), (?1, ?3, ?4, ?6, ?7)",
            (timebank_id, provider_account, receiver_account, exchange_id, minutes, -minutes, now))
        conn.execute(
            "UPDATE accounts SET balance = balance + CASE id WHEN ?1 THEN ?2 ELSE ?4 END WHERE id IN (?1, ?3)",
            (provider_account, minutes, receiver_account, -minutes))
        first_time = conn.execute(
            "INSERT INTO helped (provider_id, receiver_id, minutes, exchanges) VALUES (?, ?, ?, 1) "
            "ON CONFLICT (provider_id, receiver_id) DO UPDATE SET minutes = minutes + excluded.minutes, "
            "exchanges = exchanges + 1 RETURNING exchanges = 1", (provider_id, receiver_id, minutes)).fetchone()[0]
        conn.execute(
            "UPDATE members SET exchanges_count = exchanges_count + 1, "
            "given_minutes = given_minutes + CASE id WHEN ?1 THEN ?3 ELSE 0 END, "
            "received_minutes = received_minutes + CASE id WHEN ?2 THEN ?3 ELSE 0 END, "
            "people_helped = people_helped + CASE id WHEN ?1 THEN ?4 ELSE 0 END WHERE id IN (?1, ?2)",
            (provider_id, receiver_id, minutes, int(first_time)))
        new_pair = first_time and conn.execute(
            "SELECT 1 FROM helped WHERE provider_id = ? AND receiver_id = ?", (receiver_id, provider_id)
        ).fetchone() is None
        conn.execute(
            "UPDATE timebanks SET minutes_exchanged = minutes_exchanged + ?, "
            "exchanges_confirmed = exchanges_confirmed + 1, helper_pairs = helper_pairs + ? WHERE id = ?",
            (minutes, int(bool(new_pair)), timebank_id))
        conn.execute(
            "INSERT INTO monthly (timebank_id, month, minutes, exchanges) VALUES (?, ?, ?, 1) "
            "ON CONFLICT (timebank_id, month) DO UPDATE SET minutes = minutes + excluded.minutes, "
            "exchanges = exchanges + 1", (timebank_id, time.strftime("%Y-%m", time.gmtime(now)), minutes))
        conn.execute("COMMIT")


def fill_v1(conn: sqlite3.Connection) -> dict:
    """Three timebanks a year old: members of every status, exchanges in every state, posts, outbox."""
    bot = OldBot(conn)
    rng = random.Random(7)
    made: dict = {"pending": [], "confirmed": [], "members": {}, "timebanks": []}
    for index, (chat_id, title, settings) in enumerate([
            (-1001, "Paxton Green", {}),
            (-1002, "Cardiff", {"min_balance": -300, "max_exchange": 480, "language": "cy"}),
            (-1003, "Quiet", {"approval_required": 0})]):
        tb = bot.timebank(chat_id, title, T0 - 400 * DAY, **settings)
        made["timebanks"].append(tb)
        conn.execute("INSERT INTO audit (timebank_id, actor_id, action, created_at) VALUES (?, 1, 'settings', ?)",
                     (tb, T0))
        if title == "Quiet":
            bot.member(tb, 7000, "Lonely", "active", T0)  # nobody to exchange with
            continue
        statuses = ["active"] * 8 + ["pending", "suspended", "left"]
        members = [bot.member(tb, 2000 + 100 * index + n, f"P{index}{n}", status, T0 - 300 * DAY)
                   for n, status in enumerate(statuses)]
        made["members"][tb] = members
        # Everyone was active while they exchanged; the statuses are those of today.
        exchanging = members[:8] + [members[9], members[10]]
        posts = [bot.post(tb, rng.choice(members[:8]), kind, f"{kind} {n}", T0 - 200 * DAY + n * DAY)
                 for n, kind in enumerate(["offer", "request"] * 3)]
        bot.post(tb, members[0], "offer", "removed one", T0 - 100 * DAY, status="removed")
        balances = dict.fromkeys(members, 0)
        floor = settings.get("min_balance", -600)
        now = T0 - 280 * DAY
        for _ in range(60):  # confirmed, over about ten months
            now += rng.randrange(DAY, 9 * DAY)
            minutes = 15 * rng.randint(1, 16)
            provider, receiver = rng.sample(exchanging, 2)
            if balances[receiver] - minutes < floor:
                provider, receiver = receiver, provider
            if balances[receiver] - minutes < floor:
                continue
            recorded_by = rng.choice([provider, receiver])
            ex = bot.record(tb, provider, receiver, recorded_by, minutes, now - 3600,
                            post_id=rng.choice([None, None, *posts]))
            bot.confirm(ex, now)
            balances[provider] += minutes
            balances[receiver] -= minutes
            made["confirmed"].append(ex)
        active = members[:8]
        for state in ("declined", "cancelled", "expired", "declined"):
            provider, receiver = rng.sample(active, 2)
            bot.end(bot.record(tb, provider, receiver, provider, 60, now - DAY), state, now)
        for n in range(3):  # still pending: each must stay confirmable after the migration
            provider, receiver = active[2 * n], active[2 * n + 1]
            recorded_by = provider if n % 2 == 0 else receiver
            made["pending"].append(bot.record(tb, provider, receiver, recorded_by, 45, now))
    conn.executemany("INSERT INTO outbox (user_id, text, created_at) VALUES (?, ?, ?)",
                     [(2001, "You were approved", T0), (2102, "Bob confirmed", T0)])
    return made


V1_TABLES = ["timebanks", "accounts", "users", "members", "posts", "exchanges", "helped", "monthly", "audit",
             "outbox"]


def columns_of(conn: sqlite3.Connection, table: str) -> list[str]:
    return [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]


def everything_but_the_ledger(conn: sqlite3.Connection, columns: dict[str, list[str]] | None = None) -> dict:
    """Every row of every table the migration must leave as it was, in the columns version 1 had
    (later migrations may add columns; none may change what was there)."""
    columns = columns or {table: columns_of(conn, table) for table in V1_TABLES}
    return {table: [tuple(row) for row in conn.execute(f"SELECT {', '.join(columns[table])} FROM {table} "
                                                        f"ORDER BY 1, 2")] for table in V1_TABLES}


def old_entries(conn: sqlite3.Connection) -> list[tuple]:
    return [tuple(row) for row in conn.execute(
        "SELECT id, timebank_id, account_id, exchange_id, minutes, created_at FROM entries ORDER BY id")]


@pytest.fixture
def migrated(tmp_path):
    path = tmp_path / "v1.sqlite3"
    old = schema_v1(path)
    made = fill_v1(old)
    before = everything_but_the_ledger(old)
    v1_columns = {table: columns_of(old, table) for table in V1_TABLES}
    entries_before = old_entries(old)
    old.close()
    conn = open_sync(path)
    yield conn, made, (before, v1_columns), entries_before
    conn.close()


def test_a_version_1_database_migrates_with_nothing_lost(migrated):
    conn, made, (before, v1_columns), entries_before = migrated
    assert conn.execute("PRAGMA user_version").fetchone()[0] == max(migration_files())
    assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    # Balances, members' and timebanks' counters, helped, monthly, exchanges, posts, outbox: identical.
    assert everything_but_the_ledger(conn, v1_columns) == before
    for tb in made["timebanks"]:
        assert ledger.audit_sums.sync(conn, tb) == ALL_ZERO

    # Each confirmed exchange is now one 'exchange' transfer, and its entries are that transfer's legs.
    confirmed = {row["id"]: row for row in conn.execute("SELECT * FROM exchanges WHERE state = 'confirmed'")}
    assert sorted(confirmed) == sorted(made["confirmed"]) and len(confirmed) > 60
    transfers = {row["exchange_id"]: row for row in conn.execute("SELECT * FROM transfers")}
    assert sorted(transfers) == sorted(confirmed)
    user_of = dict(conn.execute("SELECT id, user_id FROM members").fetchall())
    entries_after = {row["id"]: row for row in conn.execute("SELECT * FROM entries")}
    assert len(entries_after) == len(entries_before)
    for entry_id, timebank_id, account_id, exchange_id, minutes, created_at in entries_before:
        entry = entries_after[entry_id]
        transfer = transfers[exchange_id]
        assert (entry["timebank_id"], entry["account_id"], entry["minutes"], entry["created_at"]) == (
            timebank_id, account_id, minutes, created_at)
        assert entry["transfer_id"] == transfer["id"]
        assert transfer["created_at"] == created_at
    for exchange_id, transfer in transfers.items():
        ex = confirmed[exchange_id]
        counterparty = ex["receiver_id"] if ex["recorded_by"] == ex["provider_id"] else ex["provider_id"]
        assert (transfer["kind"], transfer["timebank_id"], transfer["actor_user_id"], transfer["post_id"]) == (
            "exchange", ex["timebank_id"], user_of[counterparty], ex["post_id"])
        assert transfer["reverses_id"] is None and transfer["reason"] is None
        assert transfer["created_at"] == ex["decided_at"]

    # Still append-only.
    with pytest.raises(sqlite3.IntegrityError, match="never"):
        conn.execute("DELETE FROM entries")


def test_pending_exchanges_stay_confirmable_after_the_migration(migrated):
    conn, made, _, _ = migrated
    assert len(made["pending"]) == 6
    minutes_before = conn.execute("SELECT sum(minutes_exchanged) FROM timebanks").fetchone()[0]
    balance_of = dict(conn.execute("SELECT m.id, a.balance FROM members m JOIN accounts a ON a.id = m.account_id"))
    for exchange_id in made["pending"]:
        pending = ledger.get.sync(conn, exchange_id)
        assert pending.state == "pending"
        done = ledger.confirm.sync(conn, exchange_id, pending.counterparty.user_id, pending.created_at + 60)
        assert done.state == "confirmed"
        assert done.provider.balance == balance_of[pending.provider_id] + 45
        assert done.receiver.balance == balance_of[pending.receiver_id] - 45
        balance_of[pending.provider_id] += 45
        balance_of[pending.receiver_id] -= 45
        transfer = ledger.transfer_of_exchange.sync(conn, exchange_id)
        assert transfer.actor_user_id == pending.counterparty.user_id
    assert dict(conn.execute(
        "SELECT m.id, a.balance FROM members m JOIN accounts a ON a.id = m.account_id")) == balance_of
    # A migrated exchange can be reversed like a new one.
    old_one = made["confirmed"][0]
    ledger.reverse_exchange.sync(conn, old_one, 1, "migrated, then reversed", T0)
    assert ledger.get.sync(conn, old_one).state == "reversed"
    for tb in made["timebanks"]:
        assert ledger.audit_sums.sync(conn, tb) == ALL_ZERO
    # The timebanks' figures moved by exactly the new confirmations and the one reversal.
    reversed_minutes = conn.execute("SELECT minutes FROM exchanges WHERE id = ?", (old_one,)).fetchone()[0]
    assert conn.execute("SELECT sum(minutes_exchanged) FROM timebanks").fetchone()[0] == (
        minutes_before + 45 * len(made["pending"]) - reversed_minutes)


def test_a_failed_migration_leaves_the_database_as_it_was(tmp_path):
    """The entries guard: an entry that could not be given a transfer aborts 002, and nothing of it stays."""
    path = tmp_path / "broken.sqlite3"
    old = schema_v1(path)
    made = fill_v1(old)
    # An entry pointing at an exchange that no longer exists: written with foreign keys off.
    old.execute("PRAGMA foreign_keys=OFF")
    old.execute("INSERT INTO entries (timebank_id, account_id, exchange_id, minutes, created_at) "
                "VALUES (?, 1, 999999, 15, ?)", (made["timebanks"][0], T0))
    old.close()
    with pytest.raises(StorageError, match="002_transfers"):
        open_sync(path)
    conn = sqlite3.connect(str(path))
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    assert "transfers" not in names and "entries_new" not in names
    assert "exchange_id" in {row[1] for row in conn.execute("PRAGMA table_info(entries)")}
    conn.close()
