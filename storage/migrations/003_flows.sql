-- Guided flows: a command that asks for what is missing keeps its answers here, one row per
-- person, written at every step, so a restart in the middle of a question loses nothing.
-- AUTOINCREMENT: a flow id is never reused, so a button of an ended flow never matches a new one.
CREATE TABLE flows (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id         INTEGER NOT NULL UNIQUE,   -- one guided flow per person at a time
    command         TEXT    NOT NULL,          -- the command it finishes: 'gave', 'received', ...
    step            TEXT    NOT NULL,          -- the question waiting for an answer
    chat_id         INTEGER NOT NULL,          -- where the questions are asked (the private chat)
    timebank_id     INTEGER REFERENCES timebanks(id),
    answers         TEXT    NOT NULL DEFAULT '{}',  -- JSON: what is known so far
    message_id      INTEGER,                   -- the question on screen, edited as the flow moves on
    message_buttons INTEGER NOT NULL DEFAULT 0, -- 1: it has buttons to take off when it is answered
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);

-- Who was seen administering which group (confirmed with Telegram at the time), so a
-- coordinator who is not a member can use admin commands from private chat. Telegram is
-- asked again before each use; a row only says which groups to ask about.
CREATE TABLE known_admins (
    timebank_id INTEGER NOT NULL REFERENCES timebanks(id),
    user_id     INTEGER NOT NULL,
    seen_at     INTEGER NOT NULL,
    PRIMARY KEY (user_id, timebank_id)
) WITHOUT ROWID;
