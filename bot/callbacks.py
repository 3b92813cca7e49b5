"""Callback data: one typed pack/parse per button kind, so no handler splits strings.

Telegram gives a button at most 64 bytes of data. Each kind has a short prefix and a
fixed shape; the formats are those of earlier versions, so buttons already sitting in
people's chats keep working after an upgrade. `parse` returns None for data of another
kind or a malformed one; handlers are registered with `Kind.matches` as their pattern.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar, Literal, Self

ExchangeAction = Literal["confirm", "decline", "cancel"]
NewcomerDecision = Literal["approve", "decline"]

_EXCHANGE_CODES: dict[str, ExchangeAction] = {"c": "confirm", "d": "decline", "x": "cancel"}
_NEWCOMER_CODES: dict[str, NewcomerDecision] = {"a": "approve", "d": "decline"}


def _code_of(mapping: dict[str, str], value: str) -> str:
    return next(code for code, name in mapping.items() if name == value)


class _Button:
    """One kind of button: its data matches `_re`, and `_from` builds it from the match."""

    _re: ClassVar[re.Pattern[str]]

    @classmethod
    def _from(cls, match: re.Match[str]) -> Self:
        raise NotImplementedError

    @classmethod
    def parse(cls, data: object) -> Self | None:
        match = cls._re.match(data) if isinstance(data, str) else None
        return cls._from(match) if match else None

    @classmethod
    def matches(cls, data: object) -> bool:
        return cls.parse(data) is not None


@dataclass(frozen=True)
class ExchangeButton(_Button):
    """Confirm, Decline or Cancel one exchange: `x:c:42`."""

    action: ExchangeAction
    exchange_id: int
    _re: ClassVar[re.Pattern[str]] = re.compile(r"^x:([cdx]):(\d{1,18})$")

    def pack(self) -> str:
        return f"x:{_code_of(_EXCHANGE_CODES, self.action)}:{self.exchange_id}"  # type: ignore[arg-type]

    @classmethod
    def _from(cls, match: re.Match[str]) -> Self:
        return cls(_EXCHANGE_CODES[match[1]], int(match[2]))


@dataclass(frozen=True)
class PageButton(_Button):
    """A page of a list in one timebank: `h:3:10` (history), `b:3:10` (browse)."""

    list: Literal["h", "b"]
    timebank_id: int
    offset: int
    _re: ClassVar[re.Pattern[str]] = re.compile(r"^([hb]):(\d{1,18}):(\d{1,9})$")

    def pack(self) -> str:
        return f"{self.list}:{self.timebank_id}:{self.offset}"

    @classmethod
    def _from(cls, match: re.Match[str]) -> Self:
        return cls(match[1], int(match[2]), int(match[3]))  # type: ignore[arg-type]

    @classmethod
    def history(cls, data: object) -> bool:
        parsed = cls.parse(data)
        return parsed is not None and parsed.list == "h"

    @classmethod
    def browse(cls, data: object) -> bool:
        parsed = cls.parse(data)
        return parsed is not None and parsed.list == "b"


@dataclass(frozen=True)
class ClosePostButton(_Button):
    """Close one's own post: `p:c:7`."""

    post_id: int
    _re: ClassVar[re.Pattern[str]] = re.compile(r"^p:c:(\d{1,18})$")

    def pack(self) -> str:
        return f"p:c:{self.post_id}"

    @classmethod
    def _from(cls, match: re.Match[str]) -> Self:
        return cls(int(match[1]))


@dataclass(frozen=True)
class NewcomerButton(_Button):
    """Approve or decline a newcomer: `m:a:12`."""

    decision: NewcomerDecision
    member_id: int
    _re: ClassVar[re.Pattern[str]] = re.compile(r"^m:([ad]):(\d{1,18})$")

    def pack(self) -> str:
        return f"m:{_code_of(_NEWCOMER_CODES, self.decision)}:{self.member_id}"  # type: ignore[arg-type]

    @classmethod
    def _from(cls, match: re.Match[str]) -> Self:
        return cls(_NEWCOMER_CODES[match[1]], int(match[2]))


@dataclass(frozen=True)
class LanguageButton(_Button):
    """Choose a language: `l:es`."""

    code: str
    _re: ClassVar[re.Pattern[str]] = re.compile(r"^l:([A-Za-z_]{2,12})$")

    def pack(self) -> str:
        return f"l:{self.code}"

    @classmethod
    def _from(cls, match: re.Match[str]) -> Self:
        return cls(match[1])


@dataclass(frozen=True)
class FlowButton(_Button):
    """An answer to a guided flow's question: `f:<flow id>:<answer>`.

    The flow id ties the button to one run of the flow: a button of a flow that has
    ended (finished, cancelled, replaced) no longer matches the person's current flow.
    """

    flow_id: int
    answer: str
    _re: ClassVar[re.Pattern[str]] = re.compile(r"^f:(\d{1,18}):([A-Za-z0-9_.-]{1,40})$")

    def pack(self) -> str:
        return f"f:{self.flow_id}:{self.answer}"

    @classmethod
    def _from(cls, match: re.Match[str]) -> Self:
        return cls(int(match[1]), match[2])


@dataclass(frozen=True)
class TimebankChoiceButton(_Button):
    """The old "which timebank?" button (`tb:3`), from before flows: answered with a toast."""

    timebank_id: int
    _re: ClassVar[re.Pattern[str]] = re.compile(r"^tb:(\d{1,18})$")

    def pack(self) -> str:
        return f"tb:{self.timebank_id}"

    @classmethod
    def _from(cls, match: re.Match[str]) -> Self:
        return cls(int(match[1]))


@dataclass(frozen=True)
class AnonymousButton(_Button):
    """"Tap to confirm it's you" under an anonymous admin's command: `an:5`."""

    command_id: int
    _re: ClassVar[re.Pattern[str]] = re.compile(r"^an:(\d{1,18})$")

    def pack(self) -> str:
        return f"an:{self.command_id}"

    @classmethod
    def _from(cls, match: re.Match[str]) -> Self:
        return cls(int(match[1]))
