"""A typed CallbackContext: handlers use `context.store`, `context.tr`, `context.runtime`."""

from __future__ import annotations

from telegram import Update
from telegram.ext import Application, CallbackContext, ExtBot

from bot.i18n import Translator
from bot.runtime import Runtime
from storage.db import Database


class BotContext(CallbackContext[ExtBot, dict, dict, dict]):
    _reader: tuple[int | None, str | None] = (None, None)

    @classmethod
    def from_update(cls, update: object, application: Application) -> BotContext:
        context = super().from_update(update, application)
        if isinstance(update, Update) and update.effective_user:
            context._reader = (update.effective_user.id, update.effective_user.language_code)
        return context

    @property
    def runtime(self) -> Runtime:
        return self.application.bot_data["runtime"]

    @property
    def store(self) -> Database:
        return self.runtime.db

    @property
    def tr(self) -> Translator:
        """The person this update came from, in their language."""
        user_id, code = self._reader
        return self.runtime.tr_for_user(user_id, code)
