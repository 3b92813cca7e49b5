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
    AMOUNT_AMBIGUOUS = "amount_ambiguous"
    UNBALANCED_TRANSFER = "unbalanced_transfer"  # legs that do not make a transfer (see check_legs)
    ALREADY_REVERSED = "already_reversed"
    NOT_REVERSIBLE = "not_reversible"            # a reversal is not reversed again: post a new transfer


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
_HOUR = "|".join(sorted(_HOUR_WORDS, key=len, reverse=True))
_MINUTE = "|".join(sorted(_MINUTE_WORDS, key=len, reverse=True))
# 1h30, 1:30, 1 h 30, 1 hr 30 min, 1 hour 30 minutes, 2h15m
_HOURS_MINUTES = re.compile(rf"^(\d+)\s*(?::|(?:{_HOUR})\b|(?:{_HOUR})(?=\d))\s*(\d{{1,2}})\s*(?:{_MINUTE})?$")
_NUMBER_UNIT = re.compile(rf"^({_NUMBER})\s*([a-z]*)$")
# Words for amounts without digits.
_WORDS = {"half an hour": 30, "half hour": 30, "media hora": 30, "an hour": 60, "one hour": 60, "una hora": 60,
          "a quarter of an hour": 15, "quarter of an hour": 15, "quarter hour": 15, "un cuarto de hora": 15,
          "cuarto de hora": 15}


def parse_minutes(text: str) -> int:
    """Read an amount of time as people type it: `2`, `1.5`, `1,5`, `1h30`, `1:30`, `90m`, `45 min`,
    `1 h 30`, `1 hr 30 min`, `2 hours`, `half an hour`.

    Returns whole minutes, a positive multiple of 15. Raises RuleError otherwise.
    """
    raw = " ".join(text.strip().lower().split())
    if re.match(r"^[-−]\s*\d", raw):
        raise RuleError(Refusal.AMOUNT_NOT_POSITIVE)
    minutes: float
    if raw in _WORDS:
        minutes = _WORDS[raw]
    elif match := _HOURS_MINUTES.match(raw):
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


_LONGEST_AMOUNT = 5  # words: "a quarter of an hour", "1 hour 30 minutes"


def split_amount(text: str) -> tuple[int | None, str]:
    """The amount at the start of `text` and what follows: `1 h 30 gardening` → (90, "gardening").

    (None, text) when no amount was written at all. The longest reading wins; when what
    follows it still looks like part of an amount (`1 30 gardening`), it is refused as
    AMOUNT_AMBIGUOUS rather than guessed, so the person is asked.
    """
    words = text.split()
    if not words:
        return None, ""
    if not looks_like_amount(words[0]) and not any(" ".join(words[:k]).lower() in _WORDS
                                                   for k in range(2, _LONGEST_AMOUNT + 1)):
        raise RuleError(Refusal.AMOUNT_UNREADABLE)
    for length in range(min(_LONGEST_AMOUNT, len(words)), 0, -1):
        try:
            minutes = parse_minutes(" ".join(words[:length]))
        except RuleError as error:
            if error.refusal is Refusal.AMOUNT_UNREADABLE and length > 1:
                continue  # not an amount this long: try a shorter reading
            raise
        rest = words[length:]
        if rest and (looks_like_amount(rest[0]) or rest[0].lower() in _HOUR_WORDS | _MINUTE_WORDS):
            raise RuleError(Refusal.AMOUNT_AMBIGUOUS)
        return minutes, " ".join(rest)
    raise RuleError(Refusal.AMOUNT_UNREADABLE)


def check_active(status: str | None) -> None:
    """Posting and exchanging are for active members only."""
    if status is None:
        raise RuleError(Refusal.NOT_A_MEMBER)
    if status != "active":
        raise RuleError(_SELF_REFUSAL[status])


# --- transfers: the ledger's only movement ------------------------------------------------

TRANSFER_KINDS = ("exchange", "grant", "donation", "reversal")


def check_legs(legs: list[tuple[int, int]]) -> None:
    """A transfer's legs (account, minutes): two or more accounts, each once, none zero, summing to zero."""
    if len(legs) < 2 or len({account for account, _ in legs}) != len(legs):
        raise RuleError(Refusal.UNBALANCED_TRANSFER)
    if any(minutes == 0 for _, minutes in legs):
        raise RuleError(Refusal.AMOUNT_NOT_POSITIVE)
    if sum(minutes for _, minutes in legs) != 0:
        raise RuleError(Refusal.UNBALANCED_TRANSFER)


def check_transfer_amount(minutes: int) -> None:
    """A grant or a donation: a positive number of quarter hours (no per-exchange limit: it is no exchange)."""
    if minutes <= 0:
        raise RuleError(Refusal.AMOUNT_NOT_POSITIVE)
    if minutes % STEP_MINUTES:
        raise RuleError(Refusal.AMOUNT_NOT_STEP)


def check_grant_recipient(status: str | None) -> None:
    """Hours from the community account go to active members of the timebank only."""
    if status is None:
        raise RuleError(Refusal.COUNTERPARTY_NOT_MEMBER)
    if status != "active":
        raise RuleError(_MEMBER_REFUSAL[status])


def grant_legs(community_account: int, member_accounts: list[int], minutes: int) -> list[tuple[int, int]]:
    """The community account pays every member the same minutes."""
    return [(community_account, -minutes * len(member_accounts))] + [(account, minutes) for account in member_accounts]


def donation_legs(member_account: int, community_account: int, minutes: int) -> list[tuple[int, int]]:
    return [(member_account, -minutes), (community_account, minutes)]


def check_reversible(kind: str, already_reversed: bool) -> None:
    if kind == "reversal":
        raise RuleError(Refusal.NOT_REVERSIBLE)
    if already_reversed:
        raise RuleError(Refusal.ALREADY_REVERSED)


def reversal_legs(legs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Every leg negated: the accounts end where they were before the transfer."""
    return [(account, -minutes) for account, minutes in legs]
