"""/gave, /received, the Confirm / Decline / Cancel buttons, /pending, /balance, /history, /stats."""

from __future__ import annotations

import html

from telegram import InlineKeyboardButton, Message, Update

from bot import messaging
from bot.context import BotContext
from bot.i18n import Translator
from handlers.common import (
    args_text,
    in_timebank,
    is_private,
    refusal_text,
    reply,
    send_personal,
    tell_member,
)
from handlers.refs import find_member
from storage import ledger
from storage import members as member_store
from storage.db import now
from timebank import rules
from timebank.models import Exchange, Member, Timebank
from timebank.rules import Refusal, RuleError

MAX_DESCRIPTION = 200
HISTORY_PAGE = 10
PENDING_LIMIT = 10


@in_timebank("gave")
async def gave(context: BotContext, message: Message, timebank: Timebank) -> None:
    await _record(context, message, timebank, i_gave=True)


@in_timebank("received")
async def received(context: BotContext, message: Message, timebank: Timebank) -> None:
    await _record(context, message, timebank, i_gave=False)


async def _record(context: BotContext, message: Message, timebank: Timebank, *, i_gave: bool) -> None:
    tr, db = context.tr, context.store
    usage = (tr("Write who, how long and what, for example:\n/gave @maria 2 gardening\n"
                "You can also name someone by their number (#12) or reply to their message.")
             if i_gave else
             tr("Write who, how long and what, for example:\n/received @maria 1.5 a lift to the surgery\n"
                "You can also name someone by their number (#12) or reply to their message."))
    me = await member_store.by_user(db, timebank.id, message.from_user.id)
    if me is None:
        await reply(context, message, refusal_text(tr, RuleError(Refusal.NOT_A_MEMBER)))
        return
    ref = await find_member(db, timebank.id, message, args_text(message))
    if ref is None:
        await reply(context, message, usage)
        return
    if ref.member is None:
        await reply(context, message, tr("I do not know {who} in this timebank. Check the name, or use their "
                                         "member number like #12.", who=ref.named))
        return
    try:
        minutes, description = rules.split_amount(ref.rest)
    except RuleError as error:
        await reply(context, message, refusal_text(tr, error))
        return
    if minutes is None:
        await reply(context, message, usage)
        return
    if len(description) > MAX_DESCRIPTION:
        await reply(context, message, tr("Please keep the description under {limit} characters.",
                                         limit=tr.number(MAX_DESCRIPTION)))
        return
    provider, receiver = (me, ref.member) if i_gave else (ref.member, me)
    try:
        exchange, created = await ledger.record(
            db, timebank.id, provider.id, receiver.id, me.id, minutes, description,
            (message.chat_id, message.message_id), now())
    except RuleError as error:
        await reply(context, message, refusal_text(tr, error))
        return
    if not created and exchange.ask_message_id:
        # The same update delivered again: it is recorded once, and already on its way.
        return
    receipt = await reply(context, message, _receipt_text(tr, exchange), _cancel_keyboard(tr, exchange))
    ask = await _ask_counterparty(context, exchange, timebank)
    await ledger.set_messages(db, exchange.id, ask.chat_id if ask else None, ask.message_id if ask else None,
                              receipt.chat_id, receipt.message_id)


def _what(exchange: Exchange) -> str:
    return messaging.shorten(exchange.description, MAX_DESCRIPTION)


def _receipt_text(tr: Translator, exchange: Exchange) -> str:
    other = exchange.counterparty.name
    hours = tr.hours(exchange.minutes)
    if exchange.recorded_by == exchange.provider_id:
        head = tr("Recorded: you gave {other} {hours}.", other=other, hours=hours)
    else:
        head = tr("Recorded: {other} gave you {hours}.", other=other, hours=hours)
    lines = [head]
    if exchange.description:
        lines.append(tr("What: {what}", what=_what(exchange)))
    lines.append(tr("It counts once {other} confirms it.", other=other))
    return "\n".join(lines)


def ask_text(tr: Translator, exchange: Exchange, timebank: Timebank) -> str:
    recorder = exchange.recorder.name
    hours = tr.hours(exchange.minutes)
    if exchange.recorded_by == exchange.provider_id:
        head = tr("{recorder} says they gave you {hours} of help.", recorder=recorder, hours=hours)
    else:
        head = tr("{recorder} says you gave them {hours} of help.", recorder=recorder, hours=hours)
    lines = [head]
    if exchange.description:
        lines.append(tr("What: {what}", what=_what(exchange)))
    lines.append(tr("Timebank: {title}", title=timebank.title))
    lines.append(tr("Is this right? Once you confirm, the hours count."))
    return "\n".join(lines)


def _decision_buttons(tr: Translator, exchange: Exchange) -> list[InlineKeyboardButton]:
    return [InlineKeyboardButton(tr("Confirm"), callback_data=f"x:c:{exchange.id}"),
            InlineKeyboardButton(tr("Decline"), callback_data=f"x:d:{exchange.id}")]


def ask_markup(tr: Translator, exchange: Exchange):
    return messaging.keyboard(_decision_buttons(tr, exchange))


def _cancel_keyboard(tr: Translator, exchange: Exchange):
    return messaging.keyboard([InlineKeyboardButton(tr("Cancel"), callback_data=f"x:x:{exchange.id}")])


async def _ask_counterparty(context: BotContext, exchange: Exchange, timebank: Timebank) -> Message | None:
    """The Confirm / Decline request: privately, or in the group for them alone if Telegram refuses."""
    counterparty = exchange.counterparty
    tr = context.runtime.tr_for_member(counterparty)
    text = ask_text(tr, exchange, timebank)
    sent = await messaging.send_private(context.runtime, context.bot, counterparty.user_id, text,
                                        ask_markup(tr, exchange))
    if sent is not None:
        return sent
    group_text = "\n".join([
        tr("{who}, this is for you, and only you can answer it:", who=messaging.mention(counterparty)),
        text,
        tr("I cannot write to you privately yet: press Open private chat to get my messages there."),
    ])
    open_chat = InlineKeyboardButton(tr("Open private chat"),
                                     url=messaging.deep_link(context.bot, f"x{exchange.id}"))
    return await messaging.send(context.bot, timebank.chat_id, group_text,
                                markup=messaging.keyboard(_decision_buttons(tr, exchange), [open_chat]))


def outcome_text(tr: Translator, exchange: Exchange, viewer: Member, *, private: bool) -> str:
    """How an exchange ended, told from one side. Balances only ever in a private chat."""
    mine_is_provider = viewer.id == exchange.provider_id
    other = (exchange.receiver if mine_is_provider else exchange.provider).name
    hours = tr.hours(exchange.minutes)
    if exchange.state == "confirmed":
        text = (tr("Confirmed: you gave {other} {hours}.", other=other, hours=hours) if mine_is_provider
                else tr("Confirmed: {other} gave you {hours}.", other=other, hours=hours))
        if private:
            me = exchange.provider if mine_is_provider else exchange.receiver
            text += "\n" + tr("Your balance is now {balance}.", balance=tr.hours(me.balance, signed=True))
    elif exchange.state == "declined":
        text = (tr("You declined this exchange of {hours}. Nothing was counted.", hours=hours)
                if viewer.id != exchange.recorded_by else
                tr("{other} declined the exchange of {hours} you recorded. Nothing was counted.",
                   other=other, hours=hours))
    elif exchange.state == "cancelled":
        text = (tr("You cancelled this exchange of {hours}. Nothing was counted.", hours=hours)
                if viewer.id == exchange.recorded_by else
                tr("{other} cancelled the exchange of {hours}. Nothing was counted.", other=other, hours=hours))
    else:
        text = tr("This exchange of {hours} expired before it was confirmed. Nothing was counted.", hours=hours)
    if exchange.description:
        text += "\n" + tr("What: {what}", what=_what(exchange))
    return text


_ACTIONS = {"c": ledger.confirm, "d": ledger.decline, "x": ledger.cancel}


async def exchange_button(update: Update, context: BotContext) -> None:
    """Confirm, Decline or Cancel. The database decides; the button is only a request."""
    query = update.callback_query
    _, action, raw_id = query.data.split(":")
    try:
        exchange = await _ACTIONS[action](context.store, int(raw_id), query.from_user.id, now())
    except RuleError as error:
        await messaging.alert(query, refusal_text(context.tr, error))
        settled = error.exchange
        if settled is not None and query.from_user.id in (settled.provider.user_id, settled.receiver.user_id):
            await _show_outcome_where_pressed(context, query.message, settled, query.from_user.id)
        return
    await query.answer()
    await _announce(context, exchange, pressed_by=query.from_user.id, pressed=query.message)


async def _show_outcome_where_pressed(context: BotContext, pressed: Message, exchange: Exchange,
                                      user_id: int) -> None:
    viewer = exchange.provider if user_id == exchange.provider.user_id else exchange.receiver
    tr = context.runtime.tr_for_member(viewer)
    await messaging.edit(context.bot, pressed.chat_id, pressed.message_id,
                         outcome_text(tr, exchange, viewer, private=pressed.chat.type == "private"))


async def _announce(context: BotContext, exchange: Exchange, *, pressed_by: int, pressed: Message) -> None:
    """Both sides hear the outcome: the messages with buttons are edited, the other side is told."""
    timebank = context.runtime.timebanks_by_id[exchange.timebank_id]
    bot = context.bot
    for member, chat_id, message_id in ((exchange.counterparty, exchange.ask_chat_id, exchange.ask_message_id),
                                        (exchange.recorder, exchange.receipt_chat_id, exchange.receipt_message_id)):
        tr = context.runtime.tr_for_member(member)
        await messaging.edit(bot, chat_id, message_id,
                             outcome_text(tr, exchange, member, private=chat_id == member.user_id))
    if pressed.message_id not in (exchange.ask_message_id, exchange.receipt_message_id) \
            or pressed.chat_id not in (exchange.ask_chat_id, exchange.receipt_chat_id):
        await _show_outcome_where_pressed(context, pressed, exchange, pressed_by)
    # The side that did not press gets a new message: Telegram does not notify about edits.
    if pressed_by == exchange.counterparty.user_id:
        other, their_chat = exchange.recorder, exchange.receipt_chat_id
    else:
        other, their_chat = exchange.counterparty, exchange.ask_chat_id
    tr = context.runtime.tr_for_member(other)
    text = outcome_text(tr, exchange, other, private=True)
    sent = await messaging.send_private(context.runtime, bot, other.user_id, text)
    if sent is None and their_chat != timebank.chat_id:  # the edit in the group already told them
        await tell_member(context, other, text, timebank=timebank)


@in_timebank("pending")
async def pending(context: BotContext, message: Message, timebank: Timebank) -> None:
    tr = context.tr
    me = await member_store.by_user(context.store, timebank.id, message.from_user.id)
    if me is None:
        await reply(context, message, refusal_text(tr, RuleError(Refusal.NOT_A_MEMBER)))
        return
    for_me, mine = await ledger.pending_for(context.store, me.id, PENDING_LIMIT)
    if not for_me and not mine:
        await send_personal(context, message, tr("Nothing is waiting: no exchanges to confirm."))
        return
    lines, rows = [], []
    if for_me:
        lines.append("<b>" + tr("Waiting for your answer:") + "</b>")
        for exchange in for_me:
            lines.append(_pending_line(tr, exchange, me))
            rows.append([InlineKeyboardButton(tr("Confirm #{id}", id=exchange.id), callback_data=f"x:c:{exchange.id}"),
                         InlineKeyboardButton(tr("Decline #{id}", id=exchange.id), callback_data=f"x:d:{exchange.id}")])
    if mine:
        lines.append("<b>" + tr("Waiting for the other person:") + "</b>")
        for exchange in mine:
            lines.append(_pending_line(tr, exchange, me))
            rows.append([InlineKeyboardButton(tr("Cancel #{id}", id=exchange.id), callback_data=f"x:x:{exchange.id}")])
    await send_personal(context, message, "\n".join(lines), messaging.keyboard(*rows))


def _pending_line(tr: Translator, exchange: Exchange, me: Member) -> str:
    hours = tr.hours(exchange.minutes)
    if exchange.provider_id == me.id:
        line = tr("#{id}: you gave {other} {hours}", id=exchange.id, other=exchange.receiver.name, hours=hours)
    else:
        line = tr("#{id}: {other} gave you {hours}", id=exchange.id, other=exchange.provider.name, hours=hours)
    if exchange.description:
        line += " · " + html.escape(messaging.shorten(exchange.description, 60), quote=False)
    return line


def balance_text(tr: Translator, member: Member, title: str) -> str:
    lines = [f"<b>{tr('Timebank: {title}', title=title)}</b>"]
    if member.status == "pending":
        lines.append(tr("Your membership is waiting for a coordinator's approval."))
    elif member.status == "suspended":
        lines.append(tr("Your membership is suspended."))
    lines += [
        tr("Balance: {balance}", balance=tr.hours(member.balance, signed=True)),
        tr("Given: {given} · Received: {received}", given=tr.hours(member.given_minutes),
           received=tr.hours(member.received_minutes)),
        tr.plural("{count} exchange", "{count} exchanges", member.exchanges_count) + " · "
        + tr.plural("{count} person helped", "{count} people helped", member.people_helped),
    ]
    return "\n".join(lines)


async def balance(update: Update, context: BotContext) -> None:
    """In private: every timebank of mine. In a group: that timebank's, sent privately."""
    message, tr = update.effective_message, context.tr
    timebanks = context.runtime.timebanks_by_id
    if is_private(message):
        mine = [m for m in await member_store.memberships(context.store, message.from_user.id)
                if m.status != "left" and m.timebank_id in timebanks]
    else:
        timebank = (await context.runtime.ensure_timebank(message.chat_id, message.chat.title or ""))[0]
        member = await member_store.by_user(context.store, timebank.id, message.from_user.id)
        mine = [member] if member and member.status != "left" else []
    if not mine:
        await reply(context, message, refusal_text(tr, RuleError(Refusal.NOT_A_MEMBER)))
        return
    text = "\n\n".join(balance_text(tr, m, timebanks[m.timebank_id].title) for m in mine)
    await send_personal(context, message, text)


@in_timebank("history")
async def history(context: BotContext, message: Message, timebank: Timebank) -> None:
    me = await member_store.by_user(context.store, timebank.id, message.from_user.id)
    if me is None:
        await reply(context, message, refusal_text(context.tr, RuleError(Refusal.NOT_A_MEMBER)))
        return
    text, markup = await _history_page(context, context.tr, me, timebank, 0)
    await send_personal(context, message, text, markup)


async def _history_page(context: BotContext, tr: Translator, me: Member, timebank: Timebank, offset: int):
    page = await ledger.history(context.store, me.id, offset, HISTORY_PAGE)
    lines = [f"<b>{tr('Your exchanges in {title}', title=timebank.title)}</b>"]
    if not page.items:
        lines.append(tr("No exchanges yet."))
    for exchange in page.items:
        lines.append(tr("{date} · {line} · {state}", date=tr.date(exchange.created_at),
                        line=_pending_line(tr, exchange, me), state=_state_name(tr, exchange.state)))
    return "\n".join(lines), messaging.pager(tr, f"h:{timebank.id}", offset, HISTORY_PAGE, page.has_more)


def _state_name(tr: Translator, state: str) -> str:
    return {
        "pending": tr("waiting"), "confirmed": tr("confirmed"), "declined": tr("declined"),
        "cancelled": tr("cancelled"), "expired": tr("expired"), "reversed": tr("reversed"),
    }[state]


async def history_button(update: Update, context: BotContext) -> None:
    query = update.callback_query
    _, timebank_id, offset = query.data.split(":")
    timebank = context.runtime.timebanks_by_id.get(int(timebank_id))
    me = timebank and await member_store.by_user(context.store, timebank.id, query.from_user.id)
    if not me:
        await messaging.alert(query, refusal_text(context.tr, RuleError(Refusal.NOT_A_MEMBER)))
        return
    await query.answer()
    text, markup = await _history_page(context, context.tr, me, timebank, max(0, int(offset)))
    await messaging.edit(context.bot, query.message.chat_id, query.message.message_id, text, markup)


@in_timebank("stats")
async def stats(context: BotContext, message: Message, timebank: Timebank) -> None:
    tr = context.tr
    figures = await ledger.stats(context.store, timebank.id, now())
    text = "\n".join([
        f"<b>{tr('Timebank: {title}', title=timebank.title)}</b>",
        tr.plural("{count} member", "{count} members", figures.members),
        tr("Hours exchanged: {hours}", hours=tr.hours(figures.minutes_exchanged)),
        tr("This month: {hours}", hours=tr.hours(figures.minutes_this_month)),
        tr.plural("{count} exchange", "{count} exchanges", figures.exchanges),
        tr.plural("{count} pair of people have helped each other",
                  "{count} pairs of people have helped each other", figures.helper_pairs),
    ])
    await reply(context, message, text)
