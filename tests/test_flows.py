"""Guided flows: a command without its arguments asks for what is missing, kept in SQLite."""

from __future__ import annotations

from storage import ledger
from storage import members as member_store
from tests.conftest import GROUP, make_settings, start_app, stop_app
from tests.harness import World, buttons, texts


async def member_of(world, person):
    runtime = world.app.bot_data["runtime"]
    return await member_store.by_user(runtime.db, runtime.timebanks_by_chat[GROUP].id, person.user_id)


async def test_gave_without_arguments_is_guided_to_the_end(world, community):
    alice, bob = community["alice"], community["bob"]
    await alice.says("/gave")
    assert alice.last()["text"].startswith("Who did you give your time to?")
    await alice.says("bob")  # a plain name is enough when only one member has it
    how_long = alice.last()
    assert how_long["text"].startswith("How long was it?")
    assert [b["text"] for b in buttons(how_long)] == ["30 minutes", "1 hour", "1.5 hours", "2 hours", "3 hours"]
    await alice.press(how_long, "1.5 hours")
    what = alice.last()
    assert what["text"].startswith("What was it?")
    await alice.says("gardening & <weeding>")
    assert alice.last()["text"].startswith("Recorded: you gave Bob 1.5 hours.")
    assert "gardening & <weeding>" in alice.last()["text"]
    ask = bob.last()
    assert "Alice says they gave you 1.5 hours of help." in ask["text"]
    await bob.press(ask, "Confirm")
    assert (await member_of(world, alice)).balance == 90
    # The answered questions lost their buttons; pressing an old one changes nothing.
    await alice.press(how_long, "1.5 hours")
    assert world.tg.answered_callbacks()[-1]["text"] == "This question has ended. Please send the command again."
    assert (await member_of(world, alice)).balance == 90


async def test_gave_with_a_name_asks_how_long_and_what_privately(world, community):
    alice, bob = community["alice"], community["bob"]
    sent = await alice.says("/received @bob", GROUP)
    assert "I have asked you the rest in our private chat." in texts(sent)
    group_texts = [m["text"] for m in world.tg.bot_messages(GROUP)]
    assert not any("How long" in text for text in group_texts)
    await alice.says("2")
    await alice.press(alice.last(), "Skip")
    assert alice.last()["text"].startswith("Recorded: Bob gave you 2 hours.")
    assert "Alice says you gave them 2 hours of help." in bob.last()["text"]


async def test_wrong_answers_are_explained_and_asked_again(world, community):
    alice = community["alice"]
    await alice.says("/gave")
    await alice.says("@nobody_here")
    assert "I do not know @nobody_here in this timebank." in alice.last()["text"]
    assert "Who did you give your time to?" in alice.last()["text"]
    await alice.says("@alice")
    assert "You cannot record an exchange with yourself." in alice.last()["text"]
    world.person("Bob", username="bob_two")  # a second Bob: the name alone is no longer enough
    world.tg.set_member_status(GROUP, world._next_id, "member")
    await world.send(world._next_id, GROUP, "/join")
    await community["ada"].press(world.tg.last_bot_message(community["ada"].user_id), "Approve")
    await alice.says("Bob")
    assert "More than one member is called Bob" in alice.last()["text"]
    await alice.says("#2")
    await alice.says("lots")
    assert "I could not read that amount of time." in alice.last()["text"]
    await alice.says("13")
    assert "One exchange can be at most 12 hours." in alice.last()["text"]
    await alice.says("1 h 30")
    assert alice.last()["text"].startswith("What was it?")


async def test_spaced_amounts_are_read_whole_and_unclear_ones_are_asked(world, community):
    alice, bob = community["alice"], community["bob"]
    await alice.says("/gave @bob 1 h 30 gardening", GROUP)
    ask = bob.last()
    assert "Alice says they gave you 1.5 hours of help." in ask["text"] and "What: gardening" in ask["text"]
    await alice.says("/gave @bob 1 30 gardening", GROUP)
    assert alice.last()["text"].startswith("I could not read how long from “1 30 gardening”.")
    assert "How long was it?" in alice.last()["text"]
    assert bob.last()["message_id"] == ask["message_id"]  # nothing new was recorded by guessing


async def test_cancel_ends_the_flow_and_its_buttons_answer_with_a_toast(world, community):
    alice = community["alice"]
    await alice.says("/gave @bob")
    question = alice.last()
    assert "Stopped." in texts(await alice.says("/cancel"))
    assert not buttons(next(m for m in alice.inbox() if m["message_id"] == question["message_id"]))
    await alice.press(question, "1 hour")
    assert world.tg.answered_callbacks()[-1]["text"] == "This question has ended. Please send the command again."
    assert "I did not understand that." in texts(await alice.says("2"))
    assert "There is nothing to stop." in texts(await alice.says("/cancel"))


async def test_a_flow_survives_a_restart(tg, tmp_path):
    settings = make_settings(tg, tmp_path)
    app = await start_app(settings)
    world = World(tg, app)
    ada = world.person("Ada")
    tg.add_group(GROUP, "Paxton Green Timebank", creator=ada.user_id)
    await world.feed(tg.my_chat_member_update(GROUP, by_user_id=ada.user_id, queue=False))
    alice, bob = world.person("Alice", username="alice"), world.person("Bob", username="bob")
    for person in (alice, bob):
        await person.says("/join", GROUP)
        await ada.press(tg.last_bot_message(ada.user_id), "Approve")
    await alice.says("/gave")
    await alice.says("@bob")
    how_long = alice.last()
    await stop_app(app)  # the bot goes down between two answers

    app = await start_app(settings)
    try:
        world = World(tg, app)
        await world.press(alice.user_id, how_long, "2 hours")
        await world.send(alice.user_id, alice.user_id, "a lift")
        assert tg.last_bot_message(alice.user_id)["text"].startswith("Recorded: you gave Bob 2 hours.")
        runtime = app.bot_data["runtime"]
        member = await member_store.by_user(runtime.db, runtime.timebanks_by_chat[GROUP].id, alice.user_id)
        for_me, mine = await ledger.pending_for(runtime.db, member.id, 10)
        assert len(mine) == 1 and mine[0].minutes == 120 and mine[0].description == "a lift"
    finally:
        await stop_app(app)


async def test_which_timebank_is_a_flow_and_survives_a_restart(tg, tmp_path):
    other_group = -1009876543210
    settings = make_settings(tg, tmp_path)
    app = await start_app(settings)
    world = World(tg, app)
    ada = world.person("Ada")
    alice = world.person("Alice", username="alice")
    for chat_id, title in ((GROUP, "Paxton Green Timebank"), (other_group, "Canal Street Timebank")):
        tg.add_group(chat_id, title, creator=ada.user_id)
        await world.feed(tg.my_chat_member_update(chat_id, by_user_id=ada.user_id, queue=False))
        await alice.says("/join", chat_id)
        await ada.press(tg.last_bot_message(ada.user_id), "Approve")
    await alice.says("/stats")
    question = tg.last_bot_message(alice.user_id)
    assert question["text"] == "Which timebank is this for?"
    await stop_app(app)
    app = await start_app(settings)
    try:
        world = World(tg, app)
        await world.press(alice.user_id, question, "Canal Street")
        assert "Canal Street Timebank" in tg.last_bot_message(alice.user_id)["text"]
        assert "0 exchanges" in tg.last_bot_message(alice.user_id)["text"]
    finally:
        await stop_app(app)


async def test_two_answers_sent_at_once_are_taken_in_order(world, community):
    """Through the application's update queue (as polling delivers them), not process_update."""
    import asyncio

    from telegram import Update

    alice = community["alice"]
    await alice.says("/gave")
    for text in ("@bob", "2"):
        update = world.tg.message_update(alice.user_id, alice.user_id, text, queue=False)
        await world.app.update_queue.put(Update.de_json(update, world.app.bot))
    for _ in range(200):
        if alice.last()["text"].startswith("What was it?"):
            break
        await asyncio.sleep(0.01)
    assert alice.last()["text"].startswith("What was it?"), alice.last()["text"]
    assert not any("I do not know 2" in m["text"] for m in alice.inbox())


def test_the_update_processor_still_finds_ptbs_semaphore():
    # bot/processor.py gives its concurrency slot back while a person's update waits its turn.
    from bot.processor import PerPersonUpdateProcessor

    assert hasattr(PerPersonUpdateProcessor(2), "_semaphore"), \
        "PTB's BaseUpdateProcessor no longer has _semaphore: update bot/processor.py"


async def test_people_exchanged_with_lately_are_one_tap_away(world, community):
    alice, bob = community["alice"], community["bob"]
    await alice.says("/gave @bob 1 shopping", GROUP)
    await bob.press(bob.last(), "Confirm")
    await alice.says("/gave")
    who = alice.last()
    assert [b["text"] for b in buttons(who)] == ["Bob (#2)"]
    await alice.press(who, "Bob (#2)")
    assert alice.last()["text"].startswith("How long was it?")
    await alice.press(alice.last(), "2 hours")
    await alice.press(alice.last(), "Skip")
    assert alice.last()["text"].startswith("Recorded: you gave Bob 2 hours.")
