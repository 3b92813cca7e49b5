"""Admin commands: approve or decline newcomers, suspend and reinstate members."""

from __future__ import annotations

from telegram import Message, Update

from bot import messaging
from bot.callbacks import NewcomerButton
from bot.context import BotContext
from bot.i18n import bold, lines
from handlers import views
from handlers.common import (
    Here,
    Who,
    answer,
    may_administer,
    refuse_non_admin,
    send_personal,
    tell_member,
    timebank_command,
    topic_of,
)
from handlers.membership import decision_markup, newcomer_text
from handlers.refs import find_member
from storage import members as member_store
from storage.db import now
from timebank.models import Member, Timebank

# action: (statuses it applies to, status it leads to)
_MOVES = {
    "approve": (("pending",), "active"),
    "decline": (("pending",), "left"),
    "suspend": (("active", "pending"), "suspended"),
    "reinstate": (("suspended",), "active"),
}


async def _decide(context: BotContext, timebank: Timebank, member: Member, action: str, actor_id: int,
                  reason: str | None, topic_id: int | None = None) -> Member | None:
    """Move the member (once: a second press finds nothing to do) and tell them."""
    from_statuses, to_status = _MOVES[action]
    changed = await member_store.set_status(context.store, member.id, from_statuses, to_status, actor_id, action,
                                            reason, now())
    if changed is None:
        return None
    tr = context.runtime.tr_for_member(changed)
    title = timebank.title
    text = {
        "approve": tr("Good news: you are now a member of {title} (#{number}). Try /offer, /request and /gave; "
                      "/help lists everything.", title=title, number=changed.number),
        "decline": tr("Your request to join {title} was not accepted. If you think this is a mistake, please "
                      "talk to the group's coordinators.", title=title),
        "suspend": tr("Your membership of {title} is suspended: you cannot post or exchange for now. "
                      "Your balance is kept.", title=title),
        "reinstate": tr("Your membership of {title} is active again.", title=title),
    }[action]
    if reason:
        text += "\n" + tr("Reason: {reason}", reason=reason)
    await tell_member(context, changed, text, timebank=timebank, topic_id=topic_id)
    return changed


def _done_text(context: BotContext, action: str, member: Member, admin_name: str) -> str:
    tr = context.tr
    return {
        "approve": tr("{name} (#{number}) was approved by {admin}.", name=member.name, number=member.number,
                      admin=admin_name),
        "decline": tr("{name} (#{number}) was declined by {admin}.", name=member.name, number=member.number,
                      admin=admin_name),
        "suspend": tr("{name} (#{number}) was suspended by {admin}.", name=member.name, number=member.number,
                      admin=admin_name),
        "reinstate": tr("{name} (#{number}) was reinstated by {admin}.", name=member.name, number=member.number,
                        admin=admin_name),
    }[action]


# Told to the person and the admin privately, never announced in the group.
_PRIVATE_OUTCOMES = {"decline", "suspend"}
PENDING_LIST_LIMIT = 20


async def _command(context: BotContext, here: Here, action: str) -> None:
    tr = context.tr
    ref = await find_member(context.store, here.timebank.id, here.message, here.args)
    if ref is None and action in ("approve", "decline"):
        await _list_newcomers(context, here)
        return
    if ref is None:
        await answer(context, here, tr("Say who, for example: /{command} @maria or /{command} #12", command=action))
        return
    if ref.member is None:
        await answer(context, here, tr("I do not know {who} in this timebank. Check the name, or use their "
                                       "member number like #12.", who=ref.named))
        return
    reason = messaging.shorten(ref.rest, 200) or None
    changed = await _decide(context, here.timebank, ref.member, action, here.user_id, reason, here.topic_id)
    if changed is None:
        await answer(context, here, tr("Nothing to do: {name} is {status}.", name=ref.member.name,
                                       status=views.status_name(tr, ref.member.status)))
        return
    done = _done_text(context, action, changed, here.full_name)
    if action in _PRIVATE_OUTCOMES:
        await send_personal(context, here, done)
    else:
        await answer(context, here, done)


async def _list_newcomers(context: BotContext, here: Here) -> None:
    """/approve or /decline without a name: the newcomers waiting, each with its buttons, privately."""
    tr = context.tr
    waiting = await member_store.pending_members(context.store, here.timebank.id, PENDING_LIST_LIMIT)
    if not waiting:
        await send_personal(context, here, tr("Nobody is waiting to join {title}.", title=here.timebank.title))
        return
    await send_personal(context, here, lines(bold(tr("Waiting to join {title}:", title=here.timebank.title)),
                                             tr("Say who, for example: /{command} @maria or /{command} #12",
                                                command="approve")))
    if here.private or context.runtime.can_dm(here.user_id):
        for member in waiting:
            await messaging.send(context.bot, here.user_id, newcomer_text(tr, member, here.timebank),
                                 markup=decision_markup(tr, member))


def _admin_command(action: str):
    @timebank_command(action, Who.ADMIN)
    async def command(context: BotContext, here: Here) -> None:
        await _command(context, here, action)

    return command


approve = _admin_command("approve")
decline = _admin_command("decline")
suspend = _admin_command("suspend")
reinstate = _admin_command("reinstate")


async def newcomer_button(update: Update, context: BotContext) -> None:
    """Approve / Decline under a join notice: only an admin of that group may press them."""
    query = update.callback_query
    button = NewcomerButton.parse(query.data)
    member = button and await member_store.by_id(context.store, button.member_id)
    timebank = member and context.runtime.timebanks_by_id.get(member.timebank_id)
    if not button or not member or not timebank:
        await messaging.alert(query, context.tr("I could not find that member."))
        return
    verdict = await may_administer(context, timebank, query.from_user.id)
    if await refuse_non_admin(context, verdict, lambda text: messaging.alert(query, text)):
        return
    tr = context.tr
    pressed = query.message if isinstance(query.message, Message) else None
    changed = await _decide(context, timebank, member, button.decision, query.from_user.id, None, topic_of(pressed))
    private = query.message is not None and query.message.chat.type == "private"
    if changed is None:
        already = tr("Already decided: {name} is {status}.", name=member.name,
                     status=views.status_name(tr, member.status))
        await messaging.alert(query, already)
        if not messaging.already_shows(query.message, already):
            await messaging.edit(context.bot, query.message.chat_id, query.message.message_id, already)
        return
    await query.answer()
    done = _done_text(context, button.decision, changed, query.from_user.full_name)
    if not private and button.decision in _PRIVATE_OUTCOMES:
        # The group notice only says it was decided; what was decided goes to the admin privately.
        await messaging.send_private(context.runtime, context.bot, query.from_user.id, done)
        done = tr("Decided by {admin}.", admin=query.from_user.full_name)
    await messaging.edit(context.bot, query.message.chat_id, query.message.message_id, done)
