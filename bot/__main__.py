"""python -m bot: read settings, check the database, run long polling or a webhook until told to stop.

    python -m bot                 run the bot: long polling, or a webhook server when WEBHOOK_URL is set
    python -m bot backup PATH     a consistent copy of the database, safe while the bot runs
    python -m bot restore PATH    put a backup back (what was there is kept beside it), then restart the bot
    python -m bot sandbox         try it in a browser: the real bot on a pretend Telegram, no token, no network

Exactly one bot per token. Long polling asks Telegram for updates; a second process polling with
the same token makes Telegram answer 409 Conflict to one of them, and the two take each other's
updates. That is said in one log line (and again at most every ten minutes), not a traceback loop.

Stopping (SIGTERM, which every platform sends on redeploy, or SIGINT): the bot stops taking
updates at once (the long poll is dropped; the webhook answers 503, so Telegram delivers again
later), lets what it took finish for up to DRAIN_SECONDS with replies still going out, then cuts
Telegram off (what is waiting to be sent fails at once) so that every handler gets through its
database work for up to FINISH_SECONDS more, acknowledges the updates it took, closes the
database and exits 0: within 4 s whether or not Telegram can be reached, inside Fly.io's
default 5 s. A confirmation is one transaction, written before anyone is told: stopping can cost
a reply, never a recorded confirmation, and the database refuses a second one.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from telegram.error import (
    BadRequest,
    Conflict,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.ext import Application, BaseRateLimiter

from bot.settings import SettingsError, check_persistent, load_settings

if TYPE_CHECKING:
    from bot.i18n import Catalogs
    from bot.settings import Settings
    from bot.webhook import WebhookServer

log = logging.getLogger("bot")

DRAIN_SECONDS = 1.5      # after the signal: what was taken finishes, replies still go out
FINISH_SECONDS = 1.0     # then, Telegram cut off: handlers finish their database work
CANCEL_SECONDS = 0.3     # then whatever still runs is cancelled
ACK_SECONDS = 0.5        # acknowledging the updates taken (long polling), if Telegram answers
POLL_TIMEOUT = 10        # seconds a getUpdates long poll waits for an update
REMIND_SECONDS = 600     # a trouble that goes on is said again this often
SETTLED_SECONDS = 60     # a trouble is over once getUpdates has worked this long without it

USAGE = "usage: python -m bot [sandbox | backup PATH | restore PATH]"

_hard_exit = False  # set once the bot has run: see the end of this file


def main(argv: list[str]) -> int:
    if argv[:1] == ["sandbox"]:
        from bot.sandbox import main as sandbox

        return sandbox(argv[1:])
    if argv[:1] in (["backup"], ["restore"]):
        return backup_or_restore(argv[0], argv[1:])
    if argv:
        print(f"{USAGE}  (unknown argument {argv[0]!r})", file=sys.stderr)
        return 2
    _stop_quietly_while_starting()
    try:
        settings = load_settings()
        from bot.i18n import Catalogs
        from storage.db import StorageError, open_sync

        catalogs = Catalogs(settings.default_language)
        path = settings.database_path
        if not path.parent.exists():
            raise SettingsError(f"DATABASE_URL points into {path.parent}, which does not exist; create it or set "
                                "DATABASE_URL=sqlite:///timebank.sqlite3.")
        where = check_persistent(path)
        try:
            open_sync(path).close()  # create and migrate now, so a bad path fails here and not mid-update
        except (StorageError, OSError, Exception) as exc:
            raise SettingsError(f"DATABASE_URL={settings.database_url} cannot be used ({exc}); set it to a "
                                "writable SQLite file such as sqlite:///timebank.sqlite3.") from None
    except (SettingsError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("tornado.access").setLevel(logging.ERROR)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # PTB's job queue: a line per job run
    LOG_FILTER.token = settings.bot_token
    for handler in logging.getLogger().handlers:
        handler.addFilter(LOG_FILTER)
    log.info("database: %s (%s)", path.resolve(), where)

    global _hard_exit
    _hard_exit = True
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        return loop.run_until_complete(serve(settings, catalogs))
    finally:
        _cancel_leftovers(loop)


# ================================================================== running


async def serve(settings: Settings, catalogs: Catalogs) -> int:
    """Run until SIGTERM/SIGINT (exit code 0) or an error that ends the run (its code, said in one line)."""
    from bot.app import build_application, default_rate_limiter

    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()

    def on_signal(sig: signal.Signals) -> None:
        if not stopping.is_set():
            log.info("%s received: stopping", sig.name)
            stopping.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal, sig)
    gate = TelegramGate(default_rate_limiter())
    application = build_application(settings, rate_limiter=gate, catalogs=catalogs)
    runner = Runner(settings, application, gate)
    signalled = asyncio.ensure_future(stopping.wait())
    starting = asyncio.ensure_future(runner.start())
    await asyncio.wait({starting, signalled}, return_when=asyncio.FIRST_COMPLETED)
    if not starting.done():  # stopped while starting (e.g. waiting for Telegram to answer)
        starting.cancel()
        await asyncio.gather(starting, return_exceptions=True)
        await runner.close()
        return 0
    failure = starting.exception()
    if failure is not None:
        await runner.close()
        return runner.report_failed_start(failure)
    ended: asyncio.Future[Any] = runner.ended
    await asyncio.wait({signalled, ended}, return_when=asyncio.FIRST_COMPLETED)
    code = runner.ended.result() if runner.ended.done() else 0
    await runner.stop()
    signalled.cancel()
    return code


class Fatal(Exception):
    """An error that ends the run, with its exit code and its one line."""

    def __init__(self, code: int, line: str) -> None:
        super().__init__(line)
        self.code = code
        self.line = line


def retry_seconds(exc: RetryAfter) -> float:
    from bot.ratelimit import retry_seconds as seconds

    return seconds(exc)


def token_refused() -> Fatal:
    return Fatal(2, "Telegram refused BOT_TOKEN (Unauthorized): the token was revoked or mistyped; copy it again "
                    "from @BotFather and set BOT_TOKEN.")


class Runner:
    """One run of the bot: start, take updates (long polling or the webhook server), stop."""

    def __init__(self, settings: Settings, application: Application, gate: TelegramGate) -> None:
        self.settings = settings
        self.application = application
        self.gate = gate
        self.poller: Poller | None = None
        self.server: WebhookServer | None = None
        self.ended: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._tasks: set[asyncio.Task[Any]] = set()

    def end(self, fatal: Fatal) -> None:
        """Called by the parts that take updates when one of them cannot go on."""
        log.error("%s", fatal.line)
        if not self.ended.done():
            self.ended.set_result(fatal.code)

    async def start(self) -> None:
        from bot.app import ALLOWED_UPDATES

        app = self.application
        if self.settings.webhook_url:
            # Listening first: the platform's health checks pass while Telegram is waited for, and
            # Telegram's calls queue up until the application runs.
            from bot.webhook import HEALTH_PATH, TELEGRAM_PATH, WebhookServer

            self.server = WebhookServer(app, self.settings.secret_token)
            try:
                self.server.listen(self.settings.port)
            except OSError as exc:
                raise Fatal(2, f"cannot listen on port {self.settings.port} ({exc.strerror}); set PORT to a free "
                               "port") from None
            log.info("webhook mode: listening on 0.0.0.0:%d (%s for Telegram, %s for health checks)",
                     self.settings.port, TELEGRAM_PATH, HEALTH_PATH)
        await self._initialize()
        assert app.post_init is not None
        await app.post_init(app)  # the database and what the bot keeps in memory
        await app.start()
        if self.server is not None and self.settings.webhook_url:
            self._spawn(self._set_webhook(self.settings.webhook_url.rstrip("/") + TELEGRAM_PATH, ALLOWED_UPDATES))
        else:
            self.poller = Poller(app, ALLOWED_UPDATES, self.end)
            self.poller.start()
            log.info("long polling: @%s takes its updates from Telegram", app.bot.username)

    async def _initialize(self) -> None:
        """PTB's initialize (it asks getMe), waiting for Telegram as long as it cannot be reached."""
        delay = 1.0
        while True:
            try:
                await self.application.initialize()
                return
            except InvalidToken:
                raise token_refused() from None
            except (NetworkError, RetryAfter) as exc:
                log.warning("Telegram cannot be reached yet (%s); trying again in %.0f s", exc, delay)
            except TelegramError as exc:
                raise Fatal(1, f"Telegram refused getMe ({exc}); check BOT_API_BASE_URL") from None
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)

    async def _set_webhook(self, url: str, allowed_updates: Sequence[str]) -> None:
        bot = self.application.bot
        trouble = Trouble("setWebhook")
        delay = 1.0
        while True:
            try:
                await bot.set_webhook(url=url, secret_token=self.settings.secret_token,
                                      allowed_updates=list(allowed_updates))
                log.info("webhook set: Telegram sends updates to %s with the secret", url)
                return
            except InvalidToken:
                self.end(token_refused())
                return
            except BadRequest as exc:
                self.end(Fatal(2, f"Telegram refused WEBHOOK_URL={self.settings.webhook_url} ({exc.message}); "
                                  "set it to this app's public https:// address"))
                return
            except RetryAfter as exc:
                delay = retry_seconds(exc)
            except (NetworkError, TelegramError) as exc:
                trouble.failed("unreachable", f"setWebhook failed ({exc}); trying again until it works")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def report_failed_start(self, exc: BaseException) -> int:
        if isinstance(exc, Fatal):
            print(f"error: {exc.line}", file=sys.stderr)
            return exc.code
        log.error("the bot could not start", exc_info=exc)
        return 1

    async def stop(self) -> None:
        """Stop taking updates, finish what was taken (see the module docstring), close everything."""
        started = time.monotonic()
        app = self.application
        if self.poller is not None:
            await self.poller.stop()
        if self.server is not None:
            await self.server.stop()
        for task in list(self._tasks):
            task.cancel()
        finished = True
        if app.running:
            stopping = asyncio.ensure_future(_stop_application(app))
            if not await _within(stopping, DRAIN_SECONDS):
                abandoned = self.gate.close()
                log.warning("still busy %.1f s after the signal (Telegram slow or unreachable?): %d request(s) to "
                            "Telegram abandoned and no more are sent; what the updates record is kept",
                            time.monotonic() - started, abandoned)
                if not await _within(stopping, FINISH_SECONDS):
                    finished = False
                    current = asyncio.current_task()
                    rest = [t for t in asyncio.all_tasks() if t is not current and t is not stopping and not t.done()]
                    log.error("%d task(s) still running %.1f s after the signal are cancelled; the updates they "
                              "were handling are not acknowledged, so Telegram delivers them again at the next start",
                              len(rest), time.monotonic() - started)
                    for task in rest:
                        task.cancel()
                    await _within(stopping, CANCEL_SECONDS)
        self.gate.close()
        if self.poller is not None and finished:
            await self.poller.acknowledge(ACK_SECONDS)
        await self.close()
        if LOG_FILTER.unsent:
            log.warning("%d request(s) to Telegram (replies, mostly) were not sent because the bot was stopping; "
                        "what the updates recorded is kept", LOG_FILTER.unsent)
        log.info("stopped %.1f s after the signal; database closed", time.monotonic() - started)

    async def close(self) -> None:
        """Release everything (also after a failed or interrupted start)."""
        app = self.application
        self.gate.close()
        if self.poller is not None:
            await self.poller.stop()
        if self.server is not None:
            await self.server.stop()
        if app.running:
            await _within(asyncio.ensure_future(_stop_application(app)), CANCEL_SECONDS)
        if app.post_shutdown is not None:
            try:
                await app.post_shutdown(app)  # closes the database
            except Exception:
                log.exception("closing the database failed")
        try:
            await asyncio.wait_for(app.shutdown(), CANCEL_SECONDS)
        except Exception as exc:
            log.debug("PTB shutdown: %r", exc)


async def _stop_application(app: Application) -> None:
    try:
        await app.stop()
    except Exception:
        log.exception("stopping the application failed")


async def _within(future: asyncio.Future[Any], seconds: float) -> bool:
    done, _ = await asyncio.wait({future}, timeout=seconds)
    return bool(done)


# ================================================================== long polling


class Trouble:
    """One log line when a call starts failing in a new way, a reminder every REMIND_SECONDS while it
    goes on, one line when it has worked for SETTLED_SECONDS again; nothing in between."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.kind: str | None = None
        self.count = 0
        self.first = 0.0
        self.last = 0.0
        self.said = 0.0

    def failed(self, kind: str, line: str, level: int = logging.WARNING) -> None:
        now = time.monotonic()
        if kind != self.kind:
            log.log(level, "%s", line)
            self.kind, self.count, self.first, self.said = kind, 0, now, now
        elif now - self.said >= REMIND_SECONDS:
            log.log(level, "%s (still: %d times in %.0f min)", line, self.count + 1, (now - self.first) / 60)
            self.said = now
        self.count += 1
        self.last = now

    def worked(self) -> None:
        if self.kind is not None and time.monotonic() - self.last >= SETTLED_SECONDS:
            log.info("%s works again (%d failure(s) over %.0f s)", self.what, self.count, self.last - self.first)
            self.kind = None


CONFLICT_LINE = ("another process is polling Telegram with this BOT_TOKEN (409 Conflict): only one bot may run per "
                 "token, and the two take each other's updates. Stop the other one (an old deployment still "
                 "running, a second machine or process type, a copy on a laptop); this one keeps trying quietly")


class Poller:
    """Long polling, our own loop rather than PTB's Updater: it can be dropped at once on stop (PTB's
    waits out its back-off, up to 30 s when Telegram is gone), says each trouble in one line, and
    acknowledges only after the updates it took have been handled."""

    def __init__(self, application: Application, allowed_updates: Sequence[str],
                 end: Callable[[Fatal], None], timeout: int = POLL_TIMEOUT) -> None:
        self.application = application
        self.allowed_updates = list(allowed_updates)
        self.end = end
        self.timeout = timeout
        self.offset: int | None = None  # asking from here acknowledges every update before it
        self.trouble = Trouble("getUpdates")
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.ensure_future(self._run())
        self.task.add_done_callback(self._ended)

    def _ended(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("long polling failed", exc_info=task.exception())
            self.end(Fatal(1, "long polling stopped on an unexpected error (above); the platform restarts the bot"))

    async def stop(self) -> None:
        task, self.task = self.task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def acknowledge(self, seconds: float) -> bool:
        """Tell Telegram the updates taken are handled (else they come again at the next start)."""
        if self.offset is None:
            return True
        try:
            await asyncio.wait_for(self.application.bot.get_updates(
                offset=self.offset, timeout=0, limit=1, allowed_updates=self.allowed_updates), seconds)
            return True
        except (TelegramError, TimeoutError) as exc:
            log.warning("could not acknowledge the last updates (%s): Telegram delivers them again at the next "
                        "start, and the database refuses to record anything twice", exc or "no answer")
            return False

    async def _run(self) -> None:
        bot = self.application.bot
        queue = self.application.update_queue
        bootstrapped = False
        delay = 0.0
        while True:
            if delay:
                await asyncio.sleep(delay)
            try:
                if not bootstrapped:
                    await bot.delete_webhook()  # polling and a webhook exclude each other
                    bootstrapped = True
                updates = await bot.get_updates(offset=self.offset, timeout=self.timeout,
                                                allowed_updates=self.allowed_updates)
            except InvalidToken:
                self.end(token_refused())
                return
            except Conflict:
                self.trouble.failed("conflict", CONFLICT_LINE, logging.ERROR)
                delay = min(max(delay * 2, 1.0), 5.0)
            except RetryAfter as exc:
                delay = retry_seconds(exc)
            except TimedOut:
                delay = 0.0  # a long poll that took too long: ask again
            except NetworkError as exc:
                self.trouble.failed("unreachable", f"Telegram cannot be reached ({exc}); trying again until it can")
                delay = min(max(delay * 2, 1.0), 30.0)
            except TelegramError as exc:
                self.trouble.failed(type(exc).__name__, f"getUpdates failed ({exc}); trying again")
                delay = min(max(delay * 2, 1.0), 30.0)
            else:
                delay = 0.0
                self.trouble.worked()
                for update in updates:
                    queue.put_nowait(update)
                if updates:
                    self.offset = updates[-1].update_id + 1


# ================================================================== Telegram, cut off on stop


class Stopping(NetworkError):
    """A request to Telegram not sent, or abandoned, because the bot is stopping."""

    def __init__(self, endpoint: str, what: str) -> None:
        super().__init__(f"{endpoint} {what}: the bot is stopping")


class TelegramGate(BaseRateLimiter[Any]):
    """Every request to Telegram but getUpdates passes here, on to the pacer it wraps. `close()`
    makes the requests waiting in the pacer or in flight fail at once with a NetworkError, and
    later ones fail before being sent: a handler stuck on a reply gets past it and finishes."""

    def __init__(self, inner: BaseRateLimiter) -> None:
        self.inner = inner
        self.closed = False
        self._initialized = False
        self._inside: set[asyncio.Task[Any]] = set()
        self._abandoned: set[asyncio.Task[Any]] = set()

    async def initialize(self) -> None:
        if not self._initialized:  # PTB calls it again when a start is retried
            await self.inner.initialize()
            self._initialized = True

    async def shutdown(self) -> None:
        await self.inner.shutdown()

    async def process_request(self, callback: Callable[..., Coroutine[Any, Any, Any]], args: Any,
                              kwargs: dict[str, Any], endpoint: str, data: dict[str, Any],
                              rate_limit_args: Any) -> Any:
        if self.closed:
            raise Stopping(endpoint, "not sent")
        task = asyncio.current_task()
        if task is None:
            return await self.inner.process_request(callback, args, kwargs, endpoint, data, rate_limit_args)
        self._inside.add(task)
        try:
            return await self.inner.process_request(callback, args, kwargs, endpoint, data, rate_limit_args)
        except asyncio.CancelledError:
            if task in self._abandoned:
                self._abandoned.discard(task)
                task.uncancel()
                raise Stopping(endpoint, "abandoned") from None
            raise
        finally:
            self._inside.discard(task)

    def close(self) -> int:
        """Abandon what is waiting or in flight; send nothing more. Returns how many were abandoned."""
        self.closed = True
        inside = [task for task in self._inside if not task.done() and task not in self._abandoned]
        for task in inside:
            self._abandoned.add(task)
            task.cancel()
        return len(inside)


class _LogFilter(logging.Filter):
    """Telegram being unreachable is one line, not a traceback of httpx's insides. A request not
    sent because the bot is stopping is not logged at all: they are counted, and said once."""

    def __init__(self) -> None:
        super().__init__()
        self.unsent = 0
        self.token = ""  # PTB's debug lines show URLs, which hold the token

    def filter(self, record: logging.LogRecord) -> bool:
        if self.token and record.levelno <= logging.DEBUG:
            message = record.getMessage()
            if self.token in message:
                record.msg, record.args = message.replace(self.token, "<BOT_TOKEN>"), ()
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, Stopping):
            self.unsent += 1
            return False
        if isinstance(exc, NetworkError) and not isinstance(exc, BadRequest):
            record.msg = f"{record.getMessage()} ({type(exc).__name__}: {exc})"
            record.args = ()
            record.exc_info = None
            record.exc_text = None
        return True


LOG_FILTER = _LogFilter()


# ================================================================== starting and ending the process


def _stop_quietly_while_starting() -> None:
    # Until the event loop takes the signals over: a SIGTERM during the start (a redeploy right after
    # a deploy) ends the process with 0. As PID 1 in a container, SIGTERM would otherwise be ignored.
    def stop(signum: int, _frame: object) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)


def _cancel_leftovers(loop: asyncio.AbstractEventLoop) -> None:
    """Give leftover tasks one brief chance to unwind, then close the loop without waiting for threads.

    asyncio.run would wait for the default executor, where a DNS lookup of an unreachable Telegram
    can hang for many seconds; the process ends with os._exit instead (see below).
    """
    rest = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in rest:
        task.cancel()
    if rest:
        gathered = asyncio.gather(*rest, return_exceptions=True)
        try:
            loop.run_until_complete(asyncio.wait_for(gathered, 0.2))
        except (TimeoutError, asyncio.CancelledError):
            pass
    loop.close()


# ================================================================== backups


def backup_or_restore(command: str, args: list[str]) -> int:
    """`backup PATH`: a consistent copy of the database. `restore PATH`: put one back."""
    if len(args) != 1:
        print(f"usage: python -m bot {command} PATH", file=sys.stderr)
        return 2
    from storage import backup as backups
    from storage.db import StorageError

    try:
        settings = load_settings(require_token=False)
        live = settings.database_path
        target = Path(args[0])
        _act_as_owner_of(live)
        if command == "backup":
            if target.is_dir():
                target = target / time.strftime("timebank-%Y%m%d-%H%M%S.sqlite3")
            print(f"backed up {live} to {backups.backup(live, target).line()}")
        else:
            keep = live.with_name(live.name + time.strftime(".before-restore-%Y%m%d-%H%M%S"))
            restored, kept = backups.restore(target, live, keep)
            print(f"restored {restored.line()} into {live}")
            if kept is not None:
                print(f"what was there is kept in {kept.line()}")
            print("restart the bot now, so that it reads the restored data (README: Deploy)")
    except (SettingsError, StorageError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def _act_as_owner_of(path: Path) -> None:
    """Run as the database's owner when started as root (`fly ssh console`, `docker exec`): the files
    a backup or a restore creates stay the bot's, which runs unprivileged."""
    if os.geteuid() != 0 or not path.exists():
        return
    owner = path.stat()
    if owner.st_uid != 0:
        os.setgroups([])
        os.setgid(owner.st_gid)
        os.setuid(owner.st_uid)


if __name__ == "__main__":
    code = main(sys.argv[1:])
    if _hard_exit:
        # The bot ran: everything that needs closing is closed. End now rather than wait for stray
        # threads (a DNS lookup of an unreachable Telegram) at interpreter exit.
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)
