"""The bot added to a group, /start with its deep links, /help, /join, /language, /cancel."""

from __future__ import annotations

import logging

from telegram import ChatMember, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update, User
from telegram.constants import ChatType

from bot import flows, messaging
from bot.callbacks import LanguageButton, NewcomerButton
from bot.context import BotContext
from bot.i18n import Translator, bold, lines
from handlers import views
from handlers.common import current_timebank, is_private, refused_as_a_chat, reply, topic_of
from handlers.posts import show_post
from storage import ledger
from storage import members as member_store
from storage import timebanks as timebank_store
from storage.db import now
from timebank.models import Member, Timebank

log = logging.getLogger(__name__)

ACTIVE_STATUSES = {ChatMember.MEMBER, ChatMember.ADMINISTRATOR, ChatMember.OWNER, ChatMember.RESTRICTED}


def _join_button(tr: Translator, context: BotContext, timebank: Timebank) -> InlineKeyboardButton:
    return InlineKeyboardButton(tr("Join"), url=messaging.deep_link(context.bot, f"j{timebank.id}"))


async def _welcome_group(context: BotContext, timebank: Timebank) -> None:
    tr = context.runtime.tr_for_group(timebank)
    text = "\n".join([
        tr("Hello, {title}! I keep this group's timebank: one hour of help given earns one hour of credit, "
           "whoever gives it and whatever the help is.", title=timebank.title),
        tr("Press Join to become a member, or send /join here. /help shows everything I can do."),
    ])
    try:
        sent = await messaging.send(context.bot, timebank.chat_id, text,
                                    markup=messaging.keyboard([_join_button(tr, context, timebank)]))
    except Exception:
        log.warning("could not post the welcome in %s", timebank.chat_id, exc_info=True)
        return
    await timebank_store.set_welcome(context.store, timebank.id, sent.message_id)


async def bot_membership_changed(update: Update, context: BotContext) -> None:
    """The bot was added to a group (set the timebank up, welcome) or removed from one."""
    change = update.my_chat_member
    chat = change.chat
    if chat.type not in (ChatType.GROUP, ChatType.SUPERGROUP):
        return
    if change.new_chat_member.status in ACTIVE_STATUSES:
        timebank, fresh = await context.runtime.ensure_timebank(chat.id, chat.title or "")
        if fresh:
            await _welcome_group(context, timebank)
    else:
        left = await timebank_store.set_in_group(context.store, chat.id, False)
        if left:
            context.runtime.remember(left)


async def new_chat_members(update: Update, context: BotContext) -> None:
    """The service message that comes when the bot (or anyone) is added to a group."""
    message = update.effective_message
    if any(user.id == context.bot.id for user in message.new_chat_members):
        timebank, fresh = await context.runtime.ensure_timebank(message.chat_id, message.chat.title or "")
        if fresh:
            await _welcome_group(context, timebank)


async def member_left(update: Update, context: BotContext) -> None:
    """Someone left the group: they keep their history and balance, but stop exchanging."""
    if update.chat_member:
        chat, user = update.chat_member.chat, update.chat_member.new_chat_member.user
        context.runtime.forget_admin(chat.id, user.id)  # promoted or demoted: ask Telegram afresh
        if update.chat_member.new_chat_member.status not in (ChatMember.LEFT, ChatMember.BANNED):
            return
    else:
        chat, user = update.effective_chat, update.effective_message.left_chat_member  # type: ignore[assignment]
    timebank = context.runtime.timebanks_by_chat.get(chat.id)
    if timebank is None or user.is_bot:
        return
    member = await member_store.by_user(context.store, timebank.id, user.id)
    if member:
        await member_store.set_status(context.store, member.id, ("active", "pending"), "left", user.id,
                                      "left", None, now())


async def chat_migrated(update: Update, context: BotContext) -> None:
    """A group became a supergroup: the timebank follows it to the new chat id.

    Telegram sends two service messages, `migrate_to_chat_id` in the old group and
    `migrate_from_chat_id` in the new supergroup, in either order: each moves it, the second
    finds it moved already.
    """
    message = update.effective_message
    if message.migrate_to_chat_id:
        old, new = message.chat_id, message.migrate_to_chat_id
    elif message.migrate_from_chat_id:
        old, new = message.migrate_from_chat_id, message.chat_id
    else:
        return
    await context.runtime.move_chat(old, new)


async def start(update: Update, context: BotContext) -> None:
    """/start without a deep link: a private welcome; in a group, what I can do."""
    message = update.effective_message
    if not is_private(message):
        await help_command(update, context)
        return
    runtime, tr = context.runtime, context.tr
    parts = [tr("Hello {name}! I help your community run its timebank: one hour of help given earns one "
                "hour of credit.", name=message.from_user.first_name)]
    mine = [m for m in await member_store.memberships(context.store, message.from_user.id) if m.status != "left"]
    for member in mine:
        timebank = runtime.timebanks_by_id.get(member.timebank_id)
        if timebank and member.status == "pending":
            parts.append(tr("{title}: your request to join is waiting for a coordinator.", title=timebank.title))
        elif timebank:
            parts.append(tr("{title}: you are member #{number} ({status}).", title=timebank.title,
                            number=member.number, status=views.status_name(tr, member.status)))
    if not mine:
        parts.append(tr("To join, send /join in your community's Telegram group."))
    parts.append(tr("Send /help to see what you can do."))
    await reply(context, message, lines(*parts))


async def start_join(update: Update, context: BotContext) -> None:
    """Deep link j<timebank>: join from the welcome's Join button."""
    message = update.effective_message
    timebank = context.runtime.timebanks_by_id.get(int(context.matches[0][1]))
    if timebank is None:
        await start(update, context)
        return
    await join_timebank(context, message, message.from_user, timebank)


async def start_exchange(update: Update, context: BotContext) -> None:
    """Deep link x<exchange>: see one exchange, and answer it if it waits for me."""
    message = update.effective_message
    exchange = await ledger.get(context.store, int(context.matches[0][1]))
    user_id = message.from_user.id
    if exchange is None or user_id not in (exchange.provider.user_id, exchange.receiver.user_id):
        await reply(context, message, context.tr("I could not find that exchange."))
        return
    timebank = context.runtime.timebanks_by_id[exchange.timebank_id]
    tr = context.tr
    viewer = exchange.provider if user_id == exchange.provider.user_id else exchange.receiver
    if exchange.state == "pending" and viewer.id == exchange.counterparty.id:
        await reply(context, message, views.confirmation_request(tr, exchange, timebank),
                    views.confirmation_markup(tr, exchange))
    elif exchange.state == "pending":
        await reply(context, message, tr("Waiting for {other} to confirm.", other=exchange.counterparty.name))
    else:
        await reply(context, message, views.outcome(tr, exchange, viewer, private=True))


async def start_post(update: Update, context: BotContext) -> None:
    """Deep link p<post>: a post's page, with how to reach its author."""
    await show_post(context, update.effective_message, int(context.matches[0][1]))


async def join(update: Update, context: BotContext) -> None:
    message = update.effective_message
    if await refused_as_a_chat(context, message):
        return
    if is_private(message):
        await reply(context, message, context.tr(
            "Send /join in your community's group, or press Join under my welcome message there."))
        return
    await join_timebank(context, message, message.from_user, await current_timebank(context, message))


async def join_timebank(context: BotContext, message: Message, user: User, timebank: Timebank) -> None:
    tr = context.tr
    member, changed = await member_store.join(context.store, timebank.id, user.id, timebank.approval_required,
                                              now())
    title = timebank.title
    if not changed:
        text = {
            "active": tr("You are already a member of {title} (#{number}).", title=title, number=member.number),
            "pending": tr("Your request to join {title} is already with the coordinators.", title=title),
            "suspended": tr("Your membership of {title} is suspended. Please talk to a coordinator.", title=title),
        }[member.status]
    elif member.status == "active":
        text = tr("Welcome to {title}, {name}! You are member #{number}. Try /offer, /request and /gave; "
                  "/help lists everything.", title=title, name=user.first_name, number=member.number)
    else:
        text = tr("Thank you, {name}! Your request to join {title} is with the coordinators. "
                  "I will tell you when it is decided.", name=user.first_name, title=title)
    markup = None
    if not is_private(message):
        markup = messaging.keyboard([InlineKeyboardButton(
            tr("Open private chat"), url=messaging.deep_link(context.bot, f"j{timebank.id}"))])
    await reply(context, message, text, markup)
    if changed and member.status == "pending":
        await notify_admins_of_newcomer(context, timebank, member, topic_id=topic_of(message))


def decision_markup(tr: Translator, member: Member) -> InlineKeyboardMarkup | None:
    return messaging.keyboard([
        InlineKeyboardButton(tr("Approve"), callback_data=NewcomerButton("approve", member.id).pack()),
        InlineKeyboardButton(tr("Decline"), callback_data=NewcomerButton("decline", member.id).pack()),
    ])


def newcomer_text(tr: Translator, member: Member, timebank: Timebank) -> str:
    who = member.name + (f" (@{member.username})" if member.username else "")
    return tr("{who}, member #{number}, asks to join {title}.", who=who, number=member.number,
              title=timebank.title)


async def notify_admins_of_newcomer(context: BotContext, timebank: Timebank, member: Member, *,
                                    topic_id: int | None = None) -> None:
    """Approve / Decline to each admin privately; in the group when no admin can be reached."""
    try:
        admins = [a.user for a in await context.bot.get_chat_administrators(timebank.chat_id) if not a.user.is_bot]
    except Exception:
        admins = []
    reached = 0
    for admin in admins:
        await member_store.note_admin(context.store, timebank.id, admin.id, now())
        tr = context.runtime.tr_for_user(admin.id, admin.language_code)
        sent = await messaging.send_private(context.runtime, context.bot, admin.id,
                                            newcomer_text(tr, member, timebank), decision_markup(tr, member))
        reached += sent is not None
    if not reached:
        tr = context.runtime.tr_for_group(timebank)
        text = lines(newcomer_text(tr, member, timebank), tr("An admin of this group can approve or decline."))
        await messaging.send(context.bot, timebank.chat_id, text, markup=decision_markup(tr, member),
                             thread_id=topic_id)


async def help_command(update: Update, context: BotContext) -> None:
    """What I can do: the command table, the admin part only for admins."""
    message, tr = update.effective_message, context.tr
    table = context.runtime.commands
    parts: list[str] = [bold(tr("What I can do")),
                        tr("Members swap time: one hour of help given earns one hour of credit.")]
    parts += [f"/{c.name} — {tr(c.description)}" for c in table if not c.admin]
    if await _is_admin_somewhere(context, message):
        parts.append(bold(tr("For admins")))
        parts += [f"/{c.name} — {tr(c.description)}" for c in table if c.admin]
    parts.append(tr("Refer to a member as @username, by their number like #12, or reply to their message."))
    await reply(context, message, lines(*parts))


async def _is_admin_somewhere(context: BotContext, message: Message) -> bool:
    runtime, user_id = context.runtime, message.from_user.id
    if user_id in runtime.settings.bot_admins:
        return True
    try:
        if not is_private(message):
            return await runtime.is_admin(context.bot, message.chat_id, user_id)
        timebank_ids = {m.timebank_id for m in await member_store.memberships(context.store, user_id)}
        timebank_ids |= set(await member_store.admin_of(context.store, user_id))
        for timebank_id in timebank_ids:
            timebank = runtime.timebanks_by_id.get(timebank_id)
            if timebank and await runtime.is_admin(context.bot, timebank.chat_id, user_id):
                return True
    except Exception:
        log.warning("could not check admin status for /help", exc_info=True)
    return False


async def language(update: Update, context: BotContext) -> None:
    tr = context.tr
    buttons = [[InlineKeyboardButton(tr.language_name(code), callback_data=LanguageButton(code).pack())]
               for code in context.runtime.catalogs.languages]
    await reply(context, update.effective_message, tr("Choose your language:"), messaging.keyboard(*buttons))


async def language_chosen(update: Update, context: BotContext) -> None:
    query = update.callback_query
    button = LanguageButton.parse(query.data)
    code = context.runtime.catalogs.supported(button.code if button else None)
    if code is None:
        await messaging.alert(query, context.tr("That language is not available."))
        return
    await context.runtime.choose_language(query.from_user.id, code)
    tr = context.runtime.catalogs.get(code)
    await query.answer()
    await messaging.edit(context.bot, query.message.chat_id, query.message.message_id,
                         tr("I will speak {language} with you.", language=tr.language_name(code, in_sentence=True)))


async def cancel(update: Update, context: BotContext) -> None:
    """/cancel: leave the guided flow in progress, if any."""
    ended = await flows.cancel(context, update.effective_user.id)
    await reply(context, update.effective_message,
                context.tr("Stopped.") if ended else context.tr("There is nothing to stop."))


async def unknown(update: Update, context: BotContext) -> None:
    """A command we do not have, or words in private: say what we do instead of staying silent."""
    message = update.effective_message
    text = message.text or ""
    if is_private(message) or text.split()[0].lower().endswith("@" + (context.bot.username or "").lower()):
        await reply(context, message, context.tr("I did not understand that. /help lists what I can do."))
