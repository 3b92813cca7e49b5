"""The bot added to a group, /start with its deep links, /help, /join, /language, /cancel."""

from __future__ import annotations

import logging

from telegram import ChatMember, InlineKeyboardButton, Message, Update, User
from telegram.constants import ChatType

from bot import messaging
from bot.context import BotContext
from bot.i18n import N_, Translator
from handlers.common import current_timebank, is_private, reply
from handlers.exchanges import ask_markup, ask_text, outcome_text
from handlers.posts import show_post
from storage import ledger
from storage import members as member_store
from storage import timebanks as timebank_store
from storage.db import now
from timebank.models import Member, Timebank

log = logging.getLogger(__name__)

# (command, description) in the order /help and Telegram's menu show them.
MEMBER_COMMANDS = [
    ("join", N_("Join this timebank")),
    ("offer", N_("Offer your help")),
    ("request", N_("Ask for help")),
    ("browse", N_("See offers and requests")),
    ("myposts", N_("Your offers and requests")),
    ("gave", N_("Record time you gave")),
    ("received", N_("Record time you received")),
    ("pending", N_("Exchanges waiting for confirmation")),
    ("balance", N_("Your balance")),
    ("history", N_("Your exchanges")),
    ("stats", N_("What the timebank has done together")),
    ("language", N_("Choose your language")),
    ("help", N_("What I can do")),
    ("cancel", N_("Stop what you are doing")),
]
ADMIN_COMMANDS = [
    ("approve", N_("Approve a new member")),
    ("decline", N_("Decline a new member")),
    ("suspend", N_("Suspend a member")),
    ("reinstate", N_("Lift a suspension")),
]
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
        timebank = await timebank_store.set_in_group(context.store, chat.id, False)
        if timebank:
            context.runtime.remember(timebank)


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
        if update.chat_member.new_chat_member.status not in (ChatMember.LEFT, ChatMember.BANNED):
            return
    else:
        chat, user = update.effective_chat, update.effective_message.left_chat_member
    timebank = context.runtime.timebanks_by_chat.get(chat.id)
    if timebank is None or user.is_bot:
        return
    member = await member_store.by_user(context.store, timebank.id, user.id)
    if member:
        await member_store.set_status(context.store, member.id, ("active", "pending"), "left", user.id,
                                      "left", None, now())


async def chat_migrated(update: Update, context: BotContext) -> None:
    """A group became a supergroup: the timebank follows it to the new chat id."""
    message = update.effective_message
    timebank = await timebank_store.move_chat(context.store, message.chat_id, message.migrate_to_chat_id)
    if timebank:
        context.runtime.timebanks_by_chat.pop(message.chat_id, None)
        context.runtime.remember(timebank)


async def start(update: Update, context: BotContext) -> None:
    """Private welcome, and the deep links: j<timebank> join, x<exchange> answer one, p<post> see one."""
    message = update.effective_message
    if not is_private(message):
        await help_command(update, context)
        return
    payload = context.args[0] if context.args else ""
    runtime = context.runtime
    for kept in await member_store.take_kept(context.store, message.from_user.id):
        await messaging.send(context.bot, message.chat_id, kept)
    if payload[:1] == "j" and payload[1:].isdigit() and int(payload[1:]) in runtime.timebanks_by_id:
        await join_timebank(context, message, message.from_user, runtime.timebanks_by_id[int(payload[1:])])
        return
    if payload[:1] == "x" and payload[1:].isdigit():
        await _show_exchange(context, message, int(payload[1:]))
        return
    if payload[:1] == "p" and payload[1:].isdigit():
        await show_post(context, message, int(payload[1:]))
        return
    tr = context.tr
    lines = [tr("Hello {name}! I help your community run its timebank: one hour of help given earns one "
                "hour of credit.", name=message.from_user.first_name)]
    mine = [m for m in await member_store.memberships(context.store, message.from_user.id) if m.status != "left"]
    for member in mine:
        timebank = runtime.timebanks_by_id.get(member.timebank_id)
        if timebank:
            lines.append(tr("{title}: you are member #{number} ({status}).", title=timebank.title,
                            number=member.number, status=status_name(tr, member.status)))
    if not mine:
        lines.append(tr("To join, send /join in your community's Telegram group."))
    lines.append(tr("Send /help to see what you can do."))
    await reply(context, message, "\n".join(lines))


def status_name(tr: Translator, status: str) -> str:
    return {"pending": tr("waiting for approval"), "active": tr("active"),
            "suspended": tr("suspended"), "left": tr("left")}[status]


async def _show_exchange(context: BotContext, message: Message, exchange_id: int) -> None:
    exchange = await ledger.get(context.store, exchange_id)
    user_id = message.from_user.id
    if exchange is None or user_id not in (exchange.provider.user_id, exchange.receiver.user_id):
        await reply(context, message, context.tr("I could not find that exchange."))
        return
    timebank = context.runtime.timebanks_by_id[exchange.timebank_id]
    tr = context.tr
    viewer = exchange.provider if user_id == exchange.provider.user_id else exchange.receiver
    if exchange.state == "pending" and viewer.id == exchange.counterparty.id:
        await reply(context, message, ask_text(tr, exchange, timebank), ask_markup(tr, exchange))
    elif exchange.state == "pending":
        await reply(context, message, tr("Waiting for {other} to confirm.", other=exchange.counterparty.name))
    else:
        await reply(context, message, outcome_text(tr, exchange, viewer, private=True))


async def join(update: Update, context: BotContext) -> None:
    message = update.effective_message
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
        await notify_admins_of_newcomer(context, timebank, member)


def decision_markup(tr: Translator, member: Member):
    return messaging.keyboard([
        InlineKeyboardButton(tr("Approve"), callback_data=f"m:a:{member.id}"),
        InlineKeyboardButton(tr("Decline"), callback_data=f"m:d:{member.id}"),
    ])


def newcomer_text(tr: Translator, member: Member, timebank: Timebank) -> str:
    who = member.name + (f" (@{member.username})" if member.username else "")
    return tr("{who}, member #{number}, asks to join {title}.", who=who, number=member.number,
              title=timebank.title)


async def notify_admins_of_newcomer(context: BotContext, timebank: Timebank, member: Member) -> None:
    """Approve / Decline to each admin privately; in the group when no admin can be reached."""
    try:
        admins = [a.user for a in await context.bot.get_chat_administrators(timebank.chat_id) if not a.user.is_bot]
    except Exception:
        admins = []
    reached = 0
    for admin in admins:
        tr = context.runtime.tr_for_user(admin.id, admin.language_code)
        sent = await messaging.send_private(context.runtime, context.bot, admin.id,
                                            newcomer_text(tr, member, timebank), decision_markup(tr, member))
        reached += sent is not None
    if not reached:
        tr = context.runtime.tr_for_group(timebank)
        text = newcomer_text(tr, member, timebank) + "\n" + tr("An admin of this group can approve or decline.")
        await messaging.send(context.bot, timebank.chat_id, text, markup=decision_markup(tr, member))


async def help_command(update: Update, context: BotContext) -> None:
    message, tr = update.effective_message, context.tr
    lines = ["<b>" + tr("What I can do") + "</b>",
             tr("Members swap time: one hour of help given earns one hour of credit.")]
    lines += [f"/{name} — {tr(description)}" for name, description in MEMBER_COMMANDS]
    if await _is_admin_somewhere(context, message):
        lines.append("<b>" + tr("For admins") + "</b>")
        lines += [f"/{name} — {tr(description)}" for name, description in ADMIN_COMMANDS]
    lines.append(tr("Refer to a member as @username, by their number like #12, or reply to their message."))
    await reply(context, message, "\n".join(lines))


async def _is_admin_somewhere(context: BotContext, message: Message) -> bool:
    runtime, user_id = context.runtime, message.from_user.id
    if not is_private(message):
        return await runtime.is_admin(context.bot, message.chat_id, user_id)
    for member in await member_store.memberships(context.store, user_id):
        timebank = runtime.timebanks_by_id.get(member.timebank_id)
        if timebank and await runtime.is_admin(context.bot, timebank.chat_id, user_id):
            return True
    return user_id in runtime.settings.bot_admins


async def language(update: Update, context: BotContext) -> None:
    tr = context.tr
    buttons = [[InlineKeyboardButton(tr.language_name(code), callback_data=f"l:{code}")]
               for code in context.runtime.catalogs.languages]
    await reply(context, update.effective_message, tr("Choose your language:"), messaging.keyboard(*buttons))


async def language_chosen(update: Update, context: BotContext) -> None:
    query = update.callback_query
    code = context.runtime.catalogs.supported(query.data.split(":", 1)[1])
    if code is None:
        await messaging.alert(query, context.tr("That language is not available."))
        return
    await context.runtime.choose_language(query.from_user.id, code)
    tr = context.runtime.catalogs.get(code)
    await query.answer()
    await messaging.edit(context.bot, query.message.chat_id, query.message.message_id,
                         tr("I will speak {language} with you.", language=tr.language_name(code)))


async def cancel(update: Update, context: BotContext) -> None:
    had = context.user_data.pop("pending_command", None)
    await reply(context, update.effective_message,
                context.tr("Stopped.") if had else context.tr("There is nothing to stop."))


async def unknown(update: Update, context: BotContext) -> None:
    """A command we do not have, or words in private: say what we do instead of staying silent."""
    message = update.effective_message
    text = message.text or ""
    if is_private(message) or text.split()[0].lower().endswith("@" + (context.bot.username or "").lower()):
        await reply(context, message, context.tr("I did not understand that. /help lists what I can do."))

