"""What the running bot keeps in memory: settings, database, catalogs and small caches.

The caches spare the database a round trip on every update: timebank settings (a few
rows), what we last stored of each user (so unchanged users cost no write) and who is
a group admin (asked of Telegram, kept briefly).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass, field

from telegram import Bot, User
from telegram.error import BadRequest, TelegramError

from bot.i18n import Catalogs, Translator
from bot.settings import Settings
from storage import members as member_store
from storage import timebanks as timebank_store
from storage.db import Database, now
from timebank.models import Member, Timebank

ADMIN_CACHE_SECONDS = 300


class AdminCheckFailed(Exception):
    """Telegram could not be asked whether someone is an admin (network, flood, outage)."""

ADMIN_STATUSES = {"creator", "administrator"}


@dataclass(frozen=True)
class CommandInfo:
    """A command as menus and /help show it (the table itself is bot/commands.py)."""

    name: str
    description: str
    admin: bool


@dataclass
class Runtime:
    settings: Settings
    db: Database
    catalogs: Catalogs
    commands: list[CommandInfo] = field(default_factory=list)
    timebanks_by_chat: dict[int, Timebank] = field(default_factory=dict)
    timebanks_by_id: dict[int, Timebank] = field(default_factory=dict)
    users: dict[int, tuple] = field(default_factory=dict)
    _admins: dict[tuple[int, int], tuple[bool, float]] = field(default_factory=dict)
    _queries: OrderedDict[str, None] = field(default_factory=OrderedDict)

    def first_sight_of_query(self, query_id: str) -> bool:
        """False for a button press already seen (a redelivered update); remembers the last few thousand."""
        if query_id in self._queries:
            return False
        self._queries[query_id] = None
        if len(self._queries) > 4096:
            self._queries.popitem(last=False)
        return True

    async def load(self) -> None:
        for timebank in await timebank_store.all_timebanks(self.db):
            self.remember(timebank)
        self.users = await member_store.user_snapshots(self.db)

    # --- timebanks ------------------------------------------------------------------

    def remember(self, timebank: Timebank) -> Timebank:
        stale = self.timebanks_by_id.get(timebank.id)
        if stale is not None and stale.chat_id != timebank.chat_id:
            self.timebanks_by_chat.pop(stale.chat_id, None)
        self.timebanks_by_chat[timebank.chat_id] = timebank
        self.timebanks_by_id[timebank.id] = timebank
        return timebank

    async def ensure_timebank(self, chat_id: int, title: str) -> tuple[Timebank, bool]:
        known = self.timebanks_by_chat.get(chat_id)
        if known is not None and known.in_group and known.title == title:
            return known, False
        timebank, created = await timebank_store.ensure(self.db, chat_id, title, now())
        self.remember(timebank)
        return timebank, created or (known is not None and not known.in_group)

    async def move_chat(self, old_chat_id: int, new_chat_id: int) -> Timebank | None:
        """The group became a supergroup (new id): the timebank follows it. Safe to call twice."""
        timebank = await timebank_store.move_chat(self.db, old_chat_id, new_chat_id)
        if timebank is not None:
            self.timebanks_by_chat.pop(old_chat_id, None)
            self.remember(timebank)
        return timebank

    # --- users ----------------------------------------------------------------------

    async def note_user(self, user: User) -> None:
        """Store a user's name and language when they change (most updates change nothing)."""
        old = self.users.get(user.id)
        fresh = (user.first_name, user.last_name, user.username, user.language_code)
        if old is not None and old[:4] == fresh:
            return
        await member_store.upsert_user(self.db, user.id, *fresh, now())
        self.users[user.id] = fresh + ((old[4], old[5]) if old else (None, None))

    def chosen_language(self, user_id: int) -> str | None:
        snapshot = self.users.get(user_id)
        return snapshot[4] if snapshot else None

    async def choose_language(self, user_id: int, language: str) -> None:
        await member_store.set_language(self.db, user_id, language)
        old = self.users.get(user_id, ("", None, None, None, None, None))
        self.users[user_id] = old[:4] + (language, old[5])

    def can_dm(self, user_id: int) -> bool | None:
        snapshot = self.users.get(user_id)
        value = snapshot[5] if snapshot else None
        return None if value is None else bool(value)

    async def set_can_dm(self, user_id: int, can_dm: bool) -> None:
        if self.can_dm(user_id) is can_dm:
            return
        await member_store.set_can_dm(self.db, user_id, can_dm)
        old = self.users.get(user_id, ("", None, None, None, None, None))
        self.users[user_id] = old[:5] + (int(can_dm),)

    # --- languages ------------------------------------------------------------------

    def tr_for_user(self, user_id: int | None, telegram_code: str | None = None) -> Translator:
        chosen = self.chosen_language(user_id) if user_id else None
        if telegram_code is None and user_id:
            snapshot = self.users.get(user_id)
            telegram_code = snapshot[3] if snapshot else None
        return self.catalogs.pick(chosen, telegram_code)

    def tr_for_member(self, member: Member) -> Translator:
        return self.catalogs.pick(self.chosen_language(member.user_id) or member.language, member.language_code)

    def tr_for_group(self, timebank: Timebank | None) -> Translator:
        return self.catalogs.get(timebank.language if timebank else None)

    # --- admins ---------------------------------------------------------------------

    def forget_admin(self, chat_id: int, user_id: int) -> None:
        self._admins.pop((chat_id, user_id), None)

    async def is_admin(self, bot: Bot, chat_id: int, user_id: int) -> bool:
        """A Telegram administrator or creator of the group (asked, cached briefly), or an operator.

        Raises AdminCheckFailed when Telegram cannot answer: a real admin must not be told
        they are not one because the network failed.
        """
        if user_id in self.settings.bot_admins:
            return True
        cached = self._admins.get((chat_id, user_id))
        if cached and cached[1] > time.monotonic():
            return cached[0]
        try:
            status = (await bot.get_chat_member(chat_id, user_id)).status
        except BadRequest:  # not in the group, or the group is gone: certainly not its admin
            return False
        except TelegramError as exc:
            raise AdminCheckFailed(str(exc)) from exc
        verdict = status in ADMIN_STATUSES
        self._admins[(chat_id, user_id)] = (verdict, time.monotonic() + ADMIN_CACHE_SECONDS)
        return verdict
