"""The ledger's rules as plain functions, without Telegram or a database."""

import pytest

from timebank import rules
from timebank.rules import Refusal, RuleError


@pytest.mark.parametrize("typed, minutes", [
    ("2", 120), ("1.5", 90), ("1,5", 90), ("1h30", 90), ("1:30", 90), ("90m", 90), ("45 min", 45),
    ("0.25", 15), ("2h", 120), ("2 hours", 120), ("1 hora", 60), ("30 minutos", 30), ("12", 720),
    (" 3 ", 180), ("1H15", 75),
    ("1 h 30", 90), ("1 hr 30 min", 90), ("1 hour 30", 90), ("1 hour 30 minutes", 90), ("2h15m", 135),
    ("half an hour", 30), ("media hora", 30), ("1 hora 30 minutos", 90),
])
def test_amounts_people_type_are_read_as_minutes(typed, minutes):
    assert rules.parse_minutes(typed) == minutes


@pytest.mark.parametrize("typed, refusal", [
    ("abc", Refusal.AMOUNT_UNREADABLE),
    ("2.3", Refusal.AMOUNT_NOT_STEP),
    ("0", Refusal.AMOUNT_NOT_POSITIVE),
    ("-1", Refusal.AMOUNT_NOT_POSITIVE),
    ("10m", Refusal.AMOUNT_NOT_STEP),
    ("1:75", Refusal.AMOUNT_UNREADABLE),
    ("2 apples", Refusal.AMOUNT_UNREADABLE),
    ("", Refusal.AMOUNT_UNREADABLE),
    ("1.5.2", Refusal.AMOUNT_UNREADABLE),
])
def test_unreadable_or_off_grid_amounts_are_refused(typed, refusal):
    with pytest.raises(RuleError) as caught:
        rules.parse_minutes(typed)
    assert caught.value.refusal is refusal


@pytest.mark.parametrize("typed, minutes, rest", [
    ("1 h 30 gardening", 90, "gardening"),
    ("1 hr 30 min gardening", 90, "gardening"),
    ("1 hour 30 a lift", 90, "a lift"),
    ("2 hours weeding", 120, "weeding"),
    ("half an hour tea", 30, "tea"),
])
def test_spaced_amounts_are_read_whole_not_cut_after_the_first_word(typed, minutes, rest):
    assert rules.split_amount(typed) == (minutes, rest)


@pytest.mark.parametrize("typed", ["1 30 gardening", "2 3 chairs", "1 h 30 30 tea"])
def test_an_amount_that_could_be_read_two_ways_is_not_guessed(typed):
    with pytest.raises(RuleError) as caught:
        rules.split_amount(typed)
    assert caught.value.refusal in (Refusal.AMOUNT_AMBIGUOUS, Refusal.AMOUNT_UNREADABLE)


def test_amount_and_description_are_split_where_the_amount_ends():
    assert rules.split_amount("2 gardening and weeding") == (120, "gardening and weeding")
    assert rules.split_amount("45 min a lift") == (45, "a lift")
    assert rules.split_amount("1h30") == (90, "")
    assert rules.split_amount("") == (None, "")
    with pytest.raises(RuleError):
        rules.split_amount("gardening 2")


def test_an_exchange_larger_than_the_maximum_is_refused():
    rules.check_amount(720, 720)
    with pytest.raises(RuleError) as caught:
        rules.check_amount(735, 720)
    assert caught.value.refusal is Refusal.AMOUNT_TOO_LARGE


@pytest.mark.parametrize("me, other, same, refusal", [
    (None, "active", False, Refusal.NOT_A_MEMBER),
    ("pending", "active", False, Refusal.YOU_ARE_PENDING),
    ("suspended", "active", False, Refusal.YOU_ARE_SUSPENDED),
    ("active", "active", True, Refusal.SELF_EXCHANGE),
    ("active", None, False, Refusal.COUNTERPARTY_NOT_MEMBER),
    ("active", "pending", False, Refusal.COUNTERPARTY_PENDING),
    ("active", "suspended", False, Refusal.COUNTERPARTY_SUSPENDED),
    ("active", "left", False, Refusal.COUNTERPARTY_LEFT),
])
def test_only_two_different_active_members_can_exchange(me, other, same, refusal):
    with pytest.raises(RuleError) as caught:
        rules.check_can_exchange(me, other, same)
    assert caught.value.refusal is refusal


def test_only_the_party_who_did_not_record_may_confirm():
    recorded_by_provider = rules.ExchangeParties(provider_id=1, receiver_id=2, recorded_by=1)
    rules.check_may_decide(recorded_by_provider, 2)
    for someone in (1, 3, None):
        with pytest.raises(RuleError):
            rules.check_may_decide(recorded_by_provider, someone)
    recorded_by_receiver = rules.ExchangeParties(provider_id=1, receiver_id=2, recorded_by=2)
    rules.check_may_decide(recorded_by_receiver, 1)
    rules.check_may_cancel(recorded_by_receiver, 2)
    with pytest.raises(RuleError):
        rules.check_may_cancel(recorded_by_receiver, 1)


def test_the_receiver_may_not_go_below_the_floor():
    rules.check_floor(receiver_balance=-480, minutes=120, floor_minutes=-600)
    with pytest.raises(RuleError) as caught:
        rules.check_floor(receiver_balance=-480, minutes=135, floor_minutes=-600)
    assert caught.value.refusal is Refusal.BELOW_FLOOR


def test_a_transfer_is_two_movements_that_sum_to_zero():
    movements = rules.double_entry(provider_account=7, receiver_account=9, minutes=90)
    assert movements == [(7, 90), (9, -90)]
    assert sum(minutes for _, minutes in movements) == 0
