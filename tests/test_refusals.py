"""Every way the rules say no has its own sentence, in every shipped language."""

from __future__ import annotations

import pytest

from bot.i18n import Catalogs
from handlers.common import refusal_text
from timebank.rules import Refusal, RuleError

FALLBACK = "I could not find that."


@pytest.mark.parametrize("refusal", [r for r in Refusal if r is not Refusal.NOT_FOUND])
def test_each_refusal_has_its_own_message(refusal):
    text = refusal_text(Catalogs("en").get("en"), RuleError(refusal, limit_minutes=-600, balance_minutes=-540))
    assert text != FALLBACK


@pytest.mark.parametrize("refusal", list(Refusal))
def test_each_refusal_is_translated(refusal):
    catalogs = Catalogs("en")
    error = RuleError(refusal, limit_minutes=-600, balance_minutes=-540)
    assert refusal_text(catalogs.get("es"), error) != refusal_text(catalogs.get("en"), error)


def test_someone_elses_balance_is_never_in_a_refusal():
    error = RuleError(Refusal.BELOW_FLOOR, limit_minutes=-600, balance_minutes=-540)
    text = refusal_text(Catalogs("en").get("en"), error, own_balance=False)
    assert "-10 hours" in text and "-9 hours" not in text
