"""/gave, /received (with their guided flow), the Confirm / Decline / Cancel buttons,
/pending, /balance, /history, /stats."""

from __future__ import annotations

from telegram import InlineKeyboardButton, Message, Update

from bot import flows, messaging
from bot.callbacks import ExchangeButton, FlowButton, PageButton
from bot.context import BotContext
from bot.i18n import Translator, bold, lines
from handlers import views
from handlers.common import (
    Here,
    Who,
    answer,
    is_private,
    refusal_text,
    refused_as_a_chat,
    reply,
    send_personal,
    send_personal_for,
    tell_member,
    timebank_command,
)
from handlers.refs import Reference, find_member
from storage import ledger
from storage import members as member_store
from storage.db import now
from timebank import rules
from timebank.models import Exchange, Flow, Member, Timebank
from timebank.rules import Refusal, RuleError

HISTORY_PAGE = 10
PENDING_LIMIT = 10
# The quick answers to "how long?", in minutes.
QUICK_AMOUNTS = (30, 60, 90, 120, 180)


# --- recording: /gave and /received, with their arguments or as a guided flow -------------

@timebank_command("gave")
async def gave(context: BotContext, here: Here) -> None:
    await _record_command(context, here, i_gave=True)


@timebank_command("received")
async def received(context: BotContext, here: Here) -> None:
    await _record_command(context, here, i_gave=False)


async def _record_command(context: BotContext, here: Here, *, i_gave: bool) -> None:
    """The arguments fill what they can; whatever is missing is asked, privately, step by step."""
    tr = context.tr
    try:
        rules.check_active(here.me.status if here.me else None)
    except RuleError as error:
        await answer(context, here, refusal_text(tr, error))
        return
    assert here.me is not None
    command = "gave" if i_gave else "received"
    if not here.args:
        await _start_flow(context, here, command, "who", {})
        return
    ref = await find_member(context.store, here.timebank.id, here.message, here.args)
    if ref is None:
        await answer(context, here, _usage(tr, i_gave))
        return
    if ref.member is None:
        await answer(context, here, _unknown(tr, ref.named))
        return
    try:
        minutes, description = rules.split_amount(ref.rest)
    except RuleError as error:
        if error.refusal in (Refusal.AMOUNT_UNREADABLE, Refusal.AMOUNT_AMBIGUOUS):
            # Never guess an amount: ask for it, keeping who it was with.
            await _start_flow(context, here, command, "minutes", {"other": ref.member.id},
                              note=tr("I could not read how long from “{words}”.", words=ref.rest))
            return
        await answer(context, here, refusal_text(tr, error))
        return
    if minutes is None:
        await _start_flow(context, here, command, "minutes", {"other": ref.member.id})
        return
    if len(description) > views.MAX_DESCRIPTION:
        await answer(context, here, _too_long(tr))
        return
    await _record(context, here.timebank, here.me, ref.member, minutes, description, i_gave=i_gave,
                  source=here.source, reply_chat=here.chat_id, reply_to=here.message, topic_id=here.topic_id)


def _usage(tr: Translator, i_gave: bool) -> str:
    if i_gave:
        return tr("Write who, how long and what, for example:\n/gave @maria 2 gardening\n"
                  "You can also name someone by their number (#12) or reply to their message.")
    return tr("Write who, how long and what, for example:\n/received @maria 1.5 a lift to the surgery\n"
              "You can also name someone by their number (#12) or reply to their message.")


def _unknown(tr: Translator, named: str) -> str:
    return tr("I do not know {who} in this timebank. Check the name, or use their member number like #12.",
              who=named)


def _too_long(tr: Translator) -> str:
    return tr("Please keep the description under {limit} characters.", limit=tr.number(views.MAX_DESCRIPTION))


async def _record(context: BotContext, timebank: Timebank, me: Member, other: Member, minutes: int,
                  description: str, *, i_gave: bool, source: tuple[int, int] | None, reply_chat: int,
                  reply_to: Message | None, topic_id: int | None) -> bool:
    """Record a pending exchange and ask the other person. False when the rules refused it.

    `topic_id`: the forum topic it came from; anything posted in the group about it goes there.
    """
    tr = context.tr
    provider, receiver = (me, other) if i_gave else (other, me)
    try:
        exchange, created = await ledger.record(
            context.store, timebank.id, provider.id, receiver.id, me.id, minutes, description, source, now(),
            topic_id=topic_id)
    except RuleError as error:
        text = refusal_text(tr, error, own_balance=not i_gave)
        if reply_to is not None:
            await reply(context, reply_to, text)
        else:
            await messaging.send(context.bot, reply_chat, text)
        return False
    if not created and exchange.ask_message_id:
        return True  # the same update delivered again: recorded once, and already on its way
    receipt_text, markup = views.receipt(tr, exchange), views.cancel_markup(tr, exchange)
    receipt = None
    if reply_to is not None and not is_private(reply_to):
        # Recorded in the group: the receipt, with its amount and Cancel button, goes privately;
        # the group only hears that it is recorded (or gets the receipt when I cannot write privately).
        receipt = await messaging.send_private(context.runtime, context.bot, me.user_id, receipt_text, markup)
        if receipt is not None:
            await reply(context, reply_to, tr("Recorded. {other} is asked to confirm it; the details are in our "
                                              "private chat.", other=other.name))
    if receipt is None:
        receipt = (await reply(context, reply_to, receipt_text, markup) if reply_to is not None
                   else await messaging.send(context.bot, reply_chat, receipt_text, markup=markup))
    ask = await _ask_counterparty(context, exchange, timebank)
    await ledger.set_messages(context.store, exchange.id, ask.chat_id if ask else None,
                              ask.message_id if ask else None, receipt.chat_id, receipt.message_id)
    return True


async def _ask_counterparty(context: BotContext, exchange: Exchange, timebank: Timebank) -> Message | None:
    """The Confirm / Decline request, privately. Telegram refusing, the group gets a short nudge
    with their mention and a way into the private chat: never the amount or what it was."""
    counterparty = exchange.counterparty
    tr = context.runtime.tr_for_member(counterparty)
    sent = await messaging.send_private(context.runtime, context.bot, counterparty.user_id,
                                        views.confirmation_request(tr, exchange, timebank),
                                        views.confirmation_markup(tr, exchange))
    if sent is not None:
        return sent
    open_chat = InlineKeyboardButton(tr("Open private chat"),
                                     url=messaging.deep_link(context.bot, f"x{exchange.id}"))
    return await messaging.send(context.bot, timebank.chat_id,  # addressed to them: in their language
                                views.group_nudge(tr, exchange, messaging.mention(counterparty)),
                                markup=messaging.keyboard([open_chat]), thread_id=exchange.topic_id)


# --- the guided flow -------------------------------------------------------------------------

async def _start_flow(context: BotContext, here: Here, command: str, step: str, answers: dict, *,
                      note: str | None = None) -> None:
    """Ask the first missing thing in the private chat; in a group, only a pointer stays."""
    flow = await flows.begin(context, here.user_id, command, step, here.user_id, here.timebank.id,
                             {**answers, "topic": here.topic_id})
    asked = await ask_step(context, flow, note=note)
    if here.private:
        return
    open_chat = InlineKeyboardButton(context.tr("Open private chat"), url=messaging.deep_link(context.bot, "f"))
    text = (context.tr("I have asked you the rest in our private chat.") if asked else
            context.tr("I cannot write to you privately yet. Press Open private chat and I will ask you the rest "
                       "there."))
    await answer(context, here, text, messaging.keyboard([open_chat]))


async def ask_step(context: BotContext, flow: Flow, *, note: str | None = None) -> bool:
    """Put the flow's current question on screen. False when the person cannot be reached privately."""
    tr = context.runtime.tr_for_user(flow.user_id)
    if context.runtime.can_dm(flow.user_id) is False:
        return False
    i_gave = flow.command == "gave"
    if flow.step == "who":
        question = (tr("Who did you give your time to? Send their name, their @username or their member "
                       "number, like #12.") if i_gave else
                    tr("Who gave you their time? Send their name, their @username or their member number, "
                       "like #12."))
        # The people they exchanged with lately, one tap away.
        me = await member_store.by_user(context.store, flow.timebank_id or 0, flow.user_id)
        partners = await member_store.recent_partners(context.store, me.id, 4) if me else []
        markup = messaging.keyboard(*[[InlineKeyboardButton(
            f"{partner.name} (#{partner.number})", callback_data=FlowButton(flow.id, f"w{partner.id}").pack())]
            for partner in partners])
    elif flow.step == "minutes":
        question = tr("How long was it? Press a button or type it, like 1.5 or 45 min.")
        markup = messaging.keyboard(
            [InlineKeyboardButton(tr.duration(m), callback_data=FlowButton(flow.id, f"m{m}").pack())
             for m in QUICK_AMOUNTS[:3]],
            [InlineKeyboardButton(tr.duration(m), callback_data=FlowButton(flow.id, f"m{m}").pack())
             for m in QUICK_AMOUNTS[3:]])
    else:
        question = tr("What was it? Type a few words, or press Skip.")
        skip = InlineKeyboardButton(tr("Skip"), callback_data=FlowButton(flow.id, "skip").pack())
        markup = messaging.keyboard([skip])
    text = lines(note, question) if note else question
    try:
        await flows.ask(context, flow, text, markup)
    except Exception:
        await context.runtime.set_can_dm(flow.user_id, False)
        return False
    return True


async def flow_answer(context: BotContext, flow: Flow, *, text: str | None = None, button: str | None = None,
                      message: Message | None = None) -> None:
    """One answer to /gave's or /received's questions: check it, keep it, ask the next or record."""
    tr = context.tr
    timebank = context.runtime.timebanks_by_id.get(flow.timebank_id or 0)
    me = timebank and await member_store.by_user(context.store, timebank.id, flow.user_id)
    if not timebank or not me:
        await flows.end(context, flow)
        await messaging.send(context.bot, flow.chat_id, refusal_text(tr, RuleError(Refusal.NOT_A_MEMBER)))
        return
    if flow.step == "who":
        if button and button.startswith("w") and button[1:].isdigit():
            partner = await member_store.by_id(context.store, int(button[1:]))
            if partner is None or partner.timebank_id != timebank.id:
                await ask_step(context, flow)
                return
            ref: Reference | None = Reference(partner, "", partner.name)
        elif text is None:
            await ask_step(context, flow)
            return
        else:
            ref = await find_member(context.store, timebank.id, message, text)
        if ref is None:  # a plain name, as people write it: taken when it names exactly one member
            named = await member_store.by_name(context.store, timebank.id, text)
            if len(named) > 1:
                await ask_step(context, flow, note=tr("More than one member is called {name}: send their "
                                                      "@username or member number instead.", name=text))
                return
            ref = Reference(named[0] if named else None, "", text)
        if ref.member is None:
            await ask_step(context, flow, note=_unknown(tr, ref.named))
            return
        if ref.member.id == me.id:
            await ask_step(context, flow, note=refusal_text(tr, RuleError(Refusal.SELF_EXCHANGE)))
            return
        moved = await flows.advance(context, flow, "minutes", other=ref.member.id)
        if moved:
            await ask_step(context, moved)
        return
    if flow.step == "minutes":
        try:
            if button and button.startswith("m") and button[1:].isdigit():
                minutes = int(button[1:])
            elif text is not None:
                minutes = rules.parse_minutes(text)
            else:
                raise RuleError(Refusal.AMOUNT_UNREADABLE)
            rules.check_amount(minutes, timebank.max_exchange)
        except RuleError as error:
            await ask_step(context, flow, note=refusal_text(tr, error))
            return
        moved = await flows.advance(context, flow, "what", minutes=minutes)
        if moved:
            await ask_step(context, moved)
        return
    # "what": the last question; then it is recorded, once (the question's id is the source key).
    description = "" if button == "skip" or text is None else text.strip()
    if len(description) > views.MAX_DESCRIPTION:
        await ask_step(context, flow, note=_too_long(tr))
        return
    other = await member_store.by_id(context.store, int(flow.answers["other"]))
    if other is None or other.timebank_id != timebank.id:
        await flows.end(context, flow)
        await messaging.send(context.bot, flow.chat_id, refusal_text(tr, RuleError(Refusal.COUNTERPARTY_NOT_MEMBER)))
        return
    source = (flow.chat_id, flow.message_id) if flow.message_id else None
    await flows.end(context, flow)
    await _record(context, timebank, me, other, int(flow.answers["minutes"]), description,
                  i_gave=flow.command == "gave", source=source, reply_chat=flow.chat_id, reply_to=None,
                  topic_id=flow.answers.get("topic"))


# --- Confirm, Decline, Cancel ----------------------------------------------------------------

_ACTIONS = {"confirm": ledger.confirm, "decline": ledger.decline, "cancel": ledger.cancel}


async def exchange_button(update: Update, context: BotContext) -> None:
    """Confirm, Decline or Cancel. The database decides; the button is only a request."""
    query = update.callback_query
    button = ExchangeButton.parse(query.data)
    assert button is not None  # registered with ExchangeButton.matches
    try:
        exchange = await _ACTIONS[button.action](context.store, button.exchange_id, query.from_user.id, now())
    except RuleError as error:
        settled = error.exchange
        # A confirmation the rules refused (not a stranger's press, not a settled one): read once,
        # for whose balance the refusal speaks of and for telling the one who recorded it.
        refused = None
        if button.action == "confirm" and error.refusal not in (Refusal.NOT_YOURS_TO_CONFIRM, Refusal.NOT_FOUND,
                                                                Refusal.ALREADY_DECIDED):
            refused = await ledger.get(context.store, button.exchange_id)
        own_balance = refused is None or refused.receiver.user_id == query.from_user.id
        await messaging.alert(query, refusal_text(context.tr, error, own_balance=own_balance))
        if settled is not None and query.from_user.id in (settled.provider.user_id, settled.receiver.user_id):
            await _show_outcome_where_pressed(context, query.message, settled, query.from_user.id)
        elif refused is not None:
            await _tell_recorder_of_refusal(context, refused, error)
        return
    await query.answer()
    await _announce(context, exchange, pressed_by=query.from_user.id, pressed=query.message)


async def _tell_recorder_of_refusal(context: BotContext, exchange: Exchange, error: RuleError) -> None:
    """A confirmation the rules refused: the one who recorded it hears why, in their own words."""
    timebank = context.runtime.timebanks_by_id.get(exchange.timebank_id)
    if timebank is None:
        return
    recorder = exchange.recorder
    tr = context.runtime.tr_for_member(recorder)
    text = lines(
        tr("{other} could not confirm the {hours} you recorded:", other=exchange.counterparty.name,
           hours=tr.hours(exchange.minutes)),
        refusal_text(tr, error, own_balance=recorder.id == exchange.receiver_id),
    )
    await tell_member(context, recorder, text, timebank=timebank, topic_id=exchange.topic_id)


async def _show_outcome_where_pressed(context: BotContext, pressed: object, exchange: Exchange,
                                      user_id: int) -> None:
    if not isinstance(pressed, Message):
        return
    viewer = exchange.provider if user_id == exchange.provider.user_id else exchange.receiver
    tr = context.runtime.tr_for_member(viewer)
    text = (views.outcome(tr, exchange, viewer, private=True) if is_private(pressed)
            else views.settled_in_group(context.runtime.tr_for_group(
                context.runtime.timebanks_by_id.get(exchange.timebank_id)), exchange))
    if messaging.already_shows(pressed, text):
        return  # already shows it: Telegram refuses an edit that changes nothing
    await messaging.edit(context.bot, pressed.chat_id, pressed.message_id, text)


async def _announce(context: BotContext, exchange: Exchange, *, pressed_by: int, pressed: object) -> None:
    """Both sides hear the outcome: the messages with buttons are edited, the other side is told."""
    timebank = context.runtime.timebanks_by_id[exchange.timebank_id]
    bot = context.bot
    for member, chat_id, message_id in ((exchange.counterparty, exchange.ask_chat_id, exchange.ask_message_id),
                                        (exchange.recorder, exchange.receipt_chat_id, exchange.receipt_message_id)):
        if chat_id == member.user_id:
            text = views.outcome(context.runtime.tr_for_member(member), exchange, member, private=True)
        elif member is exchange.counterparty:  # the group nudge: what happened stays private
            text = views.settled_in_group(context.runtime.tr_for_group(timebank), exchange)
        else:
            text = views.outcome(context.runtime.tr_for_member(member), exchange, member, private=False)
        await messaging.edit(bot, chat_id, message_id, text)
    if not isinstance(pressed, Message) or (pressed.chat_id, pressed.message_id) not in (
            (exchange.ask_chat_id, exchange.ask_message_id), (exchange.receipt_chat_id, exchange.receipt_message_id)):
        await _show_outcome_where_pressed(context, pressed, exchange, pressed_by)
    # The side that did not press gets a new message: Telegram does not notify about edits.
    other = exchange.recorder if pressed_by == exchange.counterparty.user_id else exchange.counterparty
    text = views.outcome(context.runtime.tr_for_member(other), exchange, other, private=True)
    sent = await messaging.send_private(context.runtime, bot, other.user_id, text)
    if sent is None:
        await tell_member(context, other, text, timebank=timebank, topic_id=exchange.topic_id)


# --- /pending, /balance, /history, /stats --------------------------------------------------

@timebank_command("pending", Who.FORMER)
async def pending(context: BotContext, here: Here) -> None:
    tr, me = context.tr, here.me
    if me is None:
        await answer(context, here, refusal_text(tr, RuleError(Refusal.NOT_A_MEMBER)))
        return
    for_me, mine = await ledger.pending_for(context.store, me.id, PENDING_LIMIT)
    if not for_me and not mine:
        await send_personal(context, here, tr("Nothing is waiting: no exchanges to confirm."))
        return
    parts: list[str] = []
    rows = []
    if for_me:
        parts.append(bold(tr("Waiting for your answer:")))
        for exchange in for_me:
            parts.append(views.exchange_line(tr, exchange, me))
            rows.append([
                InlineKeyboardButton(tr("Confirm #{id}", id=exchange.id),
                                     callback_data=ExchangeButton("confirm", exchange.id).pack()),
                InlineKeyboardButton(tr("Decline #{id}", id=exchange.id),
                                     callback_data=ExchangeButton("decline", exchange.id).pack())])
    if mine:
        parts.append(bold(tr("Waiting for the other person:")))
        for exchange in mine:
            parts.append(views.exchange_line(tr, exchange, me))
            rows.append([InlineKeyboardButton(tr("Cancel #{id}", id=exchange.id),
                                              callback_data=ExchangeButton("cancel", exchange.id).pack())])
    await send_personal(context, here, lines(*parts), messaging.keyboard(*rows))


async def balance(update: Update, context: BotContext) -> None:
    """In private: every timebank of mine. In a group: that timebank's, sent privately.

    A member who left still sees what the timebank keeps for them.
    """
    message, tr = update.effective_message, context.tr
    timebanks = context.runtime.timebanks_by_id
    if await refused_as_a_chat(context, message):
        return
    if is_private(message):
        mine = [m for m in await member_store.memberships(context.store, message.from_user.id)
                if m.timebank_id in timebanks]
    else:
        timebank = (await context.runtime.ensure_timebank(message.chat_id, message.chat.title or ""))[0]
        member = await member_store.by_user(context.store, timebank.id, message.from_user.id)
        mine = [member] if member else []
    if not mine:
        await reply(context, message, refusal_text(tr, RuleError(Refusal.NOT_A_MEMBER)))
        return
    text = "\n\n".join(views.balance(tr, m, timebanks[m.timebank_id].title) for m in mine)
    await send_personal_for(context, message, text)


@timebank_command("history", Who.FORMER)
async def history(context: BotContext, here: Here) -> None:
    if here.me is None:
        await answer(context, here, refusal_text(context.tr, RuleError(Refusal.NOT_A_MEMBER)))
        return
    text, markup = await _history_page(context, context.tr, here.me, here.timebank, 0)
    await send_personal(context, here, text, markup)


async def _history_page(context: BotContext, tr: Translator, me: Member, timebank: Timebank, offset: int):
    page = await ledger.history(context.store, me.id, offset, HISTORY_PAGE)
    parts: list[str] = [bold(tr("Your exchanges in {title}", title=timebank.title))]
    if not page.items:
        parts.append(tr("No exchanges yet."))
    for exchange in page.items:
        parts.append(tr("{date} · {line} · {state}", date=tr.date(exchange.created_at),
                        line=views.exchange_line(tr, exchange, me), state=views.state_name(tr, exchange.state)))
    return lines(*parts), messaging.pager(tr, "h", timebank.id, offset, HISTORY_PAGE, page.has_more)


async def history_button(update: Update, context: BotContext) -> None:
    query = update.callback_query
    button = PageButton.parse(query.data)
    assert button is not None
    timebank = context.runtime.timebanks_by_id.get(button.timebank_id)
    me = timebank and await member_store.by_user(context.store, timebank.id, query.from_user.id)
    if not timebank or not me:
        await messaging.alert(query, refusal_text(context.tr, RuleError(Refusal.NOT_A_MEMBER)))
        return
    await query.answer()
    text, markup = await _history_page(context, context.tr, me, timebank, button.offset)
    await messaging.edit(context.bot, query.message.chat_id, query.message.message_id, text, markup)


@timebank_command("stats", Who.ANYONE)
async def stats(context: BotContext, here: Here) -> None:
    tr = context.tr
    figures = await ledger.stats(context.store, here.timebank.id, now())
    await answer(context, here, lines(
        bold(tr("Timebank: {title}", title=here.timebank.title)),
        tr.plural("{count} member", "{count} members", figures.members),
        tr("Hours exchanged: {hours}", hours=tr.hours(figures.minutes_exchanged)),
        tr("This month: {hours}", hours=tr.hours(figures.minutes_this_month)),
        tr.plural("{count} exchange", "{count} exchanges", figures.exchanges),
        tr.plural("{count} pair of people have helped each other",
                  "{count} pairs of people have helped each other", figures.helper_pairs),
    ))
