-- The ledger becomes a ledger of transfers between accounts: an exchange, a grant from the
-- community account, a donation to it, or the reversal of any of those. Entries are the
-- legs of a transfer (they sum to zero) and no longer need an exchange.
--
-- Runs inside one transaction with foreign keys ON (they cannot be switched off inside a
-- transaction), so entries is rebuilt by hand: nothing references entries, and the new
-- table is filled before the old one is dropped.

CREATE TABLE transfers (
    id            INTEGER PRIMARY KEY,
    timebank_id   INTEGER NOT NULL REFERENCES timebanks(id),
    kind          TEXT    NOT NULL CHECK (kind IN ('exchange', 'grant', 'donation', 'reversal')),
    actor_user_id INTEGER NOT NULL,                       -- Telegram user id; an exchange's: who confirmed it
    reason        TEXT,
    exchange_id   INTEGER REFERENCES exchanges(id),       -- an exchange's transfer, and its reversal
    post_id       INTEGER REFERENCES posts(id),
    reverses_id   INTEGER UNIQUE REFERENCES transfers(id), -- UNIQUE: a transfer is reversed at most once
    created_at    INTEGER NOT NULL,
    CHECK ((kind = 'reversal') = (reverses_id IS NOT NULL)),
    CHECK (kind != 'exchange' OR exchange_id IS NOT NULL)
);
CREATE INDEX transfers_timebank ON transfers(timebank_id, id);
-- One transfer per confirmed exchange, whatever happens to the button.
CREATE UNIQUE INDEX transfers_exchange ON transfers(exchange_id) WHERE kind = 'exchange';

CREATE TRIGGER transfers_are_append_only_u BEFORE UPDATE ON transfers
BEGIN SELECT RAISE(ABORT, 'transfers are never changed'); END;
CREATE TRIGGER transfers_are_append_only_d BEFORE DELETE ON transfers
BEGIN SELECT RAISE(ABORT, 'transfers are never deleted'); END;

-- Every exchange that has entries (the old code wrote them only when confirming) becomes one
-- 'exchange' transfer: made by the counterparty (the one who confirmed), when its entries were.
INSERT INTO transfers (timebank_id, kind, actor_user_id, exchange_id, post_id, created_at)
SELECT x.timebank_id, 'exchange',
       (SELECT user_id FROM members
         WHERE id = CASE WHEN x.recorded_by = x.provider_id THEN x.receiver_id ELSE x.provider_id END),
       x.id, x.post_id,
       (SELECT min(created_at) FROM entries WHERE exchange_id = x.id)
  FROM exchanges x
 WHERE EXISTS (SELECT 1 FROM entries WHERE exchange_id = x.id)
 ORDER BY x.id;

CREATE TABLE entries_new (
    id          INTEGER PRIMARY KEY,
    timebank_id INTEGER NOT NULL REFERENCES timebanks(id),
    transfer_id INTEGER NOT NULL REFERENCES transfers(id),
    account_id  INTEGER NOT NULL REFERENCES accounts(id),
    minutes     INTEGER NOT NULL CHECK (minutes != 0),
    created_at  INTEGER NOT NULL
);

INSERT INTO entries_new (id, timebank_id, transfer_id, account_id, minutes, created_at)
SELECT e.id, e.timebank_id, t.id, e.account_id, e.minutes, e.created_at
  FROM entries e JOIN transfers t ON t.exchange_id = e.exchange_id AND t.kind = 'exchange'
 ORDER BY e.id;

-- Not one entry may be lost: a failed CHECK aborts the migration (and the transaction).
CREATE TEMP TABLE migration_002_guard (every_entry_copied INTEGER NOT NULL CHECK (every_entry_copied));
INSERT INTO migration_002_guard
SELECT (SELECT count(*) FROM entries) = (SELECT count(*) FROM entries_new);
DROP TABLE migration_002_guard;

DROP TRIGGER entries_are_append_only_u;
DROP TRIGGER entries_are_append_only_d;
DROP TABLE entries;
ALTER TABLE entries_new RENAME TO entries;

CREATE INDEX entries_account ON entries(account_id);
-- A transfer's legs, each account once.
CREATE UNIQUE INDEX entries_transfer ON entries(transfer_id, account_id);

CREATE TRIGGER entries_are_append_only_u BEFORE UPDATE ON entries
BEGIN SELECT RAISE(ABORT, 'ledger entries are never changed'); END;
CREATE TRIGGER entries_are_append_only_d BEFORE DELETE ON entries
BEGIN SELECT RAISE(ABORT, 'ledger entries are never deleted'); END;
