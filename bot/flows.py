"""Guided flows: a command without all its arguments asks for what is missing, step by step.

A flow's state (which command, which question is waiting, the answers so far, the question
on screen) is a row in SQLite (storage/flows.py), written at every step. PTB's own route,
ConversationHandler with a persistence class, writes its state in batches (every 60 s by
default), so a crash or a redeploy would lose the last answers; a row per step costs one
short write per answer, which people type at human speed, and nothing is ever lost. One
person's updates are processed one at a time (bot/processor.py), so a flow never sees two
answers at once.

A flow's buttons carry its id (`FlowButton`): a button of a flow that has ended, been
cancelled or replaced by a newer one answers with a toast instead of acting.
"""

from __future__ import annotations

from telegram import InlineKeyboardMarkup, Message

from bot import messaging
from bot.context import BotContext
from storage import flows as flow_store
from storage.db import now
from timebank.models import Flow


async def begin(context: BotContext, user_id: int, command: str, step: str, chat_id: int,
                timebank_id: int | None, answers: dict) -> Flow:
    """Start a flow for this person (a newer command replaces an older flow)."""
    return await flow_store.start(context.store, user_id, command, step, chat_id, timebank_id, answers, now())


async def current(context: BotContext, user_id: int) -> Flow | None:
    return await flow_store.current(context.store, user_id)


async def advance(context: BotContext, flow: Flow, step: str, *, timebank_id: int | None = None,
                  **answers: object) -> Flow | None:
    """Record answers and move to the next question; None if the flow ended meanwhile."""
    merged = {**flow.answers, **answers}
    return await flow_store.advance(context.store, flow.id, step, timebank_id or flow.timebank_id, merged, now())


async def ask(context: BotContext, flow: Flow, text: str, markup: InlineKeyboardMarkup | None = None) -> Message:
    """Put the flow's question on screen; the previous question loses its buttons."""
    await drop_question_buttons(context, flow)
    sent = await messaging.send(context.bot, flow.chat_id, text, markup=markup)
    await flow_store.set_question(context.store, flow.id, sent.message_id, markup is not None)
    return sent


async def end(context: BotContext, flow: Flow) -> bool:
    """The flow is done: its question loses its buttons and its row goes."""
    await drop_question_buttons(context, flow)
    return await flow_store.finish(context.store, flow.id)


async def cancel(context: BotContext, user_id: int) -> Flow | None:
    """End this person's flow, if any, and take the buttons off its question."""
    flow = await flow_store.finish_for(context.store, user_id)
    if flow is not None:
        await drop_question_buttons(context, flow)
    return flow


async def drop_question_buttons(context: BotContext, flow: Flow) -> None:
    """An answered or abandoned question keeps its words but loses its buttons."""
    if flow.message_id and flow.message_buttons:
        await messaging.drop_buttons(context.bot, flow.chat_id, flow.message_id)
