"""Sending within Telegram's limits, and reaching people who never opened a private chat.

Every message is HTML built from the catalogs with escaped values; text over 4096
characters is split at line ends; a 403 from someone's private chat is remembered so
we stop trying, and the caller can say so in the group instead.
"""

from __future__ import annotations

import html
import logging
import re
import weakref
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal

from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Message,
    ReplyParameters,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest, ChatMigrated, Forbidden

from bot.callbacks import PageButton
from bot.i18n import Safe
from timebank.models import Member

log = logging.getLogger(__name__)

MAX_TEXT = 4096
MAX_USER_TEXT = 1000  # a post or description; long enough for a paragraph, short enough for a list
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Split at line ends so no chunk is over Telegram's limit (our tags never span lines)."""
    if utf16_len(text) <= limit:
        return [text]
    chunks, current = [], ""
    for line in text.split("\n"):
        candidate = f"{current}\n{line}" if current else line
        if utf16_len(candidate) <= limit:
            current = candidate
            continue
        if current:
            chunks.append(current)
        while utf16_len(line) > limit:  # one enormous line: cut it (only plain text gets this long)
            chunks.append(line[: limit // 2])
            line = line[limit // 2:]
        current = line
    if current:
        chunks.append(current)
    return chunks


def shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def mention(member: Member) -> Safe:
    """@username when there is one, else a link that opens their profile."""
    if member.username:
        return Safe("@" + html.escape(member.username))
    return Safe(f'<a href="tg://user?id={member.user_id}">{html.escape(member.name)}</a>')


def deep_link(bot: Bot, payload: str = "") -> str:
    return f"https://t.me/{bot.username}" + (f"?start={payload}" if payload else "")


def keyboard(*rows: list[InlineKeyboardButton] | None) -> InlineKeyboardMarkup | None:
    kept = [row for row in rows if row]
    return InlineKeyboardMarkup(kept) if kept else None


def pager(tr: Callable[[str], str], kind: Literal["h", "b"], timebank_id: int, offset: int, size: int,
          has_more: bool) -> InlineKeyboardMarkup | None:
    """‹ Newer / Older › buttons for a list shown a page at a time."""
    nav = []
    if offset > 0:
        nav.append(InlineKeyboardButton(tr("‹ Newer"),
                                        callback_data=PageButton(kind, timebank_id, max(0, offset - size)).pack()))
    if has_more:
        nav.append(InlineKeyboardButton(tr("Older ›"),
                                        callback_data=PageButton(kind, timebank_id, offset + size).pack()))
    return keyboard(nav)


ChatMoved = Callable[[int, int], Awaitable[object]]


@dataclass
class _PerBot:
    """What messaging keeps per bot (PTB's Bot compares equal by token, so by identity here)."""

    # What each recently edited message was last set to: two presses at once would otherwise
    # both edit it to the same outcome, and Telegram refuses an edit that changes nothing.
    last_edits: OrderedDict[tuple[int, int], tuple[str, object]] = field(default_factory=OrderedDict)
    # Told when Telegram says a group became a supergroup with a new id (the timebank follows it).
    chat_moved: ChatMoved | None = None


_PER_BOT: dict[int, _PerBot] = {}
_LAST_EDITS_KEPT = 4096


def _per_bot(bot: Bot) -> _PerBot:
    state = _PER_BOT.get(id(bot))
    if state is None:
        state = _PER_BOT[id(bot)] = _PerBot()
        weakref.finalize(bot, _PER_BOT.pop, id(bot), None)
    return state


def on_chat_moved(bot: Bot, hook: ChatMoved) -> None:
    _per_bot(bot).chat_moved = hook


def _thread_gone(exc: BadRequest) -> bool:
    text = exc.message.lower()
    return "thread not found" in text or "topic_closed" in text or "topic_deleted" in text


async def send(bot: Bot, chat_id: int, text: str, *, markup: InlineKeyboardMarkup | None = None,
               reply_to: int | None = None, thread_id: int | None = None) -> Message:
    """Send HTML, split at Telegram's limit, into a forum topic when `thread_id` is given.

    A topic closed or deleted meanwhile gets the message in General instead; a group that
    became a supergroup gets it at its new id (and the timebank is moved there).
    """
    chunks = split_text(text)
    message: Message | None = None
    for index, chunk in enumerate(chunks):
        last = index == len(chunks) - 1
        for _attempt in range(3):
            try:
                message = await bot.send_message(
                    chat_id, chunk, parse_mode=ParseMode.HTML, link_preview_options=NO_PREVIEW,
                    reply_markup=markup if last else None, message_thread_id=thread_id,
                    reply_parameters=ReplyParameters(reply_to, allow_sending_without_reply=True)
                    if reply_to and index == 0 else None,
                )
                break
            except ChatMigrated as exc:
                hook = _per_bot(bot).chat_moved
                if hook is not None:
                    await hook(chat_id, exc.new_chat_id)
                chat_id, reply_to = exc.new_chat_id, None  # message ids of the old chat mean nothing there
            except BadRequest as exc:
                if thread_id is None or not _thread_gone(exc):
                    raise
                log.info("topic %s of %s is gone (%s): writing in General", thread_id, chat_id, exc.message)
                thread_id = None
    assert message is not None  # split_text returns at least one chunk
    return message


async def edit(bot: Bot, chat_id: int | None, message_id: int | None, text: str,
               markup: InlineKeyboardMarkup | None = None) -> bool:
    """Edit a message we sent earlier; a message that is gone or unchanged is not an error."""
    if not chat_id or not message_id:
        return False
    key, content = (chat_id, message_id), (split_text(text)[0], markup.to_json() if markup else None)
    last_edits = _per_bot(bot).last_edits
    if last_edits.get(key) == content:
        return True
    last_edits[key] = content
    last_edits.move_to_end(key)
    if len(last_edits) > _LAST_EDITS_KEPT:
        last_edits.popitem(last=False)
    try:
        await bot.edit_message_text(content[0], chat_id, message_id, parse_mode=ParseMode.HTML,
                                    link_preview_options=NO_PREVIEW, reply_markup=markup)
        return True
    except BadRequest as exc:
        if "not modified" in exc.message:
            return True
        log.info("could not edit message %s in %s: %s", message_id, chat_id, exc.message)
        return False
    except ChatMigrated:  # a message from before the group's upgrade: it stays as it was
        log.info("message %s in %s is from before the group's upgrade: not edited", message_id, chat_id)
        return False
    except Forbidden as exc:  # blocked by the person, or the bot left the group: nothing to edit
        log.info("could not edit message %s in %s: %s", message_id, chat_id, exc.message)
        return False


async def drop_buttons(bot: Bot, chat_id: int, message_id: int) -> None:
    """Take the buttons off a message we sent; one that is gone or has none is not an error."""
    try:
        await bot.edit_message_reply_markup(chat_id, message_id, reply_markup=None)
    except (BadRequest, Forbidden, ChatMigrated) as exc:
        log.info("could not drop the buttons of %s in %s: %s", message_id, chat_id, exc.message)


async def send_private(runtime, bot: Bot, user_id: int, text: str,
                       markup: InlineKeyboardMarkup | None = None) -> Message | None:
    """A private message, or None when Telegram will not deliver it (never started, blocked).

    A refusal is remembered, so we do not knock again until they write to us privately.
    """
    if runtime.can_dm(user_id) is False:
        return None
    try:
        message = await send(bot, user_id, text, markup=markup)
    except Forbidden as exc:
        log.info("cannot write privately to %s: %s", user_id, exc.message)
        await runtime.set_can_dm(user_id, False)
        return None
    await runtime.set_can_dm(user_id, True)
    return message


def plain(text: str) -> str:
    """Our HTML as plain text, for the places Telegram shows no formatting (button alerts)."""
    return html.unescape(re.sub(r"<[^>]+>", "", text))


def already_shows(message: object, text: str) -> bool:
    """The pressed message already reads `text`, without buttons: an edit to it would change nothing
    (Telegram refuses that), even after a restart, when the memory of recent edits is empty."""
    return isinstance(message, Message) and message.text == plain(text) and not message.reply_markup


async def alert(query, text: str) -> None:
    """A pop-up answer to a button press: plain text, at most 200 characters."""
    await query.answer(shorten(plain(text), 200), show_alert=True)
