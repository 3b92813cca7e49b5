"""THE command table: name, menu description, handler, who may use it.

Handler registration (bot/app.py), the command menus Telegram shows (per language and
scope) and /help are all derived from this one list: adding a command is one entry here,
its handler and its catalog strings.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from telegram import Update

from bot.i18n import N_
from bot.runtime import CommandInfo
from handlers import admin, exchanges, membership, posts

Callback = Callable[[Update, Any], Coroutine[Any, Any, None]]


@dataclass(frozen=True)
class Command:
    name: str
    description: str        # marked with N_, translated where it is shown
    handler: Callback
    admin: bool = False     # in the admins' menu and /help section only

    @property
    def info(self) -> CommandInfo:
        return CommandInfo(self.name, self.description, self.admin)


# In the order /help and Telegram's menu show them.
COMMANDS: list[Command] = [
    Command("join", N_("Join this timebank"), membership.join),
    Command("offer", N_("Offer your help"), posts.offer),
    Command("request", N_("Ask for help"), posts.request),
    Command("browse", N_("See offers and requests"), posts.browse),
    Command("myposts", N_("Your offers and requests"), posts.myposts),
    Command("gave", N_("Record time you gave"), exchanges.gave),
    Command("received", N_("Record time you received"), exchanges.received),
    Command("pending", N_("Exchanges waiting for confirmation"), exchanges.pending),
    Command("balance", N_("Your balance"), exchanges.balance),
    Command("history", N_("Your exchanges"), exchanges.history),
    Command("stats", N_("What the timebank has done together"), exchanges.stats),
    Command("language", N_("Choose your language"), membership.language),
    Command("help", N_("What I can do"), membership.help_command),
    Command("cancel", N_("Stop what you are doing"), membership.cancel),
    Command("approve", N_("Approve a new member"), admin.approve, admin=True),
    Command("decline", N_("Decline a new member"), admin.decline, admin=True),
    Command("suspend", N_("Suspend a member"), admin.suspend, admin=True),
    Command("reinstate", N_("Lift a suspension"), admin.reinstate, admin=True),
]


def table() -> list[CommandInfo]:
    return [command.info for command in COMMANDS]
