"""Upgrades lose nothing: a database made by each landed version (tests/databases/, made by
that version's own code with tests/databases/make.py) opens with today's code, migrates
forward, and shows every balance, status, counter and exchange it had; a pending exchange
can still be confirmed, exactly once."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from storage import ledger
from storage.db import migrate, open_sync
from tests.databases.make import figures
from timebank.rules import Refusal, RuleError

HERE = Path(__file__).resolve().parent / "databases"
LANDED = sorted(p.stem for p in HERE.glob("*.sqlite3"))
ALL_ZERO = {"balances": 0, "entries": 0, "mismatched_accounts": 0, "unbalanced_exchanges": 0}


def test_there_is_a_database_of_the_first_landed_version():
    assert "v1-landed-98a2e6f" in LANDED


@pytest.mark.parametrize("name", LANDED)
def test_a_landed_database_migrates_with_nothing_lost(tmp_path, name):
    expected = json.loads((HERE / f"{name}.json").read_text())
    path = tmp_path / "timebank.sqlite3"
    shutil.copy(HERE / f"{name}.sqlite3", path)
    conn = open_sync(path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == migrate(conn) >= expected["user_version"]
        conn.commit()
        after = figures(path)
        for key in ("balances", "statuses", "counters", "exchanges", "timebanks", "open_posts"):
            assert after[key] == expected[key], key
        for timebank_id in expected["timebanks"]:
            assert ledger.audit_sums.sync(conn, int(timebank_id)) == ALL_ZERO
        pending = [int(i) for i, (state, _minutes) in expected["exchanges"].items() if state == "pending"]
        assert pending, "each made database keeps an exchange pending across the upgrade"
        exchange = ledger.get.sync(conn, pending[0])
        assert exchange is not None
        confirmed = ledger.confirm.sync(conn, exchange.id, exchange.counterparty.user_id, exchange.created_at + 60)
        assert confirmed.state == "confirmed"
        with pytest.raises(RuleError) as again:
            ledger.confirm.sync(conn, exchange.id, exchange.counterparty.user_id, exchange.created_at + 61)
        assert again.value.refusal is Refusal.ALREADY_DECIDED
        assert ledger.audit_sums.sync(conn, exchange.timebank_id) == ALL_ZERO
    finally:
        conn.close()
