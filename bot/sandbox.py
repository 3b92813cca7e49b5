"""`python -m bot sandbox`: the real bot against a pretend Telegram, shown on a web page.

No token, no network: this process starts the fake Bot API that the tests use
(bot/fake_telegram.py) on 127.0.0.1, sets up a group with a few people in it, and runs
**the real bot** as a child process, ``python -m bot`` in long-polling mode, pointed at the
fake with ``BOT_API_BASE_URL``. A child process rather than an Application inside this one,
because then what you try is exactly what you deploy: the same entry point, settings
check, database migration, handler wiring and polling loop, with nothing shared with the
sandbox but HTTP. It also keeps the page server plain threads, with no event loop to share.

A second small HTTP server on 127.0.0.1 serves the page (bot/sandbox_page/: plain HTML, CSS
and JavaScript, nothing fetched from elsewhere) and a JSON API the page polls:

    GET  /api/state    the group, the people, every chat's messages (text and entities as
                       Telegram stored them, buttons, popups) and the requests Telegram refused
    POST /api/say      {user_id, chat_id, text, reply_to?}    a person types in a chat
    POST /api/press    {user_id, chat_id, message_id, data}   a person presses a button
    POST /api/open     {user_id, url}                         a person opens a t.me link
    POST /api/person   {name, language, admin, started?}      someone joins the group
    POST /api/admin    {user_id, admin}                       promote or demote someone

Everything shown is what the bot sent to the fake, and every request the fake refused (as
Telegram would) is shown in the chat it was meant for. The data lives in a throwaway
SQLite file, or in ``--db PATH`` to keep it; the pretend Telegram itself starts afresh each
time (same group and people ids, so a kept database still recognises them).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import functools
import http.server
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unicodedata
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from bot.fake_telegram import DEFAULT_TOKEN, FakeTelegram
from bot.i18n import LOCALES_DIR

PAGE_DIR = Path(__file__).resolve().parent / "sandbox_page"
PACKAGE_ROOT = Path(__file__).resolve().parent.parent
GROUP_ID = -1001000000001
GROUP_TITLE = "Sandbox Timebank"
BOT_USERNAME = "timebank_sandbox_bot"
FIRST_USER_ID = 1001
PRESENT = ("creator", "administrator", "member", "restricted")
ADMIN = ("creator", "administrator")
MAX_TEXT = 4096
STATIC = {"/": ("index.html", "text/html; charset=utf-8"),
          "/style.css": ("style.css", "text/css; charset=utf-8"),
          "/app.js": ("app.js", "text/javascript; charset=utf-8")}


class BadRequest(Exception):
    """Something the page asked that a Telegram client could not do; answered with 400."""


@dataclass
class Person:
    user_id: int
    name: str
    username: str
    language: str
    started: bool


@dataclass
class Refusal:
    seq: int
    method: str
    chat_id: int | None
    after: int            # the newest message in that chat when Telegram refused
    code: int
    description: str
    attempt: str          # the text the bot tried to send, if any


def languages() -> list[str]:
    return sorted(p.parent.parent.name for p in LOCALES_DIR.glob("*/LC_MESSAGES/bot.po"))


class Sandbox:
    """The pretend world: one group, its people, and what the page may do as them."""

    def __init__(self, fake: FakeTelegram, group_id: int = GROUP_ID, title: str = GROUP_TITLE) -> None:
        self.fake = fake
        self.group_id = group_id
        self.title = title
        self.people: dict[int, Person] = {}
        self.refusals: list[Refusal] = []
        self._queries: dict[str, tuple[int, int, int]] = {}   # callback query id → (user, chat, message)
        self._lock = threading.RLock()
        self._next_id = FIRST_USER_ID
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None

    # ------------------------------------------------------------------ setting up

    def populate(self) -> None:
        """Ada, the group's creator and coordinator; Maria and Tom, members; all have started the bot."""
        ada = self._new_person("Ada", "en", started=True)
        maria = self._new_person("Maria", "es", started=True)
        tom = self._new_person("Tom", "en", started=True)
        self.fake.add_group(self.group_id, self.title, creator=ada.user_id, members=[maria.user_id, tom.user_id])

    def add_bot_to_group(self) -> None:
        """Ada adds the bot to the group and makes it an admin, as the README advises."""
        creator = next(p for p in self.people.values() if self.status(p.user_id) == "creator")
        self.fake.my_chat_member_update(self.group_id, old_status="left", new_status="administrator",
                                        by_user_id=creator.user_id)

    def _new_person(self, name: str, language: str, *, started: bool) -> Person:
        with self._lock:
            user_id = self._next_id
            self._next_id += 1
            taken = {p.username for p in self.people.values()}
            ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
            base = re.sub(r"[^a-z0-9_]", "", ascii_name.lower())[:28] or "member"
            username = base if len(base) >= 3 and base not in taken else f"{base}{user_id}"
            person = Person(user_id, name, username, language, started)
            self.people[user_id] = person
        self.fake.add_user(user_id, name, username=username, language_code=language, started=started)
        return person

    def add_person(self, name: str, language: str, admin: bool, started: bool = True) -> Person:
        """Someone joins the group (and is promoted at once if admin)."""
        name = " ".join(str(name).split())
        if not 1 <= len(name) <= 64:
            raise BadRequest("a name of 1 to 64 characters, please")
        language = str(language).strip()
        if not re.fullmatch(r"[a-z]{2,3}(?:-[A-Za-z0-9]{2,8})?", language):
            raise BadRequest("a language code such as en or es, please")
        person = self._new_person(name, language, started=bool(started))
        self.fake.chat_member_update(self.group_id, person.user_id, old_status="left", new_status="member")
        self.fake.new_chat_members_update(self.group_id, person.user_id, [person.user_id])
        if admin:
            self.set_admin(person.user_id, True)
        return person

    def set_admin(self, user_id: int, admin: bool) -> str:
        """Promote or demote someone; returns their status in the group now."""
        person = self._person(user_id)
        status = self.status(person.user_id)
        if status == "creator":
            raise BadRequest(f"{person.name} created the group and stays its admin")
        if status not in PRESENT:
            raise BadRequest(f"{person.name} is not in the group")
        new = "administrator" if admin else "member"
        if new != status:
            self.fake.chat_member_update(self.group_id, user_id, old_status=status, new_status=new)
        return new

    # ------------------------------------------------------------------ acting as people

    def _person(self, user_id: Any) -> Person:
        person = self.people.get(user_id) if isinstance(user_id, int) else None
        if person is None:
            raise BadRequest(f"no such person: {user_id!r}")
        return person

    def status(self, user_id: int) -> str:
        return self.fake.member_status(self.group_id, user_id)

    def _check_chat(self, person: Person, chat_id: Any) -> int:
        if chat_id == self.group_id:
            if self.status(person.user_id) not in PRESENT:
                raise BadRequest(f"{person.name} is not in the group")
            return chat_id
        if chat_id != person.user_id:
            raise BadRequest(f"{person.name} can write only in the group and in their own private chat")
        return chat_id

    def say(self, user_id: Any, chat_id: Any, text: Any, reply_to: Any = None) -> dict:
        person = self._person(user_id)
        chat = self._check_chat(person, chat_id)
        text = str(text or "").strip()
        if not text:
            raise BadRequest("nothing to send")
        if len(text) > MAX_TEXT:
            raise BadRequest("Telegram does not take messages over 4096 characters")
        if reply_to is not None and not isinstance(reply_to, int):
            raise BadRequest("reply_to must be a message id")
        try:
            update = self.fake.message_update(person.user_id, chat, text, reply_to_message_id=reply_to)
        except ValueError as exc:
            raise BadRequest(str(exc)) from None
        if chat == person.user_id:
            person.started = True
        return {"message_id": update["message"]["message_id"]}

    def press(self, user_id: Any, chat_id: Any, message_id: Any, data: Any) -> dict:
        person = self._person(user_id)
        chat = self._check_chat(person, chat_id)
        message = next((m for m in self.fake.messages(chat) if m["message_id"] == message_id), None)
        if message is None:
            raise BadRequest("that message is gone")
        if data not in [b.get("callback_data") for b in _buttons(message)]:
            raise BadRequest("that message has no such button (any more)")
        update = self.fake.callback_update(person.user_id, chat, message_id, data)
        with self._lock:
            self._queries[update["callback_query"]["id"]] = (person.user_id, chat, message_id)
        return {"ok": True}

    def open_link(self, user_id: Any, url: Any) -> dict:
        """A t.me link to the bot: Telegram opens the private chat, and a ?start= payload
        is sent as `/start payload` (so is a bare link by someone who never started the bot)."""
        person = self._person(user_id)
        parsed = urllib.parse.urlsplit(str(url or ""))
        if parsed.scheme not in ("https", "http") or parsed.netloc.lower() not in ("t.me", "telegram.me") \
                or parsed.path.strip("/").lower() != self.fake.bot_username.lower():
            raise BadRequest("only links to the bot open here")
        payload = urllib.parse.parse_qs(parsed.query).get("start", [""])[0]
        if payload or not person.started:
            self.say(person.user_id, person.user_id, f"/start {payload}".strip())
        return {"chat_id": person.user_id}

    # ------------------------------------------------------------------ refusals

    def watch_refusals(self) -> None:
        """Note each refusal as it happens, with the newest message of its chat at that moment,
        so the page shows it in the right place."""
        def run() -> None:
            seen = 0
            while not self._stop.is_set():
                try:
                    self.fake.wait_for(functools.partial(_more_errors_than, seen), timeout=0.25)
                except AssertionError:
                    continue
                errors = list(self.fake.errors)
                for method, params, body in errors[seen:]:
                    self._note_refusal(method, params, body)
                seen = len(errors)
        self._watcher = threading.Thread(target=run, name="sandbox-refusals", daemon=True)
        self._watcher.start()

    def stop(self) -> None:
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join(timeout=5)

    def _note_refusal(self, method: str, params: dict, body: dict) -> None:
        chat_id: int | None
        try:
            chat_id = int(params.get("chat_id"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            chat_id = None
        with self._lock:
            query = self._queries.get(str(params.get("callback_query_id")))
        if chat_id is None and query is not None:
            chat_id = query[1]
        if chat_id not in self.people and chat_id != self.group_id:
            chat_id = None
        after = max((m["message_id"] for m in self.fake.messages(chat_id)), default=0) if chat_id else 0
        attempt = params.get("text") or params.get("caption") or ""
        with self._lock:
            self.refusals.append(Refusal(len(self.refusals) + 1, method, chat_id, after,
                                         int(body.get("error_code", 0)), str(body.get("description", "")),
                                         str(attempt)[:500]))

    # ------------------------------------------------------------------ what the page shows

    def state(self) -> dict:
        with self._lock:
            people = list(self.people.values())
            refusals = list(self.refusals)
            queries = dict(self._queries)
        notices: dict[tuple[int, int], list[dict]] = {}
        for answer in self.fake.answered_callbacks():
            where = queries.get(str(answer.get("callback_query_id")))
            if where is None or not answer.get("text"):
                continue
            user_id, chat_id, message_id = where
            notices.setdefault((chat_id, message_id), []).append({
                "to": user_id, "text": str(answer["text"]), "alert": bool(answer.get("show_alert"))})
        group_menu = {p.user_id: self._menu(p, group=True) for p in people}
        chats = [self._chat(self.group_id, None, notices, refusals)]
        chats += [self._chat(p.user_id, p.user_id, notices, refusals) for p in people]
        return {
            "bot": {"id": self.fake.bot_id, "username": self.fake.bot_username, "name": "Timebank"},
            "group": {"id": self.group_id, "title": self.title, "bot_status": self.status(self.fake.bot_id)},
            "languages": languages(),
            "people": [{"id": p.user_id, "name": p.name, "username": p.username, "language": p.language,
                        "started": p.started, "status": self.status(p.user_id),
                        "admin": self.status(p.user_id) in ADMIN,
                        "menu": {"private": self._menu(p, group=False), "group": group_menu[p.user_id]}}
                       for p in people],
            "chats": chats,
            "refusals": len(refusals),
        }

    def _menu(self, person: Person, *, group: bool) -> list[dict]:
        """The command menu Telegram would show this person there (most specific scope first)."""
        scopes: list[tuple[str, dict]] = []
        if group:
            scopes.append(("chat_member", {"chat_id": self.group_id, "user_id": person.user_id}))
            if self.status(person.user_id) in ADMIN:
                scopes.append(("chat_administrators", {"chat_id": self.group_id}))
            scopes.append(("chat", {"chat_id": self.group_id}))
            if self.status(person.user_id) in ADMIN:
                scopes.append(("all_chat_administrators", {}))
            scopes.append(("all_group_chats", {}))
        else:
            scopes += [("chat", {"chat_id": person.user_id}), ("all_private_chats", {})]
        scopes.append(("default", {}))
        for scope, ids in scopes:
            for language in (person.language.split("-")[0], ""):
                commands = self.fake.commands(language, scope, **ids)
                if commands:
                    return commands
        return []

    def _chat(self, chat_id: int, person_id: int | None, notices: dict, refusals: list[Refusal]) -> dict:
        items: list[tuple[tuple, dict]] = []
        for message in self.fake.messages(chat_id):
            item = self._message(message)
            item["notices"] = notices.get((chat_id, message["message_id"]), [])
            items.append(((message["message_id"], 0, 0), item))
        for refusal in refusals:
            if refusal.chat_id == chat_id:
                items.append(((refusal.after, 1, refusal.seq), {
                    "type": "refusal", "seq": refusal.seq, "method": refusal.method, "code": refusal.code,
                    "description": refusal.description, "attempt": refusal.attempt}))
        items.sort(key=lambda pair: pair[0])
        return {"id": chat_id, "kind": "group" if person_id is None else "private", "person": person_id,
                "items": [item for _, item in items]}

    def _message(self, message: dict) -> dict:
        sender = message.get("from") or {}
        item: dict[str, Any] = {
            "type": "message", "id": message["message_id"], "date": message.get("date", 0),
            "from": {"id": sender.get("id"), "name": _full_name(sender), "bot": bool(sender.get("is_bot"))},
            "edited": "edit_date" in message,
            "buttons": [[{k: b[k] for k in ("text", "callback_data", "url") if k in b} for b in row]
                        for row in (message.get("reply_markup") or {}).get("inline_keyboard", [])],
        }
        if "text" in message:
            item["text"], item["entities"] = message["text"], message.get("entities", [])
        elif "document" in message:
            document = message["document"]
            item["document"] = {"name": document.get("file_name", "file"), "size": document.get("file_size", 0)}
            item["text"], item["entities"] = message.get("caption", ""), message.get("caption_entities", [])
        else:
            item["service"] = _service_text(message)
        reply = message.get("reply_to_message")
        if reply:
            item["reply_to"] = {"id": reply.get("message_id"), "name": _full_name(reply.get("from") or {}),
                                "text": (reply.get("text") or reply.get("caption") or "")[:120]}
        return item


def _more_errors_than(seen: int, fake: FakeTelegram) -> bool:
    return len(fake.errors) > seen


def _buttons(message: dict) -> list[dict]:
    return [b for row in (message.get("reply_markup") or {}).get("inline_keyboard", []) for b in row]


def _full_name(user: dict) -> str:
    return " ".join(part for part in (user.get("first_name"), user.get("last_name")) if part) or "?"


def _service_text(message: dict) -> str:
    if message.get("new_chat_members"):
        joined = [_full_name(u) for u in message["new_chat_members"]]
        by = _full_name(message.get("from") or {})
        if joined == [by]:
            return f"{by} joined the group"
        return f"{by} added {', '.join(joined)}"
    if message.get("left_chat_member"):
        return f"{_full_name(message['left_chat_member'])} left the group"
    if message.get("migrate_to_chat_id") or message.get("migrate_from_chat_id"):
        return "The group became a supergroup"
    return "(a message the sandbox does not show)"


# --------------------------------------------------------------------------- the page server

class _PageServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    sandbox: Sandbox


class _PageHandler(http.server.BaseHTTPRequestHandler):
    server: _PageServer
    server_version = "TimebankSandbox/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _host_ok(self) -> bool:
        # Only pages on this machine's own address may drive the sandbox (no DNS rebinding).
        host = (self.headers.get("Host") or "").rsplit(":", 1)[0].strip("[]").lower()
        return host in ("127.0.0.1", "localhost")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Content-Security-Policy",
                         "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
                         "frame-ancestors 'none'")
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, payload: Any) -> None:
        self._send(status, json.dumps(payload, ensure_ascii=False).encode("utf-8"), "application/json")

    def do_GET(self) -> None:
        if not self._host_ok():
            self._json(403, {"error": "open the sandbox at 127.0.0.1"})
            return
        path = self.path.split("?", 1)[0]
        if path == "/api/state":
            self._json(200, self.server.sandbox.state())
        elif path in STATIC:
            name, content_type = STATIC[path]
            self._send(200, (PAGE_DIR / name).read_bytes(), content_type)
        else:
            self._json(404, {"error": "not found"})

    def do_POST(self) -> None:
        if not self._host_ok():
            self._json(403, {"error": "open the sandbox at 127.0.0.1"})
            return
        # JSON only: a form on some other web page cannot post here without the browser asking first.
        if self.headers.get("Content-Type", "").split(";")[0].strip() != "application/json":
            self._json(415, {"error": "send JSON"})
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}") if length <= 100_000 else None
        except ValueError:
            body = None
        if not isinstance(body, dict):
            self._json(400, {"error": "send a JSON object"})
            return
        sandbox = self.server.sandbox
        actions = {
            "/api/say": lambda b: sandbox.say(b.get("user_id"), b.get("chat_id"), b.get("text"), b.get("reply_to")),
            "/api/press": lambda b: sandbox.press(b.get("user_id"), b.get("chat_id"), b.get("message_id"),
                                                  b.get("data")),
            "/api/open": lambda b: sandbox.open_link(b.get("user_id"), b.get("url")),
            "/api/person": lambda b: {"id": sandbox.add_person(b.get("name", ""), b.get("language", "en"),
                                                               bool(b.get("admin")),
                                                               bool(b.get("started", True))).user_id},
            "/api/admin": lambda b: {"status": sandbox.set_admin(b.get("user_id"), bool(b.get("admin")))},
        }
        action = actions.get(self.path.split("?", 1)[0])
        if action is None:
            self._json(404, {"error": "not found"})
            return
        try:
            self._json(200, action(body))
        except BadRequest as exc:
            self._json(400, {"error": str(exc)})


def serve_page(sandbox: Sandbox, port: int) -> _PageServer:
    server = _PageServer(("127.0.0.1", port), _PageHandler)
    server.sandbox = sandbox
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, name="sandbox-page",
                     daemon=True).start()
    return server


# --------------------------------------------------------------------------- the bot process

def _die_with_parent() -> Any:
    """On Linux, the bot gets SIGTERM if the sandbox dies without cleaning up (kill -9), instead
    of polling a vanished Telegram forever. Resolved before fork: the child only calls it."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def set_death_signal() -> None:
        prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:   # the parent died before the call took effect
            os.kill(os.getpid(), signal.SIGTERM)
    return set_death_signal


def start_bot(fake: FakeTelegram, database: Path, workdir: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "DATABASE_", "WEBHOOK_"))}
    env.update(BOT_TOKEN=fake.token, BOT_API_BASE_URL=fake.base_url, DATABASE_URL=f"sqlite:///{database}",
               PYTHONPATH=os.pathsep.join(filter(None, [str(PACKAGE_ROOT), env.get("PYTHONPATH")])))
    env.setdefault("LOG_LEVEL", "WARNING")
    # cwd: a directory without a .env, so settings meant for the real deployment stay out of it.
    # A session of its own: Ctrl-C in the terminal reaches the sandbox, which then stops the bot once.
    return subprocess.Popen([sys.executable, "-m", "bot"], cwd=workdir, env=env, stdin=subprocess.DEVNULL,
                            start_new_session=True, preexec_fn=_die_with_parent())


def stop_bot(bot: subprocess.Popen, timeout: float = 15.0) -> None:
    if bot.poll() is None:
        bot.send_signal(signal.SIGTERM)
        try:
            bot.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            bot.kill()
            bot.wait()


class _Stopped(Exception):
    """Ctrl-C or SIGTERM."""


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bot sandbox",
        description="Run the real bot against a pretend Telegram on this machine, shown on a web page.")
    parser.add_argument("--port", type=int, default=8765, help="port of the page (default 8765; 0: any free port)")
    parser.add_argument("--db", type=Path, help="keep the data in this SQLite file (default: a throwaway one)")
    args = parser.parse_args(argv)
    if not 0 <= args.port <= 65535:
        parser.error("--port must be between 0 and 65535")
    if args.db is not None and not args.db.resolve().parent.is_dir():
        print(f"error: --db {args.db}: the folder {args.db.resolve().parent} does not exist", file=sys.stderr)
        return 2

    stopping = False

    def on_signal(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        if not stopping:
            stopping = True
            raise _Stopped

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    workdir: Path | None = None
    fake = FakeTelegram(DEFAULT_TOKEN, bot_username=BOT_USERNAME)
    sandbox = Sandbox(fake)
    page: _PageServer | None = None
    bot: subprocess.Popen | None = None
    try:
        workdir = Path(tempfile.mkdtemp(prefix="timebank-sandbox-"))
        database = args.db.resolve() if args.db is not None else workdir / "timebank.sqlite3"
        fake.start()
        sandbox.populate()
        sandbox.watch_refusals()
        try:
            page = serve_page(sandbox, args.port)
        except OSError as exc:
            print(f"error: cannot serve the page on 127.0.0.1:{args.port} ({exc.strerror}); "
                  "try another --port, or --port 0 for any free one", file=sys.stderr)
            return 2
        bot = start_bot(fake, database, workdir)
        deadline = time.monotonic() + 60
        while not any(method == "getUpdates" for method, _ in list(fake.calls)):
            if bot.poll() is not None:
                print(f"error: the bot stopped while starting (exit code {bot.returncode})", file=sys.stderr)
                return 1
            if time.monotonic() > deadline:
                print("error: the bot did not start within a minute", file=sys.stderr)
                return 1
            with contextlib.suppress(AssertionError):
                fake.wait_for(lambda tg: tg.calls and tg.calls[-1][0] == "getUpdates", timeout=0.2)
        sandbox.add_bot_to_group()
        fake.wait_until_consumed(timeout=10)
        print(f"Sandbox running: open http://127.0.0.1:{page.server_address[1]}/ in your browser "
              "(Ctrl-C to stop)", flush=True)
        code = bot.wait()
        print(f"error: the bot stopped by itself (exit code {code}); its messages are above", file=sys.stderr)
        return 1
    except _Stopped:
        return 0
    finally:
        stopping = True
        if bot is not None:
            stop_bot(bot)
        if page is not None:
            page.shutdown()
            page.server_close()
        sandbox.stop()
        fake.stop()
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
