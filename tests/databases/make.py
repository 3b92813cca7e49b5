"""Make a database the way this version of the bot makes it, for tomorrow's migration tests.

    .venv/bin/python tests/databases/make.py NAME

drives the real Application against the fake Bot API through a small community's life
(members of every status, confirmed / pending / declined / cancelled exchanges, posts, a
guided flow half answered, an anonymous admin's command waiting, two timebanks), then writes
tests/databases/NAME.sqlite3 and NAME.json (the figures it must still show after any later
migration). tests/test_landed_databases.py opens every such file with today's code.
Run it once per landed version whose schema changed; never edit a made file.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sqlite3
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))

from bot.fake_telegram import FakeTelegram  # noqa: E402
from tests.conftest import make_settings, start_app, stop_app  # noqa: E402
from tests.harness import World, buttons  # noqa: E402

GROUP, OTHER = -1001234567890, -1009876543210


async def life(world: World) -> None:
    tg = world.tg
    ada = world.person("Ada", username="ada")
    tg.add_group(GROUP, "Paxton Green Timebank", creator=ada.user_id)
    tg.add_group(OTHER, "Canal Street Timebank", creator=ada.user_id)
    for chat in (GROUP, OTHER):
        await world.feed(tg.my_chat_member_update(chat, by_user_id=ada.user_id, queue=False))
    people = {name: world.person(name, username=name.lower()) for name in ("Alice", "Bob", "Carol", "Erin", "Sam")}
    for name, person in people.items():
        tg.set_member_status(GROUP, person.user_id, "member")
        await person.says("/join", GROUP)
        if name != "Erin":  # Erin stays pending
            notice = next(m for m in reversed(ada.inbox()) if name in m["text"] and buttons(m))
            await ada.press(notice, "Approve")
    alice, bob, carol, sam = people["Alice"], people["Bob"], people["Carol"], people["Sam"]
    await alice.says("/join", OTHER)
    await ada.press(next(m for m in reversed(ada.inbox()) if "Alice" in m["text"] and buttons(m)), "Approve")
    await alice.says("/gave @bob 2 gardening", GROUP)
    await bob.press(bob.last(), "Confirm")
    await bob.says("/gave @carol 1.5 a lift", GROUP)
    await carol.press(carol.last(), "Confirm")
    await carol.says("/received @alice 0.5 tea", GROUP)
    await alice.press(alice.last(), "Confirm")
    await alice.says("/gave @carol 1 declined one", GROUP)
    await carol.press(carol.last(), "Decline")
    await bob.says("/gave @alice 3 cancelled one")  # in private: the receipt with Cancel is his
    await bob.press(bob.last(), "Cancel")
    await alice.says("/gave @bob 1 pending across the upgrade", GROUP)  # left pending
    await alice.says("/offer Lifts to the surgery", GROUP)
    await bob.says("/request Help with a form", GROUP)
    await ada.says("/suspend @carol", GROUP)
    await world.feed(tg.chat_member_update(GROUP, sam.user_id, old_status="member", new_status="left", queue=False))
    await bob.says("/gave")  # a guided flow, half answered
    await bob.says("@alice")
    await world.feed(tg.message_update(ada.user_id, GROUP, "/reinstate @carol", anonymous=True, queue=False))


def figures(path: Path) -> dict:
    conn = sqlite3.connect(path)
    try:
        balances = {f"{tb}:{user}": balance for tb, user, balance in conn.execute(
            "SELECT m.timebank_id, m.user_id, a.balance FROM members m JOIN accounts a ON a.id = m.account_id")}
        statuses = {f"{tb}:{user}": status for tb, user, status in conn.execute(
            "SELECT timebank_id, user_id, status FROM members")}
        counters = {f"{tb}:{user}": [given, received, count, helped] for tb, user, given, received, count, helped
                    in conn.execute("SELECT timebank_id, user_id, given_minutes, received_minutes, exchanges_count, "
                                    "people_helped FROM members")}
        exchanges = {str(i): [state, minutes] for i, state, minutes in conn.execute(
            "SELECT id, state, minutes FROM exchanges")}
        timebanks = {str(i): [minutes, count, pairs] for i, minutes, count, pairs in conn.execute(
            "SELECT id, minutes_exchanged, exchanges_confirmed, helper_pairs FROM timebanks")}
        posts = conn.execute("SELECT count(*) FROM posts WHERE status = 'open'").fetchone()[0]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
    finally:
        conn.close()
    return {"user_version": version, "balances": balances, "statuses": statuses, "counters": counters,
            "exchanges": exchanges, "timebanks": timebanks, "open_posts": posts}


async def main(name: str) -> None:
    tg = FakeTelegram().start()
    work = Path(tempfile.mkdtemp())
    app = await start_app(make_settings(tg, work))
    try:
        await life(World(tg, app))
    finally:
        await stop_app(app)
        tg.stop()
    db = work / "timebank.sqlite3"
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
    conn.execute("VACUUM")
    conn.close()
    shutil.copy(db, HERE / f"{name}.sqlite3")
    (HERE / f"{name}.json").write_text(json.dumps(figures(db), indent=1, sort_keys=True) + "\n")
    print(f"wrote {name}.sqlite3 ({(HERE / f'{name}.sqlite3').stat().st_size:,} bytes) and {name}.json")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
