"""Play members of a Telegram group against the real Application and the fake Bot API.

Updates go in through `Application.process_update` (as webhook mode does), so each
step has finished when the call returns; everything the bot says goes over HTTP to the
fake, which refuses what Telegram would refuse.
"""

from __future__ import annotations

from dataclasses import dataclass

from telegram import Update
from telegram.ext import Application

from bot.fake_telegram import FakeTelegram


@dataclass
class Person:
    world: World
    user_id: int
    first_name: str
    username: str | None

    async def says(self, text: str, chat_id: int | None = None, *, reply_to: int | None = None,
                   entities: list[dict] | None = None) -> list[dict]:
        """Type `text` in a chat (their private chat by default); returns what the bot sent meanwhile."""
        return await self.world.send(self.user_id, chat_id or self.user_id, text, reply_to=reply_to,
                                     entities=entities)

    async def press(self, message: dict, label: str) -> list[dict]:
        """Press the button whose label contains `label` under a message."""
        return await self.world.press(self.user_id, message, label)

    def inbox(self) -> list[dict]:
        return self.world.tg.bot_messages(self.user_id)

    def last(self) -> dict:
        message = self.world.tg.last_bot_message(self.user_id)
        assert message is not None, f"{self.first_name} has no private message from the bot"
        return message


class World:
    def __init__(self, tg: FakeTelegram, app: Application) -> None:
        self.tg = tg
        self.app = app
        self._next_id = 100

    def person(self, first_name: str, *, username: str | None = None, language_code: str | None = "en",
               started: bool = True, last_name: str | None = None) -> Person:
        self._next_id += 1
        self.tg.add_user(self._next_id, first_name, last_name=last_name, username=username,
                         language_code=language_code, started=started)
        return Person(self, self._next_id, first_name, username)

    def _sent_count(self) -> int:
        return len(self.tg.calls)

    def _new_bot_messages(self, since: int) -> list[dict]:
        out = []
        for method, params in self.tg.calls[since:]:
            if method in ("sendMessage", "editMessageText"):
                out.append({"method": method, **params})
        return out

    async def feed(self, update: dict) -> list[dict]:
        since = self._sent_count()
        await self.app.process_update(Update.de_json(update, self.app.bot))
        return self._new_bot_messages(since)

    async def send(self, user_id: int, chat_id: int, text: str, *, reply_to: int | None = None,
                   entities: list[dict] | None = None) -> list[dict]:
        update = self.tg.message_update(user_id, chat_id, text, reply_to_message_id=reply_to, entities=entities,
                                        queue=False)
        return await self.feed(update)

    async def press(self, user_id: int, message: dict, label: str) -> list[dict]:
        data = button_data(message, label)
        update = self.tg.callback_update(user_id, message["chat"]["id"], message["message_id"], data, queue=False)
        return await self.feed(update)


def buttons(message: dict) -> list[dict]:
    markup = message.get("reply_markup") or {}
    return [button for row in markup.get("inline_keyboard", []) for button in row]


def button_data(message: dict, label: str) -> str:
    for button in buttons(message):
        if label in button["text"] and "callback_data" in button:
            return button["callback_data"]
    raise AssertionError(f"no button {label!r} under: {message.get('text')!r} "
                         f"(buttons: {[b['text'] for b in buttons(message)]})")


def button_url(message: dict, label: str) -> str:
    for button in buttons(message):
        if label in button["text"] and "url" in button:
            return button["url"]
    raise AssertionError(f"no link button {label!r} under {message.get('text')!r}")


def texts(messages: list[dict]) -> str:
    return "\n---\n".join(m.get("text", "") for m in messages)
