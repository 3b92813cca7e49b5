"""Pacing within Telegram's limits, on a virtual clock: no real sleeping, no wall-time assertions."""

from __future__ import annotations

import asyncio
import datetime as dt
import heapq
import itertools
from collections import defaultdict

import pytest
from telegram.error import RetryAfter

from bot.ratelimit import SWEEP_EVERY, PacedRateLimiter

# Constructing RetryAfter reads its own deprecated int attribute (PTB 22): not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")

T0 = 1000.0
GROUP, OTHER_GROUP = -1001, -1002


class VirtualTime:
    """A clock that moves only when every task is asleep: then it jumps to the earliest wake-up."""

    def __init__(self) -> None:
        self.now = T0
        self.slept: list[float] = []
        self._timers: list[tuple[float, int, asyncio.Future]] = []
        self._order = itertools.count()

    def clock(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        assert delay > 0, "the limiter never sleeps for nothing"
        self.slept.append(delay)
        future = asyncio.get_running_loop().create_future()
        heapq.heappush(self._timers, (self.now + delay, next(self._order), future))
        await future

    async def run(self, *coroutines):
        tasks = [asyncio.ensure_future(c) for c in coroutines]
        while True:
            for _ in range(50):  # let every task run until it sleeps or ends
                await asyncio.sleep(0)
            if all(task.done() for task in tasks):
                return [task.result() for task in tasks]
            assert self._timers, "every task waits, for nothing: a deadlock"
            when, _, future = heapq.heappop(self._timers)
            self.now = max(self.now, when)
            future.set_result(None)


class Telegram:
    """Records what was sent when; can answer 429 for the first calls."""

    def __init__(self, vt: VirtualTime) -> None:
        self.vt = vt
        self.sent: list[tuple[float, str, object]] = []   # (time, method, chat_id)
        self.refuse: list[int] = []                        # retry_after of the next refusals

    def request(self, limiter: PacedRateLimiter, chat_id: object = None, method: str = "sendMessage",
                max_retries: int | None = None):
        async def callback():
            if self.refuse:
                raise RetryAfter(dt.timedelta(seconds=self.refuse.pop(0)))
            self.sent.append((self.vt.now, method, chat_id))
            return True
        data = {} if chat_id is None else {"chat_id": chat_id}
        return limiter.process_request(callback, (), {}, method, data, max_retries)

    def times(self, chat_id: object = None) -> list[float]:
        return [t - T0 for t, _, c in self.sent if chat_id is None or c == chat_id]


def most_in_any_window(times: list[float], period: float) -> int:
    times = sorted(times)
    return max((sum(1 for u in times[i:] if u < t + period) for i, t in enumerate(times)), default=0)


@pytest.fixture
def vt() -> VirtualTime:
    return VirtualTime()


@pytest.fixture
def tg(vt: VirtualTime) -> Telegram:
    return Telegram(vt)


def telegrams_limits(vt: VirtualTime, **extra) -> PacedRateLimiter:
    return PacedRateLimiter(overall_per_second=30, group_per_minute=20, max_retries=3, clock=vt.clock,
                            sleep=vt.sleep, **extra)


async def test_an_idle_limiter_lets_a_burst_through_without_waiting(vt, tg):
    limiter = telegrams_limits(vt)
    chats = [GROUP, OTHER_GROUP, *range(1, 29)]  # 30 messages: two groups and 28 private chats
    await vt.run(*(tg.request(limiter, chat) for chat in chats))
    assert tg.times() == [0.0] * 30
    assert vt.slept == []


async def test_the_31st_message_in_one_second_waits_for_the_window(vt, tg):
    limiter = telegrams_limits(vt)
    await vt.run(*(tg.request(limiter, chat) for chat in range(1, 32)))
    assert tg.times() == [0.0] * 30 + [1.0]
    assert vt.slept == [1.0]


async def test_under_load_messages_leave_in_bursts_within_every_window(vt, tg):
    limiter = telegrams_limits(vt)
    chats = [GROUP, OTHER_GROUP] * 30 + [c % 25 + 1 for c in range(140)]
    await vt.run(*(tg.request(limiter, chat) for chat in chats))
    assert len(tg.sent) == 200
    assert most_in_any_window(tg.times(), 1.0) == 30
    for group in (GROUP, OTHER_GROUP):
        assert most_in_any_window(tg.times(group), 60.0) == 20
    assert max(most_in_any_window(tg.times(chat), 3.0) for chat in range(1, 26)) == 3
    # Each private chat has 5-6 messages (3 in any 3 s): all are out within 6 s. A group's 21st
    # message waits for the minute of its first. Nobody waits longer than the windows require.
    assert tg.times(GROUP)[20] == 60.0
    assert max(t for t, _, chat in tg.sent if isinstance(chat, int) and chat > 0) - T0 <= 6.0


async def test_a_groups_21st_message_in_a_minute_waits_and_others_go_meanwhile(vt, tg):
    limiter = telegrams_limits(vt)
    await vt.run(*(tg.request(limiter, GROUP) for _ in range(20)))
    vt.now += 30
    order = []

    async def labelled(label, chat):
        await tg.request(limiter, chat)
        order.append(label)

    await vt.run(labelled("group 21", GROUP), labelled("group 22", GROUP), labelled("private", 5),
                 labelled("other group", OTHER_GROUP))
    assert order == ["private", "other group", "group 21", "group 22"]
    assert tg.times(GROUP) == [0.0] * 20 + [60.0, 60.0]
    assert tg.times(5) == [30.0] and tg.times(OTHER_GROUP) == [30.0]


async def test_a_groups_waiting_messages_leave_in_order(vt, tg):
    limiter = telegrams_limits(vt)
    sent = []

    async def numbered(n):
        await tg.request(limiter, GROUP)
        sent.append(n)

    await vt.run(*(numbered(n) for n in range(45)))
    assert sent == list(range(45))
    assert tg.times(GROUP) == [0.0] * 20 + [60.0] * 20 + [120.0] * 5


async def test_a_newcomer_does_not_overtake_a_chats_waiting_messages(vt, tg):
    limiter = telegrams_limits(vt)
    await vt.run(*(tg.request(limiter, GROUP) for _ in range(20)))
    order = []

    async def labelled(label):
        await tg.request(limiter, GROUP)
        order.append(label)

    waiting = [asyncio.ensure_future(labelled(f"waiting {n}")) for n in range(2)]
    for _ in range(50):
        await asyncio.sleep(0)   # both asleep, until T0+60
    vt.now = T0 + 61             # the window has room again, but they have not woken yet
    await vt.run(labelled("newcomer"), *waiting)
    assert order == ["waiting 0", "waiting 1", "newcomer"]


async def test_a_private_chat_gets_a_short_burst_then_about_one_a_second(vt, tg):
    limiter = telegrams_limits(vt)
    await vt.run(*(tg.request(limiter, 7) for _ in range(7)), tg.request(limiter, 8))
    assert tg.times(7) == [0.0, 0.0, 0.0, 3.0, 3.0, 3.0, 6.0]
    assert tg.times(8) == [0.0]  # another person is not held up


async def test_the_private_limit_can_be_set_or_turned_off(vt, tg):
    limiter = telegrams_limits(vt, private_per_second=2, private_burst=4)
    await vt.run(*(tg.request(limiter, 7) for _ in range(5)))
    assert tg.times(7) == [0.0] * 4 + [2.0]
    limiter = telegrams_limits(vt, private_per_second=0)
    tg.sent.clear()
    await vt.run(*(tg.request(limiter, 7) for _ in range(30)))
    assert tg.times(7) == [2.0] * 30


async def test_edits_count_but_answers_and_lookups_do_not(vt, tg):
    limiter = telegrams_limits(vt)
    free = [tg.request(limiter, None, "answerCallbackQuery") for _ in range(50)]
    free += [tg.request(limiter, GROUP, "getChatMember") for _ in range(50)]
    free += [tg.request(limiter, None, "getUpdates") for _ in range(5)]
    await vt.run(*free)
    assert vt.slept == [] and limiter.chats_tracked == 0
    await vt.run(*(tg.request(limiter, GROUP, "editMessageText") for _ in range(21)))
    assert tg.times(GROUP)[-2:] == [0.0, 60.0]


async def test_string_chat_ids_share_the_window_of_their_number(vt, tg):
    limiter = telegrams_limits(vt)
    await vt.run(*(tg.request(limiter, chat) for chat in [GROUP, str(GROUP)] * 10), tg.request(limiter, str(GROUP)),
                 tg.request(limiter, "@somechannel"))
    assert sorted(tg.times())[-1] == 60.0 and tg.times("@somechannel") == [0.0]


async def test_a_429_is_waited_out_by_everyone_then_retried(vt, tg):
    limiter = telegrams_limits(vt)
    tg.refuse = [5]
    first = asyncio.ensure_future(tg.request(limiter, 1))
    await vt.run(asyncio.sleep(0))          # the first request is refused: everyone pauses 5.1 s
    assert tg.sent == [] and limiter._resume_at == pytest.approx(T0 + 5.1)
    await vt.run(first, tg.request(limiter, 2), tg.request(limiter, None, "answerCallbackQuery"),
                 tg.request(limiter, GROUP))
    assert sorted(tg.times()) == pytest.approx([5.1] * 4)


async def test_a_429_is_retried_up_to_max_retries(vt, tg):
    limiter = telegrams_limits(vt)
    tg.refuse = [1, 1, 1]
    await vt.run(tg.request(limiter, 1))
    assert tg.times(1) == pytest.approx([3.3])       # three refusals, three pauses, then through
    tg.refuse = [1, 1, 1, 1]
    with pytest.raises(RetryAfter):
        await vt.run(tg.request(limiter, 1))
    tg.refuse = [1, 1, 1]
    await vt.run(tg.request(limiter, 1, max_retries=0))  # rate_limit_args 0 or None: the default, 3
    tg.refuse = [1, 1]
    with pytest.raises(RetryAfter):
        await vt.run(tg.request(limiter, 1, max_retries=1))


async def test_a_slot_booked_before_a_429_is_not_used_during_the_pause(vt, tg):
    limiter = telegrams_limits(vt)
    await vt.run(*(tg.request(limiter, chat) for chat in range(1, 31)))   # the window is full until T0+1
    tg.refuse = [10]
    booked = [tg.request(limiter, chat) for chat in range(31, 36)]        # booked for T0+1
    await vt.run(tg.request(limiter, 40), *booked)
    after = sorted(tg.times())[30:]
    assert len(after) == 6 and min(after) >= 10.1   # nobody went during the pause


async def test_the_tests_limiter_throttles_nothing_but_still_waits_out_a_429(vt, tg):
    limiter = PacedRateLimiter(overall_per_second=0, group_per_minute=0, max_retries=3, clock=vt.clock,
                               sleep=vt.sleep)
    await vt.run(*(tg.request(limiter, chat) for chat in [GROUP] * 50 + [7] * 50))
    assert tg.times() == [0.0] * 100 and vt.slept == [] and limiter.chats_tracked == 0
    tg.refuse = [2]
    await vt.run(tg.request(limiter, 7))
    assert tg.times()[-1] == pytest.approx(2.1)


async def test_the_windows_of_quiet_chats_are_forgotten(vt, tg):
    limiter = telegrams_limits(vt)
    await vt.run(*(tg.request(limiter, chat) for chat in range(1, 26)), tg.request(limiter, GROUP))
    assert limiter.chats_tracked == 26
    vt.now += SWEEP_EVERY + 1
    await vt.run(tg.request(limiter, 99))
    assert limiter.chats_tracked == 1


async def test_without_a_fake_clock_an_idle_limiter_never_sleeps(monkeypatch):
    """The real clock and asyncio.sleep: an idle bot's few messages go without any sleep."""
    slept = []

    async def no_sleep(delay):  # would be asyncio.sleep
        slept.append(delay)

    limiter = PacedRateLimiter(overall_per_second=30, group_per_minute=20, max_retries=3, sleep=no_sleep)
    calls = defaultdict(int)

    async def callback(chat):
        calls[chat] += 1
        return True

    for chat in (1, 2, GROUP, 3, GROUP):
        await limiter.process_request(callback, (chat,), {}, "sendMessage", {"chat_id": chat}, None)
    assert slept == [] and sum(calls.values()) == 5
