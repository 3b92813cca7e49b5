"""Answers to guided flows: typed words in private, a flow's buttons, the deep link that
resumes a flow, and the old "which timebank?" button from before flows."""

from __future__ import annotations

from telegram import Update

from bot import flows, messaging
from bot.callbacks import FlowButton
from bot.context import BotContext
from handlers import exchanges, membership
from handlers.common import resume_after_choice

# The commands whose questions are answered here, by the step function of their area.
_RECORDING = {"gave", "received"}


async def typed(update: Update, context: BotContext) -> None:
    """Words typed in private: the answer to the waiting question, if there is one."""
    message = update.effective_message
    flow = await flows.current(context, message.from_user.id)
    if flow is None:
        await membership.unknown(update, context)
        return
    if flow.step == "timebank":
        await messaging.send(context.bot, message.chat_id, context.tr("Please press one of the buttons above."))
        return
    if flow.command in _RECORDING:
        await exchanges.flow_answer(context, flow, text=message.text or "", message=message)


async def pressed(update: Update, context: BotContext) -> None:
    """A flow's button: acts only while that very flow is waiting for an answer."""
    query = update.callback_query
    button = FlowButton.parse(query.data)
    flow = await flows.current(context, query.from_user.id)
    if button is None or flow is None or flow.id != button.flow_id:
        await messaging.alert(query, context.tr("This question has ended. Please send the command again."))
        return
    await query.answer()
    if flow.step == "timebank":
        user = query.from_user
        done = button.answer.isdigit() and await resume_after_choice(
            context, flow, user.id, user.first_name, user.full_name, flow.chat_id, flow.command,
            str(flow.answers.get("args", "")), int(button.answer))
        if not done:
            await messaging.send(context.bot, flow.chat_id,
                                 context.tr("That question has expired; please send the command again."))
        return
    if flow.command in _RECORDING:
        await exchanges.flow_answer(context, flow, button=button.answer)


async def resume(update: Update, context: BotContext) -> None:
    """Deep link f: the private chat opened from the group's pointer; ask the waiting question."""
    flow = await flows.current(context, update.effective_user.id)
    if flow is None or flow.command not in _RECORDING:
        await membership.start(update, context)
        return
    await exchanges.ask_step(context, flow)


async def old_timebank_button(update: Update, context: BotContext) -> None:
    """A "which timebank?" button sent by a version from before flows: its question is gone."""
    await messaging.alert(update.callback_query,
                          context.tr("That question has expired; please send the command again."))



