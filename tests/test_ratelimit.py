"""Pacing within Telegram's limits: the arithmetic, without Telegram."""

from bot.ratelimit import gcra


def test_a_burst_goes_at_once_then_requests_are_spaced_evenly():
    tat, waits = 0.0, []
    for _ in range(35):
        wait, tat = gcra(tat, now=100.0, interval=1 / 30, burst=30)
        waits.append(wait)
    assert waits[:30] == [0.0] * 30
    assert [round(w, 4) for w in waits[30:]] == [round(k / 30, 4) for k in range(1, 6)]


def test_after_a_quiet_spell_the_full_burst_is_available_again():
    tat = 0.0
    for _ in range(30):
        _, tat = gcra(tat, now=100.0, interval=1 / 30, burst=30)
    wait, _ = gcra(tat, now=200.0, interval=1 / 30, burst=30)
    assert wait == 0.0


def test_a_group_gets_twenty_messages_a_minute():
    tat, sent_at = 0.0, []
    for _ in range(22):
        wait, tat = gcra(tat, now=0.0, interval=3.0, burst=20)
        sent_at.append(wait)
    assert sent_at[19] == 0.0 and sent_at[20] == 3.0 and sent_at[21] == 6.0
