"""/offer, /request, /browse, /myposts, and a post's own page (deep link p<id>)."""

from __future__ import annotations

import html
from dataclasses import replace

from telegram import InlineKeyboardButton, Message, Update

from bot import messaging
from bot.context import BotContext
from bot.i18n import Translator
from handlers.common import args_text, in_timebank, is_private, refusal_text, reply, send_personal
from storage import members as member_store
from storage import posts as post_store
from storage.db import now
from timebank import rules
from timebank.models import Post, Timebank
from timebank.rules import RuleError

BROWSE_PAGE = 5
MYPOSTS_LIMIT = 10


@in_timebank("offer")
async def offer(context: BotContext, message: Message, timebank: Timebank) -> None:
    await _post(context, message, timebank, "offer")


@in_timebank("request")
async def request(context: BotContext, message: Message, timebank: Timebank) -> None:
    await _post(context, message, timebank, "request")


async def _post(context: BotContext, message: Message, timebank: Timebank, kind: str) -> None:
    tr, text = context.tr, args_text(message)
    me = await member_store.by_user(context.store, timebank.id, message.from_user.id)
    try:
        rules.check_active(me.status if me else None)
    except RuleError as error:
        await reply(context, message, refusal_text(tr, error))
        return
    if not text:
        await reply(context, message, tr("Write what you offer after the command, for example:\n"
                                         "/offer Gardening, and help with houseplants") if kind == "offer" else
                    tr("Write what you need after the command, for example:\n/request A lift to the surgery on Friday"))
        return
    if len(text) > messaging.MAX_USER_TEXT:
        await reply(context, message, tr("Please keep it under {limit} characters.", limit=tr.number(messaging.MAX_USER_TEXT)))
        return
    post, created = await post_store.create(context.store, timebank.id, me.id, kind, text,
                                            (message.chat_id, message.message_id), now())
    if not created and post.announce_message_id:
        return  # the same update again: posted once already
    group_tr = context.runtime.tr_for_group(timebank)
    announcement = await messaging.send(
        context.bot, timebank.chat_id, announcement_text(group_tr, post),
        markup=_respond_markup(group_tr, context, post),
        reply_to=None if is_private(message) else message.message_id)
    await post_store.set_announcement(context.store, post.id, announcement.chat_id, announcement.message_id)
    if is_private(message):
        await reply(context, message, tr("Your offer is posted in {title}.", title=timebank.title) if kind == "offer"
                    else tr("Your request is posted in {title}.", title=timebank.title))


def announcement_text(tr: Translator, post: Post) -> str:
    head = (tr("Offer #{id} from {name} (#{number}):", id=post.id, name=post.author_name, number=post.author_number)
            if post.kind == "offer" else
            tr("Request #{id} from {name} (#{number}):", id=post.id, name=post.author_name,
               number=post.author_number))
    text = f"<b>{head}</b>\n" + html.escape(post.text, quote=False)
    if post.status != "open":
        text += "\n" + tr("(closed)")
    return text


def _respond_markup(tr: Translator, context: BotContext, post: Post):
    return messaging.keyboard([InlineKeyboardButton(tr("Respond"), url=messaging.deep_link(context.bot, f"p{post.id}"))])


async def show_post(context: BotContext, message: Message, post_id: int) -> None:
    """A post's page in private: what it is, and how to reach its author."""
    tr = context.tr
    post = await post_store.get(context.store, post_id)
    if post is None or post.status != "open":
        await reply(context, message, tr("This offer or request is no longer open."))
        return
    author = await member_store.by_id(context.store, post.author_id)
    lines = [announcement_text(tr, post),
             tr("To respond, write to {who}. After the help, record the time with /gave or /received.",
                who=messaging.mention(author))]
    await reply(context, message, "\n".join(lines))


@in_timebank("browse")
async def browse(context: BotContext, message: Message, timebank: Timebank) -> None:
    text, markup = await _browse_page(context, context.tr, timebank, 0)
    await send_personal(context, message, text, markup)


async def _browse_page(context: BotContext, tr: Translator, timebank: Timebank, offset: int):
    page = await post_store.open_posts(context.store, timebank.id, now(), offset, BROWSE_PAGE)
    lines = [f"<b>{tr('Offers and requests in {title}', title=timebank.title)}</b>"]
    if not page.items:
        lines.append(tr("Nothing is open right now. Be the first: /offer or /request."))
    for post in page.items:
        post_view = replace(post, text=messaging.shorten(post.text, 300))
        lines.append("")
        lines.append(announcement_text(tr, post_view))
        lines.append(tr("Respond: {link}", link=messaging.deep_link(context.bot, f"p{post.id}")))
    return "\n".join(lines), messaging.pager(tr, f"b:{timebank.id}", offset, BROWSE_PAGE, page.has_more)


async def browse_button(update: Update, context: BotContext) -> None:
    query = update.callback_query
    _, timebank_id, offset = query.data.split(":")
    timebank = context.runtime.timebanks_by_id.get(int(timebank_id))
    if timebank is None:
        await messaging.alert(query, context.tr("This offer or request is no longer open."))
        return
    await query.answer()
    text, markup = await _browse_page(context, context.tr, timebank, max(0, int(offset)))
    await messaging.edit(context.bot, query.message.chat_id, query.message.message_id, text, markup)


@in_timebank("myposts")
async def myposts(context: BotContext, message: Message, timebank: Timebank) -> None:
    me = await member_store.by_user(context.store, timebank.id, message.from_user.id)
    if me is None:
        await reply(context, message, refusal_text(context.tr, RuleError(rules.Refusal.NOT_A_MEMBER)))
        return
    text, markup = await _myposts_view(context, context.tr, me.id, timebank)
    await send_personal(context, message, text, markup)


async def _myposts_view(context: BotContext, tr: Translator, member_id: int, timebank: Timebank):
    posts = await post_store.open_by_author(context.store, member_id, now(), MYPOSTS_LIMIT)
    if not posts:
        return tr("You have no open offers or requests in {title}.", title=timebank.title), None
    lines = [f"<b>{tr('Your open offers and requests in {title}', title=timebank.title)}</b>"]
    rows = []
    for post in posts:
        lines += ["", announcement_text(tr, replace(post, text=messaging.shorten(post.text, 300)))]
        rows.append([InlineKeyboardButton(tr("Close #{id}", id=post.id), callback_data=f"p:c:{post.id}")])
    return "\n".join(lines), messaging.keyboard(*rows)


async def close_button(update: Update, context: BotContext) -> None:
    """Close #id under /myposts: only the author's own open post closes; its announcement says so."""
    query = update.callback_query
    post = await post_store.get(context.store, int(query.data.split(":")[2]))
    timebank = post and context.runtime.timebanks_by_id.get(post.timebank_id)
    me = timebank and await member_store.by_user(context.store, timebank.id, query.from_user.id)
    closed = me and await post_store.close(context.store, post.id, me.id, now())
    if not closed:
        await messaging.alert(query, context.tr("Only the author can close this, and only while it is open."))
        return
    await query.answer(messaging.plain(context.tr("Closed.")))
    group_tr = context.runtime.tr_for_group(timebank)
    await messaging.edit(context.bot, closed.announce_chat_id, closed.announce_message_id,
                         announcement_text(group_tr, closed))
    text, markup = await _myposts_view(context, context.tr, me.id, timebank)
    await messaging.edit(context.bot, query.message.chat_id, query.message.message_id, text, markup)
