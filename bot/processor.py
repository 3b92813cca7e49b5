"""One person's updates one at a time, in the order they came; different people side by side.

PTB's `concurrent_updates(n)` runs any n updates at once, so two quick presses of one person
can interleave (the documentation warns that conversations and concurrent updates do not mix).
`PerPersonUpdateProcessor(n)` keeps PTB's n for different people and serialises the updates of
each person: the key is the update's effective user id, else (no user, e.g. a channel post) its
effective chat id; updates with neither (or that are not `telegram.Update`s) are not held.

    ApplicationBuilder()...concurrent_updates(PerPersonUpdateProcessor(CONCURRENT_UPDATES))

The first update of a person runs at once and marks the person busy (a dict entry holding an
empty deque). Updates of a busy person queue in that deque as futures and give their
concurrency slot back while they wait, so a person with many updates queued does not keep
other people waiting; when an update ends it hands the turn to the next in its person's queue,
which then takes a slot like any other update. The entry is dropped as soon as nobody of that
person waits, so memory follows the people active right now, not the membership. Cost per
update when the person is not busy: a dict insert and a dict delete.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor


def person_of(update: object) -> int | None:
    """Whose update this is: the effective user's id, else the effective chat's id, else None."""
    if not isinstance(update, Update):
        return None
    user = update.effective_user
    if user is not None:
        return user.id
    chat = update.effective_chat
    return chat.id if chat is not None else None


class PerPersonUpdateProcessor(BaseUpdateProcessor):
    """Updates of one person in order and never overlapping; up to max_concurrent_updates people at once."""

    __slots__ = ("_queues", "_taking")

    def __init__(self, max_concurrent_updates: int) -> None:
        super().__init__(max_concurrent_updates)
        # person -> the turns of their updates waiting behind the one running; present while busy
        self._queues: dict[int, deque[asyncio.Future[None]]] = {}
        self._taking: set[asyncio.Task[Any]] = set()  # slots being taken back (kept referenced)

    @property
    def busy_people(self) -> int:
        """People with an update running or waiting (the size of the table of queues)."""
        return len(self._queues)

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        key = person_of(update)
        if key is None:
            await coroutine
            return
        queue = self._queues.get(key)
        if queue is None:
            self._queues[key] = deque()  # the person's turn is ours
        else:
            try:
                await self._wait_for_turn(key, queue)
            except BaseException:
                _close(coroutine)
                raise
        try:
            await coroutine
        finally:
            self._pass_turn(key)

    async def _wait_for_turn(self, key: int, queue: deque[asyncio.Future[None]]) -> None:
        """Queue behind the person's running update without holding a concurrency slot."""
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue.append(turn)
        # PTB's process_update (final) holds a slot of this semaphore around do_process_update and
        # releases it when we return: give it back while we wait, take one again (behind other
        # people's updates) once it is our turn.
        slots = self._semaphore
        slots.release()
        try:
            await turn
        except BaseException:
            # Cancelled while waiting: leave the queue; if the turn had just been handed to us, hand it on.
            if turn.done() and not turn.cancelled():
                self._pass_turn(key)
            else:
                turn.cancel()
            await self._take_slot()
            raise
        try:
            await self._take_slot()
        except BaseException:
            self._pass_turn(key)
            raise

    async def _take_slot(self) -> None:
        """Take a concurrency slot again. Once started, the taking is not undone by a cancellation:
        process_update releases a slot when we return, and the slot taken later balances it."""
        slots = self._semaphore
        if not slots.locked():
            await slots.acquire()  # a free slot is taken without suspending: nothing can interrupt it
            return
        taking = asyncio.ensure_future(slots.acquire())
        self._taking.add(taking)
        taking.add_done_callback(self._taking.discard)
        await asyncio.shield(taking)

    def _pass_turn(self, key: int) -> None:
        """The person's update ended: wake the next one still waiting, or forget the person."""
        queue = self._queues[key]
        while queue:
            turn = queue.popleft()
            if not turn.done():  # a cancelled waiter's turn is skipped
                turn.set_result(None)
                return
        del self._queues[key]


def _close(coroutine: Awaitable[Any]) -> None:
    """A queued update that will never run: close its coroutine (no 'never awaited' warning)."""
    close = getattr(coroutine, "close", None)
    if close is not None:
        close()
