"""Everything that touches the database. The only place SQL lives."""

from storage.db import Database, StorageError

__all__ = ["Database", "StorageError"]
