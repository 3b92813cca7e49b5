"""Real Telegram groups: forum topics, anonymous admins and channels, the upgrade to a supergroup."""

from __future__ import annotations

import logging

import pytest

from bot.fake_telegram import FakeTelegram
from storage import members as member_store
from tests.conftest import unexpected_refusals
from tests.harness import World, button_url, buttons, texts

FORUM = -1001112223334
BASIC, UPGRADED = -4242, -1004242


async def approve_all(world: World, ada, people) -> None:
    for person in people:
        notice = next(m for m in reversed(ada.inbox()) if f"{person.first_name}" in m["text"] and buttons(m))
        await ada.press(notice, "Approve")


async def a_group(world: World, chat_id: int, **kind):
    """A group with the bot, its creator Ada, and Alice and Dan as approved members."""
    ada = world.person("Ada", username="ada")
    world.tg.add_group(chat_id, "Riverside Timebank", creator=ada.user_id, **kind)
    await world.feed(world.tg.my_chat_member_update(chat_id, by_user_id=ada.user_id, queue=False))
    alice = world.person("Alice", username="alice")
    dan = world.person("Dan", username="dan")
    for person in (alice, dan):
        world.tg.set_member_status(chat_id, person.user_id, "member")
        await person.says("/join", chat_id)
    await approve_all(world, ada, [alice, dan])
    return ada, alice, dan


async def says_in_topic(world: World, person, chat_id: int, thread_id: int, text: str) -> list[dict]:
    return await world.feed(world.tg.message_update(person.user_id, chat_id, text, thread_id=thread_id,
                                                    queue=False))


async def status_of(world: World, chat_id: int, person) -> str | None:
    runtime = world.app.bot_data["runtime"]
    member = await member_store.by_user(runtime.db, runtime.timebanks_by_chat[chat_id].id, person.user_id)
    return member.status if member else None


# --- topics ---------------------------------------------------------------------------------

async def test_everything_posted_because_of_a_topic_lands_in_that_topic(world):
    ada, alice, dan = await a_group(world, FORUM, forum=True)
    offers = world.tg.create_topic(FORUM, "Offers", queue=False)
    world.tg.set_started(dan.user_id, False)  # Dan never opened a private chat: the nudge goes to the group
    before = len(world.tg.bot_messages(FORUM))
    await says_in_topic(world, alice, FORUM, offers, "/gave @dan 2 gardening")
    nudge = world.tg.last_bot_message(FORUM)
    assert "only you can confirm it" in nudge["text"]
    world.tg.set_started(dan.user_id, True)
    exchange_id = button_url(nudge, "Open private chat").rsplit("x", 1)[1]
    await dan.says(f"/start x{exchange_id}")
    await dan.press(dan.last(), "Confirm")
    await says_in_topic(world, alice, FORUM, offers, "/offer Help with gardening")
    await says_in_topic(world, alice, FORUM, offers, "/balance")
    posted = world.tg.bot_messages(FORUM)[before:]
    assert len(posted) >= 4  # receipt pointer, nudge (edited when settled), the offer, the balance pointer
    assert [FakeTelegram.topic_of(m) for m in posted] == [offers] * len(posted), \
        [(m["text"][:40], FakeTelegram.topic_of(m)) for m in posted]
    assert unexpected_refusals(world.tg) == []


async def test_a_notice_sent_later_finds_the_topic_after_a_restart(tg, tmp_path):
    from tests.conftest import make_settings, start_app, stop_app

    settings = make_settings(tg, tmp_path)
    app = await start_app(settings)
    world = World(tg, app)
    ada, alice, dan = await a_group(world, FORUM, forum=True)
    topic = tg.create_topic(FORUM, "Lifts", queue=False)
    await says_in_topic(world, alice, FORUM, topic, "/gave @dan 1 a lift")
    ask = dan.last()
    await stop_app(app)
    app = await start_app(settings)
    try:
        world = World(tg, app)
        tg.block(alice.user_id)  # Alice can no longer be written to: she is told in the group, in the topic
        await world.press(dan.user_id, ask, "Confirm")
        notice = tg.last_bot_message(FORUM)
        assert notice["text"].startswith("@alice, I have a message for you")
        assert FakeTelegram.topic_of(notice) == topic
    finally:
        await stop_app(app)


@pytest.mark.refusals_expected
async def test_a_topic_deleted_meanwhile_gets_the_message_in_general(world):
    ada, alice, dan = await a_group(world, FORUM, forum=True)
    topic = world.tg.create_topic(FORUM, "Errands", queue=False)
    world.tg.set_started(dan.user_id, False)
    await says_in_topic(world, alice, FORUM, topic, "/gave @dan 1 shopping")
    world.tg.set_started(dan.user_id, True)
    ask_id = button_url(world.tg.last_bot_message(FORUM), "Open private chat").rsplit("x", 1)[1]
    await dan.says(f"/start x{ask_id}")
    world.tg.delete_topic(FORUM, topic)
    world.tg.block(alice.user_id)
    sent = await dan.press(dan.last(), "Confirm")
    notice = world.tg.last_bot_message(FORUM)
    assert notice["text"].startswith("@alice, I have a message for you")
    assert FakeTelegram.topic_of(notice) is None  # General
    assert "Sorry" not in texts(sent)
    # Refused, and expected: the topic itself (then General took the notice), the nudge that was deleted with
    # the topic (so its edit to the outcome finds nothing), and writing to Alice, who blocked the bot.
    expected = ("thread not found", "message to edit not found", "Forbidden")
    assert [r for r in world.tg.refusals() if not any(e in r[1] for e in expected)] == []


# --- anonymous admins and channels ----------------------------------------------------------

async def test_an_anonymous_admin_confirms_it_is_them_and_is_audited_by_name(world):
    ada = world.person("Ada", username="ada")
    world.tg.add_group(FORUM, "Riverside Timebank", creator=ada.user_id)
    await world.feed(world.tg.my_chat_member_update(FORUM, by_user_id=ada.user_id, queue=False))
    tom = world.person("Tom", username="tom")
    world.tg.set_member_status(FORUM, tom.user_id, "member")
    await tom.says("/join", FORUM)
    await world.feed(world.tg.message_update(ada.user_id, FORUM, "/approve @tom", anonymous=True, queue=False))
    question = world.tg.last_bot_message(FORUM)
    assert "Tap the button to confirm it's you" in question["text"]
    await tom.press(question, "confirm it's you")  # not an admin: refused, nothing happens
    assert world.tg.answered_callbacks()[-1]["text"] == "Only an admin of the group can do that."
    assert await status_of(world, FORUM, tom) == "pending"
    await ada.press(question, "confirm it's you")
    assert await status_of(world, FORUM, tom) == "active"
    # Ada chose to stay anonymous: the group learns it is done, she hears what was done, privately.
    assert not any("Ada" in m["text"] for m in world.tg.bot_messages(FORUM))
    assert "Done: an admin took care of it." in [m["text"] for m in world.tg.bot_messages(FORUM)]
    assert ada.last()["text"] == "Tom (#1) was approved by Ada."
    await ada.press(question, "confirm it's you")  # once only
    assert world.tg.answered_callbacks()[-1]["text"] == "This was already done, or it has expired."
    for command in ("/suspend @tom", "/reinstate @tom"):
        await world.feed(world.tg.message_update(ada.user_id, FORUM, command, anonymous=True, queue=False))
        await ada.press(world.tg.last_bot_message(FORUM), "confirm it's you")
    assert await status_of(world, FORUM, tom) == "active"
    runtime = world.app.bot_data["runtime"]
    audit = runtime.db  # the audit log names Ada, not the group or GroupAnonymousBot
    rows = await audit.read(lambda conn: conn.execute("SELECT actor_id, action FROM audit ORDER BY id").fetchall())
    assert [tuple(r) for r in rows if r[1] != "left"] == [(ada.user_id, "approve"), (ada.user_id, "suspend"),
                                                          (ada.user_id, "reinstate")]


async def test_member_actions_as_the_group_or_a_channel_are_explained_and_change_nothing(world, caplog):
    ada, alice, dan = await a_group(world, FORUM)
    world.tg.add_channel(-1009990001, "Riverside News")
    caplog.set_level(logging.ERROR)
    for text in ("/join", "/gave @dan 1", "/received @dan 1", "/offer Lifts", "/request A lift", "/balance"):
        sent = await world.feed(world.tg.message_update(ada.user_id, FORUM, text, anonymous=True, queue=False))
        assert "post as yourself" in texts(sent), text
        sent = await world.feed(world.tg.message_update(alice.user_id, FORUM, text, sender_chat_id=-1009990001,
                                                        queue=False))
        assert "post as yourself" in texts(sent), text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    runtime = world.app.bot_data["runtime"]
    users = await runtime.db.read(lambda conn: [r[0] for r in conn.execute("SELECT user_id FROM members")])
    assert 1087968824 not in users and 136817688 not in users and -1009990001 not in users
    assert sorted(users) == sorted([alice.user_id, dan.user_id])


# --- the upgrade to a supergroup --------------------------------------------------------------

@pytest.mark.parametrize("order", ["to_first", "from_first"])
async def test_the_upgrade_in_either_order_keeps_everything(world, caplog, order):
    ada, alice, dan = await a_group(world, BASIC, basic=True)
    await alice.says("/gave @dan 2", BASIC)
    await dan.press(dan.last(), "Confirm")
    await alice.says("/gave @dan 1 pending across the upgrade", BASIC)
    pending_ask = dan.last()
    caplog.set_level(logging.ERROR)
    before = {chat: len(world.tg.bot_messages(chat)) for chat in (BASIC,)}
    for update in world.tg.migrate_updates(BASIC, UPGRADED, queue=False, order=order):
        await world.feed(update)
    runtime = world.app.bot_data["runtime"]
    assert BASIC not in runtime.timebanks_by_chat and UPGRADED in runtime.timebanks_by_chat
    assert len(world.tg.bot_messages(BASIC)) == before[BASIC]
    assert world.tg.bot_messages(UPGRADED) == []  # nothing but the bot's normal messages: none for the upgrade
    await dan.press(pending_ask, "Confirm")
    assert "Balance: +3 hours" in texts(await alice.says("/balance"))
    assert "2 members" in texts(await alice.says("/stats", UPGRADED))
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], [r.getMessage() for r in caplog.records]
    assert unexpected_refusals(world.tg) == []


@pytest.mark.refusals_expected
async def test_a_send_that_meets_the_upgrade_moves_the_timebank_and_is_sent_again(world, caplog):
    ada, alice, dan = await a_group(world, BASIC, basic=True)
    world.tg.migrate_updates(BASIC, UPGRADED, queue=False)  # the bot has not seen the service messages yet
    world.tg.set_started(dan.user_id, False)
    caplog.set_level(logging.ERROR)
    await alice.says("/gave @dan 1 found after the upgrade")  # in private: the nudge goes to the group
    nudge = world.tg.last_bot_message(UPGRADED)
    assert nudge is not None and "only you can confirm it" in nudge["text"]
    assert UPGRADED in world.app.bot_data["runtime"].timebanks_by_chat
    assert [r[1] for r in world.tg.refusals() if "upgraded" not in r[1] and "bot was blocked" not in r[1]
            and "can't initiate" not in r[1] and "Forbidden" not in r[1]] == []
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
