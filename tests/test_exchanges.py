"""Recording, confirming, declining and cancelling exchanges; balances; refusals."""

from __future__ import annotations

import asyncio

import pytest

from storage import ledger
from storage import members as member_store
from tests.conftest import GROUP
from tests.harness import button_url, buttons, texts


async def balance_line(person) -> str:
    await person.says("/balance")
    return next(line for line in person.last()["text"].splitlines() if line.startswith("Balance:"))


async def stored_member(world, person):
    runtime = world.app.bot_data["runtime"]
    timebank = runtime.timebanks_by_chat[GROUP]
    return await member_store.by_user(runtime.db, timebank.id, person.user_id)


async def exchange_count(world) -> int:
    runtime = world.app.bot_data["runtime"]
    total = 0
    for timebank in runtime.timebanks_by_id.values():
        page = await ledger.history(runtime.db, (await member_store.by_number(runtime.db, timebank.id, 1)).id, 0, 1000)
        total += len(page.items)
    return total


async def test_gave_then_confirm_moves_two_hours(world, community):
    alice, bob = community["alice"], community["bob"]
    sent = await alice.says("/gave @bob 2 gardening", GROUP)
    assert "Recorded: you gave Bob 2 hours." in texts(sent)
    ask = bob.last()
    assert "Alice says they gave you 2 hours of help." in ask["text"]
    assert "gardening" in ask["text"]
    await bob.press(ask, "Confirm")
    assert "Confirmed: Alice gave you 2 hours." in bob.last()["text"]
    assert "Confirmed: you gave Bob 2 hours." in alice.last()["text"]
    assert await balance_line(alice) == "Balance: +2 hours"
    assert await balance_line(bob) == "Balance: -2 hours"
    summary = alice.last()["text"]
    assert "Given: 2 hours · Received: 0 hours" in summary
    assert "1 exchange · 1 person helped" in summary


async def test_received_records_the_other_direction(world, community):
    alice, carol = community["alice"], community["carol"]
    await alice.says("/received @carol 1.5 a lift to the surgery", GROUP)
    ask = carol.last()
    assert "Alice says you gave them 1.5 hours of help." in ask["text"]
    await carol.press(ask, "Confirm")
    assert await balance_line(alice) == "Balance: -1.5 hours"
    assert await balance_line(carol) == "Balance: +1.5 hours"


async def test_decline_changes_nothing(world, community):
    alice, bob = community["alice"], community["bob"]
    await alice.says("/gave @bob 2 gardening", GROUP)
    await bob.press(bob.last(), "Decline")
    assert "You declined this exchange of 2 hours. Nothing was counted." in bob.last()["text"]
    assert "Bob declined the exchange of 2 hours you recorded." in alice.last()["text"]
    assert await balance_line(alice) == "Balance: 0 hours"
    assert await balance_line(bob) == "Balance: 0 hours"


async def test_cancel_by_the_recorder_changes_nothing(world, community):
    alice, bob = community["alice"], community["bob"]
    await alice.says("/gave @bob 2 gardening")
    receipt = alice.last()
    assert receipt["text"].startswith("Recorded: you gave Bob 2 hours.")
    await alice.press(receipt, "Cancel")
    assert alice.last()["text"].startswith("You cancelled this exchange of 2 hours. Nothing was counted.")
    assert bob.last()["text"].startswith("Alice cancelled the exchange of 2 hours. Nothing was counted.")
    told = [m for m in bob.inbox() if "Alice cancelled" in m["text"]]
    assert len(told) == 2  # the request, edited without its buttons, and a new message
    assert not any(m.get("reply_markup") for m in told)
    assert await balance_line(alice) == "Balance: 0 hours"
    assert await balance_line(bob) == "Balance: 0 hours"


async def test_confirm_twice_counts_once(world, community):
    alice, bob = community["alice"], community["bob"]
    await alice.says("/gave @bob 2", GROUP)
    ask = bob.last()
    await bob.press(ask, "Confirm")
    await bob.press(ask, "Confirm")  # the old keyboard, pressed again
    assert world.tg.answered_callbacks()[-1]["text"].startswith("This exchange was already settled")
    assert await balance_line(alice) == "Balance: +2 hours"
    assert await balance_line(bob) == "Balance: -2 hours"


async def test_two_presses_at_once_count_once(world, community):
    alice, bob = community["alice"], community["bob"]
    await alice.says("/gave @bob 3", GROUP)
    ask = bob.last()
    await asyncio.gather(bob.press(ask, "Confirm"), bob.press(ask, "Confirm"), bob.press(ask, "Confirm"))
    assert await balance_line(alice) == "Balance: +3 hours"
    assert (await stored_member(world, bob)).exchanges_count == 1


async def test_the_same_update_delivered_twice_counts_once(world, community):
    alice, bob = community["alice"], community["bob"]
    record = world.tg.message_update(alice.user_id, GROUP, "/gave @bob 1 shopping", queue=False)
    await world.feed(record)
    await world.feed(record)
    asks = [m for m in bob.inbox() if "says they gave you" in m["text"]]
    assert len(asks) == 1
    press = world.tg.callback_update(bob.user_id, bob.user_id, asks[0]["message_id"],
                                     asks[0]["reply_markup"]["inline_keyboard"][0][0]["callback_data"], queue=False)
    await world.feed(press)
    await world.feed(press)
    assert await balance_line(alice) == "Balance: +1 hour"
    assert (await stored_member(world, alice)).exchanges_count == 1


async def test_only_the_counterparty_can_confirm(world, community):
    alice, bob, carol = community["alice"], community["bob"], community["carol"]
    world.tg.set_started(bob.user_id, False)  # so the group gets a nudge with a way into the private chat
    await alice.says("/gave @bob 2 weeding", GROUP)
    in_group = world.tg.last_bot_message(GROUP)
    assert "only you can confirm it" in in_group["text"]
    # Anyone could forge the Confirm button's data: only Bob's press counts.
    exchange_id = int(button_url(in_group, "Open private chat").rsplit("x", 1)[1])
    for outsider in (carol, alice):
        await world.feed(world.tg.callback_update(outsider.user_id, GROUP, in_group["message_id"],
                                                  f"x:c:{exchange_id}", queue=False))
        assert world.tg.answered_callbacks()[-1]["text"] == \
            "Only the other person in this exchange can confirm or decline it."
    assert (await stored_member(world, alice)).balance == 0
    world.tg.set_started(bob.user_id, True)
    await bob.says(f"/start x{exchange_id}")
    await bob.press(bob.last(), "Confirm")
    assert (await stored_member(world, alice)).balance == 120
    edited = next(m for m in world.tg.bot_messages(GROUP) if m["message_id"] == in_group["message_id"])
    assert edited["text"] == "Thank you: this exchange is confirmed."  # what and how much stay private


async def test_the_group_nudge_shows_no_amount_or_description(world, community):
    alice, bob = community["alice"], community["bob"]
    world.tg.set_started(bob.user_id, False)
    await alice.says("/gave @bob 2 <secret> matter", GROUP)
    nudge = world.tg.last_bot_message(GROUP)
    assert "@bob" in nudge["text"] and "Alice" in nudge["text"]
    assert "2 hours" not in nudge["text"] and "secret" not in nudge["text"]
    assert "start=x" in button_url(nudge, "Open private chat")
    assert not [b for b in buttons(nudge) if "callback_data" in b]


@pytest.mark.parametrize("command, expected", [
    ("/gave @alice 2", "You cannot record an exchange with yourself."),
    ("/gave @bob 2.3", "Time is counted in quarter hours"),
    ("/gave @bob abc", "I could not read how long from “abc”."),
    ("/gave @bob 1 30 gardening", "I could not read how long from “1 30 gardening”."),
    ("/gave @bob 0", "The time must be more than zero"),
    ("/gave @bob -1", "The time must be more than zero"),
    ("/gave @bob 13", "One exchange can be at most 12 hours."),
    ("/gave @nobody_here 2", "I do not know @nobody_here in this timebank."),
    ("/gave #99 2", "I do not know #99 in this timebank."),
    ("/gave", "I have asked you the rest in our private chat."),
    ("/gave @bob", "I have asked you the rest in our private chat."),
    ("/gave bob 2", "Write who, how long and what"),
])
async def test_bad_exchanges_are_refused_and_change_nothing(world, community, command, expected):
    alice = community["alice"]
    sent = await alice.says(command, GROUP)
    assert expected in texts(sent)
    assert await exchange_count(world) == 0


async def test_exchanges_with_pending_suspended_or_outside_people_are_refused(world, community):
    alice, ada = community["alice"], community["ada"]
    erin = world.person("Erin", username="erin")
    await erin.says("/join", GROUP)  # pending: not approved
    dave = world.person("Dave", username="dave")  # never joined
    await dave.says("/start")
    sent = await alice.says("/gave @erin 1", GROUP)
    assert "still waiting for approval" in texts(sent)
    sent = await alice.says("/gave @dave 1", GROUP)
    assert "I do not know @dave in this timebank." in texts(sent)
    sent = await ada.says("/suspend @carol repeated no-shows", GROUP)
    assert "Carol (#3) was suspended by Ada." in texts(sent)
    assert "Reason: repeated no-shows" in community["carol"].last()["text"]
    sent = await alice.says("/gave @carol 1", GROUP)
    assert "That person's membership is suspended." in texts(sent)
    sent = await community["carol"].says("/gave @alice 1", GROUP)
    assert "Your membership is suspended" in texts(sent)
    sent = await dave.says("/gave @alice 1", GROUP)
    assert "You are not a member of this timebank yet." in texts(sent)
    assert await exchange_count(world) == 0


async def test_suspension_after_recording_blocks_the_confirmation(world, community):
    alice, bob, ada = community["alice"], community["bob"], community["ada"]
    await alice.says("/gave @bob 1", GROUP)
    ask = bob.last()
    await ada.says("/suspend @alice", GROUP)
    await bob.press(ask, "Confirm")
    assert world.tg.answered_callbacks()[-1]["text"] == "That person's membership is suspended."
    assert (await stored_member(world, alice)).balance == 0


async def test_recording_below_the_floor_is_refused_at_once_without_showing_their_balance(world, community):
    alice, bob = community["alice"], community["bob"]
    await alice.says("/gave @bob 10", GROUP)
    await bob.press(bob.last(), "Confirm")
    sent = await alice.says("/gave @bob 0.25 one more thing", GROUP)
    refusal = texts(sent)
    assert "This would take the balance of the person who received the help below the lowest" in refusal
    assert "-10 hours" in refusal and "Their balance" not in refusal  # the floor, never Bob's balance
    assert await exchange_count(world) == 1
    sent = await bob.says("/received @alice 0.25 one more thing", GROUP)
    assert "This would take your balance below the lowest this timebank allows" in texts(sent)
    assert await balance_line(bob) == "Balance: -10 hours"


async def test_a_confirmation_below_the_floor_is_refused_and_both_sides_hear_why(world, community):
    alice, bob, carol = community["alice"], community["bob"], community["carol"]
    await alice.says("/gave @bob 6", GROUP)
    first = bob.last()
    await carol.says("/gave @bob 6", GROUP)  # fine when recorded: Bob is at 0
    second = bob.last()
    await bob.press(first, "Confirm")
    await bob.press(second, "Confirm")
    refusal = world.tg.answered_callbacks()[-1]["text"]
    assert refusal.startswith("This would take your balance below the lowest this timebank allows")
    told = carol.last()["text"]
    assert told.startswith("Bob could not confirm the 6 hours you recorded:")
    assert "-6 hours" not in told  # Bob's balance is his own
    assert await balance_line(bob) == "Balance: -6 hours"
    assert await balance_line(carol) == "Balance: 0 hours"


async def test_pending_lists_both_directions_with_buttons(world, community):
    alice, bob = community["alice"], community["bob"]
    await alice.says("/gave @bob 1 ironing", GROUP)
    await bob.says("/received @alice 2 cooking", GROUP)  # Bob recorded that Alice helped him
    await bob.says("/pending")
    listing = bob.last()
    assert "Waiting for your answer:" in listing["text"] and "Waiting for the other person:" in listing["text"]
    await bob.press(listing, "Confirm #1")
    assert await balance_line(alice) == "Balance: +1 hour"
    await bob.says("/pending")
    await bob.press(bob.last(), "Cancel #2")
    assert "Nothing is waiting" in texts(await bob.says("/pending"))


async def test_history_pages_newest_first(world, community):
    alice, _bob = community["alice"], community["bob"]
    for number in range(12):
        await alice.says(f"/gave @bob 0.25 task {number}", GROUP)
    await alice.says("/history")
    first_page = alice.last()
    assert "task 11" in first_page["text"] and "task 0" not in first_page["text"]
    await alice.press(first_page, "Older")
    older = next(m for m in world.tg.bot_messages(alice.user_id) if m["message_id"] == first_page["message_id"])
    assert "task 0" in older["text"] and "task 11" not in older["text"]


async def test_stats_are_public_totals(world, community):
    alice, bob, carol = community["alice"], community["bob"], community["carol"]
    await alice.says("/gave @bob 2", GROUP)
    await bob.press(bob.last(), "Confirm")
    await bob.says("/gave @alice 1", GROUP)
    await alice.press(alice.last(), "Confirm")
    await carol.says("/gave @alice 1", GROUP)
    await alice.press(alice.last(), "Confirm")
    sent = await carol.says("/stats", GROUP)
    text = texts(sent)
    assert "3 members" in text
    assert "Hours exchanged: 4 hours" in text
    assert "This month: 4 hours" in text
    assert "3 exchanges" in text
    assert "2 pairs of people have helped each other" in text


async def test_members_are_found_by_number_reply_and_text_mention(world, community):
    alice, ada = community["alice"], community["ada"]
    nameless = world.person("Nadia", username=None)
    world.tg.set_member_status(GROUP, nameless.user_id, "member")
    await nameless.says("/join", GROUP)
    await ada.press(world.tg.last_bot_message(ada.user_id), "Approve")
    # by number
    await alice.says("/gave #4 1 by number", GROUP)
    assert "Alice says they gave you 1 hour of help." in nameless.last()["text"]
    # by replying to her message in the group
    said = await nameless.says("thanks everyone", GROUP)
    assert said == []  # ordinary chatter in the group gets no answer
    her_message = next(m for m in reversed(world.tg.messages(GROUP)) if m.get("text") == "thanks everyone")
    await alice.says("/gave 0.5 by reply", GROUP, reply_to=her_message["message_id"])
    assert "Alice says they gave you 0.5 hours of help." in nameless.last()["text"]
    # by a text mention (a name picked from the member list, for people without @username)
    user = {"id": nameless.user_id, "is_bot": False, "first_name": "Nadia"}
    await alice.says("/gave Nadia 0.25 by mention", GROUP,
                     entities=[{"type": "bot_command", "offset": 0, "length": 5},
                               {"type": "text_mention", "offset": 6, "length": 5, "user": user}])
    ask = nameless.last()
    assert "Alice says they gave you 0.25 hours of help." in ask["text"] and "by mention" in ask["text"]


async def test_an_exchange_past_its_expiry_cannot_be_confirmed(world, community):
    alice, bob = community["alice"], community["bob"]
    runtime = world.app.bot_data["runtime"]
    from storage import timebanks as timebank_store

    timebank = runtime.timebanks_by_chat[GROUP]
    runtime.remember(await timebank_store.update_settings(runtime.db, timebank.id, {"exchange_expiry_days": 0}))
    await alice.says("/gave @bob 1", GROUP)
    await bob.press(bob.last(), "Confirm")
    assert "expired before it was confirmed. Nothing was counted." in bob.last()["text"]
    assert (await stored_member(world, alice)).balance == 0
