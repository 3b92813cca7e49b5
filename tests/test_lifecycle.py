"""Starting and stopping the real `python -m bot` process: SIGTERM in a burst of confirmations (with
Telegram there, refusing connections, or not answering at all), a second bot on the same token,
webhook mode's health path and secret, disk-less platforms, backups. All against the fake Bot API.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from telegram.error import NetworkError

from bot.__main__ import CONFLICT_LINE, LOG_FILTER, Stopping, TelegramGate, Trouble
from bot.callbacks import ExchangeButton
from bot.fake_telegram import FakeTelegram
from bot.settings import Mount, SettingsError, check_persistent, load_settings, mount_of, on_persistent_volume
from storage import ledger
from storage import members as member_store
from storage import timebanks as timebank_store
from storage.db import open_sync

ROOT = Path(__file__).resolve().parent.parent
GROUP = -1005550077
TITLE = "Paxton Green Timebank"
STOP_BUDGET = 5.0  # Fly.io's default kill_timeout; Railway gets 10 s (deploy/railway.sh)


# ------------------------------------------------------------------ the bot as a process


def bot_env(base_url: str, token: str, db: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("BOT_", "DATABASE_", "WEBHOOK_", "LITESTREAM_", "TIMEBANK_"))
           and k not in ("DYNO", "K_SERVICE", "FLY_APP_NAME", "RENDER_SERVICE_ID", "RAILWAY_SERVICE_ID", "PORT")}
    env.update(BOT_TOKEN=token, BOT_API_BASE_URL=base_url, DATABASE_URL=f"sqlite:///{db}", PYTHONPATH=str(ROOT),
               **extra)
    return env


class Bot:
    """`python -m bot` (or any command) with its output in a log file."""

    def __init__(self, tmp: Path, env: dict[str, str], command: list[str] | None = None, name: str = "bot") -> None:
        self.log_path = tmp / f"{name}-{time.monotonic_ns()}.log"
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(command or [sys.executable, "-m", "bot"], cwd=tmp, env=env,
                                        stdout=self._log, stderr=subprocess.STDOUT)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def sigterm(self, budget: float = STOP_BUDGET) -> float:
        """SIGTERM; returns how long the process took to exit (fails past the budget)."""
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=budget)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"still running {budget} s after SIGTERM:\n{self.log()}") from None
        finally:
            self._log.close()
        return time.monotonic() - started

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._log.close()


def polls(tg: FakeTelegram) -> int:
    return sum(1 for method, _ in list(tg.calls) if method == "getUpdates")


def wait_polling(tg: FakeTelegram, bot: Bot, before: int = 0, timeout: float = 20) -> None:
    # Polled rather than tg.wait_for: the fake signals a change only when a long poll ends.
    deadline = time.monotonic() + timeout
    while polls(tg) <= before:
        if bot.process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"the bot never polled (exit code {bot.process.poll()}):\n{bot.log()}")
        time.sleep(0.01)


def wait_until(predicate, timeout: float = 20, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


# ------------------------------------------------------------------ a timebank with exchanges waiting


def call_fake(client: httpx.Client, tg: FakeTelegram, method: str, **params) -> dict:
    """Call the fake as the bot would (to leave messages the bot will later edit)."""
    reply = client.post(f"{tg.base_url}{tg.token}/{method}", json=params, timeout=5).json()
    assert reply["ok"], reply
    return reply["result"]


def seed_pending(tg: FakeTelegram, db: Path, pairs: int) -> list[dict]:
    """A timebank of 2×pairs members, each pair with a 1-hour exchange waiting for the receiver's Confirm.

    Written with the storage API (as the bot would have), with the request and receipt messages in
    the fake, as after /gave. Returns, per exchange, its id, the two users and the Confirm button.
    """
    now = int(time.time())
    conn = open_sync(db)
    conn.execute("PRAGMA synchronous=OFF")  # setting the stage: no need to wait for the disk
    client = httpx.Client()
    try:
        timebank, _ = timebank_store.ensure.sync(conn, GROUP, TITLE, now)
        users = [(7000 + i, f"Member{i}") for i in range(2 * pairs)]
        tg.add_user(6999, "Ada", username="ada")
        tg.add_group(GROUP, TITLE, creator=6999, members=[uid for uid, _ in users])
        members = {}
        for uid, name in users:
            tg.add_user(uid, name, username=name.lower(), language_code="en")
            member_store.upsert_user.sync(conn, uid, name, None, name.lower(), "en", now)
            member_store.set_can_dm.sync(conn, uid, True)
            members[uid], _ = member_store.join.sync(conn, timebank.id, uid, False, now)
        made = []
        for i in range(pairs):
            provider, receiver = users[2 * i][0], users[2 * i + 1][0]
            exchange, created = ledger.record.sync(conn, timebank.id, members[provider].id, members[receiver].id,
                                                   members[provider].id, 60, "gardening", None, now)
            assert created
            confirm = ExchangeButton("confirm", exchange.id).pack()
            ask = call_fake(client, tg, "sendMessage", chat_id=receiver, text=f"Member says they gave you 1 hour. #{i}",
                            reply_markup={"inline_keyboard": [[
                                {"text": "Confirm", "callback_data": confirm},
                                {"text": "Decline", "callback_data": ExchangeButton("decline", exchange.id).pack()}]]})
            cancel = ExchangeButton("cancel", exchange.id).pack()
            receipt = call_fake(client, tg, "sendMessage", chat_id=provider, text=f"Recorded: you gave 1 hour. #{i}",
                                reply_markup={"inline_keyboard": [[{"text": "Cancel", "callback_data": cancel}]]})
            ledger.set_messages.sync(conn, exchange.id, receiver, ask["message_id"], provider, receipt["message_id"])
            made.append({"id": exchange.id, "provider": provider, "receiver": receiver,
                         "ask": ask["message_id"], "confirm": confirm})
        return made
    finally:
        client.close()
        conn.close()


def exchange_states(db: Path) -> dict[int, str]:
    conn = sqlite3.connect(db)
    try:
        return dict(conn.execute("SELECT id, state FROM exchanges"))
    finally:
        conn.close()


def balances(db: Path) -> dict[int, int]:
    conn = sqlite3.connect(db)
    try:
        return dict(conn.execute("SELECT m.user_id, a.balance FROM members m JOIN accounts a ON a.id = m.account_id"))
    finally:
        conn.close()


def assert_each_confirmed_once(db: Path, made: list[dict]) -> None:
    """Every exchange confirmed, each counted exactly once, and the ledger's sums all zero."""
    states = exchange_states(db)
    assert [states[item["id"]] for item in made] == ["confirmed"] * len(made), states
    money = balances(db)
    for item in made:
        assert money[item["provider"]] == 60 and money[item["receiver"]] == -60, (item, money)
    conn = open_sync(db)
    try:
        assert ledger.audit_sums.sync(conn, 1) == {"balances": 0, "entries": 0, "mismatched_accounts": 0,
                                                   "unbalanced_exchanges": 0}
    finally:
        conn.close()


# ------------------------------------------------------------------ Telegram going away


class Relay:
    """A TCP relay between the bot and the fake Bot API, to make Telegram go away and come back.

    refuse(): connections are refused and open ones reset (Telegram down, DNS gone).
    blackhole(): connections are accepted and nothing ever answers (a network partition).
    """

    def __init__(self, target_port: int) -> None:
        self.target = ("127.0.0.1", target_port)
        self.mode = "open"
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._listener = self._listen(0)
        self.port = self._listener.getsockname()[1]

    def _listen(self, port: int) -> socket.socket:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen(64)
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return listener

    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            with self._lock:
                self._sockets.add(client)
            if self.mode == "blackhole":
                continue  # accepted, never answered
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets.add(upstream)
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                if self.mode == "blackhole":
                    continue  # swallowed: the other side waits forever
                sink.sendall(data)
        except OSError:
            pass
        if self.mode != "blackhole":
            for sock in (source, sink):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def _close_listener(self) -> None:
        try:
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept()
        except OSError:
            pass
        self._listener.close()

    def refuse(self) -> None:
        self.mode = "refuse"
        self._close_listener()
        with self._lock:
            sockets, self._sockets = list(self._sockets), set()
        for sock in sockets:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            except OSError:
                pass
            sock.close()  # a reset, as when the far end is gone

    def blackhole(self) -> None:
        self.mode = "blackhole"

    def close(self) -> None:
        self.mode = "closed"
        self._close_listener()
        with self._lock:
            for sock in self._sockets:
                sock.close()


@pytest.fixture
def fake():
    with FakeTelegram() as tg:
        yield tg


# ------------------------------------------------------------------ SIGTERM in a burst


@pytest.mark.parametrize("telegram", ["reachable", "refusing", "silent"])
def test_sigterm_in_a_burst_of_confirmations_loses_nothing_and_doubles_nothing(fake, tmp_path, telegram):
    tg = fake
    db = tmp_path / "timebank.sqlite3"
    made = seed_pending(tg, db, pairs=24)
    relay = Relay(int(tg.base_url.rsplit(":", 1)[1].split("/")[0]))
    bot = Bot(tmp_path, bot_env(relay.base_url(), tg.token, db))
    try:
        wait_polling(tg, bot)
        for item in made:  # 24 people press Confirm at once
            tg.callback_update(item["receiver"], item["receiver"], item["ask"], item["confirm"])
        wait_until(lambda: any(m == "answerCallbackQuery" for m, _ in list(tg.calls)), what="a first answer")
        if telegram == "refusing":
            relay.refuse()
        elif telegram == "silent":
            relay.blackhole()
        took = bot.sigterm()
    finally:
        bot.kill()
        relay.close()
    log = bot.log()
    assert bot.process.returncode == 0, log
    assert took < STOP_BUDGET
    assert f"database: {db.resolve()}" in log
    # Nothing taken is lost: every update Telegram no longer holds was handled to the end.
    acknowledged = len(made) - tg.pending_updates()
    confirmed = [i for i, state in exchange_states(db).items() if state == "confirmed"]
    assert len(confirmed) >= acknowledged, log

    # The next run takes what was left (Telegram delivers it again), and nothing counts twice.
    again = Bot(tmp_path, bot_env(tg.base_url, tg.token, db))
    try:
        wait_polling(tg, again, before=polls(tg))
        wait_until(lambda: all(s == "confirmed" for s in exchange_states(db).values()), what="every confirmation")
        again.sigterm()
    finally:
        again.kill()
    assert_each_confirmed_once(db, made)
    assert again.process.returncode == 0


def test_sigterm_while_telegram_cannot_be_reached_at_start(fake, tmp_path):
    relay = Relay(int(fake.base_url.rsplit(":", 1)[1].split("/")[0]))
    relay.refuse()
    bot = Bot(tmp_path, bot_env(relay.base_url(), fake.token, tmp_path / "timebank.sqlite3"))
    try:
        wait_until(lambda: "cannot be reached yet" in bot.log(), what="the bot to wait for Telegram")
        took = bot.sigterm()
    finally:
        bot.kill()
        relay.close()
    assert bot.process.returncode == 0 and took < 2, bot.log()
    assert "Traceback" not in bot.log()


def test_a_second_bot_on_the_same_token_is_one_log_line_not_a_traceback_loop(fake, tmp_path):
    first_dir, second_dir = tmp_path / "a", tmp_path / "b"
    first_dir.mkdir()
    second_dir.mkdir()
    first = Bot(first_dir, bot_env(fake.base_url, fake.token, first_dir / "timebank.sqlite3"))
    second = None
    try:
        wait_polling(fake, first)
        second = Bot(second_dir, bot_env(fake.base_url, fake.token, second_dir / "timebank.sqlite3"))

        def poke() -> bool:
            # The fake ends a long poll terminated by a newer one when something changes (as Telegram
            # does at once): make changes, so that each round of 409s takes a second, not ten.
            fake.add_user(9999, "Nobody")
            return True

        wait_until(lambda: poke() and CONFLICT_LINE in first.log() and CONFLICT_LINE in second.log(), timeout=20,
                   what="both bots to see the other")
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:  # several more rounds of 409s
            poke()
            time.sleep(0.05)
        first.sigterm()
        second.sigterm()
    finally:
        first.kill()
        if second is not None:
            second.kill()
    for bot in (first, second):
        assert bot is not None
        log = bot.log()
        assert log.count("409 Conflict") == 1, log
        assert "Traceback" not in log
        assert bot.process.returncode == 0


# ------------------------------------------------------------------ webhook mode


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_webhook_mode_health_path_secret_and_set_webhook(fake, tmp_path):
    tg = fake
    port = free_port()
    alice = tg.add_user(21, "Alice", username="alice")
    env = bot_env(tg.base_url, tg.token, tmp_path / "timebank.sqlite3", WEBHOOK_URL="https://timebank.example/",
                  PORT=str(port))  # no WEBHOOK_SECRET: one is derived from the token
    secret = load_settings(bot_token=tg.token, webhook_url="https://timebank.example").secret_token
    bot = Bot(tmp_path, env)
    base = f"http://127.0.0.1:{port}"
    try:
        hook = wait_until(lambda: next((p for m, p in list(tg.calls) if m == "setWebhook"), None),
                          what="setWebhook")
        assert hook["url"] == "https://timebank.example/telegram" and hook["secret_token"] == secret
        health = httpx.get(f"{base}/healthz", timeout=5)
        assert health.status_code == 200 and health.text == "ok\n"
        update = tg.message_update(alice["id"], alice["id"], "/start", queue=False)
        assert httpx.post(f"{base}/telegram", json=update, timeout=5).status_code == 403
        wrong = {"X-Telegram-Bot-Api-Secret-Token": secret[:-1] + "x"}
        assert httpx.post(f"{base}/telegram", json=update, headers=wrong, timeout=5).status_code == 403
        assert httpx.get(f"{base}/telegram", timeout=5).status_code == 405
        right = {"X-Telegram-Bot-Api-Secret-Token": secret}
        assert httpx.post(f"{base}/telegram", json=update, headers=right, timeout=5).status_code == 200
        tg.wait_for_message(alice["id"], "Hello Alice!", timeout=10)
        took = bot.sigterm()
    finally:
        bot.kill()
    assert bot.process.returncode == 0 and took < STOP_BUDGET, bot.log()
    assert not any(m == "getUpdates" for m, _ in tg.calls)  # webhook mode never polls


@pytest.mark.parametrize("secret, shown", [("abc+def/ghi=", "'+' '/' '='"), ("x" * 257, "longer than 256")])
def test_a_webhook_secret_telegram_refuses_stops_the_start_with_one_line(fake, tmp_path, secret, shown):
    env = bot_env(fake.base_url, fake.token, tmp_path / "timebank.sqlite3", WEBHOOK_URL="https://timebank.example",
                  WEBHOOK_SECRET=secret)
    result = subprocess.run([sys.executable, "-m", "bot"], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "WEBHOOK_SECRET" in lines[0] and shown in lines[0], result.stderr
    assert secret not in result.stderr and "Traceback" not in result.stderr
    assert not fake.calls  # refused before talking to Telegram


# ------------------------------------------------------------------ where the ledger lives


@pytest.mark.parametrize("variable, platform", [("DYNO", "Heroku"), ("K_SERVICE", "Cloud Run"),
                                                ("FLY_APP_NAME", "Fly.io"), ("RENDER_SERVICE_ID", "Render")])
def test_a_platform_without_a_disk_is_refused_with_one_line(fake, tmp_path, variable, platform):
    env = bot_env(fake.base_url, fake.token, tmp_path / "timebank.sqlite3", **{variable: "x"})
    result = subprocess.run([sys.executable, "-m", "bot"], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=30)
    if on_persistent_volume(mount_of(tmp_path.resolve(), Path("/proc/self/mountinfo").read_text())):
        pytest.skip(f"{tmp_path} is on a mounted volume here, so the bot rightly starts")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and platform in lines[0] and "would be lost" in lines[0], result.stderr
    assert not (tmp_path / "timebank.sqlite3").exists()  # refused before creating anything


MOUNTS = """\
22 1 0:21 / / rw,relatime - overlay overlay rw,lowerdir=/a,upperdir=/b
23 22 0:22 / /proc rw - proc proc rw
24 22 253:1 / /data rw,relatime - ext4 /dev/vdb rw
25 22 0:23 / /tmp rw - tmpfs tmpfs rw
26 22 0:24 / /my\\040disk rw - ext4 /dev/vdc rw
"""


def test_where_the_database_lives_is_read_from_the_mounts():
    assert mount_of(Path("/data/timebank.sqlite3"), MOUNTS) == Mount("/data", "ext4")
    assert mount_of(Path("/database/x"), MOUNTS) == Mount("/", "overlay")  # /data is not a prefix of /database
    assert mount_of(Path("/my disk/x"), MOUNTS) == Mount("/my disk", "ext4")
    assert on_persistent_volume(Mount("/data", "ext4")) is True
    assert on_persistent_volume(Mount("/tmp", "tmpfs")) is False
    assert on_persistent_volume(Mount("/", "ext4")) is False
    assert on_persistent_volume(None) is None
    fly = {"FLY_APP_NAME": "paxton"}
    assert "mounted at /data" in check_persistent(Path("/data/timebank.sqlite3"), fly, MOUNTS)
    for path in ("/app/timebank.sqlite3", "/tmp/timebank.sqlite3"):
        with pytest.raises(SettingsError, match="Fly.io"):
            check_persistent(Path(path), fly, MOUNTS)
    check_persistent(Path("/app/timebank.sqlite3"), {}, MOUNTS)  # no platform: allowed (a VPS's own disk)
    check_persistent(Path("/app/timebank.sqlite3"), fly, "")  # mounts unknown: not refused on a guess


# ------------------------------------------------------------------ backups


def test_backup_and_restore_from_the_command_line(fake, tmp_path):
    db = tmp_path / "timebank.sqlite3"
    made = seed_pending(fake, db, pairs=2)
    env = bot_env(fake.base_url, fake.token, db)

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "bot", *args], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=30)

    backup = run("backup", str(tmp_path / "copy.sqlite3"))
    assert backup.returncode == 0 and "4 member(s), 2 exchange(s)" in backup.stdout, backup.stderr
    assert run("backup", str(tmp_path / "copy.sqlite3")).returncode == 2  # never overwrites
    conn = open_sync(db)
    ledger.confirm.sync(conn, made[0]["id"], made[0]["receiver"], int(time.time()))
    conn.close()
    assert balances(db)[made[0]["provider"]] == 60
    restore = run("restore", str(tmp_path / "copy.sqlite3"))
    assert restore.returncode == 0 and "restart the bot" in restore.stdout, restore.stderr
    assert balances(db)[made[0]["provider"]] == 0
    kept = list(tmp_path.glob("timebank.sqlite3.before-restore-*"))
    assert len(kept) == 1 and balances(kept[0])[made[0]["provider"]] == 60
    damaged = tmp_path / "damaged.sqlite3"
    damaged.write_bytes(b"not a database" * 100)
    refused = run("restore", str(damaged))
    assert refused.returncode == 2 and "not a SQLite database" in refused.stderr


# ------------------------------------------------------------------ the parts


class _Forever:
    """A pacer whose requests never finish, as when Telegram does not answer."""

    def __init__(self) -> None:
        self.sent = 0

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass

    async def process_request(self, callback, args, kwargs, endpoint, data, rate_limit_args):
        self.sent += 1
        await asyncio.Event().wait()


async def test_closing_the_gate_abandons_requests_in_flight_and_sends_no_more():
    inner = _Forever()
    gate = TelegramGate(inner)  # type: ignore[arg-type]
    stuck = asyncio.ensure_future(gate.process_request(None, (), {}, "sendMessage", {}, None))
    await asyncio.sleep(0.01)
    assert gate.close() == 1
    with pytest.raises(Stopping, match="sendMessage abandoned"):
        await stuck
    with pytest.raises(NetworkError, match="not sent"):
        await gate.process_request(None, (), {}, "editMessageText", {}, None)
    assert inner.sent == 1
    assert not stuck.cancelled() and asyncio.current_task().cancelling() == 0


def test_a_trouble_is_said_once_then_reminded_then_said_over(caplog, monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr("bot.__main__.time.monotonic", lambda: clock[0])
    trouble = Trouble("getUpdates")
    with caplog.at_level("INFO", logger="bot"):
        for _ in range(50):
            trouble.failed("conflict", "409 again")
            trouble.worked()
            clock[0] += 5
        clock[0] += 600
        trouble.failed("conflict", "409 again")
        clock[0] += 61
        trouble.worked()
    said = [r.getMessage() for r in caplog.records]
    assert said[0] == "409 again" and said[1].startswith("409 again (still: 51 times")
    assert said[2].startswith("getUpdates works again") and len(said) == 3


def test_the_token_never_reaches_the_log(monkeypatch):
    monkeypatch.setattr(LOG_FILTER, "token", "123456:SECRET-token-abcdefghijklmnop")
    record = logging.LogRecord("telegram.ext.ExtBot", logging.DEBUG, __file__, 1, "Set Bot API URL: %s", (
        "https://api.telegram.org/bot123456:SECRET-token-abcdefghijklmnop",), None)
    assert LOG_FILTER.filter(record) and record.getMessage() == "Set Bot API URL: https://api.telegram.org/bot<BOT_TOKEN>"
