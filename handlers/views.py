"""Texts and keyboards that more than one place needs, as functions of (translator, model).

Handlers, the coming reminder jobs and the digest build the same confirmation request,
outcome, balance and post card from here. Everything returned is Safe HTML: values are
escaped once, by the translator or by Safe's concatenation, never twice.
"""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot import messaging
from bot.callbacks import ClosePostButton, ExchangeButton
from bot.i18n import Safe, Translator, bold, lines
from timebank.models import Exchange, Member, Post, Timebank

MAX_DESCRIPTION = 200


def what(exchange: Exchange) -> str:
    return messaging.shorten(exchange.description, MAX_DESCRIPTION)


# --- exchanges --------------------------------------------------------------------------

def receipt(tr: Translator, exchange: Exchange) -> Safe:
    """What the recorder sees once it is recorded."""
    other = exchange.counterparty.name
    hours = tr.hours(exchange.minutes)
    if exchange.recorded_by == exchange.provider_id:
        head = tr("Recorded: you gave {other} {hours}.", other=other, hours=hours)
    else:
        head = tr("Recorded: {other} gave you {hours}.", other=other, hours=hours)
    parts = [head]
    if exchange.description:
        parts.append(tr("What: {what}", what=what(exchange)))
    parts.append(tr("It counts once {other} confirms it.", other=other))
    return lines(*parts)


def cancel_markup(tr: Translator, exchange: Exchange) -> InlineKeyboardMarkup | None:
    return messaging.keyboard([InlineKeyboardButton(tr("Cancel"),
                                                    callback_data=ExchangeButton("cancel", exchange.id).pack())])


def confirmation_request(tr: Translator, exchange: Exchange, timebank: Timebank) -> Safe:
    """What the other person is asked to confirm: private, it holds the amount and the description."""
    recorder = exchange.recorder.name
    hours = tr.hours(exchange.minutes)
    if exchange.recorded_by == exchange.provider_id:
        head = tr("{recorder} says they gave you {hours} of help.", recorder=recorder, hours=hours)
    else:
        head = tr("{recorder} says you gave them {hours} of help.", recorder=recorder, hours=hours)
    parts = [head]
    if exchange.description:
        parts.append(tr("What: {what}", what=what(exchange)))
    parts.append(tr("Timebank: {title}", title=timebank.title))
    parts.append(tr("Is this right? Once you confirm, the hours count."))
    return lines(*parts)


def decision_buttons(tr: Translator, exchange: Exchange) -> list[InlineKeyboardButton]:
    return [InlineKeyboardButton(tr("Confirm"), callback_data=ExchangeButton("confirm", exchange.id).pack()),
            InlineKeyboardButton(tr("Decline"), callback_data=ExchangeButton("decline", exchange.id).pack())]


def confirmation_markup(tr: Translator, exchange: Exchange) -> InlineKeyboardMarkup | None:
    return messaging.keyboard(decision_buttons(tr, exchange))


def group_nudge(tr: Translator, exchange: Exchange, who: Safe) -> Safe:
    """In the group, for someone I cannot write to privately: no amount, no description."""
    return lines(
        tr("{who}, {recorder} recorded some time with you, and only you can confirm it.",
           who=who, recorder=exchange.recorder.name),
        tr("I cannot write to you privately yet: press Open private chat to see it and answer there."),
    )


def outcome(tr: Translator, exchange: Exchange, viewer: Member, *, private: bool) -> Safe:
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
    elif exchange.state == "reversed":
        text = tr("This exchange of {hours} was reversed by a coordinator.", hours=hours)
    else:
        text = tr("This exchange of {hours} expired before it was confirmed. Nothing was counted.", hours=hours)
    if exchange.description:
        text += "\n" + tr("What: {what}", what=what(exchange))
    return text


def settled_in_group(tr: Translator, exchange: Exchange) -> Safe:
    """The group's copy of a settled request: that it is done, not what or how much."""
    if exchange.state == "confirmed":
        return tr("Thank you: this exchange is confirmed.")
    return tr("This exchange is settled.")


def exchange_line(tr: Translator, exchange: Exchange, me: Member) -> Safe:
    """One exchange in a list, from my side."""
    hours = tr.hours(exchange.minutes)
    if exchange.provider_id == me.id:
        line = tr("#{id}: you gave {other} {hours}", id=exchange.id, other=exchange.receiver.name, hours=hours)
    else:
        line = tr("#{id}: {other} gave you {hours}", id=exchange.id, other=exchange.provider.name, hours=hours)
    if exchange.description:
        line += " · " + messaging.shorten(exchange.description, 60)
    return line


def state_name(tr: Translator, state: str) -> Safe:
    return {
        "pending": tr("waiting"), "confirmed": tr("confirmed"), "declined": tr("declined"),
        "cancelled": tr("cancelled"), "expired": tr("expired"), "reversed": tr("reversed"),
    }[state]


# --- members ----------------------------------------------------------------------------

def status_name(tr: Translator, status: str) -> Safe:
    return {"pending": tr("waiting for approval"), "active": tr("active"),
            "suspended": tr("suspended"), "left": tr("left")}[status]


def balance(tr: Translator, member: Member, title: str) -> Safe:
    parts: list[str] = [bold(tr("Timebank: {title}", title=title))]
    if member.status == "pending":
        parts.append(tr("Your membership is waiting for a coordinator's approval."))
    elif member.status == "suspended":
        parts.append(tr("Your membership is suspended."))
    elif member.status == "left":
        parts.append(tr("You have left this timebank; your balance and history are kept."))
    parts += [
        tr("Balance: {balance}", balance=tr.hours(member.balance, signed=True)),
        tr("Given: {given} · Received: {received}", given=tr.hours(member.given_minutes),
           received=tr.hours(member.received_minutes)),
        tr.plural("{count} exchange", "{count} exchanges", member.exchanges_count) + " · "
        + tr.plural("{count} person helped", "{count} people helped", member.people_helped),
    ]
    return lines(*parts)


# --- posts ------------------------------------------------------------------------------

def post_card(tr: Translator, post: Post, *, limit: int | None = None) -> Safe:
    """An offer or a request: who, what, and whether it is still open."""
    if post.kind == "offer":
        head = tr("Offer #{id} from {name} (#{number}):", id=post.id, name=post.author_name,
                  number=post.author_number)
    else:
        head = tr("Request #{id} from {name} (#{number}):", id=post.id, name=post.author_name,
                  number=post.author_number)
    text = messaging.shorten(post.text, limit) if limit else post.text
    parts: list[str] = [bold(head), text]
    if post.status != "open":
        parts.append(tr("(closed)"))
    return lines(*parts)


def close_post_button(tr: Translator, post: Post) -> InlineKeyboardButton:
    return InlineKeyboardButton(tr("Close #{id}", id=post.id), callback_data=ClosePostButton(post.id).pack())
