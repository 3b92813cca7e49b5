"""Keeping within Telegram's flood limits, and out of the way while there is nothing to limit.

Telegram allows about 30 messages a second overall, 20 a minute to one group and about one a
second to one private chat (short bursts tolerated), and answers 429 with `retry_after` beyond
that. Each limit here is a sliding window, "at most N messages in any P seconds", kept as the
send times of the last N messages (a deque of N floats):

* while a window has room a message goes at once: an idle bot's replies are never delayed,
  and a burst goes out together (no spacing, no sleep, no lock: a clock read, a dict lookup
  and two deque appends);
* once a window is full, the next message is booked for the moment the oldest one leaves it
  and sleeps once until then. Under load messages therefore leave in bursts of N every P
  seconds, never more than N in any P seconds.

Windows: overall 30 in any 1 s; a group (negative chat id or @username) 20 in any 60 s; a
private chat 3 in any 3 s (about 1 a second, bursts of 3). A message has to fit its chat's
window first, then the overall one; messages waiting for one chat queue behind an
asyncio.Lock made for that chat only then, so they leave in order and cannot starve.

Only methods that put something into a chat count: send*, editMessage*, copyMessage*,
forwardMessage* and stopPoll with a chat_id. answerCallbackQuery, getChatMember, getUpdates
and the like go straight through.

A 429 holds back every request (counted or not) for the time Telegram asks, plus 0.1 s; the
refused request is then tried again (booking a new slot), up to `max_retries` times.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
import warnings
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from telegram.error import RetryAfter
from telegram.ext import BaseRateLimiter
from telegram.warnings import PTBDeprecationWarning

log = logging.getLogger(__name__)

# Bot API methods that put a message into a chat (or change one there).
SENDING = ("send", "editMessage", "copyMessage", "forwardMessage", "stopPoll")
SWEEP_EVERY = 60.0  # seconds between sweeps of the windows of chats that have gone quiet
RETRY_MARGIN = 0.1  # on top of Telegram's retry_after, as PTB's own AIORateLimiter does


class Window:
    """At most `limit` messages in any `period` seconds: the send times of the last `limit` ones.

    Times are booked in non-decreasing order, so the oldest is always `times[0]`.
    """

    __slots__ = ("limit", "period", "times")

    def __init__(self, limit: int, period: float) -> None:
        if limit < 1 or period <= 0:
            raise ValueError(f"a window needs limit >= 1 and period > 0, not {limit} in {period} s")
        self.limit = limit
        self.period = period
        self.times: deque[float] = deque(maxlen=limit)

    def earliest(self, now: float) -> float:
        """When a message may go: `now` while there is room, else when the oldest leaves the window."""
        times = self.times
        if len(times) < self.limit:
            return now
        at = times[0] + self.period
        return at if at > now else now

    def quiet(self, now: float) -> bool:
        """No message inside the window any more: forgetting it changes nothing."""
        return not self.times or self.times[-1] + self.period <= now


class ChatWindow(Window):
    """A chat's window, and the queue of its messages that wait for room (only while some do)."""

    __slots__ = ("queue", "waiting")

    def __init__(self, limit: int, period: float) -> None:
        super().__init__(limit, period)
        self.queue: asyncio.Lock | None = None
        self.waiting = 0


def window_for_rate(count: float, period: float) -> tuple[int, float] | None:
    """`count` messages per `period` seconds as (N, P) for a Window; None when count is 0 (no limit)."""
    if not count:
        return None
    if count >= 1:
        return int(count), period * int(count) / count
    return 1, period / count  # fewer than one per period: one per (period / count)


def retry_seconds(exc: RetryAfter) -> float:
    with warnings.catch_warnings():  # PTB 22 warns when retry_after is read as an int
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, dt.timedelta) else float(value)


class PacedRateLimiter(BaseRateLimiter[int]):
    """Telegram's limits as sliding windows (see the module docstring). A limit of 0 is off.

    `private_per_second=None` means 1 a second while the overall limit is on, and off with it, so
    `PacedRateLimiter(overall_per_second=0, group_per_minute=0)` throttles nothing and only
    waits out 429s (the tests' limiter). `clock` and `sleep` are for tests.
    """

    def __init__(self, *, overall_per_second: float = 30, group_per_minute: float = 20,
                 private_per_second: float | None = None, private_burst: int = 3, max_retries: int = 3,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep) -> None:
        if private_per_second is None:
            private_per_second = 1.0 if overall_per_second else 0.0
        overall = window_for_rate(overall_per_second, 1.0)
        self._overall = Window(*overall) if overall else None
        self._group = window_for_rate(group_per_minute, 60.0)
        # A burst of `private_burst`, then `private_per_second` on average: N=burst in P=burst/rate.
        self._private = (max(1, private_burst), max(1, private_burst) / private_per_second) \
            if private_per_second else None
        self._paced = bool(self._overall or self._group or self._private)
        self._max_retries = max_retries
        self._clock = clock
        self._sleep = sleep
        self._chats: dict[int | str, ChatWindow] = {}
        self._resume_at = 0.0  # after a 429, nothing goes out before this (0: never paused)
        self._next_sweep = 0.0

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        chat_id = data.get("chat_id")
        counted = self._paced and chat_id is not None and endpoint.startswith(SENDING)
        retries = rate_limit_args or self._max_retries
        attempt = 0
        while True:
            if counted:
                wait = self._book(chat_id, self._clock())
                if wait != 0.0:  # the chat is full or queued, a 429 pause, or the overall window is full
                    await self._book_slowly(chat_id, wait)
            elif self._resume_at:
                await self._wait_out_pause()
            try:
                return await callback(*args, **kwargs)
            except RetryAfter as exc:
                if attempt >= retries:
                    raise
                attempt += 1
                delay = retry_seconds(exc)
                log.info("Telegram asked to slow down: every request waits %.1f s; %s is tried again (%d/%d)",
                         delay, endpoint, attempt, retries)
                self._resume_at = max(self._resume_at, self._clock() + delay + RETRY_MARGIN)

    # ------------------------------------------------------------------ booking

    def _chat_window(self, chat_id: Any) -> ChatWindow | None:
        """The window of the chat a message goes to, made on first use; None when its kind is not limited."""
        chat = self._chats.get(chat_id)
        if chat is not None:
            return chat
        if isinstance(chat_id, str):
            try:
                chat_id = int(chat_id)
            except ValueError:
                pass  # "@channelname": a channel or supergroup
            else:
                return self._chat_window(chat_id)
        if isinstance(chat_id, str) or chat_id < 0:
            shape = self._group
        else:
            shape = self._private
        if shape is None:
            return None
        chat = self._chats[chat_id] = ChatWindow(*shape)
        return chat

    def _take(self, chat: ChatWindow | None, now: float) -> float:
        """Book the overall window's earliest time at `now` and record it in the chat's window too."""
        at = now
        overall = self._overall
        if overall is not None:
            at = overall.earliest(now)
            overall.times.append(at)
        if chat is not None:
            chat.times.append(at)
        if now >= self._next_sweep:
            self._sweep(now)
        return at

    def _book(self, chat_id: Any, now: float) -> float:
        """The fast path: book a slot when the chat has room now. Seconds to wait for it (0.0: go now);
        -1.0 when the caller must take the slow path instead (a 429 pause, or the chat must wait)."""
        if now < self._resume_at:
            return -1.0
        chat = self._chat_window(chat_id)
        if chat is not None and (chat.waiting or chat.earliest(now) > now):
            return -1.0
        return self._take(chat, now) - now

    async def _book_slowly(self, chat_id: Any, wait: float) -> None:
        """Wait for the slot the fast path booked (wait > 0), or queue for room (wait < 0).

        A slot is only ever used after a check that no 429 pause began meanwhile; a slot slept
        through a pause is given up (unused slots never break a window) and a new one booked.
        """
        while True:
            if wait > 0:
                await self._sleep(wait)
                if self._clock() >= self._resume_at:
                    return
            await self._wait_out_pause()
            chat = self._chat_window(chat_id)
            if chat is None:
                now = self._clock()
                wait = self._take(None, now) - now
            else:
                wait = await self._queue_for(chat)
            if wait <= 0 and self._clock() >= self._resume_at:
                return

    async def _queue_for(self, chat: ChatWindow) -> float:
        """In the chat's queue, in order: wait for room in its window, then book. Seconds to the slot."""
        if chat.queue is None:
            chat.queue = asyncio.Lock()
        queue = chat.queue
        chat.waiting += 1
        try:
            async with queue:
                while True:
                    now = self._clock()
                    if now < self._resume_at:
                        await self._sleep(self._resume_at - now)
                        continue
                    at = chat.earliest(now)
                    if at <= now:
                        return self._take(chat, now) - now
                    await self._sleep(at - now)
        finally:
            chat.waiting -= 1
            if not chat.waiting:
                chat.queue = None

    async def _wait_out_pause(self) -> None:
        while (pause := self._resume_at - self._clock()) > 0:
            await self._sleep(pause)

    def _sweep(self, now: float) -> None:
        """Forget the windows of chats with no message in them any more, so memory follows activity."""
        self._next_sweep = now + SWEEP_EVERY
        quiet = [key for key, chat in self._chats.items() if not chat.waiting and chat.quiet(now)]
        for key in quiet:
            del self._chats[key]

    # ------------------------------------------------------------------ for tests and diagnostics

    @property
    def chats_tracked(self) -> int:
        return len(self._chats)
