"""Escaping, Telegram's limits and refusals, languages, and errors that reach people as words."""

from __future__ import annotations

import pytest

from bot.i18n import Catalogs
from tests.conftest import GROUP
from tests.harness import buttons, texts


async def test_html_in_names_and_descriptions_goes_through_every_flow(world, community):
    ada = community["ada"]
    tom = world.person("<b>Tom", last_name="& Jerry</b>", username=None)
    world.tg.set_member_status(GROUP, tom.user_id, "member")
    await tom.says("/join", GROUP)
    await ada.press(world.tg.last_bot_message(ada.user_id), "Approve")
    alice = community["alice"]
    await tom.says("/gave @alice 1 <script>&", GROUP)
    await alice.press(alice.last(), "Confirm")
    await alice.says("/received #4 0.5 <script>& again", GROUP)
    await tom.says("/pending")
    await tom.press(tom.last(), "Decline")
    await tom.says("/offer <i>help</i> & <b>tea", GROUP)
    await tom.says("/request <script>&")
    for command in ("/balance", "/history", "/browse", "/myposts", "/pending", "/start", "/help"):
        await tom.says(command)
    await alice.says("/history")
    await alice.says("/browse")
    assert world.tg.errors == []
    messages = world.tg.bot_messages(alice.user_id) + world.tg.bot_messages(tom.user_id) + world.tg.bot_messages(GROUP)
    # Each message on its own: escaped once, never twice (no "&amp;" or "&lt;" reaches a person).
    for message in messages:
        assert "&amp;" not in message["text"] and "&lt;" not in message["text"], message["text"]
    assert any("<b>Tom & Jerry</b>" in m["text"] for m in messages)
    assert any("<i>help</i> & <b>tea" in m["text"] for m in messages)
    histories = [m for m in messages if m["text"].startswith("Your exchanges in")]
    assert histories and all("<script>&" in m["text"] for m in histories)


async def test_history_shows_a_description_exactly_as_typed(world, community):
    alice, bob = community["alice"], community["bob"]
    await alice.says("/gave @bob 1 tea & <cake>", GROUP)
    await bob.press(bob.last(), "Confirm")
    await alice.says("/history")
    assert "tea & <cake>" in alice.last()["text"]
    assert "&amp;" not in alice.last()["text"]


async def test_a_spanish_member_gets_replies_and_buttons_in_spanish(world, community):
    es = Catalogs("en").get("es")
    ada = community["ada"]
    lucia = world.person("Lucía", username="lucia", language_code="es")
    world.tg.set_member_status(GROUP, lucia.user_id, "member")
    sent = await lucia.says("/join", GROUP)
    assert es("Thank you, {name}! Your request to join {title} is with the coordinators. I will tell you when "
              "it is decided.", name="Lucía", title="Paxton Green Timebank") in texts(sent)
    assert es("Open private chat") in [b["text"] for m in sent for b in buttons(m)]
    await ada.press(world.tg.last_bot_message(ada.user_id), "Approve")
    assert lucia.last()["text"] == es("Good news: you are now a member of {title} (#{number}). Try /offer, "
                                      "/request and /gave; /help lists everything.",
                                      title="Paxton Green Timebank", number=4)
    alice = community["alice"]
    await alice.says("/gave @lucia 1.5 jardín", GROUP)
    ask = lucia.last()
    assert es("{recorder} says they gave you {hours} of help.", recorder="Alice", hours="1,5 horas") in ask["text"]
    assert [b["text"] for b in buttons(ask)] == [es("Confirm"), es("Decline")]
    await lucia.press(ask, es("Confirm"))
    assert es("Confirmed: {other} gave you {hours}.", other="Alice", hours="1,5 horas") in lucia.last()["text"]
    balance = texts(await lucia.says("/balance"))
    assert es("Balance: {balance}", balance="-1,5 horas") in balance
    help_text = texts(await lucia.says("/help"))
    assert es("Record time you gave") in help_text
    # Everything she was sent privately is from the Spanish catalog: no English sentence slipped through.
    english = Catalogs("en").get("en")
    for message in lucia.inbox():
        assert english("Balance: {balance}", balance="") not in message["text"]
        assert "Confirmed:" not in message["text"] and "says they gave you" not in message["text"]


async def test_a_chosen_language_wins_over_telegrams(world, community):
    alice = community["alice"]
    await alice.says("/language")
    await alice.press(alice.last(), "Español")
    assert alice.last()["text"] == Catalogs("en").get("es")("I will speak {language} with you.", language="español")
    sent = await alice.says("/balance")
    assert "Saldo" in texts(sent)


async def test_long_lists_are_paged_and_long_posts_refused(world, community):
    alice = community["alice"]
    sent = await alice.says("/offer " + "x" * 1001, GROUP)
    assert "Please keep it under 1,000 characters." in texts(sent)
    for number in range(8):
        await alice.says(f"/offer help number {number} " + "long text " * 90, GROUP)
    await alice.says("/browse")
    page = alice.last()
    assert len(page["text"]) <= 4096
    assert any("Older" in b["text"] for b in buttons(page))
    assert world.tg.errors == []


async def test_a_member_who_never_started_the_bot_is_asked_in_the_group_once(world, community):
    alice, bob = community["alice"], community["bob"]
    world.tg.set_started(bob.user_id, False)
    await alice.says("/gave @bob 1", GROUP)
    await alice.says("/gave @bob 2", GROUP)
    refused = [e for e in world.tg.errors
               if e[0] == "sendMessage" and e[1].get("chat_id") in (bob.user_id, str(bob.user_id))]
    assert len(refused) == 1  # remembered after the first 403: not retried on every message
    asks = [m for m in world.tg.bot_messages(GROUP) if "only you can confirm it" in m["text"]]
    assert len(asks) == 2
    assert "start=x" in [b for b in buttons(asks[0]) if "url" in b][0]["url"]
    # Once Bob opens the private chat, messages go there again.
    await bob.says("/start")
    await alice.says("/gave @bob 3", GROUP)
    assert "3 hours" in bob.last()["text"]


async def test_a_member_who_blocked_the_bot_is_noted_and_still_reachable_in_the_group(world, community):
    alice, bob = community["alice"], community["bob"]
    world.tg.block(bob.user_id)
    await alice.says("/gave @bob 1", GROUP)
    assert any("only you can confirm it" in m["text"] for m in world.tg.bot_messages(GROUP))
    assert world.app.bot_data["runtime"].can_dm(bob.user_id) is False


@pytest.mark.refusals_expected
async def test_flood_control_is_waited_out(world, community):
    alice = community["alice"]
    world.tg.fail_next("sendMessage", error_code=429, retry_after=1)
    sent = await alice.says("/balance")
    assert any(m["text"].startswith("<b>Timebank") or "Balance:" in m["text"] for m in sent if "text" in m)
    assert world.tg.errors[-1][2]["error_code"] == 429
    assert "Balance: 0 hours" in alice.last()["text"]


async def test_an_unexpected_failure_gets_an_apology_not_silence(world, community):
    alice = community["alice"]
    await world.app.bot_data["runtime"].db.close()  # the database goes away under the bot
    db = world.app.bot_data["runtime"].db
    sent = await alice.says("/balance")
    assert "Sorry, something went wrong on my side." in texts(sent)
    await db.open()  # back, so the ledger check after the test can read it


async def test_unknown_commands_and_words_in_private_get_a_pointer_to_help(world, community):
    alice = community["alice"]
    assert "/help lists what I can do" in texts(await alice.says("/frobnicate"))
    assert "/help lists what I can do" in texts(await alice.says("hello there"))
    assert await alice.says("/frobnicate", GROUP) == []  # in a group it may be another bot's command
