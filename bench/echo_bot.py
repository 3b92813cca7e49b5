"""A bare python-telegram-bot echo bot: the baseline bench/run.py compares the timebank bot with.

    BOT_TOKEN=... BOT_API_BASE_URL=http://127.0.0.1:PORT/bot python bench/echo_bot.py
"""

from __future__ import annotations

import os

from telegram import Update
from telegram.ext import ApplicationBuilder, ContextTypes, MessageHandler, filters


async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await update.message.reply_text(update.message.text)


def main() -> None:
    application = (
        ApplicationBuilder()
        .token(os.environ["BOT_TOKEN"])
        .base_url(os.environ["BOT_API_BASE_URL"])
        .build()
    )
    application.add_handler(MessageHandler(filters.TEXT, echo))
    application.run_polling(poll_interval=0, timeout=10)


if __name__ == "__main__":
    main()
