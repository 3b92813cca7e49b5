"""Coordinators: admin commands from private chat without being members, privacy of decisions,
and an honest answer when Telegram cannot be asked."""

from __future__ import annotations

import pytest

from storage import members as member_store
from tests.conftest import GROUP
from tests.harness import texts


async def status_of(world, person) -> str | None:
    runtime = world.app.bot_data["runtime"]
    member = await member_store.by_user(runtime.db, runtime.timebanks_by_chat[GROUP].id, person.user_id)
    return member.status if member else None


async def test_a_coordinator_who_is_not_a_member_works_from_private_chat(world, community):
    ada = community["ada"]  # the group's creator: never joined the timebank
    assert await status_of(world, ada) is None
    erin = world.person("Erin", username="erin")
    await erin.says("/join", GROUP)
    listing = texts(await ada.says("/approve"))
    assert "Waiting to join Paxton Green Timebank:" in listing
    notice = next(m for m in reversed(ada.inbox()) if "Erin (@erin), member #4, asks to join" in m["text"])
    await ada.press(notice, "Approve")
    assert await status_of(world, erin) == "active"
    sent = await ada.says("/suspend @erin keeps missing visits")
    assert "Erin (#4) was suspended by Ada." in texts(sent)
    assert await status_of(world, erin) == "suspended"
    assert "Nobody is waiting to join Paxton Green Timebank." in texts(await ada.says("/approve"))
    assert await status_of(world, ada) is None  # still not a member: nothing was joined to make it work


async def test_a_member_is_told_they_are_no_admin_in_private(world, community):
    sent = await community["alice"].says("/suspend @bob")
    assert "Only an admin of the group can do that." in texts(sent) or \
        "You are not an admin of any timebank I know." in texts(sent)
    assert await status_of(world, community["bob"]) == "active"


async def test_decline_and_suspension_are_not_announced_in_the_group(world, community):
    ada, bob = community["ada"], community["bob"]
    before = len(world.tg.bot_messages(GROUP))
    await ada.says("/suspend @bob no-shows", GROUP)
    said_in_group = [m["text"] for m in world.tg.bot_messages(GROUP)[before:]]
    assert said_in_group == ["I have sent it to you in our private chat."]
    assert "Bob (#2) was suspended by Ada." in ada.last()["text"]
    assert "Reason: no-shows" in bob.last()["text"]


@pytest.mark.refusals_expected
async def test_an_admin_check_that_cannot_reach_telegram_says_so(world, community):
    ada = community["ada"]
    world.app.bot_data["runtime"]._admins.clear()  # nothing cached: Telegram must be asked
    world.tg.fail_next("getChatMember", error_code=502, times=5)
    sent = await ada.says("/suspend @bob", GROUP)
    assert "I could not reach Telegram to check that you are an admin" in texts(sent)
    assert "Only an admin" not in texts(sent)
    assert await status_of(world, community["bob"]) == "active"


async def test_a_member_who_left_still_sees_balance_and_history(world, community):
    alice, bob = community["alice"], community["bob"]
    await alice.says("/gave @bob 2 gardening", GROUP)
    await bob.press(bob.last(), "Confirm")
    await world.feed(world.tg.chat_member_update(GROUP, bob.user_id, old_status="member", new_status="left",
                                                 queue=False))
    assert await status_of(world, bob) == "left"
    balance = texts(await bob.says("/balance"))
    assert "Balance: -2 hours" in balance and "You have left this timebank" in balance
    history = texts(await bob.says("/history"))
    assert "Your exchanges in Paxton Green Timebank" in history and "gardening" in history
