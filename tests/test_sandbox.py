"""`python -m bot sandbox`: its JSON API, and its page driven in a real headless Chromium.

The sandbox runs as a subprocess, exactly as someone would start it; the browser is driven
through chromedriver with plain W3C WebDriver calls (httpx), finding things on the page by
the data-* attributes the page puts there for that purpose.
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
GROUP = -1001000000001  # bot/sandbox.py GROUP_ID
URL_LINE = re.compile(r"^Sandbox running: open (http://127\.0\.0\.1:\d+/) in your browser \(Ctrl-C to stop\)$")


def wait(check: Callable[[], Any], what: str, timeout: float = 15.0, explain: Callable[[], str] = lambda: "") -> Any:
    """check() until it returns something truthy; fail with `what` (and explain()) at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}. {explain()}")
        time.sleep(0.05)


# --------------------------------------------------------------------------- the sandbox process

class Sandbox:
    def __init__(self, process: subprocess.Popen, url: str, log: Path) -> None:
        self.process = process
        self.url = url
        self.log = log
        self.http = httpx.Client(base_url=url, timeout=10)

    def state(self) -> dict:
        response = self.http.get("/api/state")
        response.raise_for_status()
        return response.json()

    def post(self, path: str, body: dict) -> httpx.Response:
        return self.http.post(path, json=body)

    def person(self, name: str) -> dict:
        return next(p for p in self.state()["people"] if p["name"] == name)

    def items(self, chat_id: int) -> list[dict]:
        return next(c for c in self.state()["chats"] if c["id"] == chat_id)["items"]

    def bot_message(self, chat_id: int, contains: str, timeout: float = 15.0) -> dict:
        def found() -> dict | None:
            return next((i for i in reversed(self.items(chat_id)) if i["type"] == "message" and i["from"]["bot"]
                         and contains in i.get("text", "")), None)
        def shown() -> str:
            return f"chat {chat_id} has: {[i.get('text') or i.get('description') for i in self.items(chat_id)]}"
        return wait(found, f"a bot message with {contains!r} in chat {chat_id}", timeout, shown)

    def stop(self) -> int:
        self.http.close()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


def start_sandbox(tmp_path: Path, db: Path, *extra: str) -> Sandbox:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "DATABASE_", "WEBHOOK_"))}
    env["PYTHONPATH"] = str(ROOT)
    log = tmp_path / f"sandbox-{time.monotonic_ns()}.log"
    with log.open("wb") as err:
        process = subprocess.Popen([sys.executable, "-m", "bot", "sandbox", "--port", "0", "--db", str(db), *extra],
                                   cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=err, text=True)
    assert process.stdout is not None
    deadline = time.monotonic() + 60
    line = ""
    while not line.endswith("\n"):
        remaining = deadline - time.monotonic()
        ready, _, _ = select.select([process.stdout], [], [], max(0.0, remaining))
        chunk = process.stdout.readline() if ready else ""
        if not chunk:
            process.kill()
            process.wait()
            raise AssertionError(f"the sandbox did not say where it runs; it wrote: {line!r} {log.read_text()!r}")
        line += chunk
    match = URL_LINE.match(line.strip())
    assert match, f"unexpected first line: {line!r}"
    return Sandbox(process, match.group(1), log)


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    running = start_sandbox(tmp_path, tmp_path / "kept.sqlite3")
    yield running
    running.stop()


# --------------------------------------------------------------------------- no browser: the JSON API

def test_the_api_round_trip_refusals_deep_links_and_a_kept_database(sandbox: Sandbox, tmp_path: Path):
    page = sandbox.http.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<script src="/app.js"' in page.text
    assets = page.text + sandbox.http.get("/style.css").text + sandbox.http.get("/app.js").text
    # Offline: nothing is loaded from anywhere but the sandbox itself.
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//|url\(\s*["']?(https?:)?//|@import""", assets)
    assert "innerHTML" not in assets and "insertAdjacentHTML" not in assets

    state = sandbox.state()
    assert state["group"] == {"id": GROUP, "title": "Sandbox Timebank", "bot_status": "administrator"}
    people = {p["name"]: p for p in state["people"]}
    assert set(people) == {"Ada", "Maria", "Tom"}
    assert (people["Ada"]["status"], people["Ada"]["admin"]) == ("creator", True)
    assert (people["Maria"]["language"], people["Maria"]["admin"]) == ("es", False)
    assert all(p["started"] for p in people.values())
    assert any(c["command"] == "approve" for c in people["Ada"]["menu"]["group"])
    assert not any(c["command"] == "approve" for c in people["Tom"]["menu"]["group"])
    welcome = sandbox.bot_message(GROUP, "Hello, Sandbox Timebank!")
    join_url = welcome["buttons"][0][0]["url"]
    assert join_url.startswith("https://t.me/timebank_sandbox_bot?start=")

    tom = people["Tom"]["id"]
    assert sandbox.post("/api/say", {"user_id": tom, "chat_id": tom, "text": "/start"}).status_code == 200
    sandbox.bot_message(tom, "Hello Tom!")
    assert sandbox.post("/api/say", {"user_id": tom, "chat_id": GROUP, "text": "/join"}).status_code == 200
    sandbox.bot_message(GROUP, "Thank you, Tom!")

    # Someone who never opened the bot: Telegram refuses the bot's private message, and the page shows it.
    zoe = sandbox.post("/api/person", {"name": "Zoë", "language": "es", "admin": False, "started": False}).json()["id"]
    assert sandbox.person("Zoë")["status"] == "member" and not sandbox.person("Zoë")["started"]
    sandbox.post("/api/say", {"user_id": zoe, "chat_id": GROUP, "text": "/join"})
    notice = sandbox.bot_message(people["Ada"]["id"], "Zoë")
    approve = next(b for row in notice["buttons"] for b in row if b["text"] == "Approve")
    pressed = sandbox.post("/api/press", {"user_id": people["Ada"]["id"], "chat_id": people["Ada"]["id"],
                                          "message_id": notice["id"], "data": approve["callback_data"]})
    assert pressed.status_code == 200, pressed.text
    refusal = wait(lambda: next((i for i in sandbox.items(zoe) if i["type"] == "refusal"), None),
                   "a refusal in Zoë's chat", explain=sandbox.output)
    assert refusal["code"] == 403 and "can't initiate conversation" in refusal["description"]
    assert sandbox.state()["refusals"] >= 1
    # She opens the Join link: Telegram sends /start j<id>, and what the bot kept for her arrives.
    opened = sandbox.post("/api/open", {"user_id": zoe, "url": join_url})
    assert opened.json() == {"chat_id": zoe}
    assert any(i.get("text", "").startswith("/start ") for i in sandbox.items(zoe))
    sandbox.bot_message(zoe, "Sandbox Timebank")
    assert sandbox.person("Zoë")["started"]

    # What a Telegram client could not do is refused, with a reason.
    maria = people["Maria"]["id"]
    wrong_chat = sandbox.post("/api/say", {"user_id": tom, "chat_id": maria, "text": "hi"})
    assert wrong_chat.status_code == 400 and "own private chat" in wrong_chat.json()["error"]
    no_button = sandbox.post("/api/press", {"user_id": tom, "chat_id": GROUP, "message_id": welcome["id"],
                                            "data": "m:a:1"})
    assert no_button.status_code == 400
    assert sandbox.post("/api/open", {"user_id": tom, "url": "https://t.me/someone_else"}).status_code == 400
    assert sandbox.post("/api/person", {"name": " ", "language": "en"}).status_code == 400
    assert sandbox.http.post("/api/say", content=b"text=hi", headers={"Content-Type": "text/plain"}).status_code == 415
    assert sandbox.http.get("/api/state", headers={"Host": "evil.example:80"}).status_code == 403

    # Ctrl-C / SIGTERM: exit code 0, bot stopped; --db kept the data for next time.
    assert sandbox.stop() == 0, sandbox.output()
    with sqlite3.connect(tmp_path / "kept.sqlite3") as db:
        assert db.execute("SELECT count(*) FROM members").fetchone()[0] == 2
    again = start_sandbox(tmp_path, tmp_path / "kept.sqlite3")
    try:
        again.post("/api/say", {"user_id": tom, "chat_id": tom, "text": "/start"})
        again.bot_message(tom, "Sandbox Timebank: your request to join is waiting for a coordinator.")
        assert not [i for i in again.items(GROUP) if i["type"] == "message" and i["from"]["bot"]], \
            "a timebank the database already knows is not welcomed twice"
    finally:
        assert again.stop() == 0, again.output()


def test_a_port_in_use_is_one_clear_line(tmp_path: Path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        done = subprocess.run([sys.executable, "-m", "bot", "sandbox", "--port", str(port)], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stdout == ""
    assert f"127.0.0.1:{port}" in done.stderr and "--port 0" in done.stderr


# --------------------------------------------------------------------------- the page in headless Chromium

ELEMENT = "element-6066-11e4-a52e-4f735466cecf"


class WebDriverError(Exception):
    def __init__(self, error: str, message: str) -> None:
        super().__init__(f"{error}: {message[:300]}")
        self.error = error


class Browser:
    """Just enough of the W3C WebDriver protocol."""

    def __init__(self, client: httpx.Client, session: str) -> None:
        self.client = client
        self.session = session

    def call(self, method: str, path: str, body: dict | None = None) -> Any:
        response = self.client.request(method, f"/session/{self.session}{path}", json=body)
        value = response.json()["value"]
        if response.status_code != 200:
            raise WebDriverError(value.get("error", "?"), value.get("message", ""))
        return value

    def go(self, url: str) -> None:
        self.call("POST", "/url", {"url": url})

    def js(self, script: str, *args: Any) -> Any:
        return self.call("POST", "/execute/sync", {"script": script, "args": list(args)})

    def find(self, css: str) -> str | None:
        found = self.call("POST", "/elements", {"using": "css selector", "value": css})
        return found[0][ELEMENT] if found else None

    def click(self, element: str) -> None:
        self.call("POST", f"/element/{element}/click", {})

    def type(self, element: str, text: str) -> None:
        self.call("POST", f"/element/{element}/value", {"text": text})

    def clear(self, element: str) -> None:
        self.call("POST", f"/element/{element}/clear", {})

    def resize(self, width: int, height: int) -> None:
        self.call("POST", "/window/rect", {"width": width, "height": height})

    def text_of(self, css: str) -> str:
        return self.js("const n = document.querySelector(arguments[0]); return n ? n.innerText : '';", css)

    def attempt(self, action: Callable[[], Any]) -> Any:
        """Run a lookup-and-act; None instead of failing when the page re-drew meanwhile."""
        try:
            return action()
        except WebDriverError as exc:
            if exc.error in ("stale element reference", "no such element", "element click intercepted",
                             "element not interactable"):
                return None
            raise


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Browser]:
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing and os.environ.get("CI"):  # .ci/run installs them: in CI a missing browser is a failure
        pytest.fail(f"chromium or chromedriver missing in CI: {missing}")
    if missing:
        pytest.skip(f"needs Debian's chromium and chromedriver ({', '.join(missing)} missing): "
                    "apt-get install -y chromium chromium-driver")
    port = free_port()
    driver = subprocess.Popen([str(CHROMEDRIVER), f"--port={port}"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60)
    session = None
    try:
        def ready() -> bool:
            try:
                return bool(client.get("/status").json()["value"]["ready"])
            except (httpx.HTTPError, ValueError, KeyError):
                return False
        wait(ready, "chromedriver to start", timeout=30)
        args = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--no-first-run", "--window-size=1600,1000", f"--user-data-dir={tmp_path / 'chromium'}"]
        created = client.post("/session", json={"capabilities": {"alwaysMatch": {
            "browserName": "chrome", "goog:chromeOptions": {"binary": str(CHROMIUM), "args": args}}}})
        assert created.status_code == 200, created.text
        session = created.json()["value"]["sessionId"]
        yield Browser(client, session)
    finally:
        if session is not None:
            with contextlib.suppress(httpx.HTTPError):
                client.delete(f"/session/{session}")
        client.close()
        driver.terminate()
        try:
            driver.wait(timeout=10)
        except subprocess.TimeoutExpired:
            driver.kill()


FIND_BOT_MESSAGE = """
const [chat, contains] = arguments;
const messages = [...document.querySelectorAll(`[data-chat="${chat}"] [data-from="bot"]`)].reverse();
return messages.find((m) => (m.querySelector("[data-text]")?.textContent || "").includes(contains)) || null;
"""

FIND_BUTTON = """
const [chat, contains, label] = arguments;
for (const m of [...document.querySelectorAll(`[data-chat="${chat}"] [data-from="bot"]`)].reverse()) {
  if (!(m.querySelector("[data-text]")?.textContent || "").includes(contains)) continue;
  const button = [...m.querySelectorAll("[data-button]")].find((b) => b.dataset.button === label);
  if (button) return button;
}
return null;
"""


class Page:
    """The sandbox page, as a person in front of it uses it."""

    def __init__(self, browser: Browser, sandbox: Sandbox) -> None:
        self.browser = browser
        self.sandbox = sandbox

    def column_text(self, chat_id: int) -> str:
        return self.browser.text_of(f'[data-chat="{chat_id}"] [data-messages]')[-1500:]

    def bot_says(self, chat_id: int, contains: str) -> str:
        element = wait(lambda: self.browser.js(FIND_BOT_MESSAGE, chat_id, contains),
                       f"the page to show a bot message with {contains!r} in chat {chat_id}",
                       explain=lambda: f"The column shows: {self.column_text(chat_id)!r}")
        return self.browser.call("GET", f"/element/{element[ELEMENT]}/text")

    def type_as(self, name: str, chat_id: int, text: str) -> None:
        b = self.browser
        column = f'[data-chat="{chat_id}"]'
        if chat_id == GROUP:
            option = b.find(f'{column} select[data-as] option[value="{self.sandbox.person(name)["id"]}"]')
            assert option, f"{name} is not among who can type in the group"
            b.click(option)
        else:
            assert name in b.text_of(f"{column} header"), f"chat {chat_id} is not {name}'s"
        field = b.find(f"{column} [data-input]")
        assert field is not None
        b.click(field)
        b.type(field, text)
        b.click(b.find(f"{column} [data-send]") or "")
        wait(lambda: b.js("return document.querySelector(arguments[0]).value", f"{column} [data-input]") == "",
             f"the page to send {text!r} as {name}",
             explain=lambda: f"error shown: {b.text_of(column + ' [data-error]')!r}")

    def press(self, chat_id: int, message_contains: str, label: str) -> None:
        def find_and_click() -> bool:
            button = self.browser.js(FIND_BUTTON, chat_id, message_contains, label)
            return bool(button) and self.browser.attempt(lambda: self.browser.click(button[ELEMENT]) or True)
        wait(find_and_click, f"a {label!r} button under a message with {message_contains!r} in chat {chat_id}",
             explain=lambda: f"The column shows: {self.column_text(chat_id)!r}")


def test_two_members_join_are_approved_record_hours_and_see_their_balances(sandbox: Sandbox, browser: Browser):
    started = time.monotonic()
    page = Page(browser, sandbox)
    ids = {p["name"]: p["id"] for p in sandbox.state()["people"]}
    ada, maria, tom = ids["Ada"], ids["Maria"], ids["Tom"]
    browser.go(sandbox.url)
    page.bot_says(GROUP, "Hello, Sandbox Timebank!")
    assert "group creator (admin)" in browser.text_of(f'[data-chat="{ada}"] header')

    page.type_as("Tom", tom, "/start")
    page.bot_says(tom, "Hello Tom!")
    page.type_as("Maria", maria, "/start")
    page.bot_says(maria, "¡Hola, Maria!")
    page.type_as("Tom", GROUP, "/join")
    page.bot_says(GROUP, "Thank you, Tom!")
    page.type_as("Maria", GROUP, "/join")
    page.bot_says(GROUP, "¡Gracias, Maria!")

    page.press(ada, "Tom (@tom)", "Approve")
    page.bot_says(ada, "Tom (#")
    page.press(ada, "Maria (@maria)", "Approve")
    page.bot_says(tom, "Good news: you are now a member of Sandbox Timebank")
    page.bot_says(maria, "Buenas noticias")

    page.type_as("Maria", GROUP, "/gave @tom 1.5 gardening")
    page.press(tom, "Maria says they gave you 1.5 hours", "Confirm")
    page.bot_says(tom, "Confirmed: Maria gave you 1.5 hours.")

    page.type_as("Tom", tom, "/balance")
    assert "Balance: -1.5 hours" in page.bot_says(tom, "Balance:")
    page.type_as("Maria", maria, "/balance")
    assert "Saldo: +1,5 horas" in page.bot_says(maria, "Saldo:")
    assert browser.js("return document.querySelector('[data-refusal-count]').hidden") is True

    # What people type is shown as text, never as HTML.
    page.type_as("Tom", GROUP, '<img src=x onerror="document.title=1"><b>not bold</b>')
    count = wait(lambda: browser.js(f"""
        const m = [...document.querySelectorAll('[data-chat="{GROUP}"] [data-from="{tom}"]')].pop();
        return m && m.textContent.includes('<b>not bold</b>') ? String(m.querySelectorAll('[data-text] *').length)
                                                                 : null;"""), "Tom's message with markup in it")
    assert count == "0" and not browser.js("return document.querySelector('img')")

    # A new person, an admin, added with the form.
    browser.click(browser.find("[data-add-person-panel] summary") or "")
    browser.type(browser.find("[data-add-person] input[name=name]") or "", "Lin")
    language = browser.find("[data-add-person] input[name=language]") or ""
    browser.clear(language)
    browser.type(language, "es")
    browser.click(browser.find("[data-add-person] input[name=admin]") or "")
    browser.click(browser.find("[data-add-person] button[type=submit]") or "")
    lin = wait(lambda: next((p["id"] for p in sandbox.state()["people"] if p["name"] == "Lin"), None), "Lin")
    header = wait(lambda: browser.text_of(f'[data-chat="{lin}"] header'), "Lin's column")
    assert "group admin" in header and "language es" in header
    assert sandbox.person("Lin")["status"] == "administrator"

    # On a phone-sized window, one chat at a time, picked with the tabs.
    browser.resize(390, 844)
    visible = "return [...document.querySelectorAll('section[data-chat]')]" \
              ".filter((s) => getComputedStyle(s).display !== 'none').map((s) => s.dataset.chat)"
    wait(lambda: len(browser.js(visible)) == 1, "a single column on a narrow window")
    wait(lambda: browser.attempt(lambda: browser.click(browser.find(f'[data-tab="{tom}"]') or "") or True),
         "Tom's tab")
    wait(lambda: browser.js(visible) == [str(tom)], "Tom's chat after pressing his tab")
    print(f"browser scenario: {time.monotonic() - started:.1f}s")
