"""Diagnostic only: `python -m bot` exactly as bot/__main__.py runs it, but with PTB's rate limiter
throttling nothing (as tests/conftest.py does), so bench/run.py can tell the limiter's share of
the bot's CPU per update from the handlers' share. The real bot is always measured as `python -m bot`.
"""

from __future__ import annotations

import logging
import sys

from bot.app import ALLOWED_UPDATES, build_application
from bot.ratelimit import PacedRateLimiter
from bot.settings import load_settings
from storage.db import open_sync


def main() -> int:
    settings = load_settings()
    open_sync(settings.database_path).close()
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    application = build_application(settings, rate_limiter=PacedRateLimiter(overall_per_second=0, group_per_minute=0))
    application.run_polling(allowed_updates=ALLOWED_UPDATES, poll_interval=0.0, timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
