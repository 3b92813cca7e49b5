"""Diagnostic only: `python -m bot` exactly as bot/__main__.py runs it, but with a different rate
limiter or update processor, so bench/run.py can tell their share of the bot's CPU per update
from the handlers' share. The real bot is always measured as `python -m bot`.

    BENCH_LIMITER=off (default)  PacedRateLimiter(overall_per_second=0, group_per_minute=0), as the
                                 tests build it: throttles nothing, only waits out 429s
    BENCH_LIMITER=real           the bot's own limiter (bot.app.default_rate_limiter)
    BENCH_PROCESSOR=simple       PTB's SimpleUpdateProcessor(CONCURRENT_UPDATES): any updates at once
    BENCH_PROCESSOR=per-person   bot.processor.PerPersonUpdateProcessor(CONCURRENT_UPDATES), as bot/app.py
                                 has it; unset: whatever bot/app.py passes to concurrent_updates()

The processor is swapped by wrapping ApplicationBuilder.concurrent_updates; bot/app.py is untouched.
"""

from __future__ import annotations

import logging
import os
import sys

from telegram.ext import ApplicationBuilder, BaseUpdateProcessor, SimpleUpdateProcessor

from bot.app import ALLOWED_UPDATES, build_application, default_rate_limiter
from bot.processor import PerPersonUpdateProcessor
from bot.ratelimit import PacedRateLimiter
from bot.settings import load_settings
from storage.db import open_sync


def use_processor(kind: str) -> None:
    """Make `.concurrent_updates(x)` build the processor of `kind` with x's number of concurrent updates."""
    original = ApplicationBuilder.concurrent_updates
    make = SimpleUpdateProcessor if kind == "simple" else PerPersonUpdateProcessor

    def swapped(self, concurrent_updates):
        if isinstance(concurrent_updates, BaseUpdateProcessor):
            concurrent_updates = concurrent_updates.max_concurrent_updates
        elif concurrent_updates is True:
            concurrent_updates = 256  # PTB's default for True
        return original(self, make(int(concurrent_updates)) if concurrent_updates else concurrent_updates)

    ApplicationBuilder.concurrent_updates = swapped  # type: ignore[method-assign]


def main() -> int:
    settings = load_settings()
    open_sync(settings.database_path).close()
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    limiter = os.environ.get("BENCH_LIMITER", "off")
    if limiter not in ("off", "real"):
        raise SystemExit(f"BENCH_LIMITER={limiter!r}: off or real")
    processor = os.environ.get("BENCH_PROCESSOR")
    if processor not in (None, "simple", "per-person"):
        raise SystemExit(f"BENCH_PROCESSOR={processor!r}: simple or per-person")
    if processor:
        use_processor(processor)
    rate_limiter = default_rate_limiter() if limiter == "real" else \
        PacedRateLimiter(overall_per_second=0, group_per_minute=0)
    application = build_application(settings, rate_limiter=rate_limiter)
    application.run_polling(allowed_updates=ALLOWED_UPDATES, poll_interval=0.0, timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
