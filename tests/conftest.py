"""Fixtures: a fake Telegram, a real SQLite file, the real Application, and a small community."""

from __future__ import annotations

import pytest

from bot.app import build_application
from bot.fake_telegram import FakeTelegram
from bot.i18n import Catalogs, Translator
from bot.ratelimit import PacedRateLimiter
from bot.settings import Settings
from storage import ledger
from storage import timebanks as timebank_store
from tests.harness import World

GROUP = -1001234567890


@pytest.fixture
def tg():
    fake = FakeTelegram().start()
    yield fake
    fake.stop()


def make_settings(tg: FakeTelegram, tmp_path, **extra) -> Settings:
    return Settings(bot_token=tg.token, bot_api_base_url=tg.base_url,
                    database_url=f"sqlite:///{tmp_path}/timebank.sqlite3", **extra)


async def start_app(settings: Settings):
    # Telegram's retry-on-429 stays on; the per-group throttle is off so tests run at full speed.
    app = build_application(settings, rate_limiter=PacedRateLimiter(overall_per_second=0, group_per_minute=0,
                                                                    max_retries=3))
    await app.initialize()
    await app.post_init(app)
    await app.start()
    return app


async def stop_app(app) -> None:
    await app.stop()
    await app.post_shutdown(app)
    await app.shutdown()


async def assert_ledger_balanced(app) -> None:
    """In every timebank, balances and the community account sum to zero and match the entries."""
    db = app.bot_data["runtime"].db
    for timebank in await timebank_store.all_timebanks(db):
        sums = await ledger.audit_sums(db, timebank.id)
        assert sums == {"balances": 0, "entries": 0, "mismatched_accounts": 0, "unbalanced_exchanges": 0}, sums


def catalog_ids() -> dict[str, set[str]]:
    """Every message id of each shipped catalog (plural entries by their singular)."""
    catalogs = Catalogs("en")
    found = {}
    for code, translator in catalogs.translators.items():
        ids = set()
        for key in translator._t._catalog:  # type: ignore[attr-defined]
            ids.add(key[0] if isinstance(key, tuple) else key)
        found[code] = ids
    return found


CATALOG_IDS = catalog_ids()


@pytest.fixture(autouse=True)
def messages_used_are_in_every_catalog():
    """What the code passes to the translator at run time must be in every catalog."""
    Translator.used = set()
    yield
    used, Translator.used = Translator.used, None
    for code, ids in CATALOG_IDS.items():
        missing = sorted(m for m in used if m not in ids)
        assert not missing, f"used at run time but missing from the {code} catalog: {missing}"


def unexpected_refusals(tg: FakeTelegram) -> list:
    """Requests Telegram would have refused, other than 403s (people who never started the bot)."""
    return [(method, error) for method, _params, error in tg.errors if error.get("error_code") != 403]


@pytest.fixture
async def app(request, tg, tmp_path):
    application = await start_app(make_settings(tg, tmp_path))
    yield application
    await assert_ledger_balanced(application)
    await stop_app(application)
    if request.node.get_closest_marker("refusals_expected") is None:
        assert unexpected_refusals(tg) == [], "the bot sent requests Telegram refuses"


@pytest.fixture
def world(tg, app) -> World:
    return World(tg, app)


@pytest.fixture
async def community(world):
    """A group with the bot, an admin (Ada) and three approved members: Alice, Bob, Carol."""
    ada = world.person("Ada", username="ada_admin")
    world.tg.add_group(GROUP, "Paxton Green Timebank", creator=ada.user_id)
    await world.feed(world.tg.my_chat_member_update(GROUP, by_user_id=ada.user_id, queue=False))
    people = {}
    for name in ("Alice", "Bob", "Carol"):
        person = world.person(name, username=name.lower())
        world.tg.set_member_status(GROUP, person.user_id, "member")
        await person.says("/join", GROUP)
        notice = world.tg.last_bot_message(ada.user_id)
        await ada.press(notice, "Approve")
        people[name.lower()] = person
    return {"ada": ada, **people}
