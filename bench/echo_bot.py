"""A bare python-telegram-bot echo bot: the baseline bench/run.py compares the timebank bot with.

    BOT_TOKEN=... BOT_API_BASE_URL=http://127.0.0.1:PORT/bot python bench/echo_bot.py

PTB's defaults: no rate limiter, one update at a time. With BENCH_LIMITER=real (a diagnostic of
bench/run.py --extra-diagnostics) it sends through the timebank bot's own limiter
(bot.ratelimit.PacedRateLimiter with Telegram's limits), to show what pacing alone costs a bot.
"""

from __future__ import annotations

import os

from telegram import Update
from telegram.ext import ApplicationBuilder, ContextTypes, MessageHandler, filters


async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await update.message.reply_text(update.message.text)


def main() -> None:
    builder = ApplicationBuilder().token(os.environ["BOT_TOKEN"]).base_url(os.environ["BOT_API_BASE_URL"])
    if os.environ.get("BENCH_LIMITER") == "real":
        from bot.ratelimit import PacedRateLimiter

        builder = builder.rate_limiter(PacedRateLimiter(overall_per_second=30, group_per_minute=20, max_retries=3))
    application = builder.build()
    application.add_handler(MessageHandler(filters.TEXT, echo))
    application.run_polling(poll_interval=0, timeout=10)


if __name__ == "__main__":
    main()
