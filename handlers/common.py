"""What every handler area shares: refusals in words, choosing a timebank, replying."""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable

from telegram import InlineKeyboardButton, Message, Update
from telegram.constants import ChatType

from bot import messaging
from bot.context import BotContext
from bot.i18n import Translator
from storage import members as member_store
from storage.db import now
from timebank.models import Member, Timebank
from timebank.rules import Refusal, RuleError

log = logging.getLogger(__name__)

Command = Callable[[BotContext, Message, Timebank], Awaitable[None]]
COMMANDS: dict[str, Command] = {}


def refusal_text(tr: Translator, error: RuleError) -> str:
    """One clear sentence for each way the rules say no."""
    r = error.refusal
    if r is Refusal.AMOUNT_UNREADABLE:
        return tr("I could not read that amount of time. Write hours like 2, 1.5, 1h30, 1:30 or 45 min.")
    if r is Refusal.AMOUNT_NOT_POSITIVE:
        return tr("The time must be more than zero, for example 1 or 1.5.")
    if r is Refusal.AMOUNT_NOT_STEP:
        return tr("Time is counted in quarter hours: write for example 1, 1.25, 1.5 or 45 min.")
    if r is Refusal.AMOUNT_TOO_LARGE:
        return tr("One exchange can be at most {hours}. Record longer help as several exchanges.",
                  hours=tr.hours(error.limit_minutes or 0))
    if r is Refusal.SELF_EXCHANGE:
        return tr("You cannot record an exchange with yourself.")
    if r is Refusal.NOT_A_MEMBER:
        return tr("You are not a member of this timebank yet. Send /join in the group to join.")
    if r is Refusal.YOU_ARE_PENDING:
        return tr("Your membership is waiting for a coordinator's approval; you can exchange once approved.")
    if r is Refusal.YOU_ARE_SUSPENDED:
        return tr("Your membership is suspended, so you cannot post or exchange. Please talk to a coordinator.")
    if r is Refusal.YOU_LEFT:
        return tr("You have left this timebank. Send /join in the group to come back.")
    if r is Refusal.COUNTERPARTY_NOT_MEMBER:
        return tr("That person is not a member of this timebank.")
    if r is Refusal.COUNTERPARTY_PENDING:
        return tr("That person's membership is still waiting for approval.")
    if r is Refusal.COUNTERPARTY_SUSPENDED:
        return tr("That person's membership is suspended.")
    if r is Refusal.COUNTERPARTY_LEFT:
        return tr("That person has left this timebank.")
    if r is Refusal.BELOW_FLOOR:
        return tr("This would take the balance of the person who received the help below the lowest allowed, "
                  "{floor}. Their balance is {balance}.",
                  floor=tr.hours(error.limit_minutes or 0, signed=True),
                  balance=tr.hours(error.balance_minutes or 0, signed=True))
    if r is Refusal.NOT_YOURS_TO_CONFIRM:
        return tr("Only the other person in this exchange can confirm or decline it.")
    if r is Refusal.NOT_YOURS_TO_CANCEL:
        return tr("Only the person who recorded this exchange can cancel it.")
    if r is Refusal.ALREADY_DECIDED:
        return tr("This exchange was already settled; nothing has changed.")
    return tr("I could not find that.")


def is_private(message: Message) -> bool:
    return message.chat.type == ChatType.PRIVATE


def args_text(message: Message) -> str:
    """What follows the command word, spacing kept."""
    text = message.text or ""
    parts = text.split(maxsplit=1)
    return parts[1].strip() if len(parts) > 1 and parts[0].startswith("/") else ""


async def reply(context: BotContext, message: Message, text: str, markup=None) -> Message:
    """Answer in the chat the message came from; in a group, as a reply so it is clear to whom.

    A private chat has only the two of us: quoting there adds nothing but weight to every reply.
    """
    return await messaging.send(context.bot, message.chat_id, text, markup=markup,
                                reply_to=None if is_private(message) else message.message_id)


async def current_timebank(context: BotContext, message: Message) -> Timebank:
    """The timebank of the group the message was sent in (set up on first sight)."""
    timebank, created = await context.runtime.ensure_timebank(message.chat_id, message.chat.title or "")
    return timebank


def in_timebank(name: str) -> Callable[[Command], Callable[[Update, BotContext], Awaitable[None]]]:
    """A command that acts within one timebank: the group's, or in private the member's own.

    In private with several timebanks, it asks which one with buttons and runs again when
    one is pressed (see `chosen_timebank`).
    """

    def decorate(command: Command) -> Callable[[Update, BotContext], Awaitable[None]]:
        COMMANDS[name] = command

        @functools.wraps(command)
        async def handler(update: Update, context: BotContext) -> None:
            message = update.effective_message
            if not is_private(message):
                await command(context, message, await current_timebank(context, message))
                return
            mine = [m for m in await member_store.memberships(context.store, message.from_user.id)
                    if m.status != "left" and m.timebank_id in context.runtime.timebanks_by_id]
            operator = message.from_user.id in context.runtime.settings.bot_admins
            choices = ([context.runtime.timebanks_by_id[m.timebank_id] for m in mine] if not operator
                       else list(context.runtime.timebanks_by_id.values()))
            if not choices:
                await reply(context, message, context.tr(
                    "You are not a member of any timebank yet. Send /join in your community's group."))
            elif len(choices) == 1:
                await command(context, message, choices[0])
            else:
                context.user_data["pending_command"] = (name, message)
                buttons = [[InlineKeyboardButton(tb.title or str(tb.chat_id), callback_data=f"tb:{tb.id}")]
                           for tb in choices[:20]]
                await reply(context, message, context.tr("Which timebank is this for?"),
                            messaging.keyboard(*buttons))

        return handler

    return decorate


async def chosen_timebank(update: Update, context: BotContext) -> None:
    """A timebank button under "Which timebank is this for?": run the command it was asked for."""
    query = update.callback_query
    pending = context.user_data.pop("pending_command", None)
    timebank = context.runtime.timebanks_by_id.get(int(query.data.split(":")[1]))
    if pending is None or timebank is None:
        await messaging.alert(query, context.tr("That question has expired; please send the command again."))
        return
    await query.answer()
    name, message = pending
    await messaging.edit(context.bot, query.message.chat_id, query.message.message_id,
                         context.tr("Timebank: {title}", title=timebank.title))
    await COMMANDS[name](context, message, timebank)


async def tell_member(context: BotContext, member: Member, text: str, markup=None, *,
                      timebank: Timebank, start_payload: str = "") -> Message | None:
    """Write to a member privately; if Telegram refuses, say so in the group with a way in.

    Returns the private message, or the group notice when that was the way it went.
    """
    sent = await messaging.send_private(context.runtime, context.bot, member.user_id, text, markup)
    if sent is not None:
        return sent
    if not start_payload:  # handed over when they press Start (see membership.start)
        await member_store.keep_for_later(context.store, member.user_id, text, now())
    tr = context.runtime.tr_for_member(member)
    notice = tr("{who}, I have a message for you, but I cannot write to you privately yet. "
                "Press the button to open our private chat.", who=messaging.mention(member))
    button = InlineKeyboardButton(tr("Open private chat"), url=messaging.deep_link(context.bot, start_payload))
    try:
        return await messaging.send(context.bot, timebank.chat_id, notice, markup=messaging.keyboard([button]))
    except Exception:
        log.warning("could not reach member %s in private or in group %s", member.id, timebank.chat_id)
        return None


async def send_personal(context: BotContext, message: Message, text: str, markup=None) -> None:
    """Personal figures go to the private chat; in a group, only a short pointer stays."""
    if is_private(message):
        await reply(context, message, text, markup)
        return
    sent = await messaging.send_private(context.runtime, context.bot, message.from_user.id, text, markup)
    button = InlineKeyboardButton(context.tr("Open private chat"), url=messaging.deep_link(context.bot))
    if sent is not None:
        await reply(context, message, context.tr("I have sent it to you in our private chat."),
                    messaging.keyboard([button]))
    else:
        await reply(context, message, context.tr(
            "I cannot write to you privately yet. Open our private chat, press Start, then ask again."),
            messaging.keyboard([button]))
