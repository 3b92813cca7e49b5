"""/offer, /request, /browse, /myposts, and a post's own page (deep link p<id>)."""

from __future__ import annotations

from telegram import InlineKeyboardButton, Message, Update

from bot import messaging
from bot.callbacks import ClosePostButton, PageButton
from bot.context import BotContext
from bot.i18n import Translator, bold, lines
from handlers import views
from handlers.common import Here, Who, answer, refusal_text, reply, send_personal, timebank_command
from storage import members as member_store
from storage import posts as post_store
from storage.db import now
from timebank import rules
from timebank.models import Post, Timebank
from timebank.rules import RuleError

BROWSE_PAGE = 5
MYPOSTS_LIMIT = 10


@timebank_command("offer")
async def offer(context: BotContext, here: Here) -> None:
    await _post(context, here, "offer")


@timebank_command("request")
async def request(context: BotContext, here: Here) -> None:
    await _post(context, here, "request")


async def _post(context: BotContext, here: Here, kind: str) -> None:
    tr, text, me = context.tr, here.args, here.me
    try:
        rules.check_active(me.status if me else None)
    except RuleError as error:
        await answer(context, here, refusal_text(tr, error))
        return
    assert me is not None
    if not text:
        await answer(context, here, tr("Write what you offer after the command, for example:\n"
                                       "/offer Gardening, and help with houseplants") if kind == "offer" else
                     tr("Write what you need after the command, for example:\n"
                        "/request A lift to the surgery on Friday"))
        return
    if len(text) > messaging.MAX_USER_TEXT:
        await answer(context, here, tr("Please keep it under {limit} characters.",
                                       limit=tr.number(messaging.MAX_USER_TEXT)))
        return
    post, created = await post_store.create(context.store, here.timebank.id, me.id, kind, text, here.source, now(),
                                            topic_id=here.topic_id)
    if not created and post.announce_message_id:
        return  # the same update again: posted once already
    group_tr = context.runtime.tr_for_group(here.timebank)
    announcement = await messaging.send(
        context.bot, here.timebank.chat_id, views.post_card(group_tr, post),
        markup=_respond_markup(group_tr, context, post), thread_id=post.topic_id,
        reply_to=None if here.private or here.message is None else here.message.message_id)
    await post_store.set_announcement(context.store, post.id, announcement.chat_id, announcement.message_id)
    if here.private:
        await answer(context, here, tr("Your offer is posted in {title}.", title=here.timebank.title)
                     if kind == "offer" else tr("Your request is posted in {title}.", title=here.timebank.title))


def _respond_markup(tr: Translator, context: BotContext, post: Post):
    return messaging.keyboard([InlineKeyboardButton(tr("Respond"),
                                                    url=messaging.deep_link(context.bot, f"p{post.id}"))])


async def show_post(context: BotContext, message: Message, post_id: int) -> None:
    """A post's page in private: what it is, and how to reach its author."""
    tr = context.tr
    post = await post_store.get(context.store, post_id)
    author = post and await member_store.by_id(context.store, post.author_id)
    if post is None or post.status != "open" or author is None:
        await reply(context, message, tr("This offer or request is no longer open."))
        return
    await reply(context, message, lines(
        views.post_card(tr, post),
        tr("To respond, write to {who}. After the help, record the time with /gave or /received.",
           who=messaging.mention(author))))


@timebank_command("browse", Who.ANYONE)
async def browse(context: BotContext, here: Here) -> None:
    text, markup = await _browse_page(context, context.tr, here.timebank, 0)
    await send_personal(context, here, text, markup)


async def _browse_page(context: BotContext, tr: Translator, timebank: Timebank, offset: int):
    page = await post_store.open_posts(context.store, timebank.id, now(), offset, BROWSE_PAGE)
    parts: list[str] = [bold(tr("Offers and requests in {title}", title=timebank.title))]
    if not page.items:
        parts.append(tr("Nothing is open right now. Be the first: /offer or /request."))
    for post in page.items:
        parts += ["", views.post_card(tr, post, limit=300),
                  tr("Respond: {link}", link=messaging.deep_link(context.bot, f"p{post.id}"))]
    return lines(*parts), messaging.pager(tr, "b", timebank.id, offset, BROWSE_PAGE, page.has_more)


async def browse_button(update: Update, context: BotContext) -> None:
    query = update.callback_query
    button = PageButton.parse(query.data)
    timebank = button and context.runtime.timebanks_by_id.get(button.timebank_id)
    if not button or not timebank:
        await messaging.alert(query, context.tr("This offer or request is no longer open."))
        return
    await query.answer()
    text, markup = await _browse_page(context, context.tr, timebank, button.offset)
    await messaging.edit(context.bot, query.message.chat_id, query.message.message_id, text, markup)


@timebank_command("myposts")
async def myposts(context: BotContext, here: Here) -> None:
    if here.me is None:
        await answer(context, here, refusal_text(context.tr, RuleError(rules.Refusal.NOT_A_MEMBER)))
        return
    text, markup = await _myposts_view(context, context.tr, here.me.id, here.timebank)
    await send_personal(context, here, text, markup)


async def _myposts_view(context: BotContext, tr: Translator, member_id: int, timebank: Timebank):
    posts = await post_store.open_by_author(context.store, member_id, now(), MYPOSTS_LIMIT)
    if not posts:
        return tr("You have no open offers or requests in {title}.", title=timebank.title), None
    parts: list[str] = [bold(tr("Your open offers and requests in {title}", title=timebank.title))]
    for post in posts:
        parts += ["", views.post_card(tr, post, limit=300)]
    return lines(*parts), messaging.keyboard(*[[views.close_post_button(tr, post)] for post in posts])


async def close_button(update: Update, context: BotContext) -> None:
    """Close #id under /myposts: only the author's own open post closes; its announcement says so."""
    query = update.callback_query
    button = ClosePostButton.parse(query.data)
    post = button and await post_store.get(context.store, button.post_id)
    timebank = post and context.runtime.timebanks_by_id.get(post.timebank_id)
    me = timebank and await member_store.by_user(context.store, timebank.id, query.from_user.id)
    closed = post and me and await post_store.close(context.store, post.id, me.id, now())
    if not closed or not timebank or not me:
        await messaging.alert(query, context.tr("Only the author can close this, and only while it is open."))
        return
    await query.answer(messaging.plain(context.tr("Closed.")))
    group_tr = context.runtime.tr_for_group(timebank)
    await messaging.edit(context.bot, closed.announce_chat_id, closed.announce_message_id,
                         views.post_card(group_tr, closed))
    text, markup = await _myposts_view(context, context.tr, me.id, timebank)
    await messaging.edit(context.bot, query.message.chat_id, query.message.message_id, text, markup)
