"""One person's updates one at a time and in order; different people side by side (no Telegram)."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from telegram import Chat, Message, Update, User

from bot.processor import PerPersonUpdateProcessor, person_of

NOW = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
_ids = iter(range(1, 10_000))


def message_from(user_id: int, chat_id: int | None = None) -> Update:
    chat = Chat(chat_id or user_id, Chat.PRIVATE if chat_id is None else Chat.SUPERGROUP)
    return Update(next(_ids), message=Message(next(_ids), NOW, chat, from_user=User(user_id, "Ann", False)))


def channel_post(chat_id: int) -> Update:
    return Update(next(_ids), channel_post=Message(next(_ids), NOW, Chat(chat_id, Chat.CHANNEL)))


class Jobs:
    """Fake handlers: each records when it starts and ends and waits until the test lets it finish."""

    def __init__(self) -> None:
        self.log: list[str] = []
        self.gates: dict[str, asyncio.Event] = {}
        self.running: set[str] = set()
        self.most_at_once = 0

    async def job(self, name: str, fail: bool = False) -> None:
        self.log.append(f"start {name}")
        self.running.add(name)
        self.most_at_once = max(self.most_at_once, len(self.running))
        try:
            await self.gates.setdefault(name, asyncio.Event()).wait()
            if fail:
                raise ValueError(f"{name} failed")
        finally:
            self.running.discard(name)
            self.log.append(f"end {name}")

    def finish(self, name: str) -> None:
        self.gates.setdefault(name, asyncio.Event()).set()

    def started(self) -> list[str]:
        return [entry[6:] for entry in self.log if entry.startswith("start ")]


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


def submit(processor: PerPersonUpdateProcessor, update: object, coroutine) -> asyncio.Task:
    # As PTB's Application does with concurrent updates: one task per update, in arrival order.
    return asyncio.ensure_future(processor.process_update(update, coroutine))


def slots_free(processor: PerPersonUpdateProcessor) -> int:
    return processor.max_concurrent_updates - processor.current_concurrent_updates


async def test_one_persons_updates_run_in_arrival_order_and_never_overlap():
    processor, jobs = PerPersonUpdateProcessor(8), Jobs()
    tasks = [submit(processor, message_from(1), jobs.job(f"ann {n}")) for n in range(4)]
    await settle()
    assert jobs.started() == ["ann 0"]
    for n in range(4):
        jobs.finish(f"ann {n}")
        await settle()
    await asyncio.gather(*tasks)
    assert jobs.log == [f"{what} ann {n}" for n in range(4) for what in ("start", "end")]
    assert jobs.most_at_once == 1
    assert processor.busy_people == 0 and slots_free(processor) == 8


async def test_different_people_run_at_the_same_time():
    processor, jobs = PerPersonUpdateProcessor(8), Jobs()
    tasks = [submit(processor, message_from(1), jobs.job("ann")),
             submit(processor, message_from(2), jobs.job("bob")),
             submit(processor, message_from(1), jobs.job("ann again"))]
    await settle()
    assert jobs.started() == ["ann", "bob"] and processor.busy_people == 2
    jobs.finish("bob")
    jobs.finish("ann")
    await settle()
    assert jobs.started() == ["ann", "bob", "ann again"]
    jobs.finish("ann again")
    await asyncio.gather(*tasks)
    assert processor.busy_people == 0 and slots_free(processor) == 8


async def test_one_person_in_a_group_is_one_person_and_the_group_does_not_serialise_others():
    processor, jobs = PerPersonUpdateProcessor(8), Jobs()
    tasks = [submit(processor, message_from(1, chat_id=-100), jobs.job("ann in the group")),
             submit(processor, message_from(1), jobs.job("ann in private")),
             submit(processor, message_from(2, chat_id=-100), jobs.job("bob in the group"))]
    await settle()
    assert jobs.started() == ["ann in the group", "bob in the group"]
    for name in ("ann in the group", "ann in private", "bob in the group"):
        jobs.finish(name)
    await asyncio.gather(*tasks)
    assert processor.busy_people == 0


async def test_updates_without_a_user_are_ordered_by_chat_and_others_not_at_all():
    processor, jobs = PerPersonUpdateProcessor(8), Jobs()
    assert person_of(channel_post(-500)) == -500 and person_of(object()) is None
    tasks = [submit(processor, channel_post(-500), jobs.job("post 1")),
             submit(processor, channel_post(-500), jobs.job("post 2")),
             submit(processor, object(), jobs.job("custom 1")),
             submit(processor, object(), jobs.job("custom 2"))]
    await settle()
    assert jobs.started() == ["post 1", "custom 1", "custom 2"]
    for name in ("post 1", "post 2", "custom 1", "custom 2"):
        jobs.finish(name)
    await asyncio.gather(*tasks)
    assert jobs.started()[-1] == "post 2" and processor.busy_people == 0


async def test_the_limit_on_concurrent_updates_still_holds():
    processor, jobs = PerPersonUpdateProcessor(2), Jobs()
    tasks = [submit(processor, message_from(user), jobs.job(f"user {user}")) for user in range(1, 6)]
    await settle()
    assert jobs.started() == ["user 1", "user 2"]
    for user in range(1, 6):
        jobs.finish(f"user {user}")
    await asyncio.gather(*tasks)
    assert jobs.most_at_once == 2 and slots_free(processor) == 2


async def test_a_person_with_updates_queued_does_not_hold_up_other_people():
    processor, jobs = PerPersonUpdateProcessor(2), Jobs()
    tasks = [submit(processor, message_from(1), jobs.job(f"ann {n}")) for n in range(5)]
    tasks.append(submit(processor, message_from(2), jobs.job("bob")))
    await settle()
    # Ann's 4 waiting updates hold no slot: Bob runs beside Ann's first.
    assert jobs.started() == ["ann 0", "bob"]
    assert processor.current_concurrent_updates == 2
    for name in ["bob"] + [f"ann {n}" for n in range(5)]:
        jobs.finish(name)
    await asyncio.gather(*tasks)
    assert jobs.started() == ["ann 0", "bob", "ann 1", "ann 2", "ann 3", "ann 4"]
    assert processor.busy_people == 0 and slots_free(processor) == 2


async def test_an_update_that_fails_does_not_block_the_persons_next_update():
    processor, jobs = PerPersonUpdateProcessor(8), Jobs()
    failing = submit(processor, message_from(1), jobs.job("ann 1", fail=True))
    following = submit(processor, message_from(1), jobs.job("ann 2"))
    await settle()
    jobs.finish("ann 1")
    with pytest.raises(ValueError, match="ann 1 failed"):
        await failing
    jobs.finish("ann 2")
    await following
    assert jobs.started() == ["ann 1", "ann 2"]
    assert processor.busy_people == 0 and slots_free(processor) == 8


async def test_a_cancelled_waiting_update_leaves_the_queue_and_gives_its_slot_back():
    processor, jobs = PerPersonUpdateProcessor(2), Jobs()
    first = submit(processor, message_from(1), jobs.job("ann 1"))
    cancelled = submit(processor, message_from(1), jobs.job("ann 2"))
    last = submit(processor, message_from(1), jobs.job("ann 3"))
    await settle()
    cancelled.cancel()
    await settle()
    jobs.finish("ann 1")
    jobs.finish("ann 3")
    await asyncio.gather(first, last)
    assert cancelled.cancelled()
    assert jobs.started() == ["ann 1", "ann 3"]
    assert processor.busy_people == 0 and slots_free(processor) == 2


async def test_cancelling_the_running_update_hands_the_turn_on():
    processor, jobs = PerPersonUpdateProcessor(2), Jobs()
    running = submit(processor, message_from(1), jobs.job("ann 1"))
    waiting = submit(processor, message_from(1), jobs.job("ann 2"))
    await settle()
    running.cancel()
    await settle()
    assert jobs.started() == ["ann 1", "ann 2"]
    jobs.finish("ann 2")
    await waiting
    assert processor.busy_people == 0 and slots_free(processor) == 2


async def test_many_people_leave_no_trace():
    processor = PerPersonUpdateProcessor(8)
    done = []

    async def handler(n: int) -> None:
        await asyncio.sleep(0)
        done.append(n)

    await asyncio.gather(*(processor.process_update(message_from(1000 + n % 300), handler(n)) for n in range(1200)))
    assert len(done) == 1200 and processor.busy_people == 0 and slots_free(processor) == 8
    by_person: dict[int, list[int]] = {}
    for n in done:
        by_person.setdefault(n % 300, []).append(n)
    assert all(ns == sorted(ns) for ns in by_person.values())  # each person's in arrival order
