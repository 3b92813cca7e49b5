"""The real `python -m bot` process, long polling the fake Telegram; killed and restarted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot.fake_telegram import FakeTelegram
from tests.harness import button_data

GROUP = -1005550001
ROOT = Path(__file__).resolve().parent.parent


def bot_env(tg: FakeTelegram, tmp_path: Path, **extra: str) -> dict:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("BOT_", "DATABASE_", "WEBHOOK_"))}
    env.update(BOT_TOKEN=tg.token, BOT_API_BASE_URL=tg.base_url,
               DATABASE_URL=f"sqlite:///{tmp_path / 'timebank.sqlite3'}", PYTHONPATH=str(ROOT), **extra)
    return env


def start_bot(tg: FakeTelegram, tmp_path: Path) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-m", "bot"], cwd=tmp_path, env=bot_env(tg, tmp_path),
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        tg.wait_for(lambda t: any(method == "getUpdates" for method, _ in t.calls), timeout=20)
    except AssertionError:
        process.kill()
        raise AssertionError(process.communicate()[0].decode()) from None
    return process


def stop(bot: subprocess.Popen) -> None:
    bot.send_signal(signal.SIGTERM)
    try:
        bot.wait(timeout=15)
    except subprocess.TimeoutExpired:
        bot.kill()


def press(tg: FakeTelegram, user_id: int, message: dict, label: str) -> None:
    tg.callback_update(user_id, message["chat"]["id"], message["message_id"], button_data(message, label))


def newest(tg: FakeTelegram, chat_id: int, contains: str) -> dict:
    return tg.wait_for(lambda t: next((m for m in reversed(t.bot_messages(chat_id)) if contains in m["text"]), None),
                       timeout=10)


def join_and_approve(tg: FakeTelegram, ada: dict, people: tuple[dict, ...]) -> None:
    """The bot welcomes the group; each person joins and Ada approves them through the real bot."""
    tg.my_chat_member_update(GROUP, by_user_id=ada["id"])
    newest(tg, GROUP, "Hello, Paxton Green Timebank!")
    for person in people:
        tg.message_update(person["id"], GROUP, "/join")
        press(tg, ada["id"], newest(tg, ada["id"], f"{person['first_name']} (@{person['username']})"), "Approve")
        newest(tg, person["id"], "Good news")


@pytest.fixture
def fake():
    with FakeTelegram() as tg:
        yield tg


def test_main_flow_survives_sigkill_and_restart(fake, tmp_path):
    tg = fake
    ada = tg.add_user(11, "Ada", username="ada")
    alice = tg.add_user(12, "Alice", username="alice")
    bob = tg.add_user(13, "Bob", username="bob")
    tg.add_group(GROUP, "Paxton Green Timebank", creator=ada["id"], members=[12, 13])
    bot = start_bot(tg, tmp_path)
    try:
        join_and_approve(tg, ada, (alice, bob))
        tg.message_update(alice["id"], GROUP, "/gave @bob 2 gardening")
        press(tg, bob["id"], newest(tg, bob["id"], "Alice says they gave you 2 hours"), "Confirm")
        newest(tg, alice["id"], "Confirmed: you gave Bob 2 hours.")
        tg.message_update(bob["id"], GROUP, "/received @alice 1 shopping")  # left pending across the crash
        pending_ask = newest(tg, alice["id"], "Bob says you gave them 1 hour")
        tg.wait_until_consumed()
    finally:
        bot.send_signal(signal.SIGKILL)
        bot.wait(timeout=10)

    bot = start_bot(tg, tmp_path)
    try:
        press(tg, alice["id"], pending_ask, "Confirm")
        newest(tg, bob["id"], "Confirmed: Alice gave you 1 hour.")
        tg.message_update(alice["id"], alice["id"], "/balance")
        assert "Balance: +3 hours" in newest(tg, alice["id"], "Balance:")["text"]
        tg.message_update(bob["id"], bob["id"], "/balance")
        assert "Balance: -3 hours" in newest(tg, bob["id"], "Balance:")["text"]
        tg.message_update(bob["id"], GROUP, "/stats")
        stats = newest(tg, GROUP, "Hours exchanged")["text"]
        assert "2 members" in stats and "Hours exchanged: 3 hours" in stats
        assert not [e for e in tg.errors if e[0] in ("sendMessage", "editMessageText")]
        # Balances and the community account still sum to zero, and match the ledger entries.
        from storage import ledger
        from storage.db import open_sync

        conn = open_sync(tmp_path / "timebank.sqlite3")
        try:
            assert ledger.audit_sums.sync(conn, 1) == {"balances": 0, "entries": 0, "mismatched_accounts": 0,
                                                       "unbalanced_exchanges": 0}
        finally:
            conn.close()
    finally:
        stop(bot)


def test_a_guided_gave_survives_sigkill_in_the_middle(fake, tmp_path):
    tg = fake
    ada = tg.add_user(31, "Ada", username="ada")
    alice = tg.add_user(32, "Alice", username="alice")
    bob = tg.add_user(33, "Bob", username="bob")
    tg.add_group(GROUP, "Paxton Green Timebank", creator=ada["id"], members=[32, 33])
    bot = start_bot(tg, tmp_path)
    try:
        join_and_approve(tg, ada, (alice, bob))
        tg.message_update(alice["id"], alice["id"], "/gave")
        newest(tg, alice["id"], "Who did you give your time to?")
        tg.message_update(alice["id"], alice["id"], "@bob")
        how_long = newest(tg, alice["id"], "How long was it?")
        tg.wait_until_consumed()
    finally:
        bot.send_signal(signal.SIGKILL)
        bot.wait(timeout=10)

    bot = start_bot(tg, tmp_path)
    try:
        press(tg, alice["id"], how_long, "1.5 hours")
        newest(tg, alice["id"], "What was it?")
        tg.message_update(alice["id"], alice["id"], "a lift to the surgery")
        receipt = newest(tg, alice["id"], "Recorded: you gave Bob 1.5 hours.")
        assert "a lift to the surgery" in receipt["text"]
        press(tg, bob["id"], newest(tg, bob["id"], "Alice says they gave you 1.5 hours"), "Confirm")
        newest(tg, alice["id"], "Confirmed: you gave Bob 1.5 hours.")
    finally:
        stop(bot)


@pytest.mark.parametrize("env, says", [
    ({"BOT_TOKEN": ""}, "BOT_TOKEN is not set"),
    ({"BOT_TOKEN": "not-a-token"}, "BOT_TOKEN does not look like a bot token"),
    ({"DATABASE_URL": "postgres://localhost/timebank"}, "DATABASE_URL must look like sqlite:///"),
    ({"DATABASE_URL": "sqlite:////no/such/folder/timebank.sqlite3"}, "DATABASE_URL"),
    ({"DEFAULT_LANGUAGE": "xx"}, "DEFAULT_LANGUAGE"),
    ({"LOG_LEVEL": "verbose"}, "LOG_LEVEL"),
])
def test_bad_settings_end_with_one_clear_line_and_exit_code_2(fake, tmp_path, env, says):
    result = subprocess.run([sys.executable, "-m", "bot"], cwd=tmp_path, env={**bot_env(fake, tmp_path), **env},
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_webhook_mode_answers_only_calls_with_the_secret(fake, tmp_path):
    import httpx

    tg = fake
    port = free_port()
    alice = tg.add_user(21, "Alice", username="alice")
    env = bot_env(tg, tmp_path, WEBHOOK_URL="https://timebank.example", PORT=str(port), WEBHOOK_SECRET="s3cret")
    bot = subprocess.Popen([sys.executable, "-m", "bot"], cwd=tmp_path, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        hook = tg.wait_for(lambda t: next((p for m, p in t.calls if m == "setWebhook"), None), timeout=20)
        assert hook["url"] == "https://timebank.example/telegram" and hook["secret_token"] == "s3cret"
        update = tg.message_update(alice["id"], alice["id"], "/start", queue=False)
        url = f"http://127.0.0.1:{port}/telegram"
        deadline = time.monotonic() + 10
        while True:  # the web server comes up just after setWebhook
            try:
                refused = httpx.post(url, json=update, timeout=5)
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        assert refused.status_code == 403
        accepted = httpx.post(url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "s3cret"}, timeout=5)
        assert accepted.status_code == 200
        newest(tg, alice["id"], "Hello Alice!")
    finally:
        stop(bot)
