"""Build the PTB Application: every handler registered here, in one visible list."""

from __future__ import annotations

import logging

from telegram import BotCommand, BotCommandScopeAllChatAdministrators, BotCommandScopeDefault, Update
from telegram.constants import ChatType
from telegram.error import Forbidden, TelegramError
from telegram.ext import (
    Application,
    ApplicationBuilder,
    ApplicationHandlerStop,
    BaseHandler,
    BaseRateLimiter,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot import messaging
from bot.callbacks import (
    AnonymousButton,
    ClosePostButton,
    ExchangeButton,
    FlowButton,
    LanguageButton,
    NewcomerButton,
    PageButton,
    TimebankChoiceButton,
)
from bot.commands import COMMANDS, table
from bot.context import BotContext
from bot.i18n import Catalogs
from bot.processor import PerPersonUpdateProcessor
from bot.ratelimit import PacedRateLimiter
from bot.runtime import Runtime
from bot.settings import Settings
from handlers import admin, exchanges, flows, membership, posts
from handlers.common import anonymous_confirmed
from storage import Database
from storage import members as member_store

log = logging.getLogger(__name__)

CONCURRENT_UPDATES = 8
ALLOWED_UPDATES = ["message", "callback_query", "my_chat_member", "chat_member"]


def handlers() -> list[BaseHandler]:
    """Every handler of the bot, in the order PTB tries them."""
    private = filters.ChatType.PRIVATE

    def deep_link(pattern: str) -> filters.BaseFilter:
        # python-telegram-bot's deeplinking pattern: /start <payload>, routed here, not inside /start.
        return private & filters.Regex(rf"^/start(?:@\w+)? {pattern}$")

    return [
        # the bot's own place in groups, and the group's changes
        ChatMemberHandler(membership.bot_membership_changed, ChatMemberHandler.MY_CHAT_MEMBER),
        ChatMemberHandler(membership.member_left, ChatMemberHandler.CHAT_MEMBER),
        MessageHandler(filters.StatusUpdate.NEW_CHAT_MEMBERS, membership.new_chat_members),
        MessageHandler(filters.StatusUpdate.LEFT_CHAT_MEMBER, membership.member_left),
        MessageHandler(filters.StatusUpdate.MIGRATE, membership.chat_migrated),
        # deep links: j<timebank> join, x<exchange> answer one, p<post> see one, f resume a flow
        CommandHandler("start", membership.start_join, deep_link(r"j(\d{1,18})")),
        CommandHandler("start", membership.start_exchange, deep_link(r"x(\d{1,18})")),
        CommandHandler("start", membership.start_post, deep_link(r"p(\d{1,18})")),
        CommandHandler("start", flows.resume, deep_link("f")),
        CommandHandler("start", membership.start),
        # the command table (bot/commands.py)
        *[CommandHandler(command.name, command.handler) for command in COMMANDS],
        # buttons: typed callback data (bot/callbacks.py), re-checked against the database
        CallbackQueryHandler(exchanges.exchange_button, pattern=ExchangeButton.matches),
        CallbackQueryHandler(exchanges.history_button, pattern=PageButton.history),
        CallbackQueryHandler(posts.browse_button, pattern=PageButton.browse),
        CallbackQueryHandler(posts.close_button, pattern=ClosePostButton.matches),
        CallbackQueryHandler(admin.newcomer_button, pattern=NewcomerButton.matches),
        CallbackQueryHandler(membership.language_chosen, pattern=LanguageButton.matches),
        CallbackQueryHandler(flows.pressed, pattern=FlowButton.matches),
        CallbackQueryHandler(anonymous_confirmed, pattern=AnonymousButton.matches),
        CallbackQueryHandler(flows.old_timebank_button, pattern=TimebankChoiceButton.matches),
        CallbackQueryHandler(stale_button),
        # words in private answer a flow's question; anything else gets a pointer to /help
        MessageHandler(private & filters.TEXT & ~filters.COMMAND, flows.typed),
        MessageHandler((filters.COMMAND | private) & ~filters.StatusUpdate.ALL, membership.unknown),
    ]


async def note_user(update: Update, context: BotContext) -> None:
    """Before any handler: keep the person's name and language current. A private message
    means I can write back: messages kept while I could not are handed over first."""
    query = update.callback_query
    if query is not None and not context.runtime.first_sight_of_query(query.id):
        # The same press delivered again: it was handled, and Telegram refuses a second answer.
        raise ApplicationHandlerStop
    user = update.effective_user
    if user is None or user.is_bot:
        return
    await context.runtime.note_user(user)
    chat = update.effective_chat
    if chat is not None and chat.type == ChatType.PRIVATE and update.message is not None:
        if context.runtime.can_dm(user.id) is not True:
            await context.runtime.set_can_dm(user.id, True)
            for kept in await member_store.take_kept(context.store, user.id):
                await messaging.send(context.bot, chat.id, kept)


async def stale_button(update: Update, context: BotContext) -> None:
    await messaging.alert(update.callback_query,
                          context.tr("This button no longer works. Please send the command again."))


async def on_error(update: object, context: BotContext) -> None:
    """Log it; tell the person something went wrong instead of leaving them in silence."""
    if isinstance(context.error, Forbidden):  # e.g. the bot lost its place in a group: no traceback needed
        log.warning("Telegram refused a message: %s", context.error)
    else:
        log.error("error while handling an update", exc_info=context.error)
    if not isinstance(update, Update):
        return
    text = context.tr("Sorry, something went wrong on my side. Please try again in a moment.")
    try:
        if update.callback_query:
            await messaging.alert(update.callback_query, text)
        elif update.effective_message and update.effective_chat:
            await messaging.send(context.bot, update.effective_chat.id, text,
                                 reply_to=update.effective_message.message_id)
    except TelegramError:
        log.warning("could not send the apology", exc_info=True)


async def set_commands(application: Application) -> None:
    """The command menu, described in each language we ship."""
    runtime: Runtime = application.bot_data["runtime"]
    bot = application.bot
    for code in [None, *runtime.catalogs.languages]:
        tr = runtime.catalogs.get(code)
        member = [BotCommand(c.name, tr(c.description)) for c in runtime.commands if not c.admin]
        admins = member + [BotCommand(c.name, tr(c.description)) for c in runtime.commands if c.admin]
        try:
            await bot.set_my_commands(member, scope=BotCommandScopeDefault(), language_code=code)
            await bot.set_my_commands(admins, scope=BotCommandScopeAllChatAdministrators(), language_code=code)
        except TelegramError:
            log.warning("could not set the command menu for %s", code or "default", exc_info=True)


def default_rate_limiter() -> PacedRateLimiter:
    # Telegram's limits (30/s overall, 20/min per group, about 1/s per private chat); a 429 is waited
    # out and retried. A private chat may take a burst of 5: one action (a press, an approval) can
    # send a person 3-4 messages and edits at once, and they must not trickle in a second apart.
    return PacedRateLimiter(overall_per_second=30, group_per_minute=20, private_burst=5, max_retries=3)


def build_application(settings: Settings, *, rate_limiter: BaseRateLimiter | None = None,
                      catalogs: Catalogs | None = None) -> Application:
    async def post_init(application: Application) -> None:
        db = await Database(settings.database_path).open()
        runtime = Runtime(settings=settings, db=db, catalogs=catalogs or Catalogs(settings.default_language),
                          commands=table())
        await runtime.load()
        application.bot_data["runtime"] = runtime
        messaging.on_chat_moved(application.bot, runtime.move_chat)
        # The menu is not needed to answer the first update: set it once running, off the start path.
        assert application.job_queue is not None  # the job-queue extra is a dependency
        application.job_queue.run_once(lambda _context: set_commands(application), 0, name="set-commands")

    async def post_shutdown(application: Application) -> None:
        runtime = application.bot_data.pop("runtime", None)
        if runtime is not None:
            await runtime.db.close()

    application = (
        ApplicationBuilder()
        .token(settings.bot_token)
        .base_url(settings.bot_api_base_url)
        .base_file_url(settings.bot_api_base_url.replace("/bot", "/file/bot"))
        .context_types(ContextTypes(context=BotContext))
        .rate_limiter(rate_limiter if rate_limiter is not None else default_rate_limiter())
        # One slow reply must not hold up everyone else, and one person's updates run in order,
        # one at a time: a guided flow never sees two answers at once.
        .concurrent_updates(PerPersonUpdateProcessor(CONCURRENT_UPDATES))
        .post_init(post_init)
        .post_shutdown(post_shutdown)
        .build()
    )
    application.add_handler(TypeHandler(Update, note_user), group=-1)
    application.add_handlers(handlers())
    application.add_error_handler(on_error)
    return application

