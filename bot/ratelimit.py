"""Keeping within Telegram's flood limits, cheaply.

Telegram allows about 30 messages a second overall and 20 a minute to one group, and
answers 429 with `retry_after` beyond that. Each request reserves its slot with GCRA (the
generic cell rate algorithm) and sleeps at most once until then: a queue of waiting
replies costs no work while it waits. A 429 pauses every request for the time Telegram
asks, then the request is tried again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from telegram.error import RetryAfter
from telegram.ext import BaseRateLimiter

log = logging.getLogger(__name__)


def gcra(tat: float, now: float, interval: float, burst: int) -> tuple[float, float]:
    """(seconds to wait, next theoretical arrival time) for one request.

    `interval` is the steady spacing of requests; up to `burst` may go at once after a quiet spell.
    """
    start = max(tat, now)
    allowed_at = start - (burst - 1) * interval
    return max(0.0, allowed_at - now), start + interval


class PacedRateLimiter(BaseRateLimiter[int]):
    def __init__(self, *, overall_per_second: float = 30, group_per_minute: float = 20,
                 max_retries: int = 3) -> None:
        self._overall = (1 / overall_per_second, int(overall_per_second)) if overall_per_second else None
        self._group = (60 / group_per_minute, int(group_per_minute)) if group_per_minute else None
        self._max_retries = max_retries
        self._overall_tat = 0.0
        self._group_tat: dict[int | str, float] = {}
        self._resume_at = 0.0  # after a 429, nothing goes out before this

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass

    async def _wait_for_slot(self, chat_id: Any) -> None:
        if self._group and isinstance(chat_id, int) and chat_id < 0:
            wait, self._group_tat[chat_id] = gcra(self._group_tat.get(chat_id, 0.0), time.monotonic(),
                                                  *self._group)
            if wait:
                await asyncio.sleep(wait)
        if self._overall:
            wait, self._overall_tat = gcra(self._overall_tat, time.monotonic(), *self._overall)
            if wait:
                await asyncio.sleep(wait)

    async def process_request(self, callback, args, kwargs, endpoint, data, rate_limit_args):
        chat_id = data.get("chat_id")
        try:
            chat_id = int(chat_id)
        except (TypeError, ValueError):
            pass
        if chat_id is not None:  # only messages to a chat count against Telegram's limits
            await self._wait_for_slot(chat_id)
        retries = rate_limit_args or self._max_retries
        for attempt in range(retries + 1):
            pause = self._resume_at - time.monotonic()
            if pause > 0:
                await asyncio.sleep(pause)
            try:
                return await callback(*args, **kwargs)
            except RetryAfter as exc:
                if attempt == retries:
                    raise
                delay = exc.retry_after if isinstance(exc.retry_after, (int, float)) else \
                    exc.retry_after.total_seconds()
                log.info("Telegram asked to slow down: waiting %.1f s before %s", delay, endpoint)
                self._resume_at = max(self._resume_at, time.monotonic() + delay + 0.1)
        raise AssertionError("unreachable")
