-- Topics of forum groups, and commands sent by anonymous admins.

-- The topic an exchange was recorded in, or a post announced in: whatever the bot posts about
-- it later (a reminder, a notice, the outcome) goes to the same topic. NULL: General.
ALTER TABLE exchanges ADD COLUMN topic_id INTEGER;
ALTER TABLE posts ADD COLUMN topic_id INTEGER;

-- An admin who "remains anonymous" posts as the group: Telegram does not say who. Their
-- command waits here until an admin presses "Tap to confirm it's you" (from their own
-- account); it is carried out once, as them.
CREATE TABLE anonymous_commands (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    timebank_id INTEGER NOT NULL REFERENCES timebanks(id),
    command     TEXT    NOT NULL,
    args        TEXT    NOT NULL DEFAULT '',
    topic_id    INTEGER,
    created_at  INTEGER NOT NULL
);
