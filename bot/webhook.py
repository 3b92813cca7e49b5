"""The web server of webhook mode: Telegram's calls on /telegram, the platform's health check on /healthz.

PTB's own webhook server has no health path and starts listening only after setWebhook; a PaaS
wants the port open and a health check answered from the start. So the server is ours (on
tornado, which PTB's webhooks extra brings):

- `POST /telegram` with the `X-Telegram-Bot-Api-Secret-Token` header equal to the secret: the
  update goes into the Application's update queue and Telegram gets 200. Without the header, or
  with another value: 403, nothing read. While the bot stops: 503, and Telegram delivers the
  update again later (to the bot's next run).
- `GET /healthz`: 200 "ok" while running, 503 while stopping; no secret needed, nothing revealed.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging

import tornado.httpserver
import tornado.web
from telegram import Update
from telegram.ext import Application

log = logging.getLogger(__name__)

TELEGRAM_PATH = "/telegram"
HEALTH_PATH = "/healthz"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_BODY = 1 << 20  # an update is a few kilobytes; Telegram never sends a megabyte


class WebhookServer:
    def __init__(self, application: Application, secret_token: str) -> None:
        self.application = application
        self._secret = secret_token.encode()
        self.accepting = True
        self.received = 0
        self._http: tornado.httpserver.HTTPServer | None = None

    def listen(self, port: int, address: str = "0.0.0.0") -> None:
        """Bind now (an OSError here, e.g. the port is taken, stops the start with one line)."""
        app = tornado.web.Application([
            (TELEGRAM_PATH, _TelegramCall, {"server": self}),
            (HEALTH_PATH, _Health, {"server": self}),
        ], log_function=_quiet)
        self._http = tornado.httpserver.HTTPServer(app, max_body_size=MAX_BODY, idle_connection_timeout=60)
        self._http.listen(port, address=address)

    def secret_matches(self, given: str | None) -> bool:
        return given is not None and hmac.compare_digest(given.encode(), self._secret)

    async def stop(self, seconds: float = 0.5) -> None:
        """Stop taking updates: refuse new calls with 503, stop listening, close idle connections."""
        self.accepting = False
        if self._http is None:
            return
        self._http.stop()
        try:
            await asyncio.wait_for(self._http.close_all_connections(), seconds)
        except TimeoutError:
            log.debug("webhook connections still open after %.1f s; left to close with the process", seconds)
        self._http = None


def _quiet(handler: tornado.web.RequestHandler) -> None:
    # Health checks every few seconds and refused calls from scanners would drown the log.
    status = handler.get_status()
    if status >= 500:
        log.warning("%s %s -> %d", handler.request.method, handler.request.path, status)


class _TelegramCall(tornado.web.RequestHandler):
    server: WebhookServer

    def initialize(self, server: WebhookServer) -> None:
        self.server = server

    def post(self) -> None:
        server = self.server
        if not server.secret_matches(self.request.headers.get(SECRET_HEADER)):
            self.set_status(403)
            return
        if not server.accepting:
            self.set_status(503)  # Telegram retries: the update reaches the next run
            return
        try:
            data = json.loads(self.request.body)
            update = Update.de_json(data, server.application.bot)
        except (ValueError, TypeError, KeyError) as exc:
            log.warning("a webhook call with the right secret but no update in it (%s)", exc)
            self.set_status(400)
            return
        if update is None:
            self.set_status(400)
            return
        server.received += 1
        server.application.update_queue.put_nowait(update)
        self.set_status(200)


class _Health(tornado.web.RequestHandler):
    server: WebhookServer

    def initialize(self, server: WebhookServer) -> None:
        self.server = server

    def get(self) -> None:
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        if self.server.accepting:
            self.write("ok\n")
        else:
            self.set_status(503)
            self.write("stopping\n")

    def head(self) -> None:
        self.set_status(200 if self.server.accepting else 503)
