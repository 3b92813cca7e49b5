"""The database connection: WAL, foreign keys, busy timeout, forward-only migrations.

Every query is a plain function of a `sqlite3.Connection` that runs on aiosqlite's worker
thread in one hop (`Database.read` / `Database.write`): a confirmation is one short
transaction and one await, however many statements it needs.
"""

from __future__ import annotations

import functools
import sqlite3
import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar

import aiosqlite

T = TypeVar("T")
P = ParamSpec("P")


class StorageError(Exception):
    """The database cannot be opened or migrated."""


def _migrations() -> list[tuple[int, str, str]]:
    folder = resources.files("storage") / "migrations"
    found = []
    for item in folder.iterdir():
        name = item.name
        if name.endswith(".sql") and name[:3].isdigit():
            found.append((int(name[:3]), name, item.read_text(encoding="utf-8")))
    return sorted(found)


def configure(conn: sqlite3.Connection) -> None:
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    # FULL: a confirmed exchange survives a power cut, not only a crash.
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=5000")


def migrate(conn: sqlite3.Connection) -> int:
    """Apply every migration newer than the database's user_version; return the version."""
    current = conn.execute("PRAGMA user_version").fetchone()[0]
    for number, name, sql in _migrations():
        if number <= current:
            continue
        try:
            conn.execute("BEGIN IMMEDIATE")
            for statement in _split_sql(sql):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version={number:d}")
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            conn.execute("ROLLBACK")
            raise StorageError(f"migration {name} failed: {exc}") from exc
        current = number
    return current


def _split_sql(script: str) -> list[str]:
    """Split a migration into statements (executescript would commit on its own)."""
    statements, buffer = [], ""
    for line in script.splitlines(keepends=True):
        if not buffer and line.strip().startswith("--"):
            continue
        buffer += line
        if sqlite3.complete_statement(buffer):
            statements.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        statements.append(buffer.strip())
    return statements


def open_sync(path: Path | str) -> sqlite3.Connection:
    """A configured, migrated plain connection (the benchmark and tools use it)."""
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    configure(conn)
    migrate(conn)
    return conn


class Database:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._conn: aiosqlite.Connection | None = None

    async def open(self) -> Database:
        if str(self.path) != ":memory:" and not self.path.parent.exists():
            raise StorageError(f"the folder {self.path.parent} does not exist")
        try:
            # isolation_level=None: we issue BEGIN/COMMIT ourselves, so each write is exactly one transaction.
            self._conn = await aiosqlite.connect(str(self.path), isolation_level=None)
            await self._hop(_configure_and_migrate)
        except (sqlite3.Error, OSError) as exc:
            await self.close()
            raise StorageError(f"cannot open {self.path}: {exc}") from exc
        return self

    async def _hop(self, fn: Callable[..., T], *args: Any) -> T:
        """Run fn(conn, *args) on aiosqlite's worker thread in one hop.

        The only place that reaches inside aiosqlite (`_execute`, `_conn`): its public API
        costs one thread hop per statement. tests/test_storage.py fails clearly if a release
        removes either (0.22 reorganised the class once already).
        """
        assert self._conn is not None, "database is not open"
        return await self._conn._execute(fn, self._conn._conn, *args)

    async def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            try:
                await conn.close()
            except Exception:
                pass

    async def read(self, fn: Callable[..., T], *args: Any) -> T:
        """Run fn(conn, *args) on the database thread, in one hop."""
        return await self._hop(fn, *args)

    async def write(self, fn: Callable[..., T], *args: Any) -> T:
        """Run fn(conn, *args) inside one IMMEDIATE transaction on the database thread.

        fn may raise to roll back; whatever it returns is returned after COMMIT.
        """
        return await self._hop(functools.partial(transaction, fn), *args)


def _configure_and_migrate(conn: sqlite3.Connection) -> None:
    configure(conn)
    migrate(conn)


def transaction(fn: Callable[..., T], conn: sqlite3.Connection, *args: Any) -> T:
    conn.execute("BEGIN IMMEDIATE")
    try:
        result = fn(conn, *args)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return result


def now() -> int:
    return int(time.time())


class Reader(Generic[P, T]):
    """A query `fn(conn, ...)` made callable as `await fn(db, ...)`, in one hop, types kept.

    `.sync(conn, ...)` runs it on a plain connection (tools, storage tests, the benchmark).
    """

    def __init__(self, fn: Callable[Concatenate[sqlite3.Connection, P], T]) -> None:
        self.fn = fn
        functools.update_wrapper(self, fn)

    async def __call__(self, db: Database, *args: P.args, **kwargs: P.kwargs) -> T:
        return await db.read(functools.partial(self.fn, **kwargs), *args)

    def sync(self, conn: sqlite3.Connection, *args: P.args, **kwargs: P.kwargs) -> T:
        return self.fn(conn, *args, **kwargs)


class Writer(Reader[P, T]):
    """Like `Reader`, but the function runs as one IMMEDIATE transaction (also in `.sync`)."""

    async def __call__(self, db: Database, *args: P.args, **kwargs: P.kwargs) -> T:
        return await db.write(functools.partial(self.fn, **kwargs), *args)

    def sync(self, conn: sqlite3.Connection, *args: P.args, **kwargs: P.kwargs) -> T:
        return transaction(functools.partial(self.fn, **kwargs), conn, *args)


def reader(fn: Callable[Concatenate[sqlite3.Connection, P], T]) -> Reader[P, T]:
    return Reader(fn)


def writer(fn: Callable[Concatenate[sqlite3.Connection, P], T]) -> Writer[P, T]:
    return Writer(fn)
