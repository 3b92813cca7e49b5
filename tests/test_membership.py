"""The bot joining a group, members joining and being approved, separate timebanks."""

from __future__ import annotations

from storage import members as member_store
from tests.conftest import GROUP
from tests.harness import button_url, buttons, texts

OTHER_GROUP = -1009876543210


async def status_of(world, person, chat_id=GROUP) -> str | None:
    runtime = world.app.bot_data["runtime"]
    member = await member_store.by_user(runtime.db, runtime.timebanks_by_chat[chat_id].id, person.user_id)
    return member.status if member else None


async def test_added_to_a_group_the_bot_sets_up_and_welcomes_once(world):
    ada = world.person("Ada")
    world.tg.add_group(GROUP, "Riverside Timebank", creator=ada.user_id)
    await world.feed(world.tg.my_chat_member_update(GROUP, by_user_id=ada.user_id, queue=False))
    await world.feed(world.tg.new_chat_members_update(GROUP, ada.user_id, [world.tg.bot_id], queue=False))
    welcomes = [m for m in world.tg.bot_messages(GROUP) if "Hello, Riverside Timebank!" in m["text"]]
    assert len(welcomes) == 1
    timebank = world.app.bot_data["runtime"].timebanks_by_chat[GROUP]
    assert button_url(welcomes[0], "Join").endswith(f"?start=j{timebank.id}")


async def test_join_with_approval_then_the_admin_approves(world):
    ada = world.person("Ada", username="ada")
    world.tg.add_group(GROUP, "Riverside Timebank", creator=ada.user_id)
    await world.feed(world.tg.my_chat_member_update(GROUP, by_user_id=ada.user_id, queue=False))
    tom = world.person("Tom", username="tom")
    sent = await tom.says("/join", GROUP)
    assert "Your request to join Riverside Timebank is with the coordinators." in texts(sent)
    assert await status_of(world, tom) == "pending"
    notice = world.tg.last_bot_message(ada.user_id)
    assert "Tom (@tom), member #1, asks to join Riverside Timebank." in notice["text"]
    await tom.press(notice, "Approve")  # not an admin: nothing happens
    assert world.tg.answered_callbacks()[-1]["text"] == "Only an admin of the group can do that."
    assert await status_of(world, tom) == "pending"
    await ada.press(notice, "Approve")
    assert await status_of(world, tom) == "active"
    assert "Good news: you are now a member of Riverside Timebank (#1)." in tom.last()["text"]
    assert "Tom (#1) was approved by Ada." in world.tg.last_bot_message(ada.user_id)["text"]
    await ada.press(notice, "Decline")  # a second admin press finds it decided
    assert await status_of(world, tom) == "active"


async def test_decline_by_command_and_the_newcomer_hears_it_in_the_group_when_unreachable(world):
    ada = world.person("Ada", username="ada")
    world.tg.add_group(GROUP, "Riverside Timebank", creator=ada.user_id)
    await world.feed(world.tg.my_chat_member_update(GROUP, by_user_id=ada.user_id, queue=False))
    sam = world.person("Sam", username="sam", started=False)
    await sam.says("/join", GROUP)
    sent = await ada.says("/decline @sam", GROUP)
    assert "Sam (#1) was declined by Ada." in texts(sent)
    assert await status_of(world, sam) == "left"
    notice = next(m for m in world.tg.bot_messages(GROUP) if m["text"].startswith("@sam, I have a message for you"))
    assert buttons(notice)[0]["url"] == "https://t.me/timebank_test_bot"
    # Once Sam opens the private chat and presses Start, the message is handed over.
    world.tg.set_started(sam.user_id, True)
    sent = await sam.says("/start")
    assert "Your request to join Riverside Timebank was not accepted." in texts(sent)
    assert "Your request to join Riverside Timebank was not accepted." not in texts(await sam.says("/start"))


async def test_only_admins_may_use_admin_commands(world, community):
    sent = await community["alice"].says("/suspend @bob", GROUP)
    assert "Only an admin of the group can do that." in texts(sent)
    assert await status_of(world, community["bob"]) == "active"


async def test_operators_from_settings_are_admins_everywhere(tg, tmp_path):
    from tests.conftest import make_settings, start_app, stop_app
    from tests.harness import World

    operator_id = 999
    app = await start_app(make_settings(tg, tmp_path, bot_admins=frozenset({operator_id})))
    try:
        world = World(tg, app)
        ada = world.person("Ada")
        tg.add_user(operator_id, "Olive")
        tg.add_group(GROUP, "Riverside Timebank", creator=ada.user_id)
        await world.feed(tg.my_chat_member_update(GROUP, by_user_id=ada.user_id, queue=False))
        tom = world.person("Tom", username="tom")
        await tom.says("/join", GROUP)
        sent = await world.send(operator_id, GROUP, "/approve #1")
        assert "Tom (#1) was approved by Olive." in texts(sent)
    finally:
        await stop_app(app)


async def test_start_deep_link_joins_without_approval_when_it_is_off(world):
    ada = world.person("Ada")
    world.tg.add_group(GROUP, "Riverside Timebank", creator=ada.user_id)
    await world.feed(world.tg.my_chat_member_update(GROUP, by_user_id=ada.user_id, queue=False))
    runtime = world.app.bot_data["runtime"]
    timebank = runtime.timebanks_by_chat[GROUP]
    from storage import timebanks as timebank_store

    runtime.remember(await timebank_store.update_settings(runtime.db, timebank.id, {"approval_required": 0}))
    kim = world.person("Kim")
    sent = await kim.says(f"/start j{timebank.id}")
    assert "Welcome to Riverside Timebank, Kim! You are member #1." in texts(sent)
    assert await status_of(world, kim) == "active"
    sent = await kim.says(f"/start j{timebank.id}")
    assert "You are already a member of Riverside Timebank (#1)." in texts(sent)


async def test_two_groups_are_two_separate_timebanks(world, community):
    alice, bob, ada = community["alice"], community["bob"], community["ada"]
    world.tg.add_group(OTHER_GROUP, "Canal Street Timebank", creator=ada.user_id)
    await world.feed(world.tg.my_chat_member_update(OTHER_GROUP, by_user_id=ada.user_id, queue=False))
    await alice.says("/join", OTHER_GROUP)
    await ada.press(world.tg.last_bot_message(ada.user_id), "Approve")
    # Bob is not in the second timebank: he cannot be named there.
    sent = await alice.says("/gave @bob 1", OTHER_GROUP)
    assert "I do not know @bob in this timebank." in texts(sent)
    await alice.says("/gave @bob 2", GROUP)
    await bob.press(bob.last(), "Confirm")
    await alice.says("/balance")
    text = alice.last()["text"]
    paxton, canal = text.split("\n\n")
    assert "Paxton Green Timebank" in paxton and "Balance: +2 hours" in paxton
    assert "Canal Street Timebank" in canal and "Balance: 0 hours" in canal
    stats = texts(await alice.says("/stats", OTHER_GROUP))
    assert "1 member" in stats and "0 exchanges" in stats
    # In private with two timebanks, the bot asks which one.
    await alice.says("/stats")
    question = alice.last()
    assert question["text"] == "Which timebank is this for?"
    await alice.press(question, "Canal Street")
    assert "0 exchanges" in alice.last()["text"]


async def test_a_group_migrated_to_a_supergroup_keeps_its_timebank(world):
    ada = world.person("Ada")
    old_id, new_id = -4242, -1004242
    world.tg.add_group(old_id, "Small Group", creator=ada.user_id)
    await world.feed(world.tg.my_chat_member_update(old_id, by_user_id=ada.user_id, queue=False))
    before = world.app.bot_data["runtime"].timebanks_by_chat[old_id]
    await world.feed(world.tg.migrate_update(old_id, new_id, queue=False))
    after = world.app.bot_data["runtime"].timebanks_by_chat[new_id]
    assert after.id == before.id
    assert old_id not in world.app.bot_data["runtime"].timebanks_by_chat


async def test_a_member_who_leaves_keeps_balance_and_history(world, community):
    alice, bob = community["alice"], community["bob"]
    await alice.says("/gave @bob 2", GROUP)
    await bob.press(bob.last(), "Confirm")
    await world.feed(world.tg.chat_member_update(GROUP, bob.user_id, old_status="member", new_status="left",
                                                 queue=False))
    assert await status_of(world, bob) == "left"
    sent = await alice.says("/gave @bob 1", GROUP)
    assert "That person has left this timebank." in texts(sent)
    await bob.says("/join", GROUP)  # vetted once: back without a new approval
    assert await status_of(world, bob) == "active"
    assert "Balance: -2 hours" in texts(await bob.says("/balance"))


async def test_offers_are_announced_and_closed_by_their_author_only(world, community):
    alice, bob = community["alice"], community["bob"]
    sent = await alice.says("/offer Gardening and help with houseplants", GROUP)
    announcement = next(m for m in world.tg.bot_messages(GROUP) if "Offer #1 from Alice (#1):" in m["text"])
    assert "Gardening and help with houseplants" in announcement["text"]
    assert "start=p1" in button_url(announcement, "Respond")
    assert sent and sent[0]["chat_id"] == GROUP  # the announcement answers the command in the group
    await bob.says("/start p1")
    assert "To respond, write to @alice." in bob.last()["text"]
    await alice.says("/myposts")
    mine = alice.last()
    # Bob forges the same button in his own chat: it is not his post.
    forged = world.tg.callback_update(bob.user_id, bob.user_id, bob.last()["message_id"], "p:c:1", queue=False)
    await world.feed(forged)
    assert world.tg.answered_callbacks()[-1]["text"].startswith("Only the author can close this")
    await alice.press(mine, "Close #1")
    closed = next(m for m in world.tg.bot_messages(GROUP) if m["message_id"] == announcement["message_id"])
    assert closed["text"].endswith("(closed)")
    refreshed = next(m for m in world.tg.bot_messages(alice.user_id) if m["message_id"] == mine["message_id"])
    assert refreshed["text"].startswith("You have no open offers or requests")
    assert "Nothing is open right now." in texts(await bob.says("/browse"))


async def test_the_command_menu_is_set_in_every_language(world, community):
    from bot.i18n import Catalogs

    es = Catalogs("en").get("es")
    menu = world.tg.wait_for(lambda t: t.commands(language_code="es"), timeout=5)
    assert {"command": "gave", "description": es("Record time you gave")} in menu
    admin_menu = world.tg.commands(language_code="es", scope_type="all_chat_administrators")
    assert any(c["command"] == "approve" for c in admin_menu)
