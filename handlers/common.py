"""What every handler area shares: who and where a command is (the preamble), refusals in
words, replying, and reaching a person privately.

The preamble is written once: `timebank_command(name, who)` finds the timebank (the group's,
or in private the person's own; with several it asks which, as the first step of a guided
flow kept in SQLite) and the person's membership, checks who may use it, and hands the
command a `Here`.
"""

from __future__ import annotations

import enum
import functools
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.constants import ChatType

from bot import flows, messaging
from bot.callbacks import AnonymousButton, FlowButton
from bot.context import BotContext
from bot.i18n import Translator
from bot.runtime import AdminCheckFailed
from storage import anonymous as anonymous_store
from storage import members as member_store
from storage.db import now
from timebank.models import Flow, Member, Timebank
from timebank.rules import Refusal, RuleError

log = logging.getLogger(__name__)


class Who(enum.Enum):
    """Who may use a command, and so which timebanks it can be for in private."""

    ANYONE = "anyone"    # public figures: anyone in the group; in private, any timebank of mine
    MEMBER = "member"    # acting in a timebank: in private, the timebanks I have not left
    FORMER = "former"    # my own records: also a timebank I left (my balance and history are still mine)
    ADMIN = "admin"      # a Telegram admin of the group, or an operator; no membership needed


@dataclass(frozen=True)
class Here:
    """One command, resolved: who sent it, where, for which timebank, and as whom in it."""

    user_id: int
    first_name: str
    full_name: str
    chat_id: int
    private: bool
    args: str
    timebank: Timebank
    me: Member | None
    message: Message | None   # None when the command resumes after a question (maybe after a restart)
    topic_id: int | None = None  # the forum topic it was sent in; None: General or not a forum


    @property
    def source(self) -> tuple[int, int] | None:
        """The message that asked for it: a redelivered update finds what it already did."""
        return (self.message.chat_id, self.message.message_id) if self.message else None


Command = Callable[[BotContext, Here], Awaitable[None]]
COMMANDS: dict[str, tuple[Command, Who]] = {}


def refusal_text(tr: Translator, error: RuleError, *, own_balance: bool = True) -> str:
    """One clear sentence for each way the rules say no.

    `own_balance`: False when the balance in question is someone else's, which is private.
    """
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
    if r is Refusal.BELOW_FLOOR and own_balance:
        return tr("This would take your balance below the lowest this timebank allows, {floor}. "
                  "Your balance is {balance}. Nothing was counted.",
                  floor=tr.hours(error.limit_minutes or 0, signed=True),
                  balance=tr.hours(error.balance_minutes or 0, signed=True))
    if r is Refusal.BELOW_FLOOR:
        return tr("This would take the balance of the person who received the help below the lowest this "
                  "timebank allows, {floor}. Nothing was counted.",
                  floor=tr.hours(error.limit_minutes or 0, signed=True))
    if r is Refusal.NOT_YOURS_TO_CONFIRM:
        return tr("Only the other person in this exchange can confirm or decline it.")
    if r is Refusal.NOT_YOURS_TO_CANCEL:
        return tr("Only the person who recorded this exchange can cancel it.")
    if r is Refusal.ALREADY_DECIDED:
        return tr("This exchange was already settled; nothing has changed.")
    if r is Refusal.AMOUNT_AMBIGUOUS:
        return tr("I could not tell where the time ends and the description begins. Write it like 1.5 or 1h30.")
    if r is Refusal.ALREADY_REVERSED:
        return tr("This was already reversed; nothing has changed.")
    if r is Refusal.NOT_REVERSIBLE:
        return tr("A reversal cannot be reversed. Record the hours again instead.")
    if r is Refusal.UNBALANCED_TRANSFER:
        return tr("Those hours do not add up, so nothing was recorded.")
    return tr("I could not find that.")


def is_private(message: Message) -> bool:
    return message.chat.type == ChatType.PRIVATE


def topic_of(message: Message | None) -> int | None:
    """The forum topic a message is in (None: General, or a group without topics)."""
    if message is None or not message.is_topic_message:
        return None
    return message.message_thread_id


def sent_as_a_chat(message: Message) -> bool:
    """Sent by an anonymous admin (as the group) or on behalf of a channel: not by a person."""
    return message.sender_chat is not None


def args_text(message: Message) -> str:
    """What follows the command word, spacing kept."""
    text = message.text or ""
    parts = text.split(maxsplit=1)
    return parts[1].strip() if len(parts) > 1 and parts[0].startswith("/") else ""


async def reply(context: BotContext, message: Message, text: str,
                markup: InlineKeyboardMarkup | None = None) -> Message:
    """Answer in the chat the message came from; in a group, as a reply so it is clear to whom.

    A private chat has only the two of us: quoting there adds nothing but weight to every reply.
    """
    if is_private(message):
        return await messaging.send(context.bot, message.chat_id, text, markup=markup)
    return await messaging.send(context.bot, message.chat_id, text, markup=markup, reply_to=message.message_id,
                                thread_id=topic_of(message))


async def answer(context: BotContext, here: Here, text: str, markup: InlineKeyboardMarkup | None = None) -> Message:
    """Answer a command where it was sent (as a reply in a group)."""
    if here.message is not None:
        return await reply(context, here.message, text, markup)
    return await messaging.send(context.bot, here.chat_id, text, markup=markup, thread_id=here.topic_id)


async def current_timebank(context: BotContext, message: Message) -> Timebank:
    """The timebank of the group the message was sent in (set up on first sight)."""
    timebank, _created = await context.runtime.ensure_timebank(message.chat_id, message.chat.title or "")
    return timebank


async def may_administer(context: BotContext, timebank: Timebank, user_id: int) -> bool | None:
    """True/False from Telegram (cached briefly); None when Telegram could not be asked."""
    try:
        return await context.runtime.is_admin(context.bot, timebank.chat_id, user_id)
    except AdminCheckFailed:
        return None


async def refuse_non_admin(context: BotContext, verdict: bool | None, send: Callable[[str], Awaitable[object]]
                           ) -> bool:
    """Say why someone may not administer; True when they were refused."""
    if verdict:
        return False
    if verdict is None:
        await send(context.tr("I could not reach Telegram to check that you are an admin of the group. "
                              "Please try again in a moment."))
    else:
        await send(context.tr("Only an admin of the group can do that."))
    return True


async def _choices(context: BotContext, user_id: int, who: Who) -> list[Timebank]:
    """The timebanks a command sent in private could be for."""
    runtime = context.runtime
    known = runtime.timebanks_by_id
    if who is Who.ADMIN and user_id in runtime.settings.bot_admins:
        return [tb for tb in known.values() if tb.in_group]
    mine = [known[m.timebank_id] for m in await member_store.memberships(context.store, user_id)
            if m.timebank_id in known and (who in (Who.FORMER, Who.ADMIN) or m.status != "left")]
    if who is not Who.ADMIN:
        return mine
    # Coordinators are often staff, not members: the groups they were seen administering count too.
    candidates = {tb.id: tb for tb in mine}
    for timebank_id in await member_store.admin_of(context.store, user_id):
        if timebank_id in known:
            candidates[timebank_id] = known[timebank_id]
    admin_of = []
    for timebank in candidates.values():
        if await may_administer(context, timebank, user_id):
            admin_of.append(timebank)
    return admin_of


async def _run(context: BotContext, name: str, user_id: int, first_name: str, full_name: str, chat_id: int,
               private: bool, args: str, timebank: Timebank, message: Message | None,
               topic_id: int | None = None) -> None:
    command, who = COMMANDS[name]
    me = await member_store.by_user(context.store, timebank.id, user_id)
    here = Here(user_id, first_name, full_name, chat_id, private, args, timebank, me, message,
                topic_of(message) if message is not None else topic_id)
    if who is Who.ADMIN:
        verdict = await may_administer(context, timebank, user_id)
        if await refuse_non_admin(context, verdict, lambda text: answer(context, here, text)):
            return
        await member_store.note_admin(context.store, timebank.id, user_id, now())
    await command(context, here)


Handler = Callable[[Update, BotContext], Coroutine[Any, Any, None]]


def timebank_command(name: str, who: Who = Who.MEMBER) -> Callable[[Command], Handler]:
    """A command that acts within one timebank: the group's, or in private the person's own.

    In private with several timebanks to choose from, it asks which with buttons (a flow
    kept in SQLite, so the question survives a restart) and runs when one is pressed.
    """

    def decorate(command: Command) -> Handler:
        COMMANDS[name] = (command, who)

        @functools.wraps(command)
        async def handler(update: Update, context: BotContext) -> None:
            message = update.effective_message
            user = message.from_user
            args = args_text(message)
            if sent_as_a_chat(message):
                await _sent_as_a_chat(context, message, name, who, args)
                return
            if not is_private(message):
                timebank = await current_timebank(context, message)
                await _run(context, name, user.id, user.first_name, user.full_name, message.chat_id, False,
                           args, timebank, message)
                return
            choices = await _choices(context, user.id, who)
            if not choices:
                await reply(context, message, context.tr(
                    "You are not an admin of any timebank I know. Send the command in your community's group."
                ) if who is Who.ADMIN else context.tr(
                    "You are not a member of any timebank yet. Send /join in your community's group."))
            elif len(choices) == 1:
                await _run(context, name, user.id, user.first_name, user.full_name, message.chat_id, True,
                           args, choices[0], message)
            else:
                flow = await flows.begin(context, user.id, name, "timebank", message.chat_id, None,
                                         {"args": args})
                buttons = [[InlineKeyboardButton(tb.title or str(tb.chat_id),
                                                 callback_data=FlowButton(flow.id, str(tb.id)).pack())]
                           for tb in choices[:20]]
                await flows.ask(context, flow, context.tr("Which timebank is this for?"),
                                messaging.keyboard(*buttons))

        return handler

    return decorate


async def _sent_as_a_chat(context: BotContext, message: Message, name: str, who: Who, args: str) -> None:
    """A command posted as the group (an anonymous admin) or as a channel.

    Telegram does not say which admin posted as the group, so an admin command waits for a
    press of "Tap to confirm it's you", which comes from the admin's own account. Anything
    else needs a person: no chat or bot ever becomes a member.
    """
    if who is Who.ADMIN and message.sender_chat is not None and message.sender_chat.id == message.chat_id:
        timebank = await current_timebank(context, message)
        tr = context.runtime.tr_for_group(timebank)
        command_id = await anonymous_store.keep(context.store, timebank.id, name, args, topic_of(message), now())
        button = InlineKeyboardButton(tr("Tap to confirm it's you"),
                                      callback_data=AnonymousButton(command_id).pack())
        await reply(context, message, tr("You are posting as the group, so I cannot tell which admin you "
                                         "are. Tap the button to confirm it's you."),
                    messaging.keyboard([button]))
        return
    await refused_as_a_chat(context, message)


def _post_as_yourself(tr: Translator) -> str:
    return tr("You are posting as the group or a channel. To do that, post as yourself: turn off "
              "“Remain anonymous” or choose your own name to send as.")


async def refused_as_a_chat(context: BotContext, message: Message) -> bool:
    """A member action posted as the group or a channel: explain, and say True (nothing else to do)."""
    if not sent_as_a_chat(message):
        return False
    tr = context.runtime.tr_for_group(context.runtime.timebanks_by_chat.get(message.chat_id))
    await reply(context, message, _post_as_yourself(tr))
    return True


async def anonymous_confirmed(update: Update, context: BotContext) -> None:
    """An admin pressed "Tap to confirm it's you": carry the waiting command out, as them."""
    query = update.callback_query
    button = AnonymousButton.parse(query.data)
    waiting = button and await anonymous_store.get(context.store, button.command_id)
    timebank = waiting and context.runtime.timebanks_by_id.get(waiting.timebank_id)
    if not button or not waiting or not timebank:
        await messaging.alert(query, context.tr("This was already done, or it has expired."))
        return
    verdict = await may_administer(context, timebank, query.from_user.id)
    if await refuse_non_admin(context, verdict, lambda text: messaging.alert(query, text)):
        return
    if await anonymous_store.take(context.store, waiting.id) is None:  # another admin was quicker
        await messaging.alert(query, context.tr("This was already done, or it has expired."))
        return
    await query.answer()
    if isinstance(query.message, Message):  # the group learns it is done, not who did it
        tr = context.runtime.tr_for_group(timebank)
        await messaging.edit(context.bot, query.message.chat_id, query.message.message_id,
                             tr("Done: an admin took care of it."))
    user = query.from_user
    # They chose to stay anonymous in the group: what the command says back goes to them privately.
    await _run(context, waiting.command, user.id, user.first_name, user.full_name, user.id, True,
               waiting.args, timebank, None, waiting.topic_id)


async def resume_after_choice(context: BotContext, flow: Flow, user_id: int, first_name: str, full_name: str,
                              chat_id: int, command: str, args: str, timebank_id: int) -> bool:
    """The "which timebank?" step answered: run the command it was asked for. False if it cannot."""
    timebank = context.runtime.timebanks_by_id.get(timebank_id)
    if timebank is None or command not in COMMANDS:
        return False
    await flows.end(context, flow)
    await _run(context, command, user_id, first_name, full_name, chat_id, True, args, timebank, None)
    return True


async def tell_member(context: BotContext, member: Member, text: str, markup: InlineKeyboardMarkup | None = None,
                      *, timebank: Timebank, start_payload: str = "", topic_id: int | None = None
                      ) -> Message | None:
    """Write to a member privately; if Telegram refuses, say so in the group (in `topic_id`,
    the topic that led to it) with a way in.

    Returns the private message, or the group notice when that was the way it went.
    """
    sent = await messaging.send_private(context.runtime, context.bot, member.user_id, text, markup)
    if sent is not None:
        return sent
    if not start_payload:  # handed over when they next write to me privately (see bot/app.py)
        await member_store.keep_for_later(context.store, member.user_id, text, now())
    tr = context.runtime.tr_for_member(member)
    notice = tr("{who}, I have a message for you, but I cannot write to you privately yet. "
                "Press the button to open our private chat.", who=messaging.mention(member))
    button = InlineKeyboardButton(tr("Open private chat"), url=messaging.deep_link(context.bot, start_payload))
    try:
        return await messaging.send(context.bot, timebank.chat_id, notice, markup=messaging.keyboard([button]),
                                    thread_id=topic_id)
    except Exception:
        log.warning("could not reach member %s in private or in group %s", member.id, timebank.chat_id)
        return None


async def send_personal(context: BotContext, here: Here, text: str, markup: InlineKeyboardMarkup | None = None
                        ) -> Message | None:
    """Personal figures go to the private chat; in a group, only a short pointer stays.

    Returns the private message, or None when the person could not be reached privately.
    """
    if here.private or here.message is None:  # a command resumed after a question is always private
        return await answer(context, here, text, markup)
    return await send_personal_for(context, here.message, text, markup)


async def send_personal_for(context: BotContext, message: Message, text: str,
                            markup: InlineKeyboardMarkup | None = None) -> Message | None:
    """`send_personal` for a command that has its message but no `Here` (/balance, across timebanks)."""
    if is_private(message):
        return await reply(context, message, text, markup)
    sent = await messaging.send_private(context.runtime, context.bot, message.from_user.id, text, markup)
    button = InlineKeyboardButton(context.tr("Open private chat"), url=messaging.deep_link(context.bot))
    if sent is not None:
        await reply(context, message, context.tr("I have sent it to you in our private chat."),
                    messaging.keyboard([button]))
    else:
        await reply(context, message, context.tr(
            "I cannot write to you privately yet. Open our private chat, press Start, then ask again."),
            messaging.keyboard([button]))
    return sent
