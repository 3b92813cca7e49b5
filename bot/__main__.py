"""python -m bot: read settings, check the database, run long polling or a webhook."""

from __future__ import annotations

import logging
import sys

from bot.settings import SettingsError, load_settings


def main(argv: list[str]) -> int:
    if argv[:1] == ["sandbox"]:
        from bot.sandbox import main as sandbox

        return sandbox(argv[1:])
    if argv:
        print(f"usage: python -m bot [sandbox]  (unknown argument {argv[0]!r})", file=sys.stderr)
        return 2
    try:
        settings = load_settings()
        from bot.i18n import Catalogs
        from storage.db import StorageError, open_sync

        catalogs = Catalogs(settings.default_language)
        path = settings.database_path
        if not path.parent.exists():
            raise SettingsError(f"DATABASE_URL points into {path.parent}, which does not exist; create it or set "
                                "DATABASE_URL=sqlite:///timebank.sqlite3.")
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

    from bot.app import ALLOWED_UPDATES, build_application

    application = build_application(settings, catalogs=catalogs)
    if settings.webhook_url:
        application.run_webhook(
            listen="0.0.0.0",
            port=settings.port,
            url_path="telegram",
            webhook_url=settings.webhook_url.rstrip("/") + "/telegram",
            secret_token=settings.webhook_secret,
            allowed_updates=ALLOWED_UPDATES,
        )
    else:
        application.run_polling(allowed_updates=ALLOWED_UPDATES, poll_interval=0.0, timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
