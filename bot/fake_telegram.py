"""A fake Telegram Bot API server: the tests, the benchmark and the sandbox run on it.

It is a real HTTP server on 127.0.0.1 so that python-telegram-bot (in this process or in a
``python -m bot`` subprocess) talks to it exactly as it would talk to api.telegram.org:

    with FakeTelegram() as tg:
        tg.add_user(1, "Ann")
        app = ApplicationBuilder().token(tg.token).base_url(tg.base_url).build()

The fake keeps a small model of the world (users, groups, memberships, the messages in every
chat) and refuses what Telegram refuses, with Telegram's own wording (see
the Bot API documentation): bad HTML, over-long texts, callback data over 64 bytes, users who
never pressed Start or blocked the bot, groups the bot was removed from, edits that change
nothing, answering a callback query twice, and so on.

Behaviours worth knowing when writing tests:

* Group privacy mode is modelled: unless the bot is an admin (or ``privacy_mode`` is set to
  False), ordinary group chatter is stored in the chat but *not* queued for getUpdates; only
  commands, replies to the bot's messages and service messages are.
* ``chat_member`` updates are queued only while the bot is an admin of the group, and are
  delivered only if the bot asked for them in ``allowed_updates`` (Telegram's default omits
  them).
* Telegram trims leading/trailing whitespace of message texts; so does the fake.
* A second concurrent getUpdates terminates the first with 409 Conflict, as Telegram does.
* Chat types: a group id starting with -100 is a supergroup unless ``basic=True``; other
  group ids are basic groups (type "group") unless ``supergroup=True``. ``forum=True`` makes a
  supergroup with topics (``is_forum: true`` in its Chat objects). ``add_channel`` makes a
  channel; it exists only to post *as* (``sender_chat_id``): the bot is never in it, so every
  Bot API call to it answers 403 "bot is not a member of the channel chat".
* Forum topics (``create_topic`` / ``close_topic`` / ``reopen_topic`` / ``delete_topic``): a
  topic's message_thread_id is the id of its ``forum_topic_created`` service message. Messages
  in a topic carry ``message_thread_id`` and ``is_topic_message: true`` (``topic_of(message)``
  reads it); messages in General carry neither. As on Telegram, a message in a topic that
  replies to nothing else carries the topic's ``forum_topic_created`` message as an implicit
  ``reply_to_message``; a reply to a message of another topic lands in the topic asked for
  with the replied message as ``external_reply``.
* Sending into a forum: ``message_thread_id`` 1 (General), an unknown or a deleted topic is
  refused with "message thread not found", a closed topic with "TOPIC_CLOSED" (even for an
  admin bot); without ``message_thread_id`` a message goes to General, unless it replies to a
  message in a topic: then it lands in that topic (and a closed one refuses it).
* ``message_thread_id`` outside forums follows the current Bot API server (Bot API 9.3,
  December 2025): in a private chat it is refused ("message thread not found": topics in private
  chats with bots are not modelled); in basic groups and non-forum supergroups it is silently
  ignored. Older servers refused it there too ("message thread not found" / "message thread
  is not a forum topic thread"): set ``strict_message_threads = True`` for that. Replies in a
  non-forum supergroup carry the ``message_thread_id`` of their reply thread (the id of the
  chain's first message) *without* ``is_topic_message``, as Telegram sends them.
* Anonymous admins and channels: ``message_update(..., anonymous=True)`` comes from
  GroupAnonymousBot with ``sender_chat`` = the group (only admins may); ``sender_chat_id=``
  a channel comes from Channel_Bot with ``sender_chat`` = the channel. Button presses always
  come from the presser's own account.
* Upgrades: ``migrate_update`` / ``migrate_updates`` turn a basic group into a supergroup,
  with both service messages (in either order, as Telegram has sent them); members, admins
  and the bot's status carry over, messages stay in the old chat, and every later call on
  the old id (sends, edits, deletes, getChat, getChatMember, getChatAdministrators, ...)
  answers ``ChatMigrated`` (400 + ``parameters.migrate_to_chat_id``).
* ``tg.errors`` records every refusal as (method, params, error body); ``tg.refusals()`` gives
  (method, description) pairs.

All state lives behind one re-entrant lock with a Condition, so the test thread, the HTTP
threads and ``wait_for`` see a consistent world; every state change notifies the Condition.
"""

from __future__ import annotations

import collections
import http.server
import itertools
import json
import re
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

__all__ = ["FakeTelegram", "TelegramError", "parse_html", "DEFAULT_TOKEN", "GROUP_ANONYMOUS_BOT",
           "CHANNEL_BOT"]

DEFAULT_TOKEN = "123456:TEST-token-for-the-fake-telegram-api"

MEMBER_STATUSES = ("creator", "administrator", "member", "restricted", "left", "kicked")
_PRESENT = ("creator", "administrator", "member", "restricted")
_ADMIN = ("creator", "administrator")

# Who Telegram puts in `from` when a message is sent as a chat (sender_chat).
GROUP_ANONYMOUS_BOT = {"id": 1087968824, "is_bot": True, "first_name": "Group",
                       "username": "GroupAnonymousBot"}
CHANNEL_BOT = {"id": 136817688, "is_bot": True, "first_name": "Channel", "username": "Channel_Bot"}
GENERAL_TOPIC_ID = 1            # the General topic of a forum: never a valid message_thread_id
TOPIC_ICON_COLOR = 0x6FB9F0     # createForumTopic's default icon colour

# Update types Telegram delivers when allowed_updates was never given (or given as []).
_NOT_BY_DEFAULT = frozenset({"chat_member", "message_reaction", "message_reaction_count"})

_CHAT_ACTIONS = frozenset({
    "typing", "upload_photo", "record_video", "upload_video", "record_voice", "upload_voice",
    "upload_document", "choose_sticker", "find_location", "record_video_note",
    "upload_video_note",
})


class TelegramError(Exception):
    """A refusal, carried up to the HTTP layer and turned into Telegram's error body."""

    def __init__(self, error_code: int, description: str, parameters: dict | None = None):
        super().__init__(description)
        self.error_code = error_code
        self.description = description
        self.parameters = parameters

    def body(self) -> dict:
        body: dict[str, Any] = {"ok": False, "error_code": self.error_code,
                                "description": self.description}
        if self.parameters:
            body["parameters"] = dict(self.parameters)
        return body


def _bad(description: str) -> TelegramError:
    return TelegramError(400, "Bad Request: " + description)


def _forbidden(description: str) -> TelegramError:
    return TelegramError(403, "Forbidden: " + description)


def utf16_len(text: str) -> int:
    """Telegram measures texts and entity offsets in UTF-16 code units."""
    if text.isascii():
        return len(text)
    return len(text.encode("utf-16-le")) // 2


# --------------------------------------------------------------------------- HTML parsing

_SPECIAL = re.compile(r"[<&]")
_HTML_ENTITY = re.compile(r"&(?:(lt|gt|amp|quot)|#([0-9]{1,8})|#[xX]([0-9a-fA-F]{1,8}));")
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_TAG_NAME_END = re.compile(r"[\s>]")
_ATTR_NAME = re.compile(r"[^\s=>/\"']*")
_UNQUOTED_VALUE = re.compile(r"[A-Za-z0-9.\-]*")
_WS = re.compile(r"\s*")
_TAG_TYPES = {
    "b": "bold", "strong": "bold", "i": "italic", "em": "italic",
    "u": "underline", "ins": "underline", "s": "strikethrough", "strike": "strikethrough",
    "del": "strikethrough", "tg-spoiler": "spoiler", "span": "spoiler", "a": "text_link",
    "code": "code", "pre": "pre", "blockquote": "blockquote", "tg-emoji": "custom_emoji",
}
_TRIM = " \t\n\r\v\f"


def _parse_error(message: str) -> TelegramError:
    return _bad("can't parse entities: " + message)


def _decode_entities(src: str, start: int, end: int, byte_offset: Callable[[int], int]) -> str:
    """Decode HTML entities in src[start:end], strictly (used for attribute values)."""
    out, i = [], start
    while i < end:
        amp = src.find("&", i, end)
        if amp < 0:
            out.append(src[i:end])
            break
        out.append(src[i:amp])
        ch, i = _decode_entity_at(src, amp, byte_offset)
        out.append(ch)
    return "".join(out)


def _decode_entity_at(src: str, pos: int, byte_offset: Callable[[int], int]) -> tuple[str, int]:
    m = _HTML_ENTITY.match(src, pos)
    if m is None:
        # Telegram itself tolerates some bare '&'; being strict here is what catches
        # unescaped user text before it reaches real users.
        raise _parse_error(f"Unsupported HTML entity at byte offset {byte_offset(pos)}")
    if m.group(1):
        return _NAMED_ENTITIES[m.group(1)], m.end()
    code = int(m.group(2)) if m.group(2) else int(m.group(3), 16)
    if code == 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        raise _parse_error(f"Unsupported HTML entity at byte offset {byte_offset(pos)}")
    return chr(code), m.end()


def parse_html(src: str) -> tuple[str, list[dict]]:
    """Parse Telegram's HTML subset: returns (plain text, entities) or raises TelegramError.

    Entities use UTF-16 offsets, sorted like Telegram's (offset, then longer first). Error
    byte offsets are UTF-8 offsets into ``src``, as Telegram reports them.
    """

    def byte_offset(index: int) -> int:
        return len(src[:index].encode("utf-8"))

    n = len(src)
    out: list[str] = []
    pos16 = 0
    # Open tags: (name, entity type, start offset in UTF-16, argument)
    stack: list[tuple[str, str, int, Any]] = []
    entities: list[dict] = []
    i = 0
    while True:
        m = _SPECIAL.search(src, i)
        j = m.start() if m else n
        if j > i:
            chunk = src[i:j]
            out.append(chunk)
            pos16 += utf16_len(chunk)
        if j >= n:
            break
        if src[j] == "&":
            ch, i = _decode_entity_at(src, j, byte_offset)
            out.append(ch)
            pos16 += utf16_len(ch)
            continue

        if src.startswith("</", j):
            if not stack:
                raise _parse_error(f"Unexpected end tag at byte offset {byte_offset(j)}")
            close = src.find(">", j)
            if close < 0:
                raise _parse_error(f"Unclosed end tag at byte offset {byte_offset(j)}")
            name = src[j + 2:close].strip().lower()
            open_name, etype, start16, arg = stack[-1]
            if name != open_name:
                raise _parse_error(
                    f'Unmatched end tag at byte offset {byte_offset(j)}, '
                    f'expected "</{open_name}>", found "</{name}>"')
            stack.pop()
            i = close + 1
            if pos16 > start16:
                _close_entity(entities, etype, start16, pos16 - start16, arg)
            continue

        # A start tag: the name runs up to whitespace or '>' (as in tdlib).
        end_m = _TAG_NAME_END.search(src, j + 1)
        k = end_m.start() if end_m else n
        name = src[j + 1:k].lower()
        if not name:
            raise _parse_error(f'Unexpected character "<" at byte offset {byte_offset(j)}')
        if k >= n:
            raise _parse_error(f"Unclosed start tag at byte offset {byte_offset(j)}")
        if name not in _TAG_TYPES:
            raise _parse_error(f'Unsupported start tag "{name}" at byte offset {byte_offset(j)}')
        attrs: dict[str, str] = {}
        while True:
            k = _WS.match(src, k).end()
            if k >= n:
                raise _parse_error(f"Unclosed start tag at byte offset {byte_offset(j)}")
            if src[k] == ">":
                k += 1
                break
            attr_end = _ATTR_NAME.match(src, k).end()
            attr = src[k:attr_end].lower()
            if not attr:
                raise _parse_error(
                    f'Empty attribute name in the tag "{name}" at byte offset {byte_offset(k)}')
            k = _WS.match(src, attr_end).end()
            value = ""
            if k < n and src[k] == "=":
                k = _WS.match(src, k + 1).end()
                if k >= n:
                    raise _parse_error(f"Unclosed start tag at byte offset {byte_offset(j)}")
                if src[k] in "\"'":
                    close = src.find(src[k], k + 1)
                    if close < 0:
                        raise _parse_error(f"Unclosed start tag at byte offset {byte_offset(j)}")
                    value = _decode_entities(src, k + 1, close, byte_offset)
                    k = close + 1
                else:
                    v_end = _UNQUOTED_VALUE.match(src, k).end()
                    value = src[k:v_end]
                    if v_end >= n or not (src[v_end].isspace() or src[v_end] == ">"):
                        raise _parse_error(
                            f"Unexpected end of name token at byte offset {byte_offset(v_end)}")
                    k = v_end
            attrs[attr] = value
        i = k

        etype = _TAG_TYPES[name]
        arg: Any = None
        if name == "span" and attrs.get("class") != "tg-spoiler":
            raise _parse_error(
                f'Tag "span" must have class "tg-spoiler" at byte offset {byte_offset(j)}')
        if name == "a":
            arg = attrs.get("href")
        elif name == "code":
            cls = attrs.get("class", "")
            arg = cls[len("language-"):] if cls.startswith("language-") else None
        elif name == "blockquote" and "expandable" in attrs:
            etype = "expandable_blockquote"
        elif name == "tg-emoji":
            arg = attrs.get("emoji-id", "")
            if not arg.isdigit():
                raise _parse_error("Invalid custom emoji identifier specified")
        stack.append((name, etype, pos16, arg))

    if stack:
        raise _parse_error(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


def _close_entity(entities: list[dict], etype: str, offset: int, length: int, arg: Any) -> None:
    entity: dict[str, Any] = {"type": etype, "offset": offset, "length": length}
    if etype == "text_link":
        if not arg:
            return  # tdlib turns <a> without href into an autodetected link; not modelled
        entity["url"] = arg
    elif etype == "custom_emoji":
        entity["custom_emoji_id"] = arg
    elif etype == "pre":
        # <pre><code class="language-x">…</code></pre> is one pre entity with a language.
        if entities:
            last = entities[-1]
            if last["type"] == "code" and last["offset"] == offset and last["length"] == length:
                entities.pop()
                if last.get("language"):
                    entity["language"] = last["language"]
    elif etype == "code" and arg:
        entity["language"] = arg
    entities.append(entity)


def _trim(text: str, entities: list[dict]) -> tuple[str, list[dict]]:
    """Strip surrounding whitespace like Telegram, keeping entities aligned."""
    stripped = text.strip(_TRIM)
    if stripped == text:
        return text, entities
    lead = utf16_len(text[:len(text) - len(text.lstrip(_TRIM))])
    total = utf16_len(stripped)
    kept = []
    for e in entities:
        start = max(e["offset"] - lead, 0)
        end = min(e["offset"] + e["length"] - lead, total)
        if end > start:
            kept.append({**e, "offset": start, "length": end - start})
    return stripped, kept


# --------------------------------------------------------------------------- request decoding

# Parameters that are free text: never coerce them to numbers/JSON.
_TEXT_KEYS = frozenset({
    "text", "caption", "description", "short_description", "callback_query_id", "url",
    "data", "query", "title", "name", "file_name", "custom_title", "parse_mode", "action",
    "language_code", "emoji", "secret_token", "inline_message_id", "business_connection_id",
    "message_effect_id", "ip_address",
})
_INT = re.compile(r"-?\d+")
_FLOAT = re.compile(r"-?\d+\.\d+")


def _coerce(key: str, value: str) -> Any:
    """PTB sends every parameter as a string; give tests (and handlers) python values."""
    if key in _TEXT_KEYS:
        return value
    if value[:1] in "[{":
        try:
            return json.loads(value)
        except ValueError:
            return value
    if _INT.fullmatch(value):
        return int(value)
    if _FLOAT.fullmatch(value):
        return float(value)
    if value in ("true", "false"):
        return value == "true"
    return value


_DISPOSITION_PARAM = re.compile(r';\s*([\w*]+)="((?:[^"\\]|\\.)*)"|;\s*([\w*]+)=([^;\s]+)')


def _parse_multipart(body: bytes, content_type: str) -> dict[str, Any]:
    # A small parser rather than the email module, which may rewrite line endings of binary
    # parts; the boundary is random, so a plain split is safe.
    m = re.search(r'boundary="?([^";]+)"?', content_type)
    if not m:
        raise _bad("can't parse multipart/form-data request")
    delimiter = b"--" + m.group(1).encode("latin-1")
    params: dict[str, Any] = {}
    for part in body.split(delimiter)[1:]:
        if part.startswith(b"--"):
            break
        if part.startswith(b"\r\n"):
            part = part[2:]
        head, _, content = part.partition(b"\r\n\r\n")
        if content.endswith(b"\r\n"):
            content = content[:-2]
        headers = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            hname, _, hvalue = line.partition(":")
            headers[hname.strip().lower()] = hvalue.strip()
        disp: dict[str, str] = {}
        for dm in _DISPOSITION_PARAM.finditer(headers.get("content-disposition", "")):
            if dm.group(1):
                disp[dm.group(1).lower()] = re.sub(r"\\(.)", r"\1", dm.group(2))
            else:
                disp[dm.group(3).lower()] = dm.group(4)
        field = disp.get("name")
        if field is None:
            continue
        filename = disp.get("filename")
        if filename is None and "filename*" in disp:
            filename = urllib.parse.unquote(disp["filename*"].split("''", 1)[-1])
        if filename is not None or "content-type" in headers:
            params[field] = {"file_name": urllib.parse.unquote(filename or field),
                             "mime_type": headers.get("content-type"), "content": content}
        else:
            params[field] = _coerce(field, content.decode("utf-8"))
    return params


def _decode_params(content_type: str, body: bytes, query: str) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for key, value in urllib.parse.parse_qsl(query, keep_blank_values=True):
        params[key] = _coerce(key, value)
    ctype = content_type.split(";", 1)[0].strip().lower()
    if not body:
        return params
    if ctype == "application/json":
        try:
            data = json.loads(body)
        except ValueError:
            raise _bad("can't parse JSON object") from None
        if not isinstance(data, dict):
            raise _bad("can't parse JSON object")
        for key, value in data.items():
            # JSON bodies may still carry nested objects as strings.
            params[key] = _coerce(key, value) if isinstance(value, str) else value
    elif ctype == "multipart/form-data":
        params.update(_parse_multipart(body, content_type))
    else:
        for key, value in urllib.parse.parse_qsl(body.decode("utf-8"), keep_blank_values=True):
            params[key] = _coerce(key, value)
    return params


# --------------------------------------------------------------------------- world model

class _User:
    __slots__ = ("user", "started", "blocked")

    def __init__(self, user: dict, started: bool):
        self.user = user
        self.started = started
        self.blocked = False


class _Chat:
    __slots__ = ("id", "type", "title", "members", "bot_status", "messages", "next_message_id",
                 "migrated_to", "user_id", "forum", "topics", "username")

    def __init__(self, chat_id: int, chat_type: str, title: str | None = None,
                 user_id: int | None = None):
        self.id = chat_id
        self.type = chat_type
        self.title = title
        self.user_id = user_id            # private chats: the other party
        self.username: str | None = None  # channels
        self.forum = False
        # Forum topics that exist: message_thread_id -> {"name", "icon_color", "closed"}.
        self.topics: dict[int, dict] = {}
        self.members: dict[int, str] = {}
        self.bot_status = "member"
        # message_id -> message dict, in send order; dicts are replaced, never mutated, so
        # snapshots handed out earlier stay as they were.
        self.messages: dict[int, dict] = {}
        self.next_message_id = 1
        self.migrated_to: int | None = None

    @property
    def is_group(self) -> bool:
        return self.type in ("group", "supergroup")


class _Abandoned(Exception):
    """A superseded long poll whose client already hung up: answer nothing, record nothing."""


def _peer_closed(conn: socket.socket | None) -> bool:
    if conn is None:
        return False
    try:
        return conn.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


class _Raw:
    """A result that is already JSON (getUpdates hands out pre-encoded updates)."""

    __slots__ = ("data",)

    def __init__(self, data: bytes):
        self.data = data


# --------------------------------------------------------------------------- HTTP plumbing

class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
    fake: FakeTelegram


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeTelegram/1.0"
    # Headers and body are separate writes; without TCP_NODELAY each response can stall for
    # a delayed ACK (~40 ms), which would wreck the benchmark.
    disable_nagle_algorithm = True
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.fake._track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.fake._track(self.connection, False)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _handle(self) -> None:
        body = self._read_body()
        path, _, query = self.path.partition("?")
        status, payload = self.server.fake._dispatch(
            path, self.headers.get("Content-Type", ""), body, query, self.connection)
        if not payload:
            self.close_connection = True
            return
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except OSError:
            self.close_connection = True  # the client went away (e.g. a cancelled long poll)

    do_POST = _handle
    do_GET = _handle


# --------------------------------------------------------------------------- the fake

class FakeTelegram:
    """A fake Bot API server plus a model of the users and chats the bot lives among."""

    def __init__(self, token: str = DEFAULT_TOKEN, bot_username: str = "timebank_test_bot"):
        self.token = token
        self.bot_id = int(token.split(":", 1)[0])
        self.bot_username = bot_username
        self.base_url = ""
        # Set False to let the bot see all group chatter, as if privacy mode were disabled.
        self.privacy_mode = True
        # Set True to refuse message_thread_id outside forums like Bot API servers before 9.3
        # did; the current server ignores it in groups (see the module docstring).
        self.strict_message_threads = False
        self.calls: list[tuple[str, dict]] = []
        self.errors: list[tuple[str, dict, dict]] = []

        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()
        self._stopped = False
        self._version = 0   # bumped on every state change (see wait_for)
        self._local = threading.local()   # the connection a handler thread is serving

        self._bot_user = {"id": self.bot_id, "is_bot": True, "first_name": "Timebank",
                          "username": bot_username}
        self._users: dict[int, _User] = {}
        self._chats: dict[int, _Chat] = {}
        # Queue of (update_id, update type, JSON bytes), ordered by update_id.
        self._queue: collections.deque[tuple[int, str, bytes]] = collections.deque()
        self._last_update_id = 0
        self._allowed_updates: frozenset[str] | None = None
        self._poll_generation = 0
        self._webhook_url = ""
        self._failures: dict[str, collections.deque[TelegramError]] = {}
        self._open_queries: set[str] = set()
        self._query_ids = itertools.count(int(time.time()) * 1000)
        self._answered: list[dict] = []
        self._documents: dict[int, list[dict]] = collections.defaultdict(list)
        self._files: dict[str, dict] = {}
        self._file_ids = itertools.count(1)
        self._commands: dict[tuple, list[dict]] = {}
        self._descriptions: dict[tuple[str, str], str] = {}
        self._menu_buttons: dict[int | None, dict] = {}
        self._recent: collections.deque[tuple[int, str]] = collections.deque(maxlen=8)
        self._methods: dict[str, tuple[str, Callable[[dict], Any]]] = {
            name[3:].lower(): (name[3:], getattr(self, name))
            for name in dir(self) if name.startswith("_m_")
        }

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> FakeTelegram:
        server = _Server(("127.0.0.1", 0), _Handler)
        server.fake = self
        self._server = server
        self.base_url = f"http://127.0.0.1:{server.server_address[1]}/bot"
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-telegram", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._changed()  # release long polls
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            with self._lock:
                connections = list(self._connections)
            # Keep-alive connections would otherwise keep their threads reading forever.
            for conn in connections:
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeTelegram:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _changed(self) -> None:
        """Every state change goes through here: waiters re-check their conditions."""
        self._version += 1
        self._cond.notify_all()

    def _track(self, conn: socket.socket, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    # ------------------------------------------------------------------ the world

    def add_user(self, user_id: int, first_name: str, *, last_name: str | None = None,
                 username: str | None = None, language_code: str | None = None,
                 started: bool = True) -> dict:
        user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
        if last_name is not None:
            user["last_name"] = last_name
        if username is not None:
            user["username"] = username
        if language_code is not None:
            user["language_code"] = language_code
        with self._cond:
            self._users[user_id] = _User(user, started)
            if user_id not in self._chats:
                self._chats[user_id] = _Chat(user_id, "private", user_id=user_id)
            self._changed()
        return dict(user)

    def set_started(self, user_id: int, started: bool = True) -> None:
        with self._cond:
            self._user(user_id).started = started
            self._changed()

    def block(self, user_id: int) -> None:
        with self._cond:
            self._user(user_id).blocked = True
            self._changed()

    def unblock(self, user_id: int) -> None:
        with self._cond:
            self._user(user_id).blocked = False
            self._changed()

    def add_group(self, chat_id: int, title: str, *, admins: list[int] = (),
                  creator: int | None = None, members: list[int] = (),
                  supergroup: bool | None = None, basic: bool = False, forum: bool = False) -> dict:
        """A group. Its type follows the id (-100… is a supergroup) unless ``supergroup`` says
        otherwise; ``basic=True`` makes a basic group ("group", the kind that can be upgraded)
        whatever the id; ``forum=True`` a supergroup with topics."""
        if chat_id >= 0:
            raise ValueError("group ids are negative")
        if basic and (supergroup or forum):
            raise ValueError("a basic group is neither a supergroup nor a forum")
        if forum and supergroup is False:
            raise ValueError("forums are supergroups")
        if basic:
            supergroup = False
        elif forum:
            supergroup = True
        elif supergroup is None:
            supergroup = str(chat_id).startswith("-100")
        chat = _Chat(chat_id, "supergroup" if supergroup else "group", title)
        if forum:
            chat.forum = True
            # Message 1 (the group's creation, not stored) is where General's id comes from.
            chat.next_message_id = GENERAL_TOPIC_ID + 1
        for uid in members:
            chat.members[uid] = "member"
        for uid in admins:
            chat.members[uid] = "administrator"
        if creator is not None:
            chat.members[creator] = "creator"
        with self._cond:
            self._chats[chat_id] = chat
            self._changed()
            return self._chat_dict(chat)

    def add_channel(self, chat_id: int, title: str, *, username: str | None = None) -> dict:
        """A channel, for users to post *as* in groups (``message_update(sender_chat_id=…)``).
        The bot is not in it: Bot API calls to it answer 403."""
        if chat_id >= 0:
            raise ValueError("channel ids are negative")
        chat = _Chat(chat_id, "channel", title)
        chat.username = username
        chat.bot_status = "left"
        with self._cond:
            self._chats[chat_id] = chat
            self._changed()
            return self._chat_dict(chat)

    # ------------------------------------------------------------------ forum topics

    def create_topic(self, chat_id: int, name: str, *, by_user_id: int | None = None,
                     icon_color: int = TOPIC_ICON_COLOR, queue: bool = True) -> int:
        """A new topic in a forum; returns its message_thread_id, which (as on Telegram) is the
        id of the ``forum_topic_created`` service message stored in the chat (and queued as an
        update, like every service message the bot can see). ``by_user_id`` defaults to the
        group's creator."""
        if not 1 <= len(name) <= 128:
            raise ValueError("topic names are 1-128 characters")
        with self._cond:
            chat = self._forum(chat_id)
            thread_id = chat.next_message_id
            chat.topics[thread_id] = {"name": name, "icon_color": icon_color, "closed": False}
            stored = self._store(chat, self._topic_actor(chat, by_user_id), {
                "message_thread_id": thread_id,
                "forum_topic_created": {"name": name, "icon_color": icon_color},
                "is_topic_message": True})
            self._service_update(chat, stored, queue)
            return thread_id

    def close_topic(self, chat_id: int, thread_id: int, *, by_user_id: int | None = None,
                    queue: bool = True) -> dict:
        """Close a topic (a ``forum_topic_closed`` service message in it); the bot's sends
        there are refused with TOPIC_CLOSED, members can no longer write there. Returns the
        service message's update."""
        return self._toggle_topic(chat_id, thread_id, True, by_user_id, queue)

    def reopen_topic(self, chat_id: int, thread_id: int, *, by_user_id: int | None = None,
                     queue: bool = True) -> dict:
        return self._toggle_topic(chat_id, thread_id, False, by_user_id, queue)

    def delete_topic(self, chat_id: int, thread_id: int) -> None:
        """Delete a topic and, as Telegram does, every message in it."""
        with self._cond:
            chat = self._forum(chat_id)
            self._topic(chat, thread_id)
            del chat.topics[thread_id]
            for message_id in [mid for mid, m in chat.messages.items()
                               if self.topic_of(m) == thread_id]:
                del chat.messages[message_id]
            self._changed()

    def topics(self, chat_id: int) -> dict[int, dict]:
        """The topics of a forum that exist: thread id -> {"name", "icon_color", "closed"}."""
        with self._lock:
            return {tid: dict(t) for tid, t in self._forum(chat_id).topics.items()}

    @staticmethod
    def topic_of(message: dict | None) -> int | None:
        """The forum topic a message (dict) is in; None for General, non-forum chats and the
        reply threads of ordinary supergroups (their message_thread_id is no topic)."""
        if not message or not message.get("is_topic_message"):
            return None
        return message.get("message_thread_id")

    def _toggle_topic(self, chat_id: int, thread_id: int, close: bool, by_user_id: int | None,
                      queue: bool) -> dict:
        with self._cond:
            chat = self._forum(chat_id)
            topic = self._topic(chat, thread_id)
            if topic["closed"] == close:
                raise ValueError(f"topic {thread_id} is already {'closed' if close else 'open'}")
            topic["closed"] = close
            fields = self._placement(chat, thread_id, None)
            fields["forum_topic_closed" if close else "forum_topic_reopened"] = {}
            stored = self._store(chat, self._topic_actor(chat, by_user_id), fields)
            return self._service_update(chat, stored, queue)

    def _forum(self, chat_id: int) -> _Chat:
        chat = self._chat(chat_id)
        if not chat.forum:
            raise ValueError(f"chat {chat_id} is not a forum (add_group(..., forum=True))")
        return chat

    @staticmethod
    def _topic(chat: _Chat, thread_id: int) -> dict:
        topic = chat.topics.get(thread_id)
        if topic is None:
            raise ValueError(f"no topic {thread_id} in chat {chat.id}"
                             + (" (General is thread_id=None)" if thread_id == GENERAL_TOPIC_ID
                                else ""))
        return topic

    def _topic_actor(self, chat: _Chat, by_user_id: int | None) -> dict | None:
        if by_user_id is not None:
            return self._user(by_user_id).user
        creator = next((uid for uid, s in chat.members.items() if s == "creator"), None)
        return self._users[creator].user if creator in self._users else None

    def _service_update(self, chat: _Chat, stored: dict, queue: bool) -> dict:
        update = {"update_id": self.next_update_id(), "message": stored}
        if queue and self._bot_sees(chat, stored):
            self._enqueue(update)
        self._changed()
        return update

    # ------------------------------------------------------------------ memberships

    def set_member_status(self, chat_id: int, user_id: int, status: str) -> None:
        if status not in MEMBER_STATUSES:
            raise ValueError(f"unknown status {status!r}")
        with self._cond:
            chat = self._group(chat_id)
            if user_id == self.bot_id:
                chat.bot_status = status
            else:
                chat.members[user_id] = status
            self._changed()

    def set_bot_status(self, chat_id: int, status: str) -> None:
        self.set_member_status(chat_id, self.bot_id, status)

    def member_status(self, chat_id: int, user_id: int) -> str:
        """The fake's idea of user_id's status in a group ("left" if unknown)."""
        with self._lock:
            chat = self._group(chat_id)
            return chat.bot_status if user_id == self.bot_id else chat.members.get(user_id, "left")

    def fail_next(self, method: str, *, error_code: int = 429, description: str | None = None,
                  retry_after: int = 1, times: int = 1) -> None:
        parameters = None
        if error_code == 429:
            parameters = {"retry_after": retry_after}
            description = description or f"Too Many Requests: retry after {retry_after}"
        elif description is None:
            description = {400: "Bad Request: injected failure", 403: "Forbidden: injected failure",
                           409: "Conflict: injected failure", 500: "Internal Server Error",
                           502: "Bad Gateway"}.get(error_code, "Injected failure")
        with self._cond:
            queue = self._failures.setdefault(method.lower(), collections.deque())
            for _ in range(times):
                queue.append(TelegramError(error_code, description, parameters))

    # ------------------------------------------------------------------ updates from users

    def next_update_id(self) -> int:
        with self._lock:
            self._last_update_id += 1
            return self._last_update_id

    def message_update(self, user_id: int, chat_id: int, text: str, *,
                       reply_to_message_id: int | None = None, entities: list[dict] | None = None,
                       queue: bool = True, thread_id: int | None = None, anonymous: bool = False,
                       sender_chat_id: int | None = None) -> dict:
        """user_id writes ``text`` in chat_id.

        ``thread_id``: in that forum topic (None: General, or the topic of the message replied
        to). ``anonymous=True``: an admin posting as the group (from GroupAnonymousBot, with
        ``sender_chat`` = the group); ``sender_chat_id``: posting on behalf of that channel (from
        Channel_Bot, ``sender_chat`` = the channel). Things Telegram would not let the user do
        raise ValueError.
        """
        with self._cond:
            user = self._user(user_id)
            chat = self._chat(chat_id)
            if chat.migrated_to is not None:
                raise ValueError(f"chat {chat_id} was upgraded to {chat.migrated_to}")
            if chat.type == "channel":
                raise ValueError("channel posts are not modelled; post as the channel in a group "
                                 "with sender_chat_id")
            if not chat.is_group and chat.user_id != user_id:
                raise ValueError(f"user {user_id} cannot write in the private chat {chat_id}")
            sender: dict = user.user
            sender_chat: dict | None = None
            if sender_chat_id == chat_id:
                anonymous, sender_chat_id = True, None
            if anonymous and sender_chat_id is not None:
                raise ValueError("a message is either anonymous or on behalf of a channel")
            if anonymous:
                if not chat.is_group or chat.members.get(user_id) not in _ADMIN:
                    raise ValueError(f"only admins of a group can post anonymously; user {user_id} "
                                     f"is not one in chat {chat_id}")
                sender, sender_chat = dict(GROUP_ANONYMOUS_BOT), self._chat_dict(chat)
            elif sender_chat_id is not None:
                channel = self._chats.get(sender_chat_id)
                if channel is None or channel.type != "channel":
                    raise ValueError(f"no channel {sender_chat_id}; call add_channel first")
                if not chat.is_group:
                    raise ValueError("messages on behalf of a channel are written in groups")
                sender, sender_chat = dict(CHANNEL_BOT), self._chat_dict(channel)
            if thread_id is not None:
                if not chat.forum:
                    raise ValueError(f"chat {chat_id} is not a forum: no thread_id there")
                self._topic(chat, thread_id)
            target = None
            if reply_to_message_id is not None:
                target = chat.messages.get(reply_to_message_id)
                if target is None:
                    raise ValueError(f"no message {reply_to_message_id} in chat {chat_id}")
            message: dict[str, Any] = {}
            if sender_chat is not None:
                message["sender_chat"] = sender_chat
            message.update(self._placement(chat, thread_id, target))
            topic = self.topic_of(message)
            if (topic is not None and chat.topics[topic]["closed"]
                    and chat.members.get(user_id) not in _ADMIN):
                raise ValueError(f"topic {topic} is closed: only admins can write there")
            message["text"] = text
            if entities is not None:
                message["entities"] = entities
            else:
                cmd = re.match(r"/[A-Za-z0-9_]+(?:@[A-Za-z0-9_]+)?", text)
                if cmd:
                    message["entities"] = [{"type": "bot_command", "offset": 0,
                                            "length": utf16_len(cmd.group())}]
            if chat.is_group:
                chat.members.setdefault(user_id, "member")
            else:
                user.started = True
            stored = self._store(chat, sender, message)
            update = {"update_id": self.next_update_id(), "message": stored}
            if queue and self._bot_sees(chat, stored):
                self._enqueue(update)
            self._changed()
            return update

    def callback_update(self, user_id: int, chat_id: int, message_id: int, data: str, *,
                        queue: bool = True) -> dict:
        with self._cond:
            user = self._user(user_id)
            chat = self._chat(chat_id)
            message = chat.messages.get(message_id)
            if message is None:
                raise ValueError(f"no message {message_id} in chat {chat_id}")
            query_id = str(next(self._query_ids))
            self._open_queries.add(query_id)
            update = {"update_id": self.next_update_id(), "callback_query": {
                "id": query_id, "from": user.user, "message": message,
                "chat_instance": str(abs(chat_id) * 7 + 1_000_000_000), "data": data}}
            if queue:
                self._enqueue(update)
            self._changed()
            return update

    def my_chat_member_update(self, chat_id: int, *, old_status: str = "left",
                              new_status: str = "member", by_user_id: int,
                              queue: bool = True) -> dict:
        with self._cond:
            by_user = self._user(by_user_id)
            chat = self._chat(chat_id)
            if chat.type == "channel":
                raise ValueError("the bot is never in a channel in this fake")
            if chat.is_group:
                chat.bot_status = new_status
            elif new_status == "kicked":      # a user blocking the bot looks like this
                self._users[chat.user_id].blocked = True
            elif new_status == "member":
                u = self._users[chat.user_id]
                u.blocked, u.started = False, True
            update = {"update_id": self.next_update_id(), "my_chat_member": {
                "chat": self._chat_dict(chat), "from": by_user.user, "date": int(time.time()),
                "old_chat_member": self._member_dict(self._bot_user, old_status),
                "new_chat_member": self._member_dict(self._bot_user, new_status)}}
            if queue:
                self._enqueue(update)
            self._changed()
            return update

    def chat_member_update(self, chat_id: int, user_id: int, *, old_status: str, new_status: str,
                           queue: bool = True) -> dict:
        with self._cond:
            user = self._user(user_id)
            chat = self._group(chat_id)
            chat.members[user_id] = new_status
            update = {"update_id": self.next_update_id(), "chat_member": {
                "chat": self._chat_dict(chat), "from": user.user, "date": int(time.time()),
                "old_chat_member": self._member_dict(user.user, old_status),
                "new_chat_member": self._member_dict(user.user, new_status)}}
            # Telegram only tells admins about other members coming and going.
            if queue and chat.bot_status in _ADMIN:
                self._enqueue(update)
            self._changed()
            return update

    def new_chat_members_update(self, chat_id: int, by_user_id: int, new_member_ids: list[int], *,
                                queue: bool = True) -> dict:
        with self._cond:
            by_user = self._user(by_user_id)
            chat = self._group(chat_id)
            new_members = []
            for uid in new_member_ids:
                if uid == self.bot_id:
                    if chat.bot_status not in _PRESENT:
                        chat.bot_status = "member"
                    new_members.append(self._bot_user)
                else:
                    if chat.members.get(uid) not in _PRESENT:
                        chat.members[uid] = "member"
                    new_members.append(self._user(uid).user)
            stored = self._store(chat, by_user.user, {"new_chat_members": new_members})
            update = {"update_id": self.next_update_id(), "message": stored}
            if queue and self._bot_sees(chat, stored):
                self._enqueue(update)
            self._changed()
            return update

    def migrate_update(self, chat_id: int, new_chat_id: int, *, queue: bool = True,
                       order: str = "to_first") -> dict:
        """The basic group becomes a supergroup; returns the ``migrate_to_chat_id`` update (the
        old chat's). Both service messages are stored and, with ``queue``, queued: see
        ``migrate_updates``, which returns both."""
        updates = self.migrate_updates(chat_id, new_chat_id, queue=queue, order=order)
        return next(u for u in updates if "migrate_to_chat_id" in u["message"])

    def migrate_updates(self, chat_id: int, new_chat_id: int, *, queue: bool = True,
                        order: str = "to_first") -> list[dict]:
        """The basic group chat_id is upgraded to the supergroup new_chat_id: returns the two
        service-message updates, ``migrate_to_chat_id`` (in the old chat) and
        ``migrate_from_chat_id`` (in the new one), in ``order`` ("to_first" or "from_first":
        Telegram has delivered them both ways), each its own update; with ``queue`` both are
        queued (if the bot is in the group). Members, admins and the bot's status carry over;
        messages stay in the old chat, which refuses every later call with ChatMigrated."""
        if order not in ("to_first", "from_first"):
            raise ValueError('order is "to_first" or "from_first"')
        with self._cond:
            old = self._group(chat_id)
            if old.migrated_to is not None:
                raise ValueError(f"chat {chat_id} was already upgraded to {old.migrated_to}")
            if old.type != "group":
                raise ValueError(f"chat {chat_id} is a {old.type}: only basic groups are upgraded")
            if new_chat_id >= 0 or new_chat_id in self._chats:
                raise ValueError(f"{new_chat_id} is not a free supergroup id")
            new = _Chat(new_chat_id, "supergroup", old.title)
            new.members = dict(old.members)
            new.bot_status = old.bot_status
            old.migrated_to = new_chat_id
            self._chats[new_chat_id] = new
            creator = next((uid for uid, s in old.members.items() if s == "creator"), None)
            sender = self._users[creator].user if creator in self._users else None
            to_message = self._store(old, sender, {"migrate_to_chat_id": new_chat_id})
            from_message = self._store(new, sender, {"migrate_from_chat_id": chat_id})
            pair = (to_message, from_message) if order == "to_first" else (from_message, to_message)
            updates = [{"update_id": self.next_update_id(), "message": m} for m in pair]
            if queue and new.bot_status in _PRESENT:
                for update in updates:
                    self._enqueue(update)
            self._changed()
            return updates

    def push_update(self, update: dict) -> None:
        with self._cond:
            if "update_id" not in update:
                update = {"update_id": self.next_update_id(), **update}
            self._last_update_id = max(self._last_update_id, update["update_id"])
            self._enqueue(update)
            self._changed()

    def pending_updates(self) -> int:
        with self._lock:
            return len(self._queue)

    def wait_until_consumed(self, timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._queue:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True

    # ------------------------------------------------------------------ what the bot did

    def messages(self, chat_id: int) -> list[dict]:
        with self._lock:
            chat = self._chats.get(chat_id)
            return list(chat.messages.values()) if chat else []

    def bot_messages(self, chat_id: int) -> list[dict]:
        return [m for m in self.messages(chat_id) if m.get("from", {}).get("id") == self.bot_id]

    def last_bot_message(self, chat_id: int) -> dict | None:
        with self._lock:
            chat = self._chats.get(chat_id)
            if chat is None:
                return None
            for message in reversed(chat.messages.values()):
                if message.get("from", {}).get("id") == self.bot_id:
                    return message
            return None

    def wait_for(self, predicate: Callable[[FakeTelegram], Any], timeout: float = 5.0) -> Any:
        """Re-evaluate predicate(self) after every state change until it is truthy."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                seen = self._version
            # Evaluated without the lock so a slow predicate does not stall the server; the
            # version check below means no change that happens meanwhile goes unnoticed.
            value = predicate(self)
            if value:
                return value
            with self._cond:
                while self._version == seen:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise AssertionError(f"timed out after {timeout}s; {self.summary()}")
                    self._cond.wait(remaining)

    def wait_for_message(self, chat_id: int, contains: str | None = None,
                         timeout: float = 5.0) -> dict:
        """The newest bot message in chat_id whose text (or caption) contains ``contains``;
        with ``contains=None``, the first bot message sent after this call."""
        if contains is None:
            last = self.last_bot_message(chat_id)
            baseline = last["message_id"] if last else 0

            def newer(tg: FakeTelegram) -> dict | None:
                for message in tg.bot_messages(chat_id):
                    if message["message_id"] > baseline:
                        return message
                return None
            return self.wait_for(newer, timeout)

        def matching(tg: FakeTelegram) -> dict | None:
            with tg._lock:
                chat = tg._chats.get(chat_id)
                if chat is None:
                    return None
                for message in reversed(chat.messages.values()):
                    if (message.get("from", {}).get("id") == tg.bot_id
                            and contains in (message.get("text") or message.get("caption") or "")):
                        return message
                return None
        return self.wait_for(matching, timeout)

    def answered_callbacks(self) -> list[dict]:
        with self._lock:
            return list(self._answered)

    def documents(self, chat_id: int) -> list[dict]:
        with self._lock:
            return list(self._documents.get(chat_id, ()))

    def commands(self, language_code: str = "", scope_type: str = "default", *,
                 chat_id: int | None = None, user_id: int | None = None) -> list[dict]:
        with self._lock:
            return list(self._commands.get((scope_type, chat_id, user_id, language_code), ()))

    def description(self, language_code: str = "", short: bool = False) -> str:
        with self._lock:
            return self._descriptions.get(("short" if short else "long", language_code), "")

    def refusals(self) -> list[tuple[str, str]]:
        """Every refused request so far as (method, description), oldest first."""
        with self._lock:
            return [(method, error.get("description", "")) for method, _, error in self.errors]

    def reset_records(self) -> None:
        with self._lock:
            self.calls.clear()
            self.errors.clear()
            self._answered.clear()

    def summary(self) -> str:
        """A short account of the latest bot messages and refusals, for failure messages."""
        with self._lock:
            sent = "; ".join(f"[{cid}] {text[:80]!r}" for cid, text in self._recent) or "none"
            refused = "; ".join(f"{m}: {e['description']}" for m, _, e in self.errors[-3:])
            return f"last bot messages: {sent}" + (f"; last refusals: {refused}" if refused else "")

    # ------------------------------------------------------------------ internals: model

    def _user(self, user_id: int) -> _User:
        try:
            return self._users[user_id]
        except KeyError:
            raise ValueError(f"unknown user {user_id}; call add_user first") from None

    def _chat(self, chat_id: int) -> _Chat:
        try:
            return self._chats[chat_id]
        except KeyError:
            raise ValueError(f"unknown chat {chat_id}") from None

    def _group(self, chat_id: int) -> _Chat:
        chat = self._chat(chat_id)
        if not chat.is_group:
            raise ValueError(f"chat {chat_id} is not a group")
        return chat

    def _chat_dict(self, chat: _Chat) -> dict:
        if chat.is_group:
            d: dict[str, Any] = {"id": chat.id, "type": chat.type, "title": chat.title}
            if chat.forum:
                d["is_forum"] = True
            return d
        if chat.type == "channel":
            d = {"id": chat.id, "type": "channel", "title": chat.title}
            if chat.username:
                d["username"] = chat.username
            return d
        user = self._users[chat.user_id].user
        d = {"id": chat.id, "type": "private", "first_name": user["first_name"]}
        for key in ("last_name", "username"):
            if key in user:
                d[key] = user[key]
        return d

    def _user_dict(self, user_id: int) -> dict:
        if user_id == self.bot_id:
            return self._bot_user
        if user_id in self._users:
            return self._users[user_id].user
        return {"id": user_id, "is_bot": False, "first_name": f"User {user_id}"}

    @staticmethod
    def _member_dict(user: dict, status: str) -> dict:
        """A ChatMember with every field PTB requires for that status."""
        d: dict[str, Any] = {"user": user, "status": status}
        if status == "creator":
            d["is_anonymous"] = False
        elif status == "administrator":
            d.update(can_be_edited=False, is_anonymous=False, can_manage_chat=True,
                     can_delete_messages=True, can_manage_video_chats=True,
                     can_restrict_members=True, can_promote_members=False, can_change_info=True,
                     can_invite_users=True, can_post_stories=False, can_edit_stories=False,
                     can_delete_stories=False, can_pin_messages=True, can_manage_topics=False)
        elif status == "restricted":
            d.update(is_member=True, can_send_messages=False, can_send_audios=False,
                     can_send_documents=False, can_send_photos=False, can_send_videos=False,
                     can_send_video_notes=False, can_send_voice_notes=False,
                     can_send_polls=False, can_send_other_messages=False,
                     can_add_web_page_previews=False, can_change_info=False,
                     can_invite_users=False, can_pin_messages=False, can_manage_topics=False,
                     can_edit_tag=False, can_react_to_messages=False, until_date=0)
        elif status == "kicked":
            d["until_date"] = 0
        return d

    def _store(self, chat: _Chat, sender: dict | None, fields: dict) -> dict:
        message: dict[str, Any] = {"message_id": chat.next_message_id}
        if sender is not None:
            message["from"] = sender
        message["chat"] = self._chat_dict(chat)
        message["date"] = int(time.time())
        message.update(fields)
        chat.next_message_id += 1
        chat.messages[message["message_id"]] = message
        return message

    @staticmethod
    def _reply_copy(message: dict) -> dict:
        # Telegram does not nest replies more than one level deep.
        return {k: v for k, v in message.items() if k != "reply_to_message"}

    def _bot_sees(self, chat: _Chat, message: dict) -> bool:
        """Whether Telegram would deliver this message to the bot (privacy mode)."""
        if not chat.is_group:
            return True
        if chat.bot_status not in _PRESENT:
            return False
        if chat.bot_status in _ADMIN or not self.privacy_mode or "text" not in message:
            return True  # admins see everything; service messages reach everyone
        reply = message.get("reply_to_message")
        if reply and reply.get("from", {}).get("id") == self.bot_id:
            return True
        for entity in message.get("entities", ()):
            if entity.get("type") == "bot_command" and entity.get("offset") == 0:
                command = message["text"][:entity["length"]]
                _, _, target = command.partition("@")
                return not target or target.lower() == self.bot_username.lower()
        return False

    def _enqueue(self, update: dict) -> None:
        update_type = next((k for k in update if k != "update_id"), "")
        raw = json.dumps(update, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        item = (update["update_id"], update_type, raw)
        if self._queue and self._queue[-1][0] >= item[0]:
            # Out of order (hand-made update ids): keep the queue sorted.
            self._queue = collections.deque(sorted([*self._queue, item], key=lambda t: t[0]))
        else:
            self._queue.append(item)

    # ------------------------------------------------------------------ internals: HTTP

    def _dispatch(self, path: str, content_type: str, body: bytes, query: str,
                  connection: socket.socket | None = None) -> tuple[int, bytes]:
        m = re.fullmatch(r"/bot([^/]+)/([A-Za-z]+)", path)
        if m is None:
            return self._error_payload(TelegramError(404, "Not Found"))
        if m.group(1) != self.token:
            return self._error_payload(TelegramError(401, "Unauthorized"))
        entry = self._methods.get(m.group(2).lower())
        if entry is None:
            return self._error_payload(TelegramError(404, "Not Found"))
        name, handler = entry
        try:
            params = _decode_params(content_type, body, query)
        except TelegramError as exc:
            params, error = {}, exc
        else:
            error = None
        with self._cond:
            self.calls.append((name, params))
            self._local.connection = connection
            try:
                if error is not None:
                    raise error
                failures = self._failures.get(name.lower())
                if failures:
                    raise failures.popleft()
                result = handler(params)
            except _Abandoned:
                return 0, b""
            except TelegramError as exc:
                self.errors.append((name, params, exc.body()))
                return self._error_payload(exc)
            finally:
                self._changed()
            if isinstance(result, _Raw):
                return 200, b'{"ok":true,"result":' + result.data + b"}"
            return 200, json.dumps({"ok": True, "result": result}, ensure_ascii=False,
                                   separators=(",", ":")).encode("utf-8")

    @staticmethod
    def _error_payload(exc: TelegramError) -> tuple[int, bytes]:
        return exc.error_code, json.dumps(exc.body(), ensure_ascii=False).encode("utf-8")

    # ------------------------------------------------------------------ internals: checks

    def _resolve_chat(self, value: Any) -> _Chat:
        """The chat a method addresses, refused the way Telegram refuses it."""
        try:
            chat_id = int(value)
        except (TypeError, ValueError):
            raise _bad("chat not found") from None
        chat = self._chats.get(chat_id)
        if chat is None or chat_id == self.bot_id:
            raise _bad("chat not found")
        if chat.migrated_to is not None:
            raise TelegramError(400, "Bad Request: group chat was upgraded to a supergroup chat",
                                {"migrate_to_chat_id": chat.migrated_to})
        if chat.is_group or chat.type == "channel":
            if chat.bot_status not in _PRESENT:
                raise _forbidden(f"bot is not a member of the {chat.type} chat")
        else:
            user = self._users[chat.user_id]
            if user.blocked:
                raise _forbidden("bot was blocked by the user")
            if not user.started:
                raise _forbidden("bot can't initiate conversation with a user")
        return chat

    def _check_markup(self, markup: Any) -> dict | None:
        """Validate reply_markup; return the inline keyboard to store on the message."""
        if markup is None or markup == "":
            return None
        if not isinstance(markup, dict):
            raise _bad("can't parse reply keyboard markup JSON object")
        if "inline_keyboard" not in markup:
            return None  # reply keyboards etc. are not part of the message
        rows = markup["inline_keyboard"]
        if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
            raise _bad('field "inline_keyboard" of the InlineKeyboardMarkup must be an Array of '
                       'Arrays')
        actions = ("callback_data", "url", "login_url", "switch_inline_query",
                   "switch_inline_query_current_chat", "switch_inline_query_chosen_chat",
                   "callback_game", "pay", "web_app", "copy_text")
        for row in rows:
            for button in row:
                if not isinstance(button, dict):
                    raise _bad("can't parse inline keyboard button: InlineKeyboardButton must be "
                               "an Object")
                if not button.get("text") or not any(k in button for k in actions):
                    raise _bad("can't parse inline keyboard button: Text buttons are unallowed "
                               "in the inline keyboard")
                if "callback_data" in button:
                    data = button["callback_data"]
                    if not isinstance(data, str) or not 1 <= len(data.encode("utf-8")) <= 64:
                        raise _bad("BUTTON_DATA_INVALID")
                if "url" in button:
                    url = button["url"]
                    if not isinstance(url, str) or not url.lower().startswith(
                            ("http://", "https://", "tg://")):
                        raise _bad("BUTTON_URL_INVALID")
        return markup

    @staticmethod
    def _format(text: str, parse_mode: Any, entities: Any) -> tuple[str, list[dict]]:
        """(plain text, entities) as Telegram would store them."""
        mode = (parse_mode or "").lower() if isinstance(parse_mode, str) else ""
        if mode == "html":
            plain, ents = parse_html(text)
        elif mode in ("", "markdown", "markdownv2"):
            # Markdown is not modelled: the text is kept as sent.
            plain, ents = text, list(entities) if isinstance(entities, list) else []
        else:
            raise _bad("unsupported parse_mode")
        return _trim(plain, ents)

    def _reply_target(self, chat: _Chat, p: dict) -> tuple[_Chat, dict] | None:
        """The message a send replies to (reply_to_message_id or reply_parameters), and its chat."""
        message_id = p.get("reply_to_message_id")
        allow = bool(p.get("allow_sending_without_reply"))
        rp = p.get("reply_parameters")
        if isinstance(rp, dict):
            message_id = rp.get("message_id", message_id)
            allow = allow or bool(rp.get("allow_sending_without_reply"))
            if rp.get("chat_id") not in (None, chat.id):
                chat = self._resolve_chat(rp["chat_id"])
        if message_id is None:
            return None
        target = chat.messages.get(message_id) if isinstance(message_id, int) else None
        if target is None:
            if allow:
                return None
            raise _bad("message to be replied not found")
        return chat, target

    def _thread_param(self, chat: _Chat, p: dict) -> int | None:
        """The forum topic a send names with message_thread_id (checked), or None."""
        thread_id = p.get("message_thread_id")
        if not isinstance(thread_id, int) or isinstance(thread_id, bool) or thread_id <= 0:
            return None  # the server reads a missing, malformed or non-positive id as none
        if chat.forum:
            if thread_id == GENERAL_TOPIC_ID or thread_id not in chat.topics:
                raise _bad("message thread not found")
            return thread_id
        if chat.type == "private" or self.strict_message_threads:
            raise _bad("message thread not found")
        return None  # ignored in basic groups and non-forum supergroups (Bot API 9.3+)

    def _placement(self, chat: _Chat, thread_id: int | None, target: dict | None) -> dict:
        """The thread fields and the reply of a new message in chat: ``thread_id`` a topic of a
        forum (checked) or None, ``target`` the message of this chat it replies to, or None."""
        fields: dict[str, Any] = {}
        if chat.forum:
            target_topic = self.topic_of(target)
            if thread_id is None and target is not None:
                thread_id = target_topic      # a reply lands in the replied message's topic
            if thread_id is not None:
                fields["message_thread_id"] = thread_id
                fields["is_topic_message"] = True
            if target is not None and target_topic == thread_id:
                fields["reply_to_message"] = self._reply_copy(target)
            else:
                root = chat.messages.get(thread_id) if thread_id is not None else None
                if root is not None:
                    # Telegram shows the topic's creation message as what a message in the
                    # topic replies to, unless it replies to something else in the topic.
                    fields["reply_to_message"] = self._reply_copy(root)
                if target is not None:
                    fields["external_reply"] = self._external_reply(target)
        elif target is not None:
            fields["reply_to_message"] = self._reply_copy(target)
            if chat.type == "supergroup":
                # A reply thread of an ordinary supergroup: its id without is_topic_message.
                fields["message_thread_id"] = target.get("message_thread_id", target["message_id"])
        return fields

    @staticmethod
    def _external_reply(target: dict) -> dict:
        origin: dict[str, Any] = {"date": target["date"]}
        if "sender_chat" in target:
            origin.update(type="chat", sender_chat=target["sender_chat"])
        elif "from" in target:
            origin.update(type="user", sender_user=target["from"])
        else:
            origin.update(type="hidden_user", sender_user_name="Unknown")
        return {"origin": origin, "chat": target["chat"], "message_id": target["message_id"]}

    def _own_message(self, chat: _Chat, message_id: Any, missing: str) -> dict:
        message = chat.messages.get(message_id) if isinstance(message_id, int) else None
        if message is None:
            raise _bad(missing)
        return message

    def _replace(self, chat: _Chat, message: dict) -> dict:
        message["edit_date"] = int(time.time())
        chat.messages[message["message_id"]] = message
        self._note(chat.id, message)
        return message

    def _note(self, chat_id: int, message: dict) -> None:
        self._recent.append((chat_id, message.get("text") or message.get("caption") or ""))

    def _send(self, chat: _Chat, fields: dict, p: dict) -> dict:
        thread_id = self._thread_param(chat, p)
        replied = self._reply_target(chat, p)
        target = None
        if replied is not None:
            if replied[0] is chat:
                target = replied[1]
            else:
                fields["reply_to_message"] = self._reply_copy(replied[1])  # in another chat
        placement = self._placement(chat, thread_id, target)
        topic = self.topic_of(placement)
        if topic is not None and chat.topics[topic]["closed"]:
            raise _bad("TOPIC_CLOSED")
        for key, value in placement.items():
            fields.setdefault(key, value)   # a reply to another chat's message stays as it is
        message = self._store(chat, self._bot_user, fields)
        self._note(chat.id, message)
        return message

    # ------------------------------------------------------------------ Bot API methods

    def _m_getMe(self, p: dict) -> dict:
        return {**self._bot_user, "can_join_groups": True, "can_read_all_group_messages":
                not self.privacy_mode, "supports_inline_queries": False,
                "can_connect_to_business": False, "has_main_web_app": False}

    def _m_getUpdates(self, p: dict) -> _Raw:
        if self._webhook_url:
            raise TelegramError(409, "Conflict: can't use getUpdates method while webhook is "
                                     "active; use deleteWebhook to delete the webhook first")
        offset = p.get("offset")
        limit = p.get("limit") or 100
        limit = max(1, min(100, int(limit))) if isinstance(limit, (int, float)) else 100
        timeout = p.get("timeout") or 0
        timeout = max(0.0, float(timeout)) if isinstance(timeout, (int, float)) else 0.0
        allowed = p.get("allowed_updates")
        if isinstance(allowed, list):
            self._allowed_updates = frozenset(allowed) or None
        # A newer poll terminates an older one, as on Telegram.
        self._poll_generation += 1
        generation = self._poll_generation
        if isinstance(offset, int):
            self._confirm(offset)
        deadline = time.monotonic() + timeout
        while True:
            batch = self._deliverable(limit)
            if batch or self._stopped:
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            self._cond.wait(remaining)
            if self._poll_generation != generation:
                # PTB abandons its long poll on shutdown and polls once more to confirm; a
                # poll nobody listens to any more should not show up as a refusal.
                if _peer_closed(getattr(self._local, "connection", None)):
                    raise _Abandoned
                raise TelegramError(409, "Conflict: terminated by other getUpdates request; make "
                                         "sure that only one bot instance is running")
        return _Raw(b"[" + b",".join(batch) + b"]")

    def _confirm(self, offset: int) -> None:
        queue = self._queue
        before = len(queue)
        if offset < 0:
            # A negative offset keeps only the last -offset updates.
            while len(queue) > -offset:
                queue.popleft()
        else:
            while queue and queue[0][0] < offset:
                queue.popleft()
        if len(queue) != before:
            self._changed()

    def _deliverable(self, limit: int) -> list[bytes]:
        allowed = self._allowed_updates
        queue = self._queue

        def ok(update_type: str) -> bool:
            return update_type in allowed if allowed else update_type not in _NOT_BY_DEFAULT

        # Updates the bot did not ask for are dropped, as Telegram never sends them.
        while queue and not ok(queue[0][1]):
            queue.popleft()
            self._changed()
        batch = []
        for _, update_type, raw in queue:
            if ok(update_type):
                batch.append(raw)
                if len(batch) >= limit:
                    break
        return batch

    def _m_deleteWebhook(self, p: dict) -> bool:
        self._webhook_url = ""
        if p.get("drop_pending_updates"):
            self._queue.clear()
        return True

    def _m_setWebhook(self, p: dict) -> bool:
        url = p.get("url") or ""
        if url and not url.startswith("https://"):
            raise _bad("bad webhook: An HTTPS URL must be provided for webhook")
        self._webhook_url = url
        if isinstance(p.get("allowed_updates"), list):
            self._allowed_updates = frozenset(p["allowed_updates"]) or None
        if p.get("drop_pending_updates"):
            self._queue.clear()
        return True

    def _m_getWebhookInfo(self, p: dict) -> dict:
        info: dict[str, Any] = {"url": self._webhook_url, "has_custom_certificate": False,
                                "pending_update_count": len(self._queue)}
        if self._webhook_url:
            info["max_connections"] = 40
        if self._allowed_updates:
            info["allowed_updates"] = sorted(self._allowed_updates)
        return info

    def _m_logOut(self, p: dict) -> bool:
        return True

    def _m_close(self, p: dict) -> bool:
        return True

    def _message_text(self, p: dict) -> tuple[str, str, list]:
        """The `text` of a send or an edit: (as sent, as shown, entities), refused as Telegram refuses it."""
        raw = p.get("text")
        raw = "" if raw is None else str(raw)
        text, entities = self._format(raw, p.get("parse_mode"), p.get("entities"))
        if not text:
            raise _bad("message text is empty")
        if utf16_len(text) > 4096:
            raise _bad("message is too long")
        return raw, text, entities

    def _m_sendMessage(self, p: dict) -> dict:
        chat = self._resolve_chat(p.get("chat_id"))
        markup = self._check_markup(p.get("reply_markup"))
        raw, text, entities = self._message_text(p)
        fields: dict[str, Any] = {"text": text}
        if entities:
            fields["entities"] = entities
        if markup is not None:
            fields["reply_markup"] = markup
        fields["html"] = raw
        return self._send(chat, fields, p)

    def _m_sendDocument(self, p: dict) -> dict:
        chat = self._resolve_chat(p.get("chat_id"))
        markup = self._check_markup(p.get("reply_markup"))
        document = p.get("document")
        if isinstance(document, str) and document.startswith("attach://"):
            document = p.get(document[len("attach://"):])
        if isinstance(document, str):
            if document not in self._files:
                raise _bad("wrong file identifier/HTTP URL specified")
            upload = self._files[document]
        elif isinstance(document, dict):
            upload = document
        else:
            raise _bad("there is no document in the request")
        content = upload["content"]
        if not content:
            raise _bad("file must be non-empty")
        if len(content) > 50 * 1024 * 1024:
            raise TelegramError(413, "Request Entity Too Large")
        raw_caption = p.get("caption")
        raw_caption = "" if raw_caption is None else str(raw_caption)
        caption, caption_entities = self._format(raw_caption, p.get("parse_mode"),
                                                 p.get("caption_entities"))
        if utf16_len(caption) > 1024:
            raise _bad("message caption is too long")
        number = next(self._file_ids)
        file_id = f"BQACAgIAAxkDAAI{number:08d}"
        doc = {"file_id": file_id, "file_unique_id": f"AgAD{number:06d}",
               "file_name": upload["file_name"], "file_size": len(content)}
        if upload.get("mime_type"):
            doc["mime_type"] = upload["mime_type"]
        self._files[file_id] = upload
        fields: dict[str, Any] = {"document": doc}
        if caption:
            fields["caption"] = caption
            if caption_entities:
                fields["caption_entities"] = caption_entities
        if markup is not None:
            fields["reply_markup"] = markup
        fields["html"] = raw_caption
        message = self._send(chat, fields, p)
        self._documents[chat.id].append({"file_name": upload["file_name"], "content": content,
                                         "caption": caption or None})
        return message

    def _m_editMessageText(self, p: dict) -> dict:
        if p.get("inline_message_id"):
            raise _bad("MESSAGE_ID_INVALID")
        chat = self._resolve_chat(p.get("chat_id"))
        message = self._own_message(chat, p.get("message_id"), "message to edit not found")
        if message.get("from", {}).get("id") != self.bot_id:
            raise _bad("message can't be edited")
        if "text" not in message:
            raise _bad("there is no text in the message to edit")
        markup = self._check_markup(p.get("reply_markup"))
        raw, text, entities = self._message_text(p)
        if (text == message["text"] and entities == message.get("entities", [])
                and markup == message.get("reply_markup")):
            raise _bad("message is not modified: specified new message content and reply markup "
                       "are exactly the same as a current content and reply markup of the message")
        edited = {k: v for k, v in message.items()
                  if k not in ("text", "entities", "reply_markup", "html")}
        edited["text"] = text
        if entities:
            edited["entities"] = entities
        # Like Telegram: an edit without reply_markup removes the inline keyboard.
        if markup is not None:
            edited["reply_markup"] = markup
        edited["html"] = raw
        return self._replace(chat, edited)

    def _m_editMessageReplyMarkup(self, p: dict) -> dict:
        if p.get("inline_message_id"):
            raise _bad("MESSAGE_ID_INVALID")
        chat = self._resolve_chat(p.get("chat_id"))
        message = self._own_message(chat, p.get("message_id"), "message to edit not found")
        if message.get("from", {}).get("id") != self.bot_id:
            raise _bad("message can't be edited")
        markup = self._check_markup(p.get("reply_markup"))
        if markup == message.get("reply_markup"):
            raise _bad("message is not modified: specified new message content and reply markup "
                       "are exactly the same as a current content and reply markup of the message")
        edited = {k: v for k, v in message.items() if k != "reply_markup"}
        if markup is not None:
            edited["reply_markup"] = markup
        return self._replace(chat, edited)

    def _m_deleteMessage(self, p: dict) -> bool:
        chat = self._resolve_chat(p.get("chat_id"))
        message = self._own_message(chat, p.get("message_id"), "message to delete not found")
        mine = message.get("from", {}).get("id") == self.bot_id
        if chat.is_group and not mine and chat.bot_status not in _ADMIN:
            raise _bad("message can't be deleted")
        del chat.messages[message["message_id"]]
        return True

    def _m_answerCallbackQuery(self, p: dict) -> bool:
        text = p.get("text")
        if text is not None and len(str(text)) > 200:
            raise _bad("MESSAGE_TOO_LONG")
        query_id = str(p.get("callback_query_id"))
        if query_id not in self._open_queries:
            raise _bad("query is too old and response timeout expired or query ID is invalid")
        self._open_queries.discard(query_id)
        self._answered.append(p)
        return True

    def _m_getChat(self, p: dict) -> dict:
        chat = self._resolve_chat(p.get("chat_id"))
        info = self._chat_dict(chat)
        info.update(accent_color_id=0, max_reaction_count=11, accepted_gift_types={
            "unlimited_gifts": False, "limited_gifts": False, "unique_gifts": False,
            "premium_subscription": False, "gifts_from_channels": False})
        if chat.is_group:
            info["permissions"] = {"can_send_messages": True, "can_send_polls": True,
                                   "can_send_other_messages": True, "can_invite_users": True}
        return info

    def _m_getChatMember(self, p: dict) -> dict:
        chat = self._resolve_chat(p.get("chat_id"))
        user_id = p.get("user_id")
        if not isinstance(user_id, int):
            raise _bad("invalid user_id specified")
        if user_id == self.bot_id:
            return self._member_dict(self._bot_user, chat.bot_status if chat.is_group else "member")
        if not chat.is_group:
            if user_id != chat.user_id:
                raise _bad("user not found")
            return self._member_dict(self._users[user_id].user, "member")
        if user_id not in self._users and user_id not in chat.members:
            raise _bad("user not found")
        return self._member_dict(self._user_dict(user_id), chat.members.get(user_id, "left"))

    def _m_getChatAdministrators(self, p: dict) -> list[dict]:
        chat = self._resolve_chat(p.get("chat_id"))
        if not chat.is_group:
            raise _bad("there are no administrators in the private chat")
        admins = [self._member_dict(self._user_dict(uid), status)
                  for uid, status in chat.members.items() if status in _ADMIN]
        if chat.bot_status in _ADMIN:
            admins.append(self._member_dict(self._bot_user, chat.bot_status))
        return admins

    def _m_getChatMemberCount(self, p: dict) -> int:
        chat = self._resolve_chat(p.get("chat_id"))
        if not chat.is_group:
            return 2
        count = sum(1 for status in chat.members.values() if status in _PRESENT)
        return count + (chat.bot_status in _PRESENT)

    @staticmethod
    def _command_key(p: dict) -> tuple:
        scope = p.get("scope") if isinstance(p.get("scope"), dict) else {"type": "default"}
        language_code = p.get("language_code") or ""
        if language_code and not re.fullmatch(r"[a-z]{2}", str(language_code)):
            raise _bad("invalid language code specified")
        return (scope.get("type", "default"), scope.get("chat_id"), scope.get("user_id"),
                language_code)

    def _m_setMyCommands(self, p: dict) -> bool:
        commands = p.get("commands")
        if not isinstance(commands, list):
            raise _bad("can't parse commands JSON object")
        if len(commands) > 100:
            raise _bad("too many commands")
        for command in commands:
            if not isinstance(command, dict):
                raise _bad("can't parse BotCommand JSON object")
            if not re.fullmatch(r"[a-z0-9_]{1,32}", str(command.get("command", ""))):
                raise _bad("BOT_COMMAND_INVALID")
            description = command.get("description")
            if not isinstance(description, str) or not 1 <= len(description.strip()) <= 256 \
                    or len(description) > 256:
                raise _bad("command description is empty or too long")
        key = self._command_key(p)
        if commands:
            self._commands[key] = [{"command": c["command"], "description": c["description"]}
                                   for c in commands]
        else:
            self._commands.pop(key, None)
        return True

    def _m_deleteMyCommands(self, p: dict) -> bool:
        self._commands.pop(self._command_key(p), None)
        return True

    def _m_getMyCommands(self, p: dict) -> list[dict]:
        return list(self._commands.get(self._command_key(p), ()))

    def _set_description(self, p: dict, key: str, kind: str, limit: int) -> bool:
        text = p.get(key) or ""
        if len(text) > limit:
            raise _bad(f"bot {kind} is too long")
        language_code = p.get("language_code") or ""
        self._descriptions[(kind, language_code)] = text
        return True

    def _m_setMyDescription(self, p: dict) -> bool:
        return self._set_description(p, "description", "long", 512)

    def _m_setMyShortDescription(self, p: dict) -> bool:
        return self._set_description(p, "short_description", "short", 120)

    def _m_getMyDescription(self, p: dict) -> dict:
        return {"description": self._descriptions.get(("long", p.get("language_code") or ""), "")}

    def _m_getMyShortDescription(self, p: dict) -> dict:
        return {"short_description":
                self._descriptions.get(("short", p.get("language_code") or ""), "")}

    def _m_setChatMenuButton(self, p: dict) -> bool:
        chat_id = p.get("chat_id")
        if chat_id is not None:
            self._resolve_chat(chat_id)
        button = p.get("menu_button")
        self._menu_buttons[chat_id] = button if isinstance(button, dict) else {"type": "default"}
        return True

    def _m_getChatMenuButton(self, p: dict) -> dict:
        return self._menu_buttons.get(p.get("chat_id"), self._menu_buttons.get(
            None, {"type": "commands"}))

    def _m_sendChatAction(self, p: dict) -> bool:
        self._resolve_chat(p.get("chat_id"))
        if p.get("action") not in _CHAT_ACTIONS:
            raise _bad("wrong parameter action in request")
        return True

    def _m_leaveChat(self, p: dict) -> bool:
        chat = self._resolve_chat(p.get("chat_id"))
        if not chat.is_group:
            raise _bad("chat member status can't be changed in private chats")
        chat.bot_status = "left"
        return True
