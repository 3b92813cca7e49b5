"""Finding the member a message refers to: @username, #12, a text mention, or a reply."""

from __future__ import annotations

import re
from dataclasses import dataclass

from telegram import Message, MessageEntity

from storage import members as member_store
from storage.db import Database
from timebank.models import Member


@dataclass(frozen=True)
class Reference:
    member: Member | None   # None: the words named nobody we know in this timebank
    rest: str               # the text after the reference
    named: str              # how they were named, for the message when unknown


async def find_member(db: Database, timebank_id: int, message: Message, text: str) -> Reference | None:
    """The member named at the start of `text` (or by the message's reply); None if none is named."""
    head, _, rest = text.partition(" ")
    rest = rest.strip()
    if re.fullmatch(r"@[A-Za-z0-9_]{3,32}", head):
        return Reference(await member_store.by_username(db, timebank_id, head[1:]), rest, head)
    if re.fullmatch(r"#\d{1,9}", head):
        return Reference(await member_store.by_number(db, timebank_id, int(head[1:])), rest, head)
    for entity, mentioned in message.parse_entities([MessageEntity.TEXT_MENTION]).items():
        if entity.user and text.startswith(mentioned):
            found = await member_store.by_user(db, timebank_id, entity.user.id)
            return Reference(found, text[len(mentioned):].strip(), mentioned)
    replied = message.reply_to_message
    if replied and replied.from_user and not replied.from_user.is_bot and not replied.forum_topic_created:
        found = await member_store.by_user(db, timebank_id, replied.from_user.id)
        return Reference(found, text, replied.from_user.full_name)
    return None
