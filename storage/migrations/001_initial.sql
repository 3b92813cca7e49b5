-- Timebanks, members, double-entry ledger, exchanges, posts.
-- Times are unix seconds (UTC); amounts are whole minutes.

CREATE TABLE timebanks (
    id                   INTEGER PRIMARY KEY,
    chat_id              INTEGER NOT NULL UNIQUE,
    title                TEXT    NOT NULL DEFAULT '',
    language             TEXT,                          -- NULL: DEFAULT_LANGUAGE
    approval_required    INTEGER NOT NULL DEFAULT 1,
    min_balance          INTEGER NOT NULL DEFAULT -600, -- minutes
    max_exchange         INTEGER NOT NULL DEFAULT 720,  -- minutes
    exchange_expiry_days INTEGER NOT NULL DEFAULT 14,
    post_days            INTEGER NOT NULL DEFAULT 30,
    weekly_digest        INTEGER NOT NULL DEFAULT 1,
    next_number          INTEGER NOT NULL DEFAULT 1,    -- the next member's #number
    in_group             INTEGER NOT NULL DEFAULT 1,    -- 0 once the bot was removed
    welcome_message_id   INTEGER,
    -- Counters kept current in the confirming transaction, so /stats reads one row.
    minutes_exchanged    INTEGER NOT NULL DEFAULT 0,
    exchanges_confirmed  INTEGER NOT NULL DEFAULT 0,
    helper_pairs         INTEGER NOT NULL DEFAULT 0,
    created_at           INTEGER NOT NULL
);

-- One account per member plus one community account per timebank.
CREATE TABLE accounts (
    id          INTEGER PRIMARY KEY,
    timebank_id INTEGER NOT NULL REFERENCES timebanks(id),
    kind        TEXT    NOT NULL CHECK (kind IN ('member', 'community')),
    balance     INTEGER NOT NULL DEFAULT 0  -- = SUM(entries.minutes), kept in the same transaction
);
CREATE UNIQUE INDEX accounts_one_community ON accounts(timebank_id) WHERE kind = 'community';

-- A Telegram person, across timebanks.
CREATE TABLE users (
    id            INTEGER PRIMARY KEY,  -- Telegram user id
    first_name    TEXT NOT NULL DEFAULT '',
    last_name     TEXT,
    username      TEXT,
    language_code TEXT,                 -- from Telegram
    language      TEXT,                 -- chosen with /language
    can_dm        INTEGER,              -- NULL unknown, 0 Telegram refused (403), 1 reached
    updated_at    INTEGER NOT NULL
);
CREATE INDEX users_username ON users(username COLLATE NOCASE);

CREATE TABLE members (
    id               INTEGER PRIMARY KEY,
    timebank_id      INTEGER NOT NULL REFERENCES timebanks(id),
    user_id          INTEGER NOT NULL REFERENCES users(id),
    account_id       INTEGER NOT NULL UNIQUE REFERENCES accounts(id),
    number           INTEGER NOT NULL,
    status           TEXT    NOT NULL CHECK (status IN ('pending', 'active', 'suspended', 'left')),
    given_minutes    INTEGER NOT NULL DEFAULT 0,
    received_minutes INTEGER NOT NULL DEFAULT 0,
    exchanges_count  INTEGER NOT NULL DEFAULT 0,
    people_helped    INTEGER NOT NULL DEFAULT 0,
    joined_at        INTEGER NOT NULL,
    approved_at      INTEGER,   -- set once vetted: a member who leaves and returns is not vetted again
    decided_at       INTEGER,
    UNIQUE (timebank_id, user_id),
    UNIQUE (timebank_id, number)
);
CREATE INDEX members_user ON members(user_id);
CREATE INDEX members_status ON members(timebank_id, status);

CREATE TABLE posts (
    id                  INTEGER PRIMARY KEY,
    timebank_id         INTEGER NOT NULL REFERENCES timebanks(id),
    author_id           INTEGER NOT NULL REFERENCES members(id),
    kind                TEXT    NOT NULL CHECK (kind IN ('offer', 'request')),
    category            TEXT,
    text                TEXT    NOT NULL,
    status              TEXT    NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed', 'expired', 'removed')),
    created_at          INTEGER NOT NULL,
    expires_at          INTEGER NOT NULL,
    closed_at           INTEGER,
    source_chat_id      INTEGER,   -- the message that asked for it: a redelivered update
    source_message_id   INTEGER,   -- finds the post it already made
    announce_chat_id    INTEGER,
    announce_message_id INTEGER
);
CREATE INDEX posts_open ON posts(timebank_id, status, id);
CREATE INDEX posts_author ON posts(author_id, status, id);
CREATE UNIQUE INDEX posts_source ON posts(source_chat_id, source_message_id) WHERE source_message_id IS NOT NULL;

CREATE TABLE exchanges (
    id                INTEGER PRIMARY KEY,
    timebank_id       INTEGER NOT NULL REFERENCES timebanks(id),
    kind              TEXT    NOT NULL DEFAULT 'exchange',
    provider_id       INTEGER NOT NULL REFERENCES members(id),
    receiver_id       INTEGER NOT NULL REFERENCES members(id),
    recorded_by       INTEGER NOT NULL REFERENCES members(id),
    minutes           INTEGER NOT NULL CHECK (minutes > 0),
    description       TEXT    NOT NULL DEFAULT '',
    category          TEXT,
    post_id           INTEGER REFERENCES posts(id),
    state             TEXT    NOT NULL DEFAULT 'pending'
                      CHECK (state IN ('pending', 'confirmed', 'declined', 'cancelled', 'expired', 'reversed')),
    created_at        INTEGER NOT NULL,
    expires_at        INTEGER NOT NULL,
    decided_at        INTEGER,
    source_chat_id    INTEGER,
    source_message_id INTEGER,
    -- Where the counterparty's Confirm/Decline message and the recorder's receipt are,
    -- so both can be edited to the outcome.
    ask_chat_id       INTEGER,
    ask_message_id    INTEGER,
    receipt_chat_id   INTEGER,
    receipt_message_id INTEGER
);
CREATE INDEX exchanges_provider ON exchanges(provider_id, id);
CREATE INDEX exchanges_receiver ON exchanges(receiver_id, id);
CREATE INDEX exchanges_pending ON exchanges(state, expires_at) WHERE state = 'pending';
CREATE UNIQUE INDEX exchanges_source ON exchanges(source_chat_id, source_message_id) WHERE source_message_id IS NOT NULL;

-- The ledger: every confirmed exchange writes entries that sum to zero. Never updated or deleted.
CREATE TABLE entries (
    id          INTEGER PRIMARY KEY,
    timebank_id INTEGER NOT NULL REFERENCES timebanks(id),
    account_id  INTEGER NOT NULL REFERENCES accounts(id),
    exchange_id INTEGER NOT NULL REFERENCES exchanges(id),
    minutes     INTEGER NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE INDEX entries_account ON entries(account_id);
CREATE INDEX entries_exchange ON entries(exchange_id);

CREATE TRIGGER entries_are_append_only_u BEFORE UPDATE ON entries
BEGIN SELECT RAISE(ABORT, 'ledger entries are never changed'); END;
CREATE TRIGGER entries_are_append_only_d BEFORE DELETE ON entries
BEGIN SELECT RAISE(ABORT, 'ledger entries are never deleted'); END;

-- Who has helped whom (directed), kept at confirm time: people helped, distinct pairs.
CREATE TABLE helped (
    provider_id INTEGER NOT NULL REFERENCES members(id),
    receiver_id INTEGER NOT NULL REFERENCES members(id),
    minutes     INTEGER NOT NULL,
    exchanges   INTEGER NOT NULL,
    PRIMARY KEY (provider_id, receiver_id)
) WITHOUT ROWID;

-- Hours by month, kept at confirm time (month = 'YYYY-MM', UTC).
CREATE TABLE monthly (
    timebank_id INTEGER NOT NULL REFERENCES timebanks(id),
    month       TEXT    NOT NULL,
    minutes     INTEGER NOT NULL,
    exchanges   INTEGER NOT NULL,
    PRIMARY KEY (timebank_id, month)
) WITHOUT ROWID;

-- Admin actions: who did what, when, why.
CREATE TABLE audit (
    id          INTEGER PRIMARY KEY,
    timebank_id INTEGER NOT NULL REFERENCES timebanks(id),
    actor_id    INTEGER NOT NULL,   -- Telegram user id
    action      TEXT    NOT NULL,
    member_id   INTEGER REFERENCES members(id),
    detail      TEXT,
    created_at  INTEGER NOT NULL
);
CREATE INDEX audit_timebank ON audit(timebank_id, id);

-- Private messages Telegram would not deliver yet (403): handed over when the person presses Start.
CREATE TABLE outbox (
    id         INTEGER PRIMARY KEY,
    user_id    INTEGER NOT NULL,
    text       TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX outbox_user ON outbox(user_id, id);
