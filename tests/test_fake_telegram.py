"""Tests of the fake Telegram server itself: over raw HTTP, and through a real PTB Bot."""

from __future__ import annotations

import asyncio
import json
import threading
import time

import httpx
import pytest
import telegram
from telegram import ChatFullInfo, ChatMember, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest, ChatMigrated, Forbidden, InvalidToken, RetryAfter

from bot.fake_telegram import FakeTelegram, parse_html

ANN, BOB, EVE = 101, 102, 103
GROUP = -4001
SUPER = -1001234567890


@pytest.fixture
def tg():
    fake = FakeTelegram().start()
    fake.add_user(ANN, "Ann", username="ann", language_code="en")
    fake.add_user(BOB, "Bob", last_name="Builder")
    fake.add_user(EVE, "Eve", started=False)
    fake.add_group(GROUP, "Small group", creator=ANN, members=[BOB])
    fake.add_group(SUPER, "Big group", creator=ANN, admins=[BOB], members=[EVE])
    yield fake
    fake.stop()


@pytest.fixture
def http(tg):
    with httpx.Client(base_url=tg.base_url + tg.token + "/", timeout=10) as client:
        yield client


def call(http: httpx.Client, method: str, **params) -> tuple[int, dict]:
    """POST like PTB does: form fields, complex values JSON-encoded."""
    form = {k: json.dumps(v) if isinstance(v, (dict, list, bool)) else str(v)
            for k, v in params.items()}
    response = http.post(method, data=form)
    assert response.headers["Content-Length"] == str(len(response.content))
    body = response.json()
    assert response.status_code == (200 if body["ok"] else body["error_code"])
    return response.status_code, body


def ok(http, method, **params):
    status, body = call(http, method, **params)
    assert body["ok"], body
    return body["result"]


def refused(http, method, code, description, **params):
    status, body = call(http, method, **params)
    assert not body["ok"], f"{method} was accepted: {body}"
    assert body["error_code"] == code
    assert body["description"].startswith(description), body["description"]
    return body


def keyboard(*buttons: dict) -> dict:
    return {"inline_keyboard": [list(buttons)]}


# ------------------------------------------------------------------ transport

def test_get_me_and_transport_errors(tg, http):
    me = ok(http, "getMe")
    assert me["id"] == tg.bot_id == 123456 and me["is_bot"] and me["username"] == tg.bot_username
    response = httpx.post(f"{tg.base_url}999:wrong/getMe")
    assert response.status_code == 401 and response.json() == {
        "ok": False, "error_code": 401, "description": "Unauthorized"}
    response = http.post("noSuchMethod")
    assert response.status_code == 404 and response.json()["description"] == "Not Found"
    assert httpx.get(tg.base_url.rsplit("/", 1)[0] + "/nonsense").status_code == 404


def test_json_get_and_case_insensitive_methods(tg, http):
    result = http.post("sendMessage", json={"chat_id": ANN, "text": "json body"}).json()
    assert result["ok"] and result["result"]["text"] == "json body"
    result = http.get("sendmessage", params={"chat_id": ANN, "text": "query"}).json()
    assert result["ok"] and tg.calls[-1] == ("sendMessage", {"chat_id": ANN, "text": "query"})


def test_keep_alive_connection_is_reused(tg, http):
    ports = set()
    for _ in range(5):
        with http.stream("POST", "getMe") as response:
            ports.add(response.extensions["network_stream"].get_extra_info("client_addr"))
            response.read()
    assert len(ports) == 1


def test_calls_decode_params_and_errors_are_recorded(tg, http):
    markup = keyboard({"text": "Yes", "callback_data": "yes:1"})
    ok(http, "sendMessage", chat_id=ANN, text="123", reply_markup=markup,
       disable_notification=True)
    method, params = tg.calls[-1]
    assert method == "sendMessage"
    assert params == {"chat_id": ANN, "text": "123", "reply_markup": markup,
                      "disable_notification": True}
    refused(http, "sendMessage", 400, "Bad Request: chat not found", chat_id=999, text="x")
    assert tg.errors[-1][0] == "sendMessage" and tg.errors[-1][2]["error_code"] == 400
    tg.reset_records()
    assert tg.calls == [] and tg.errors == [] and tg.messages(ANN)


# ------------------------------------------------------------------ sending

def test_send_message_stores_plain_text_and_html(tg, http):
    markup = keyboard({"text": "Go", "callback_data": "go"}, {"text": "Web", "url": "https://x"})
    first = ok(http, "sendMessage", chat_id=ANN, text="<b>Hi</b> &lt;Ann&gt;", parse_mode="HTML",
               reply_markup=markup)
    second = ok(http, "sendMessage", chat_id=ANN, text="again")
    assert first["text"] == "Hi <Ann>" and first["html"] == "<b>Hi</b> &lt;Ann&gt;"
    assert first["entities"] == [{"type": "bold", "offset": 0, "length": 2}]
    assert first["reply_markup"] == markup
    assert first["from"] == {"id": tg.bot_id, "is_bot": True, "first_name": "Timebank",
                             "username": tg.bot_username}
    assert first["chat"] == {"id": ANN, "type": "private", "first_name": "Ann", "username": "ann"}
    assert isinstance(first["date"], int)
    assert second["message_id"] == first["message_id"] + 1
    assert tg.messages(ANN) == [first, second] == tg.bot_messages(ANN)
    assert tg.last_bot_message(ANN) == second
    group = ok(http, "sendMessage", chat_id=SUPER, text="hello group")
    assert group["chat"] == {"id": SUPER, "type": "supergroup", "title": "Big group"}
    assert ok(http, "sendMessage", chat_id=GROUP, text="x")["chat"]["type"] == "group"


def test_plain_text_is_not_parsed_and_is_trimmed(tg, http):
    assert ok(http, "sendMessage", chat_id=ANN, text="a < b & <i>")["text"] == "a < b & <i>"
    assert ok(http, "sendMessage", chat_id=ANN, text="\n  padded \n")["text"] == "padded"


@pytest.mark.parametrize("html, fragment", [
    ("Tom & Jerry", "Unsupported HTML entity at byte offset 4"),
    ("é & x", "Unsupported HTML entity at byte offset 3"),      # UTF-8 byte offsets
    ("&nbsp;", "Unsupported HTML entity at byte offset 0"),
    ("&lt", "Unsupported HTML entity at byte offset 0"),
    ("<foo>x</foo>", 'Unsupported start tag "foo" at byte offset 0'),
    ("1 < 2", 'Unexpected character "<" at byte offset 2'),
    ("<b>bold", 'Can\'t find end tag corresponding to start tag "b"'),
    ("<b><i>x</b></i>", 'Unmatched end tag at byte offset 7, expected "</i>", found "</b>"'),
    ("x</b>", "Unexpected end tag at byte offset 1"),
    ("<b", "Unclosed start tag at byte offset 0"),
    ('<span class="x">s</span>', 'Tag "span" must have class "tg-spoiler"'),
    ("use <name> here", 'Unsupported start tag "name" at byte offset 4'),
])
def test_bad_html_is_refused(tg, http, html, fragment):
    body = refused(http, "sendMessage", 400, "Bad Request: can't parse entities: ",
                   chat_id=ANN, text=html, parse_mode="HTML")
    assert fragment in body["description"]
    ok(http, "sendMessage", chat_id=ANN, text="<b>ok</b>")
    refused(http, "editMessageText", 400, "Bad Request: can't parse entities: ", chat_id=ANN,
            message_id=tg.last_bot_message(ANN)["message_id"], text=html, parse_mode="HTML")


def test_html_subset_is_accepted():
    text = ('<b>b</b><strong>s</strong><i>i</i><em>e</em><u>u</u><ins>n</ins><s>s</s>'
            '<strike>k</strike><del>d</del><a href="https://e.org/?a=1&amp;b=2">a</a>'
            '<code>c</code><pre>p</pre><span class="tg-spoiler">h</span><tg-spoiler>t</tg-spoiler>'
            '<blockquote>q</blockquote><blockquote expandable>x</blockquote>'
            '<tg-emoji emoji-id="5368324170671202286">👍</tg-emoji>&quot;&#65;&#x42;&gt;')
    plain, entities = parse_html(text)
    assert plain == 'bsieunskdacphtqx👍"AB>'
    types = [e["type"] for e in entities]
    assert types == ["bold", "bold", "italic", "italic", "underline", "underline",
                     "strikethrough", "strikethrough", "strikethrough", "text_link", "code", "pre",
                     "spoiler", "spoiler", "blockquote", "expandable_blockquote", "custom_emoji"]
    assert entities[9]["url"] == "https://e.org/?a=1&b=2"
    assert entities[-1] == {"type": "custom_emoji", "offset": 16, "length": 2,
                            "custom_emoji_id": "5368324170671202286"}
    plain, entities = parse_html('<pre><code class="language-python">x = 1</code></pre>')
    assert entities == [{"type": "pre", "offset": 0, "length": 5, "language": "python"}]
    # UTF-16 offsets: the emoji counts twice
    assert parse_html("😀<b>x</b>")[1] == [{"type": "bold", "offset": 2, "length": 1}]


def test_text_length_is_measured_in_utf16_after_parsing(tg, http):
    ok(http, "sendMessage", chat_id=ANN, text="x" * 4096)
    ok(http, "sendMessage", chat_id=ANN, text="<b>" + "x" * 4096 + "</b>", parse_mode="HTML")
    ok(http, "sendMessage", chat_id=ANN, text="😀" * 2048)
    refused(http, "sendMessage", 400, "Bad Request: message is too long",
            chat_id=ANN, text="x" * 4097)
    refused(http, "sendMessage", 400, "Bad Request: message is too long",
            chat_id=ANN, text="😀" * 2049)
    message_id = tg.last_bot_message(ANN)["message_id"]
    refused(http, "editMessageText", 400, "Bad Request: message is too long",
            chat_id=ANN, message_id=message_id, text="y" * 4097)


@pytest.mark.parametrize("text, parse_mode", [("", None), ("   \n ", None), ("<b> </b>", "HTML")])
def test_empty_text_is_refused(tg, http, text, parse_mode):
    params = {"parse_mode": parse_mode} if parse_mode else {}
    refused(http, "sendMessage", 400, "Bad Request: message text is empty",
            chat_id=ANN, text=text, **params)


@pytest.mark.parametrize("button, description", [
    ({"text": "x", "callback_data": "d" * 65}, "Bad Request: BUTTON_DATA_INVALID"),
    ({"text": "x", "callback_data": "é" * 33}, "Bad Request: BUTTON_DATA_INVALID"),
    ({"text": "x", "callback_data": ""}, "Bad Request: BUTTON_DATA_INVALID"),
    ({"text": "x"}, "Bad Request: can't parse inline keyboard button: Text buttons are unallowed"),
    ({"text": "", "callback_data": "d"}, "Bad Request: "),
    ({"text": "x", "url": "javascript:alert(1)"}, "Bad Request: BUTTON_URL_INVALID"),
    ({"text": "x", "url": "example.org"}, "Bad Request: BUTTON_URL_INVALID"),
])
def test_bad_inline_keyboards_are_refused(tg, http, button, description):
    refused(http, "sendMessage", 400, description, chat_id=ANN, text="t",
            reply_markup=keyboard(button))


def test_good_inline_keyboards_are_accepted(tg, http):
    ok(http, "sendMessage", chat_id=ANN, text="t", reply_markup=keyboard(
        {"text": "64", "callback_data": "d" * 64}, {"text": "32", "callback_data": "é" * 32},
        {"text": "tg", "url": "tg://user?id=1"}, {"text": "h", "url": "http://example.org"}))


def test_private_chat_access(tg, http):
    refused(http, "sendMessage", 403, "Forbidden: bot can't initiate conversation with a user",
            chat_id=EVE, text="hi")
    tg.message_update(EVE, EVE, "/start")   # pressing Start lets the bot talk
    ok(http, "sendMessage", chat_id=EVE, text="hi")
    tg.block(BOB)
    refused(http, "sendMessage", 403, "Forbidden: bot was blocked by the user",
            chat_id=BOB, text="hi")
    tg.message_update(BOB, BOB, "hello?")   # writing does not unblock
    refused(http, "sendMessage", 403, "Forbidden: bot was blocked by the user",
            chat_id=BOB, text="hi")
    tg.set_started(ANN, False)
    refused(http, "sendMessage", 403, "Forbidden: bot can't initiate", chat_id=ANN, text="hi")
    refused(http, "sendMessage", 400, "Bad Request: chat not found", chat_id=55555, text="hi")
    refused(http, "sendMessage", 400, "Bad Request: chat not found", chat_id=-777, text="hi")
    refused(http, "sendMessage", 400, "Bad Request: chat not found", chat_id="@nobody", text="x")


def test_group_the_bot_left(tg, http):
    tg.set_bot_status(SUPER, "kicked")
    refused(http, "sendMessage", 403, "Forbidden: bot is not a member of the supergroup chat",
            chat_id=SUPER, text="hi")
    tg.set_bot_status(GROUP, "left")
    refused(http, "sendMessage", 403, "Forbidden: bot is not a member of the group chat",
            chat_id=GROUP, text="hi")
    tg.set_bot_status(GROUP, "member")
    ok(http, "sendMessage", chat_id=GROUP, text="back")
    ok(http, "leaveChat", chat_id=GROUP)
    refused(http, "sendMessage", 403, "Forbidden: bot is not a member", chat_id=GROUP, text="x")


def test_replies(tg, http):
    user_msg = tg.message_update(ANN, ANN, "question")["message"]
    reply = ok(http, "sendMessage", chat_id=ANN, text="answer",
               reply_to_message_id=user_msg["message_id"])
    assert reply["reply_to_message"]["text"] == "question"
    reply = ok(http, "sendMessage", chat_id=ANN, text="again",
               reply_parameters={"message_id": user_msg["message_id"]})
    assert reply["reply_to_message"]["message_id"] == user_msg["message_id"]
    refused(http, "sendMessage", 400, "Bad Request: message to be replied not found",
            chat_id=ANN, text="x", reply_to_message_id=999)
    refused(http, "sendMessage", 400, "Bad Request: message to be replied not found",
            chat_id=ANN, text="x", reply_parameters={"message_id": 999})
    loose = ok(http, "sendMessage", chat_id=ANN, text="x",
               reply_parameters={"message_id": 999, "allow_sending_without_reply": True})
    assert "reply_to_message" not in loose


# ------------------------------------------------------------------ editing and deleting

def test_edit_message_text(tg, http):
    markup = keyboard({"text": "A", "callback_data": "a"})
    sent = ok(http, "sendMessage", chat_id=ANN, text="<b>v1</b>", parse_mode="HTML",
              reply_markup=markup)
    mid = sent["message_id"]
    not_modified = "Bad Request: message is not modified: specified new message content and " \
                   "reply markup are exactly the same as a current content and reply markup of " \
                   "the message"
    refused(http, "editMessageText", 400, not_modified, chat_id=ANN, message_id=mid,
            text="<b>v1</b>", parse_mode="HTML", reply_markup=markup)
    edited = ok(http, "editMessageText", chat_id=ANN, message_id=mid, text="v1",
                reply_markup=markup)   # same words, no bold: that is a change
    assert edited["text"] == "v1" and "entities" not in edited and "edit_date" in edited
    edited = ok(http, "editMessageText", chat_id=ANN, message_id=mid, text="v1")
    assert "reply_markup" not in edited     # an edit without markup drops the keyboard
    assert tg.messages(ANN)[-1] == edited and tg.messages(ANN)[-1]["html"] == "v1"
    refused(http, "editMessageText", 400, "Bad Request: message to edit not found",
            chat_id=ANN, message_id=999, text="x")
    user_msg = tg.message_update(ANN, ANN, "mine")["message"]
    refused(http, "editMessageText", 400, "Bad Request: message can't be edited",
            chat_id=ANN, message_id=user_msg["message_id"], text="x")


def test_edit_reply_markup(tg, http):
    markup = keyboard({"text": "A", "callback_data": "a"})
    mid = ok(http, "sendMessage", chat_id=ANN, text="t", reply_markup=markup)["message_id"]
    refused(http, "editMessageReplyMarkup", 400, "Bad Request: message is not modified",
            chat_id=ANN, message_id=mid, reply_markup=markup)
    edited = ok(http, "editMessageReplyMarkup", chat_id=ANN, message_id=mid)
    assert "reply_markup" not in edited and edited["text"] == "t"
    refused(http, "editMessageReplyMarkup", 400, "Bad Request: message is not modified",
            chat_id=ANN, message_id=mid)
    refused(http, "editMessageReplyMarkup", 400, "Bad Request: BUTTON_DATA_INVALID",
            chat_id=ANN, message_id=mid, reply_markup=keyboard({"text": "x",
                                                                  "callback_data": "x" * 65}))
    refused(http, "editMessageReplyMarkup", 400, "Bad Request: message to edit not found",
            chat_id=ANN, message_id=mid + 50, reply_markup=markup)


def test_delete_message(tg, http):
    mid = ok(http, "sendMessage", chat_id=ANN, text="bye")["message_id"]
    assert ok(http, "deleteMessage", chat_id=ANN, message_id=mid) is True
    assert tg.messages(ANN) == []
    refused(http, "deleteMessage", 400, "Bad Request: message to delete not found",
            chat_id=ANN, message_id=mid)
    refused(http, "editMessageText", 400, "Bad Request: message to edit not found",
            chat_id=ANN, message_id=mid, text="x")
    chatter = tg.message_update(BOB, GROUP, "chatter")["message"]
    refused(http, "deleteMessage", 400, "Bad Request: message can't be deleted",
            chat_id=GROUP, message_id=chatter["message_id"])
    tg.set_bot_status(GROUP, "administrator")
    ok(http, "deleteMessage", chat_id=GROUP, message_id=chatter["message_id"])


# ------------------------------------------------------------------ callback queries

def test_answer_callback_query(tg, http):
    mid = ok(http, "sendMessage", chat_id=ANN, text="pick",
             reply_markup=keyboard({"text": "A", "callback_data": "a"}))["message_id"]
    update = tg.callback_update(ANN, ANN, mid, "a")
    query = update["callback_query"]
    assert query["data"] == "a" and query["from"]["id"] == ANN
    assert query["message"]["reply_markup"] == keyboard({"text": "A", "callback_data": "a"})
    refused(http, "answerCallbackQuery", 400, "Bad Request: MESSAGE_TOO_LONG",
            callback_query_id=query["id"], text="x" * 201)
    ok(http, "answerCallbackQuery", callback_query_id=query["id"], text="x" * 200)
    too_old = "Bad Request: query is too old and response timeout expired or query ID is invalid"
    refused(http, "answerCallbackQuery", 400, too_old, callback_query_id=query["id"])
    refused(http, "answerCallbackQuery", 400, too_old, callback_query_id="12345")
    assert [a["callback_query_id"] for a in tg.answered_callbacks()] == [query["id"]]
    with pytest.raises(ValueError):
        tg.callback_update(ANN, ANN, 999, "a")


# ------------------------------------------------------------------ commands and settings

@pytest.mark.parametrize("commands, description", [
    ([{"command": "Start", "description": "x"}], "Bad Request: BOT_COMMAND_INVALID"),
    ([{"command": "a" * 33, "description": "x"}], "Bad Request: BOT_COMMAND_INVALID"),
    ([{"command": "", "description": "x"}], "Bad Request: BOT_COMMAND_INVALID"),
    ([{"command": "my-cmd", "description": "x"}], "Bad Request: BOT_COMMAND_INVALID"),
    ([{"command": "ok", "description": ""}], "Bad Request: command description is empty"),
    ([{"command": "ok", "description": "d" * 257}], "Bad Request: command description is empty"),
    ([{"command": f"c{i}", "description": "x"} for i in range(101)],
     "Bad Request: too many commands"),
])
def test_bad_commands_are_refused(tg, http, commands, description):
    refused(http, "setMyCommands", 400, description, commands=commands)


def test_commands_are_stored_per_scope_and_language(tg, http):
    default = [{"command": "start", "description": "Start"},
               {"command": "a" * 32, "description": "d" * 256}]
    german = [{"command": "start", "description": "Los"}]
    admins = [{"command": "settle", "description": "Settle up"}]
    ok(http, "setMyCommands", commands=default)
    ok(http, "setMyCommands", commands=german, language_code="de")
    ok(http, "setMyCommands", commands=admins, scope={"type": "chat_administrators",
                                                      "chat_id": SUPER})
    assert tg.commands() == default == ok(http, "getMyCommands")
    assert tg.commands("de") == german == ok(http, "getMyCommands", language_code="de")
    assert tg.commands(scope_type="chat_administrators", chat_id=SUPER) == admins
    assert ok(http, "getMyCommands", language_code="fr") == []
    ok(http, "deleteMyCommands", language_code="de")
    assert tg.commands("de") == []
    ok(http, "setMyDescription", description="A timebank")
    ok(http, "setMyShortDescription", short_description="Trade hours", language_code="en")
    assert tg.description() == "A timebank" and tg.description("en", short=True) == "Trade hours"
    ok(http, "setChatMenuButton", menu_button={"type": "commands"})
    assert ok(http, "sendChatAction", chat_id=ANN, action="typing") is True
    refused(http, "sendChatAction", 400, "Bad Request: wrong parameter action",
            chat_id=ANN, action="dancing")
    for method in ("logOut", "close", "deleteWebhook"):
        assert ok(http, method) is True


# ------------------------------------------------------------------ injected failures

def test_fail_next(tg, http):
    tg.fail_next("sendMessage", retry_after=3, times=2)
    for _ in range(2):
        body = refused(http, "sendMessage", 429, "Too Many Requests: retry after 3",
                       chat_id=ANN, text="x")
        assert body["parameters"] == {"retry_after": 3}
    ok(http, "sendMessage", chat_id=ANN, text="x")
    tg.fail_next("sendMessage", error_code=403, description="Forbidden: bot was blocked by the user")
    refused(http, "sendMessage", 403, "Forbidden: bot was blocked by the user",
            chat_id=ANN, text="x")
    tg.fail_next("getMe", error_code=502)
    refused(http, "getMe", 502, "Bad Gateway")
    assert len(tg.errors) == 4 and len(tg.messages(ANN)) == 1


# ------------------------------------------------------------------ updates

def test_get_updates_offset_and_limit(tg, http):
    ids = [tg.message_update(ANN, ANN, f"m{i}")["update_id"] for i in range(3)]
    assert tg.pending_updates() == 3 and ids == sorted(ids)
    got = ok(http, "getUpdates", limit=2)
    assert [u["update_id"] for u in got] == ids[:2]
    assert [u["update_id"] for u in ok(http, "getUpdates")] == ids  # unconfirmed: sent again
    assert [u["update_id"] for u in ok(http, "getUpdates", offset=ids[1])] == ids[1:]
    assert tg.pending_updates() == 2
    assert ok(http, "getUpdates", offset=ids[2] + 1) == []
    assert tg.pending_updates() == 0 and tg.wait_until_consumed(0.1)
    more = [tg.message_update(ANN, ANN, f"n{i}")["update_id"] for i in range(3)]
    assert [u["update_id"] for u in ok(http, "getUpdates", offset=-1)] == more[-1:]
    assert tg.pending_updates() == 1


def test_long_poll_returns_promptly_when_an_update_arrives(tg, http):
    result = {}

    def poll():
        started = time.monotonic()
        result["updates"] = ok(http, "getUpdates", timeout=2)
        result["elapsed"] = time.monotonic() - started

    thread = threading.Thread(target=poll)
    thread.start()
    time.sleep(0.2)
    update = tg.message_update(ANN, ANN, "ping")
    thread.join(5)
    assert [u["update_id"] for u in result["updates"]] == [update["update_id"]]
    assert result["elapsed"] < 1.0
    started = time.monotonic()
    assert ok(http, "getUpdates", offset=update["update_id"] + 1, timeout=1) == []
    assert 0.9 < time.monotonic() - started < 2.0


def test_wait_until_consumed(tg, http):
    tg.message_update(ANN, ANN, "a")
    update = tg.message_update(ANN, ANN, "b")
    assert not tg.wait_until_consumed(0.1)
    timer = threading.Timer(0.2, lambda: ok(http, "getUpdates", offset=update["update_id"] + 1))
    timer.start()
    assert tg.wait_until_consumed(3)
    timer.join(5)


def test_newer_poll_terminates_older_one(tg, http):
    result = {}
    thread = threading.Thread(target=lambda: result.update(r=call(http, "getUpdates", timeout=3)))
    thread.start()
    time.sleep(0.2)
    with httpx.Client(base_url=tg.base_url + tg.token + "/") as other:
        assert ok(other, "getUpdates") == []
    thread.join(5)
    assert result["r"][0] == 409 and result["r"][1]["description"].startswith("Conflict:")


def test_webhook_blocks_polling(tg, http):
    tg.message_update(ANN, ANN, "x")
    ok(http, "setWebhook", url="https://example.org/hook")
    assert ok(http, "getWebhookInfo")["url"] == "https://example.org/hook"
    refused(http, "getUpdates", 409, "Conflict: can't use getUpdates method while webhook is active")
    ok(http, "deleteWebhook", drop_pending_updates=True)
    assert tg.pending_updates() == 0 and ok(http, "getWebhookInfo")["url"] == ""


def test_stop_releases_a_waiting_long_poll():
    fake = FakeTelegram().start()
    result = {}

    def poll():
        try:
            result["r"] = httpx.post(f"{fake.base_url}{fake.token}/getUpdates",
                                     data={"timeout": "20"}, timeout=30).json()
        except httpx.HTTPError as exc:
            result["r"] = exc

    thread = threading.Thread(target=poll)
    thread.start()
    time.sleep(0.2)
    started = time.monotonic()
    fake.stop()
    thread.join(5)
    assert not thread.is_alive() and time.monotonic() - started < 3


def test_privacy_mode_and_commands(tg, http):
    chatter = tg.message_update(BOB, GROUP, "just chatting")
    assert chatter["message"] in tg.messages(GROUP) and tg.pending_updates() == 0
    command = tg.message_update(BOB, GROUP, "/offer@timebank_test_bot 2h garden")
    assert command["message"]["entities"] == [
        {"type": "bot_command", "offset": 0, "length": len("/offer@timebank_test_bot")}]
    tg.message_update(BOB, GROUP, "/balance")
    tg.message_update(BOB, GROUP, "/start@other_bot")
    assert tg.pending_updates() == 2
    bot_msg = ok(http, "sendMessage", chat_id=GROUP, text="Describe it, reply here")
    reply = tg.message_update(BOB, GROUP, "digging",
                              reply_to_message_id=bot_msg["message_id"])
    assert reply["message"]["reply_to_message"]["text"] == "Describe it, reply here"
    assert tg.pending_updates() == 3
    tg.message_update(BOB, GROUP, "reply to chatter",
                      reply_to_message_id=chatter["message"]["message_id"])
    assert tg.pending_updates() == 3
    tg.set_bot_status(GROUP, "administrator")   # admins see everything
    tg.message_update(BOB, GROUP, "chatter again")
    assert tg.pending_updates() == 4
    unqueued = tg.message_update(ANN, ANN, "direct", queue=False)
    assert unqueued["message"]["text"] == "direct" and tg.pending_updates() == 4
    tg.privacy_mode = False
    tg.set_bot_status(GROUP, "member")
    tg.message_update(BOB, GROUP, "seen")
    assert tg.pending_updates() == 5


def test_chat_member_updates_need_admin_and_allowed_updates(tg, http):
    tg.chat_member_update(SUPER, EVE, old_status="member", new_status="left")
    assert tg.pending_updates() == 0   # the bot is no admin there
    tg.set_bot_status(SUPER, "administrator")
    tg.chat_member_update(SUPER, EVE, old_status="left", new_status="member")
    tg.message_update(ANN, ANN, "hi")
    got = ok(http, "getUpdates")     # Telegram's default leaves chat_member out
    assert [next(k for k in u if k != "update_id") for u in got] == ["message"]
    tg.chat_member_update(SUPER, EVE, old_status="member", new_status="kicked")
    got = ok(http, "getUpdates", allowed_updates=["message", "chat_member"])
    assert [next(k for k in u if k != "update_id") for u in got] == ["message", "chat_member"]
    assert tg.member_status(SUPER, EVE) == "kicked"


def test_bot_added_removed_and_migrated(tg, http):
    tg.set_bot_status(GROUP, "left")
    tg.message_update(BOB, GROUP, "/balance")
    assert tg.pending_updates() == 0     # a bot outside the group hears nothing
    tg.my_chat_member_update(GROUP, old_status="left", new_status="member", by_user_id=ANN)
    added = tg.new_chat_members_update(GROUP, ANN, [tg.bot_id, EVE])
    assert added["message"]["new_chat_members"][0]["is_bot"]
    assert tg.pending_updates() == 2 and tg.member_status(GROUP, EVE) == "member"
    ok(http, "sendMessage", chat_id=GROUP, text="hello")
    migrated = tg.migrate_update(GROUP, -1009999)
    assert migrated["message"]["migrate_to_chat_id"] == -1009999
    assert tg.pending_updates() == 4    # migrate_to in the old chat, migrate_from in the new
    body = refused(http, "sendMessage", 400,
                   "Bad Request: group chat was upgraded to a supergroup chat",
                   chat_id=GROUP, text="x")
    assert body["parameters"] == {"migrate_to_chat_id": -1009999}
    sent = ok(http, "sendMessage", chat_id=-1009999, text="moved")
    assert sent["chat"]["type"] == "supergroup" and sent["chat"]["title"] == "Small group"
    assert tg.member_status(-1009999, ANN) == "creator"
    tg.my_chat_member_update(-1009999, old_status="member", new_status="kicked", by_user_id=ANN)
    refused(http, "sendMessage", 403, "Forbidden: bot is not a member of the supergroup chat",
            chat_id=-1009999, text="x")
    tg.my_chat_member_update(ANN, old_status="member", new_status="kicked", by_user_id=ANN)
    refused(http, "sendMessage", 403, "Forbidden: bot was blocked by the user", chat_id=ANN,
            text="x")


def test_updates_parse_in_ptb(tg, http):
    bot = telegram.Bot(tg.token)
    mid = ok(http, "sendMessage", chat_id=SUPER, text="<i>offer</i>", parse_mode="HTML",
             reply_markup=keyboard({"text": "Take", "callback_data": "take:1"}))["message_id"]
    tg.set_bot_status(SUPER, "administrator")
    updates = [
        tg.message_update(ANN, ANN, "/start"),
        tg.message_update(BOB, SUPER, "re", reply_to_message_id=mid),
        tg.callback_update(BOB, SUPER, mid, "take:1"),
        tg.my_chat_member_update(SUPER, old_status="member", new_status="administrator",
                                 by_user_id=ANN),
        tg.chat_member_update(SUPER, EVE, old_status="member", new_status="restricted"),
        tg.new_chat_members_update(SUPER, ANN, [EVE]),
        tg.migrate_update(GROUP, -100777),
    ]
    parsed = [Update.de_json(u, bot) for u in updates]
    assert parsed[0].message.text == "/start" and parsed[0].effective_user.id == ANN
    assert parsed[1].message.reply_to_message.text == "offer"
    assert parsed[2].callback_query.message.reply_markup.inline_keyboard[0][0].text == "Take"
    assert parsed[3].my_chat_member.new_chat_member.status == "administrator"
    assert parsed[4].chat_member.new_chat_member.status == "restricted"
    assert parsed[5].message.new_chat_members[0].id == EVE
    assert parsed[6].message.migrate_to_chat_id == -100777
    # what getUpdates hands out is the same JSON
    served = {u["update_id"]: u for u in ok(http, "getUpdates",
                                            allowed_updates=["message", "callback_query",
                                                             "my_chat_member", "chat_member"])}
    assert all(served[u["update_id"]] == json.loads(json.dumps(u)) for u in updates)


def test_push_update_assigns_ids(tg, http):
    tg.push_update({"message": {"message_id": 1, "date": 0, "chat": {"id": ANN,
                                                                        "type": "private"}}})
    custom = tg.next_update_id() + 10
    tg.push_update({"update_id": custom, "message": {"message_id": 2, "date": 0,
                                                      "chat": {"id": ANN, "type": "private"}}})
    ids = [u["update_id"] for u in ok(http, "getUpdates")]
    assert len(ids) == 2 and ids[1] == custom and tg.next_update_id() == custom + 1


# ------------------------------------------------------------------ waiting helpers

def test_wait_for_and_wait_for_message(tg, http):
    timer = threading.Timer(0.2, lambda: ok(http, "sendMessage", chat_id=ANN, text="Balance: 3h"))
    timer.start()
    assert tg.wait_for_message(ANN, "Balance")["text"] == "Balance: 3h"
    timer.join(5)
    timer = threading.Timer(0.2, lambda: ok(http, "sendMessage", chat_id=ANN, text="next one"))
    timer.start()
    assert tg.wait_for_message(ANN)["text"] == "next one"
    timer.join(5)
    assert tg.wait_for(lambda t: len(t.bot_messages(ANN)) == 2) is True
    with pytest.raises(AssertionError, match="(?i)next one"):
        tg.wait_for(lambda t: False, timeout=0.1)
    with pytest.raises(AssertionError):
        tg.wait_for_message(BOB, "never", timeout=0.1)


# ------------------------------------------------------------------ members and chats

def test_chat_members_and_chats_parse_in_ptb(tg, http):
    bot = telegram.Bot(tg.token)
    statuses = {
        ANN: "creator", BOB: "administrator", EVE: "member",
    }
    for uid, status in statuses.items():
        tg.set_member_status(SUPER, uid, status)
        member = ChatMember.de_json(ok(http, "getChatMember", chat_id=SUPER, user_id=uid), bot)
        assert member.status == status and member.user.id == uid
    for status, cls in [("restricted", telegram.ChatMemberRestricted),
                        ("left", telegram.ChatMemberLeft), ("kicked", telegram.ChatMemberBanned),
                        ("member", telegram.ChatMemberMember),
                        ("administrator", telegram.ChatMemberAdministrator),
                        ("creator", telegram.ChatMemberOwner)]:
        tg.set_member_status(SUPER, EVE, status)
        member = ChatMember.de_json(ok(http, "getChatMember", chat_id=SUPER, user_id=EVE), bot)
        assert type(member) is cls
    me = ChatMember.de_json(ok(http, "getChatMember", chat_id=SUPER, user_id=tg.bot_id), bot)
    assert me.status == "member" and me.user.is_bot
    tg.set_bot_status(SUPER, "administrator")
    admins = [ChatMember.de_json(m, bot) for m in ok(http, "getChatAdministrators",
                                                     chat_id=SUPER)]
    assert {m.user.id for m in admins} == {ANN, BOB, EVE, tg.bot_id}
    assert ok(http, "getChatMemberCount", chat_id=SUPER) == 4
    assert ChatMember.de_json(ok(http, "getChatMember", chat_id=GROUP, user_id=EVE), bot).status \
        == "left"
    refused(http, "getChatMember", 400, "Bad Request: user not found", chat_id=GROUP,
            user_id=424242)
    for chat_id in (SUPER, GROUP, ANN):
        info = ChatFullInfo.de_json(ok(http, "getChat", chat_id=chat_id), bot)
        assert info.id == chat_id
    assert ChatFullInfo.de_json(ok(http, "getChat", chat_id=BOB), bot).last_name == "Builder"


# ------------------------------------------------------------------ documents

def test_send_document_multipart(tg, http):
    content = b"date,hours\r\n2024-01-01,2\n\x00\xff binary"
    response = http.post("sendDocument", data={"chat_id": str(ANN), "caption": "<b>Export</b>",
                                               "parse_mode": "HTML"},
                         files={"document": ("export.csv", content, "text/csv")})
    body = response.json()
    assert body["ok"], body
    assert body["result"]["document"]["file_name"] == "export.csv"
    assert body["result"]["caption"] == "Export"
    assert tg.documents(ANN) == [{"file_name": "export.csv", "content": content,
                                  "caption": "Export"}]
    response = http.post("sendDocument", data={"chat_id": str(ANN), "caption": "c" * 1025},
                         files={"document": ("x.txt", b"x", "text/plain")})
    assert response.status_code == 400
    assert response.json()["description"] == "Bad Request: message caption is too long"
    response = http.post("sendDocument", data={"chat_id": str(EVE)},
                         files={"document": ("x.txt", b"x", "text/plain")})
    assert response.status_code == 403


# ------------------------------------------------------------------ through a real PTB Bot

@pytest.mark.asyncio
@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")  # RetryAfter's int
async def test_real_ptb_bot(tg):
    async with telegram.Bot(tg.token, base_url=tg.base_url) as bot:
        me = await bot.get_me()
        assert me.id == tg.bot_id and me.username == tg.bot_username
        markup = InlineKeyboardMarkup([[InlineKeyboardButton("Accept", callback_data="acc:1")]])
        message = await bot.send_message(ANN, "<b>Offer</b> from Ann", parse_mode="HTML",
                                         reply_markup=markup)
        assert message.text == "Offer from Ann" and message.reply_markup == markup
        assert tg.last_bot_message(ANN)["html"] == "<b>Offer</b> from Ann"

        with pytest.raises(BadRequest, match="(?i)Unsupported HTML entity"):
            await bot.send_message(ANN, "Tom & Jerry", parse_mode="HTML")
        with pytest.raises(BadRequest, match="(?i)Can't find end tag"):
            await bot.send_message(ANN, "<b>oops", parse_mode="HTML")
        with pytest.raises(BadRequest, match="(?i)message is too long"):
            await bot.send_message(ANN, "x" * 4097)
        with pytest.raises(BadRequest, match="(?i)BUTTON_DATA_INVALID"):
            await bot.send_message(ANN, "x", reply_markup=InlineKeyboardMarkup(
                [[InlineKeyboardButton("x", callback_data="x" * 65)]]))
        with pytest.raises(Forbidden, match="(?i)bot can't initiate conversation with a user"):
            await bot.send_message(EVE, "hello")
        tg.fail_next("sendMessage", retry_after=7)
        with pytest.raises(RetryAfter) as excinfo:
            await bot.send_message(ANN, "x")
        assert "Retry in 7 seconds" in str(excinfo.value)

        with pytest.raises(BadRequest, match="(?i)message is not modified"):
            await bot.edit_message_text("<b>Offer</b> from Ann", ANN, message.message_id,
                                        parse_mode="HTML", reply_markup=markup)
        edited = await bot.edit_message_text("Taken", ANN, message.message_id)
        assert edited.text == "Taken" and edited.reply_markup is None

        update = tg.callback_update(ANN, ANN, message.message_id, "acc:1")
        assert await bot.answer_callback_query(update["callback_query"]["id"], "Done")
        with pytest.raises(BadRequest, match="(?i)query is too old"):
            await bot.answer_callback_query(update["callback_query"]["id"])

        doc = await bot.send_document(ANN, b"a,b\n1,2\n", filename="t.csv", caption="csv")
        assert doc.document.file_name == "t.csv"
        assert tg.documents(ANN)[-1]["content"] == b"a,b\n1,2\n"

        member = await bot.get_chat_member(SUPER, BOB)
        assert isinstance(member, telegram.ChatMemberAdministrator)
        chat = await bot.get_chat(SUPER)
        assert chat.title == "Big group"
        await bot.set_my_commands([("offer", "Offer help"), ("balance", "Your hours")])
        assert [c.command for c in await bot.get_my_commands()] == ["offer", "balance"]
        with pytest.raises(BadRequest, match="(?i)BOT_COMMAND_INVALID"):
            await bot.set_my_commands([("Bad-Cmd", "x")])

        tg.message_update(ANN, ANN, "/start")
        updates = await bot.get_updates(timeout=1)
        assert updates[-1].message.text == "/start"
        assert (await bot.get_updates(offset=updates[-1].update_id + 1, timeout=0)) == ()

        tg.migrate_update(GROUP, -100555)
        with pytest.raises(ChatMigrated) as migrated:
            await bot.send_message(GROUP, "x")
        assert migrated.value.new_chat_id == -100555

    with pytest.raises(InvalidToken):
        async with telegram.Bot("1:wrong", base_url=tg.base_url) as bad:
            await bad.get_me()


def test_throughput_is_reasonable(tg, http):
    started = time.monotonic()
    for i in range(300):
        tg.message_update(ANN, ANN, f"u{i}")
        ok(http, "sendMessage", chat_id=ANN, text=f"<b>reply {i}</b>", parse_mode="HTML")
    updates = ok(http, "getUpdates", limit=100)
    assert len(updates) == 100
    assert time.monotonic() - started < 5


@pytest.mark.asyncio
async def test_ptb_application_polls_and_shuts_down_cleanly(tg):
    from telegram.ext import ApplicationBuilder, CommandHandler

    async def balance(update, context):
        await update.effective_chat.send_message(f"<b>Balance</b> of {update.effective_user.id}",
                                                 parse_mode="HTML")

    app = ApplicationBuilder().token(tg.token).base_url(tg.base_url).build()
    app.add_handler(CommandHandler("balance", balance))
    async with app:
        await app.start()
        await app.updater.start_polling(poll_interval=0, timeout=5)
        tg.message_update(ANN, ANN, "/balance")
        tg.message_update(BOB, SUPER, "/balance@timebank_test_bot")
        for chat_id, who in ((ANN, ANN), (SUPER, BOB)):
            message = await asyncio.to_thread(tg.wait_for_message, chat_id, "Balance")
            assert message["text"] == f"Balance of {who}"
        await app.updater.stop()
        await app.stop()
    assert tg.pending_updates() == 0
    assert tg.errors == []


# ------------------------------------------------------------------ forum topics

FORUM = -1005550001
CHANNEL = -1007770001


@pytest.fixture
def forum(tg):
    tg.add_group(FORUM, "Forum", creator=ANN, admins=[BOB], members=[EVE], forum=True)
    return FORUM


def test_forum_topics_and_the_messages_in_them(tg, http, forum):
    bot = telegram.Bot(tg.token)
    assert ok(http, "getChat", chat_id=forum)["is_forum"] is True
    offers = tg.create_topic(forum, "Offers")
    created = tg.messages(forum)[-1]
    # Telegram's thread id is the id of the topic's service message, which is in the topic
    assert created["message_id"] == offers and created["forum_topic_created"]["name"] == "Offers"
    assert created["message_thread_id"] == offers and created["is_topic_message"] is True
    assert "reply_to_message" not in created
    assert tg.topics(forum) == {offers: {"name": "Offers", "icon_color": 0x6FB9F0, "closed": False}}

    in_topic = tg.message_update(EVE, forum, "/offer tea", thread_id=offers)["message"]
    assert in_topic["message_thread_id"] == offers and in_topic["is_topic_message"] is True
    # a message in a topic "replies" to the topic's creation message, as on Telegram
    assert in_topic["reply_to_message"]["forum_topic_created"]["name"] == "Offers"
    reply = tg.message_update(BOB, forum, "me!", reply_to_message_id=in_topic["message_id"])["message"]
    assert tg.topic_of(reply) == offers and reply["reply_to_message"]["text"] == "/offer tea"
    general = tg.message_update(EVE, forum, "/balance")["message"]
    assert "message_thread_id" not in general and "is_topic_message" not in general
    assert "reply_to_message" not in general and tg.topic_of(general) is None

    parsed = Update.de_json({"update_id": 1, "message": in_topic}, bot).message
    assert parsed.is_topic_message and parsed.message_thread_id == offers
    assert parsed.chat.is_forum and parsed.reply_to_message.forum_topic_created.name == "Offers"

    with pytest.raises(ValueError, match="General"):
        tg.message_update(EVE, forum, "x", thread_id=1)
    with pytest.raises(ValueError, match="no topic"):
        tg.message_update(EVE, forum, "x", thread_id=999)
    with pytest.raises(ValueError, match="not a forum"):
        tg.message_update(EVE, SUPER, "x", thread_id=offers)
    with pytest.raises(ValueError, match="not a forum"):
        tg.create_topic(SUPER, "Nope")


@pytest.mark.asyncio
async def test_the_bot_writes_into_topics(tg, forum):
    offers, requests = tg.create_topic(forum, "Offers"), tg.create_topic(forum, "Requests")
    asked = tg.message_update(EVE, forum, "who can fix a bike?", thread_id=requests)["message"]
    async with telegram.Bot(tg.token, base_url=tg.base_url) as bot:
        sent = await bot.send_message(forum, "<b>Tea</b>", parse_mode="HTML", message_thread_id=offers)
        assert sent.is_topic_message and sent.message_thread_id == offers
        assert sent.reply_to_message.forum_topic_created.name == "Offers"
        # no message_thread_id: General...
        general = await bot.send_message(forum, "hello all")
        assert general.message_thread_id is None and not general.is_topic_message
        # ...unless it replies to a message in a topic: then it lands in that topic
        answer = await bot.send_message(forum, "I can", reply_to_message_id=asked["message_id"])
        assert answer.message_thread_id == requests and answer.is_topic_message
        assert answer.reply_to_message.message_id == asked["message_id"]
        answer = await bot.send_message(forum, "me too", reply_parameters=telegram.ReplyParameters(
            asked["message_id"]), message_thread_id=requests)
        assert answer.message_thread_id == requests
        # a reply to a message of another topic lands in the topic asked for, as an external reply
        cross = await bot.send_message(forum, "see Requests", message_thread_id=offers,
                                       reply_to_message_id=asked["message_id"])
        assert cross.message_thread_id == offers and cross.external_reply.message_id == asked["message_id"]
        assert cross.reply_to_message.forum_topic_created.name == "Offers"
        doc = await bot.send_document(forum, b"a,b\n", filename="t.csv", message_thread_id=requests)
        assert doc.message_thread_id == requests and tg.documents(forum)[-1]["file_name"] == "t.csv"

        for thread_id in (1, 999, asked["message_id"]):   # General, unknown, not a topic's id
            with pytest.raises(BadRequest, match="(?i)^message thread not found$"):
                await bot.send_message(forum, "x", message_thread_id=thread_id)
        tg.close_topic(forum, offers)
        for kwargs in ({"message_thread_id": offers}, {"reply_to_message_id": sent.message_id}):
            with pytest.raises(BadRequest, match="(?i)^topic_closed$"):
                await bot.send_message(forum, "x", **kwargs)
        tg.set_bot_status(forum, "administrator")   # kept simple: closed even for an admin bot
        with pytest.raises(BadRequest, match="(?i)^topic_closed$"):
            await bot.send_document(forum, b"x", filename="x.txt", message_thread_id=offers)
        tg.reopen_topic(forum, offers)
        assert (await bot.send_message(forum, "open again", message_thread_id=offers)).is_topic_message
        edited = await bot.edit_message_text("<i>Tea</i>", forum, sent.message_id, parse_mode="HTML")
        assert edited.message_thread_id == offers   # edits keep the message where it is
        tg.delete_topic(forum, requests)
        with pytest.raises(BadRequest, match="(?i)^message thread not found$"):
            await bot.send_message(forum, "x", message_thread_id=requests)
        with pytest.raises(BadRequest, match="(?i)message to edit not found"):
            await bot.edit_message_text("gone", forum, answer.message_id)  # deleted with the topic

    by_topic = [(m["text"], tg.topic_of(m)) for m in tg.bot_messages(forum) if "text" in m]
    assert by_topic == [("Tea", offers), ("hello all", None), ("see Requests", offers),
                        ("open again", offers)]
    assert all(tg.topic_of(m) != requests for m in tg.messages(forum))
    assert tg.refusals()[-1] == ("editMessageText", "Bad Request: message to edit not found")


def test_topic_service_messages_closed_topics_and_buttons(tg, http, forum):
    tg.set_bot_status(forum, "administrator")
    offers = tg.create_topic(forum, "Offers", by_user_id=BOB)
    closed = tg.close_topic(forum, offers)["message"]
    assert closed["forum_topic_closed"] == {} and tg.topic_of(closed) == offers
    assert closed["from"]["id"] == ANN and tg.topics(forum)[offers]["closed"] is True
    with pytest.raises(ValueError, match="closed"):
        tg.message_update(EVE, forum, "x", thread_id=offers)     # members can't write there
    admin_note = tg.message_update(BOB, forum, "closed for now", thread_id=offers)["message"]
    with pytest.raises(ValueError, match="already closed"):
        tg.close_topic(forum, offers)
    reopened = tg.reopen_topic(forum, offers, by_user_id=BOB)["message"]
    assert reopened["forum_topic_reopened"] == {} and reopened["from"]["id"] == BOB
    kinds = [next(k for k in ("forum_topic_created", "forum_topic_closed", "forum_topic_reopened", "text")
                  if k in u["message"]) for u in ok(http, "getUpdates")]
    assert kinds == ["forum_topic_created", "forum_topic_closed", "text", "forum_topic_reopened"]

    mid = ok(http, "sendMessage", chat_id=forum, text="pick", message_thread_id=offers,
             reply_markup=keyboard({"text": "Take", "callback_data": "take"}))["message_id"]
    query = tg.callback_update(EVE, forum, mid, "take")["callback_query"]
    assert query["from"]["id"] == EVE and query["message"]["message_thread_id"] == offers
    assert query["message"]["is_topic_message"] is True
    tg.delete_topic(forum, offers)
    assert tg.topics(forum) == {} and admin_note["message_id"] not in {m["message_id"] for m in tg.messages(forum)}
    with pytest.raises(ValueError):
        tg.delete_topic(forum, offers)


def test_message_thread_id_outside_forums(tg, http):
    # current Bot API: ignored in groups without topics...
    for chat_id in (SUPER, GROUP):
        sent = ok(http, "sendMessage", chat_id=chat_id, text="x", message_thread_id=77)
        assert "message_thread_id" not in sent and "is_topic_message" not in sent
    # ...refused in private chats (bot topics in private chats are not modelled)
    refused(http, "sendMessage", 400, "Bad Request: message thread not found", chat_id=ANN, text="x",
            message_thread_id=77)
    tg.strict_message_threads = True      # as Bot API servers before 9.3 did
    refused(http, "sendMessage", 400, "Bad Request: message thread not found", chat_id=SUPER, text="x",
            message_thread_id=77)
    tg.strict_message_threads = False
    # replies in an ordinary supergroup carry their reply thread's id, but are no topic messages
    root = ok(http, "sendMessage", chat_id=SUPER, text="offer")
    first = tg.message_update(BOB, SUPER, "me", reply_to_message_id=root["message_id"])["message"]
    second = ok(http, "sendMessage", chat_id=SUPER, text="ok Bob", reply_to_message_id=first["message_id"])
    assert first["message_thread_id"] == second["message_thread_id"] == root["message_id"]
    assert "is_topic_message" not in first and tg.topic_of(first) is None and tg.topic_of(second) is None
    assert "message_thread_id" not in tg.message_update(BOB, SUPER, "plain")["message"]
    in_group = tg.message_update(BOB, GROUP, "re", reply_to_message_id=tg.messages(GROUP)[0]["message_id"])
    assert "message_thread_id" not in in_group["message"]     # basic groups have no threads


# ------------------------------------------------------------------ anonymous admins and channels

@pytest.mark.asyncio
async def test_anonymous_admins_and_channels(tg):
    channel = tg.add_channel(CHANNEL, "Riverside News", username="riverside")
    assert channel == {"id": CHANNEL, "type": "channel", "title": "Riverside News", "username": "riverside"}
    bot = telegram.Bot(tg.token)
    anon = tg.message_update(BOB, SUPER, "/settle")["message"]
    assert anon["from"]["id"] == BOB and "sender_chat" not in anon
    anon = tg.message_update(BOB, SUPER, "/settle", anonymous=True)["message"]
    assert anon["from"] == {"id": 1087968824, "is_bot": True, "first_name": "Group",
                            "username": "GroupAnonymousBot"}
    assert anon["sender_chat"] == {"id": SUPER, "type": "supergroup", "title": "Big group"}
    assert tg.message_update(ANN, SUPER, "hi", sender_chat_id=SUPER)["message"]["sender_chat"]["id"] == SUPER
    with pytest.raises(ValueError, match="only admins"):
        tg.message_update(EVE, SUPER, "/settle", anonymous=True)
    with pytest.raises(ValueError, match="only admins"):
        tg.message_update(BOB, GROUP, "/settle", anonymous=True)      # Bob is a plain member there
    with pytest.raises(ValueError):
        tg.message_update(ANN, ANN, "x", anonymous=True)
    as_channel = tg.message_update(EVE, SUPER, "news!", sender_chat_id=CHANNEL)["message"]
    assert as_channel["from"] == {"id": 136817688, "is_bot": True, "first_name": "Channel",
                                  "username": "Channel_Bot"}
    assert as_channel["sender_chat"] == channel
    with pytest.raises(ValueError, match="add_channel"):
        tg.message_update(EVE, SUPER, "x", sender_chat_id=-100999)
    with pytest.raises(ValueError):
        tg.message_update(EVE, SUPER, "x", sender_chat_id=CHANNEL, anonymous=True)

    parsed = Update.de_json({"update_id": 1, "message": as_channel}, bot).message
    assert parsed.sender_chat.type == "channel" and parsed.sender_chat.username == "riverside"
    assert parsed.from_user.id == 136817688 and parsed.from_user.is_bot
    parsed = Update.de_json({"update_id": 2, "message": anon}, bot).message
    assert parsed.sender_chat.id == parsed.chat.id == SUPER

    async with telegram.Bot(tg.token, base_url=tg.base_url) as live:
        prompt = await live.send_message(SUPER, "confirm it's you", reply_to_message_id=anon["message_id"],
                                         reply_markup=InlineKeyboardMarkup(
                                             [[InlineKeyboardButton("Me", callback_data="an:1")]]))
        assert prompt.reply_to_message.sender_chat.id == SUPER
        press = tg.callback_update(BOB, SUPER, prompt.message_id, "an:1")["callback_query"]
        assert press["from"]["id"] == BOB                       # presses come from the person
        with pytest.raises(Forbidden, match="(?i)bot is not a member of the channel chat"):
            await live.send_message(CHANNEL, "x")
        with pytest.raises(Forbidden):
            await live.get_chat(CHANNEL)
    with pytest.raises(ValueError):
        tg.message_update(EVE, CHANNEL, "x")


def test_anonymous_commands_reach_a_bot_in_privacy_mode(tg, http):
    tg.message_update(BOB, SUPER, "chatter", anonymous=True)
    tg.message_update(BOB, SUPER, "/balance@timebank_test_bot", anonymous=True)
    tg.message_update(EVE, SUPER, "/balance", sender_chat_id=tg.add_channel(CHANNEL, "News")["id"])
    got = ok(http, "getUpdates")
    assert [u["message"]["text"] for u in got] == ["/balance@timebank_test_bot", "/balance"]
    assert [u["message"]["from"]["username"] for u in got] == ["GroupAnonymousBot", "Channel_Bot"]


# ------------------------------------------------------------------ basic groups and the upgrade

def test_group_types(tg, http):
    assert tg.add_group(-1001111, "Basic, odd id", basic=True)["type"] == "group"
    assert tg.add_group(-4002, "Default by id")["type"] == "group"
    assert tg.add_group(-1002222, "Default by id")["type"] == "supergroup"
    assert tg.add_group(-4003, "Forced", supergroup=True)["type"] == "supergroup"
    forum = tg.add_group(-4004, "Forum", forum=True)
    assert forum == {"id": -4004, "type": "supergroup", "title": "Forum", "is_forum": True}
    assert "is_forum" not in tg.add_group(-1003333, "Plain")
    for kwargs in ({"basic": True, "forum": True}, {"basic": True, "supergroup": True},
                   {"forum": True, "supergroup": False}):
        with pytest.raises(ValueError):
            tg.add_group(-4009, "Bad", **kwargs)
    assert ok(http, "sendMessage", chat_id=-4004, text="x")["chat"]["is_forum"] is True
    assert ok(http, "getChat", chat_id=-1001111)["type"] == "group"


@pytest.mark.parametrize("order, first", [("to_first", "migrate_to_chat_id"),
                                          ("from_first", "migrate_from_chat_id")])
def test_migrate_updates_in_either_order(tg, http, order, first):
    updates = tg.migrate_updates(GROUP, -1004001, queue=False, order=order)
    assert len(updates) == 2 and first in updates[0]["message"]
    assert updates[0]["update_id"] < updates[1]["update_id"] and tg.pending_updates() == 0
    to_update = next(u for u in updates if "migrate_to_chat_id" in u["message"])
    from_update = next(u for u in updates if "migrate_from_chat_id" in u["message"])
    assert to_update["message"]["chat"]["id"] == GROUP and to_update["message"]["migrate_to_chat_id"] == -1004001
    assert from_update["message"]["chat"] == {"id": -1004001, "type": "supergroup", "title": "Small group"}
    assert from_update["message"]["migrate_from_chat_id"] == GROUP


def test_migrate_update_queues_both_and_returns_the_old_chats(tg, http):
    tg.add_group(-4100, "Another", basic=True, creator=ANN)
    returned = tg.migrate_update(-4100, -1004100, order="from_first")
    assert returned["message"]["migrate_to_chat_id"] == -1004100       # as before: the old chat's
    got = ok(http, "getUpdates")
    assert [("migrate_from_chat_id" in u["message"], "migrate_to_chat_id" in u["message"]) for u in got] \
        == [(True, False), (False, True)]
    assert got[1] == json.loads(json.dumps(returned))
    tg.add_group(-4200, "Third", basic=True)
    got = [u["message"] for u in tg.migrate_updates(-4200, -1004200)]
    assert "migrate_to_chat_id" in got[0] and "migrate_from_chat_id" in got[1]
    with pytest.raises(ValueError, match="already"):
        tg.migrate_update(-4200, -1004201)
    with pytest.raises(ValueError, match="only basic groups"):
        tg.migrate_update(SUPER, -1004300)
    with pytest.raises(ValueError, match="free"):
        tg.migrate_update(GROUP, SUPER)
    with pytest.raises(ValueError):
        tg.migrate_update(GROUP, -1004400, order="sideways")


@pytest.mark.asyncio
async def test_an_upgraded_group_refuses_everything_with_chat_migrated(tg):
    tg.set_member_status(GROUP, EVE, "administrator")
    tg.set_bot_status(GROUP, "administrator")
    new_id = -1004001
    async with telegram.Bot(tg.token, base_url=tg.base_url) as bot:
        markup = InlineKeyboardMarkup([[InlineKeyboardButton("A", callback_data="a")]])
        before = await bot.send_message(GROUP, "before", reply_markup=markup)
        user_msg = tg.message_update(BOB, GROUP, "chatter")["message"]
        tg.migrate_update(GROUP, new_id)
        calls = [
            bot.send_message(GROUP, "x"),
            bot.send_document(GROUP, b"x", filename="x.txt"),
            bot.edit_message_text("edited", GROUP, before.message_id),
            bot.edit_message_reply_markup(GROUP, before.message_id),
            bot.delete_message(GROUP, user_msg["message_id"]),
            bot.get_chat(GROUP),
            bot.get_chat_member(GROUP, BOB),
            bot.get_chat_administrators(GROUP),
            bot.get_chat_member_count(GROUP),
            bot.send_chat_action(GROUP, "typing"),
            bot.leave_chat(GROUP),
        ]
        for call_ in calls:
            with pytest.raises(ChatMigrated) as migrated:
                await call_
            assert migrated.value.new_chat_id == new_id
        assert all(d == "Bad Request: group chat was upgraded to a supergroup chat" for _, d in tg.refusals())
        assert len(tg.refusals()) == len(calls)
        # the members, admins and the bot's status carried over
        admins = {m.user.id: m.status for m in await bot.get_chat_administrators(new_id)}
        assert admins == {ANN: "creator", EVE: "administrator", tg.bot_id: "administrator"}
        assert (await bot.get_chat_member(new_id, BOB)).status == "member"
        assert (await bot.send_message(new_id, "moved")).chat.type == "supergroup"
    # messages sent before the upgrade stay in the old chat
    assert [m["message_id"] for m in tg.messages(GROUP)][:2] == [before.message_id, user_msg["message_id"]]
    assert tg.messages(GROUP)[0]["text"] == "before" and "edit_date" not in tg.messages(GROUP)[0]
    assert [m.get("text") for m in tg.messages(new_id)] == [None, "moved"]   # migrate_from, then ours
    with pytest.raises(ValueError, match="upgraded"):
        tg.message_update(BOB, GROUP, "anyone?")


def test_refusals(tg, http):
    assert tg.refusals() == []
    refused(http, "sendMessage", 400, "Bad Request: chat not found", chat_id=999, text="x")
    refused(http, "sendMessage", 403, "Forbidden: bot can't initiate", chat_id=EVE, text="x")
    assert tg.refusals() == [("sendMessage", "Bad Request: chat not found"),
                             ("sendMessage", "Forbidden: bot can't initiate conversation with a user")]
    tg.reset_records()
    assert tg.refusals() == []
