"""The domain's nouns as plain dataclasses: storage builds them, handlers and views read them.

No Telegram and no SQL here (a test reads the imports)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Timebank:
    id: int
    chat_id: int
    title: str
    language: str | None
    approval_required: bool
    min_balance: int
    max_exchange: int
    exchange_expiry_days: int
    post_days: int
    weekly_digest: bool
    in_group: bool
    welcome_message_id: int | None


@dataclass(frozen=True)
class Member:
    id: int
    timebank_id: int
    user_id: int
    number: int
    status: str
    account_id: int
    balance: int = 0
    given_minutes: int = 0
    received_minutes: int = 0
    exchanges_count: int = 0
    people_helped: int = 0
    first_name: str = ""
    last_name: str | None = None
    username: str | None = None
    language: str | None = None
    language_code: str | None = None
    can_dm: int | None = None

    @property
    def name(self) -> str:
        full = " ".join(part for part in (self.first_name, self.last_name) if part)
        return full or f"#{self.number}"


@dataclass(frozen=True)
class Exchange:
    id: int
    timebank_id: int
    provider_id: int
    receiver_id: int
    recorded_by: int
    minutes: int
    description: str
    state: str
    created_at: int
    expires_at: int
    decided_at: int | None
    ask_chat_id: int | None
    ask_message_id: int | None
    receipt_chat_id: int | None
    receipt_message_id: int | None
    provider: Member
    receiver: Member
    topic_id: int | None = None  # the forum topic it was recorded in; None: General

    @property
    def recorder(self) -> Member:
        return self.provider if self.recorded_by == self.provider_id else self.receiver

    @property
    def counterparty(self) -> Member:
        return self.receiver if self.recorded_by == self.provider_id else self.provider


@dataclass(frozen=True)
class Post:
    id: int
    timebank_id: int
    author_id: int
    kind: str
    category: str | None
    text: str
    status: str
    created_at: int
    expires_at: int
    announce_chat_id: int | None
    announce_message_id: int | None
    author_name: str = ""
    author_number: int = 0
    topic_id: int | None = None  # the forum topic it was announced in; None: General


@dataclass(frozen=True)
class Flow:
    """A guided command in progress: which command, which question is waiting, the answers so far."""

    id: int
    user_id: int
    command: str
    step: str
    chat_id: int
    timebank_id: int | None
    answers: dict
    message_id: int | None
    message_buttons: bool = False


@dataclass(frozen=True)
class Stats:
    members: int
    minutes_exchanged: int
    minutes_this_month: int
    exchanges: int
    helper_pairs: int


@dataclass(frozen=True)
class Page:
    items: list
    offset: int
    has_more: bool


@dataclass(frozen=True)
class Entry:
    """One leg of a transfer: minutes into (+) or out of (−) an account."""

    account_id: int
    minutes: int
    balance: int | None = None  # the account's balance right after the transfer, when its writer returns it


@dataclass(frozen=True)
class Transfer:
    """Minutes moved between accounts of one timebank, in legs that sum to zero; never changed once written.

    kind: 'exchange' (a confirmed exchange), 'grant' (community account → members),
    'donation' (member → community account) or 'reversal' (every leg of `reverses_id` negated).
    """

    id: int
    timebank_id: int
    kind: str
    actor_user_id: int  # Telegram user id of who did it; for an exchange, the one who confirmed
    reason: str | None
    exchange_id: int | None
    post_id: int | None
    reverses_id: int | None
    created_at: int
    legs: tuple[Entry, ...] = ()
