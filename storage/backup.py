"""Backups: a consistent copy of the live database, and putting one back (`python -m bot backup|restore`).

Both go through SQLite's online backup API, page by page under SQLite's own locks, so they are
safe while the bot runs: a backup sees one committed state, never half a transaction; a restore
replaces the whole database in one step that the bot's connection (and Litestream, when it
replicates) sees as an ordinary write.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from storage.db import StorageError, configure, migrate


@dataclass(frozen=True)
class Summary:
    path: Path
    size: int
    schema: int
    timebanks: int
    members: int
    exchanges: int

    def line(self) -> str:
        return (f"{self.path} ({self.size:,} bytes, schema {self.schema}: {self.timebanks} timebank(s), "
                f"{self.members} member(s), {self.exchanges} exchange(s))")


def _count(conn: sqlite3.Connection, table: str) -> int:
    try:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # our own table names
    except sqlite3.OperationalError:
        return 0


def summarize(path: Path) -> Summary:
    """What a database file holds; raises StorageError if it is not a sound SQLite database."""
    if not path.is_file():
        raise StorageError(f"{path} is not a file")
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            verdict = conn.execute("PRAGMA quick_check").fetchone()[0]
            if verdict != "ok":
                raise StorageError(f"{path} is damaged ({verdict})")
            schema = conn.execute("PRAGMA user_version").fetchone()[0]
            return Summary(path, path.stat().st_size, schema, _count(conn, "timebanks"), _count(conn, "members"),
                           _count(conn, "exchanges"))
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise StorageError(f"{path} is not a SQLite database ({exc})") from None


def backup(live: Path, target: Path) -> Summary:
    """Copy the live database to `target` (a new file), consistently, while it may be in use."""
    if not live.exists():
        raise StorageError(f"there is no database at {live}")
    if target.exists():
        raise StorageError(f"{target} already exists; give a new file name")
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    source = sqlite3.connect(str(live))
    try:
        copy = sqlite3.connect(str(partial))
        try:
            source.backup(copy)
            # One self-contained file: no -wal beside it to forget when it is copied elsewhere.
            copy.execute("PRAGMA journal_mode=DELETE")
        finally:
            copy.close()
    except sqlite3.Error as exc:
        partial.unlink(missing_ok=True)
        raise StorageError(f"the backup failed: {exc}") from None
    finally:
        source.close()
    os.replace(partial, target)
    return summarize(target)


def restore(backup_file: Path, live: Path, keep: Path) -> tuple[Summary, Summary | None]:
    """Replace the live database's content with `backup_file`'s; the content it had is kept in `keep`.

    Returns what was restored and what was kept (None when there was no database yet). The
    restored database is migrated to the current schema.
    """
    restored = summarize(backup_file)
    latest = migrate(sqlite3.connect(":memory:"))
    if restored.schema > latest:
        raise StorageError(f"{backup_file} comes from a newer version of the bot (schema {restored.schema}, this one "
                           f"knows {latest}); restore it with that version")
    kept = None
    if live.exists():
        kept = backup(live, keep)
    source = sqlite3.connect(f"file:{backup_file}?mode=ro", uri=True)
    try:
        conn = sqlite3.connect(str(live), isolation_level=None)
        try:
            configure(conn)
            source.backup(conn)
            configure(conn)  # the copied header brought the backup's journal mode
            migrate(conn)
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise StorageError(f"the restore failed: {exc}") from None
    finally:
        source.close()
    return restored, kept
