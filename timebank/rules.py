"""The timebank's rules as plain functions: no Telegram, no SQL.

Time is whole minutes. Every refusal is a `Refusal` value that handlers turn into a
translated message; nothing here formats text for people.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from timebank.models import Exchange

STEP_MINUTES = 15


class Refusal(enum.Enum):
    """Why something was refused; each has one translated message (handlers/messages.py)."""

    AMOUNT_UNREADABLE = "amount_unreadable"
    AMOUNT_NOT_POSITIVE = "amount_not_positive"
    AMOUNT_NOT_STEP = "amount_not_step"
    AMOUNT_TOO_LARGE = "amount_too_large"
    SELF_EXCHANGE = "self_exchange"
    NOT_A_MEMBER = "not_a_member"
    COUNTERPARTY_NOT_MEMBER = "counterparty_not_member"
    COUNTERPARTY_PENDING = "counterparty_pending"
    COUNTERPARTY_SUSPENDED = "counterparty_suspended"
    COUNTERPARTY_LEFT = "counterparty_left"
    YOU_ARE_PENDING = "you_are_pending"
    YOU_ARE_SUSPENDED = "you_are_suspended"
    YOU_LEFT = "you_left"
    BELOW_FLOOR = "below_floor"
    NOT_YOURS_TO_CONFIRM = "not_yours_to_confirm"
    NOT_YOURS_TO_CANCEL = "not_yours_to_cancel"
    ALREADY_DECIDED = "already_decided"
    NOT_FOUND = "not_found"


class RuleError(Exception):
    """A rule said no. The fields carry what a message needs to explain it, and nothing else."""

    def __init__(self, refusal: Refusal, *, limit_minutes: int | None = None, balance_minutes: int | None = None,
                 exchange: Exchange | None = None) -> None:
        super().__init__(refusal.value)
        self.refusal = refusal
        self.limit_minutes = limit_minutes      # the timebank's limit that was hit (most per exchange, lowest balance)
        self.balance_minutes = balance_minutes  # the balance that would have gone below it
        self.exchange = exchange                # the exchange as it stands, when it was already settled


# Units people type after a number, in the languages we ship.
_HOUR_WORDS = {"h", "hr", "hrs", "hour", "hours", "hora", "horas"}
_MINUTE_WORDS = {"m", "min", "mins", "minute", "minutes", "minuto", "minutos"}
_NUMBER = r"\d+(?:[.,]\d+)?"
_HOURS_MINUTES = re.compile(r"^(\d+)\s*(?:h|:)\s*(\d{1,2})\s*(?:m|min|mins)?$")
_NUMBER_UNIT = re.compile(rf"^({_NUMBER})\s*([a-z]*)$")


def parse_minutes(text: str) -> int:
    """Read an amount of time as people type it: `2`, `1.5`, `1,5`, `1h30`, `1:30`, `90m`, `45 min`.

    Returns whole minutes, a positive multiple of 15. Raises RuleError otherwise.
    """
    raw = text.strip().lower()
    if re.match(r"^[-−]\s*\d", raw):
        raise RuleError(Refusal.AMOUNT_NOT_POSITIVE)
    minutes: float
    if match := _HOURS_MINUTES.match(raw):
        hours, mins = int(match.group(1)), int(match.group(2))
        if mins >= 60:
            raise RuleError(Refusal.AMOUNT_UNREADABLE)
        minutes = hours * 60 + mins
    elif match := _NUMBER_UNIT.match(raw):
        number = float(match.group(1).replace(",", "."))
        unit = match.group(2)
        if unit in ("",) or unit in _HOUR_WORDS:
            minutes = number * 60
        elif unit in _MINUTE_WORDS:
            minutes = number
        else:
            raise RuleError(Refusal.AMOUNT_UNREADABLE)
    else:
        raise RuleError(Refusal.AMOUNT_UNREADABLE)
    if minutes <= 0:
        raise RuleError(Refusal.AMOUNT_NOT_POSITIVE)
    whole = round(minutes)
    # 2.3 h is 138 minutes: not on the 15-minute grid, so refuse rather than round.
    if abs(minutes - whole) > 1e-9 or whole % STEP_MINUTES:
        raise RuleError(Refusal.AMOUNT_NOT_STEP)
    return whole


def looks_like_amount(text: str) -> bool:
    """True when a word is meant as an amount (even a wrong one), so it is not read as a description."""
    return bool(re.match(r"^[-−]?\d", text.strip()))


def check_amount(minutes: int, max_minutes: int) -> None:
    if minutes <= 0:
        raise RuleError(Refusal.AMOUNT_NOT_POSITIVE)
    if minutes % STEP_MINUTES:
        raise RuleError(Refusal.AMOUNT_NOT_STEP)
    if minutes > max_minutes:
        raise RuleError(Refusal.AMOUNT_TOO_LARGE, limit_minutes=max_minutes)


_MEMBER_REFUSAL = {
    "pending": Refusal.COUNTERPARTY_PENDING,
    "suspended": Refusal.COUNTERPARTY_SUSPENDED,
    "left": Refusal.COUNTERPARTY_LEFT,
}
_SELF_REFUSAL = {
    "pending": Refusal.YOU_ARE_PENDING,
    "suspended": Refusal.YOU_ARE_SUSPENDED,
    "left": Refusal.YOU_LEFT,
}


def check_can_exchange(me_status: str | None, other_status: str | None, same_person: bool) -> None:
    """Both people must be active members of the timebank, and different people."""
    if me_status is None:
        raise RuleError(Refusal.NOT_A_MEMBER)
    if me_status != "active":
        raise RuleError(_SELF_REFUSAL[me_status])
    if same_person:
        raise RuleError(Refusal.SELF_EXCHANGE)
    if other_status is None:
        raise RuleError(Refusal.COUNTERPARTY_NOT_MEMBER)
    if other_status != "active":
        raise RuleError(_MEMBER_REFUSAL[other_status])


@dataclass(frozen=True)
class ExchangeParties:
    provider_id: int
    receiver_id: int
    recorded_by: int

    @property
    def counterparty_id(self) -> int:
        """The one who did not record it: only they may confirm or decline."""
        return self.receiver_id if self.recorded_by == self.provider_id else self.provider_id


def check_may_decide(parties: ExchangeParties, member_id: int | None) -> None:
    if member_id != parties.counterparty_id:
        raise RuleError(Refusal.NOT_YOURS_TO_CONFIRM)


def check_may_cancel(parties: ExchangeParties, member_id: int | None) -> None:
    if member_id != parties.recorded_by:
        raise RuleError(Refusal.NOT_YOURS_TO_CANCEL)


def check_floor(receiver_balance: int, minutes: int, floor_minutes: int) -> None:
    """The receiver pays: their balance may not end below the timebank's lowest balance."""
    if receiver_balance - minutes < floor_minutes:
        raise RuleError(Refusal.BELOW_FLOOR, limit_minutes=floor_minutes, balance_minutes=receiver_balance)


def double_entry(provider_account: int, receiver_account: int, minutes: int) -> list[tuple[int, int]]:
    """The two movements of a transfer: they always sum to zero."""
    return [(provider_account, minutes), (receiver_account, -minutes)]


def split_amount(text: str) -> tuple[int | None, str]:
    """The amount at the start of `text` (one or two words: `2`, `45 min`) and what follows.

    (None, text) when no amount was written at all.
    """
    words = text.split()
    if not words:
        return None, ""
    if not looks_like_amount(words[0]):
        raise RuleError(Refusal.AMOUNT_UNREADABLE)
    if len(words) >= 2:
        try:
            return parse_minutes(f"{words[0]} {words[1]}"), " ".join(words[2:])
        except RuleError:
            pass
    return parse_minutes(words[0]), " ".join(words[1:])


def check_active(status: str | None) -> None:
    """Posting and exchanging are for active members only."""
    if status is None:
        raise RuleError(Refusal.NOT_A_MEMBER)
    if status != "active":
        raise RuleError(_SELF_REFUSAL[status])
