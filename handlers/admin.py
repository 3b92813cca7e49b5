"""Admin commands: approve or decline newcomers, suspend and reinstate members."""

from __future__ import annotations

from telegram import Message, Update

from bot import messaging
from bot.context import BotContext
from handlers.common import args_text, in_timebank, reply, tell_member
from handlers.membership import status_name
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
                  reason: str | None) -> Member | None:
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
    await tell_member(context, changed, text, timebank=timebank)
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


async def _command(context: BotContext, message: Message, timebank: Timebank, action: str) -> None:
    tr = context.tr
    if not await context.runtime.is_admin(context.bot, timebank.chat_id, message.from_user.id):
        await reply(context, message, tr("Only an admin of the group can do that."))
        return
    ref = await find_member(context.store, timebank.id, message, args_text(message))
    if ref is None:
        await reply(context, message, tr("Say who, for example: /{command} @maria or /{command} #12",
                                         command=action))
        return
    if ref.member is None:
        await reply(context, message, tr("I do not know {who} in this timebank. Check the name, or use their "
                                         "member number like #12.", who=ref.named))
        return
    reason = messaging.shorten(ref.rest, 200) or None
    changed = await _decide(context, timebank, ref.member, action, message.from_user.id, reason)
    if changed is None:
        await reply(context, message, tr("Nothing to do: {name} is {status}.", name=ref.member.name,
                                         status=status_name(tr, ref.member.status)))
        return
    await reply(context, message, _done_text(context, action, changed, message.from_user.full_name))


def _admin_command(action: str):
    @in_timebank(action)
    async def command(context: BotContext, message: Message, timebank: Timebank) -> None:
        await _command(context, message, timebank, action)

    return command


approve = _admin_command("approve")
decline = _admin_command("decline")
suspend = _admin_command("suspend")
reinstate = _admin_command("reinstate")


async def newcomer_button(update: Update, context: BotContext) -> None:
    """Approve / Decline under a join notice: only an admin of that group may press them."""
    query = update.callback_query
    _, verb, raw_id = query.data.split(":")
    action = "approve" if verb == "a" else "decline"
    member = await member_store.by_id(context.store, int(raw_id))
    timebank = member and context.runtime.timebanks_by_id.get(member.timebank_id)
    if not timebank:
        await messaging.alert(query, context.tr("I could not find that member."))
        return
    if not await context.runtime.is_admin(context.bot, timebank.chat_id, query.from_user.id):
        await messaging.alert(query, context.tr("Only an admin of the group can do that."))
        return
    changed = await _decide(context, timebank, member, action, query.from_user.id, None)
    if changed is None:
        await messaging.alert(query, context.tr("Already decided: {name} is {status}.", name=member.name,
                                      status=status_name(context.tr, member.status)))
        await messaging.edit(context.bot, query.message.chat_id, query.message.message_id,
                             context.tr("Already decided: {name} is {status}.", name=member.name,
                                        status=status_name(context.tr, member.status)))
        return
    await query.answer()
    await messaging.edit(context.bot, query.message.chat_id, query.message.message_id,
                         _done_text(context, action, changed, query.from_user.full_name))
