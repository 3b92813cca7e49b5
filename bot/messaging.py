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
from collections.abc import Callable
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
from telegram.error import BadRequest, Forbidden

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


async def send(bot: Bot, chat_id: int, text: str, *, markup: InlineKeyboardMarkup | None = None,
               reply_to: int | None = None) -> Message:
    chunks = split_text(text)
    message: Message | None = None
    for index, chunk in enumerate(chunks):
        last = index == len(chunks) - 1
        message = await bot.send_message(
            chat_id, chunk, parse_mode=ParseMode.HTML, link_preview_options=NO_PREVIEW,
            reply_markup=markup if last else None,
            reply_parameters=ReplyParameters(reply_to, allow_sending_without_reply=True)
            if reply_to and index == 0 else None,
        )
    assert message is not None  # split_text returns at least one chunk
    return message


# What each recently edited message was last set to, per bot: two presses at once would
# otherwise both edit it to the same outcome, and Telegram refuses an edit that changes nothing.
# Keyed by the bot object's identity (PTB's Bot compares equal by token), dropped with it.
_LAST_EDITS: dict[int, OrderedDict[tuple[int, int], tuple[str, object]]] = {}
_LAST_EDITS_KEPT = 4096


async def edit(bot: Bot, chat_id: int | None, message_id: int | None, text: str,
               markup: InlineKeyboardMarkup | None = None) -> bool:
    """Edit a message we sent earlier; a message that is gone or unchanged is not an error."""
    if not chat_id or not message_id:
        return False
    key, content = (chat_id, message_id), (split_text(text)[0], markup.to_json() if markup else None)
    last_edits = _LAST_EDITS.get(id(bot))
    if last_edits is None:
        last_edits = _LAST_EDITS[id(bot)] = OrderedDict()
        weakref.finalize(bot, _LAST_EDITS.pop, id(bot), None)
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


async def drop_buttons(bot: Bot, chat_id: int, message_id: int) -> None:
    """Take the buttons off a message we sent; one that is gone or has none is not an error."""
    try:
        await bot.edit_message_reply_markup(chat_id, message_id, reply_markup=None)
    except BadRequest as exc:
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


async def alert(query, text: str) -> None:
    """A pop-up answer to a button press: plain text, at most 200 characters."""
    await query.answer(shorten(plain(text), 200), show_alert=True)
