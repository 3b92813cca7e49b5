"""Start time: from launching the process to its first getUpdates, the timebank bot beside the bare
echo bot (bench/echo_bot.py), in a fresh virtualenv and inside the image.

    .venv/bin/python bench/start_time.py               # both (the image part needs podman, as the tests)
    .venv/bin/python bench/start_time.py --no-image    # the virtualenv only
    .venv/bin/python bench/start_time.py --runs 9

Fresh virtualenv: a copy of the project (as a new checkout), a new virtualenv with the project's
dependencies installed by pip; each bot started `--runs` times after one warm-up start, median
reported. Measured twice: with the project's own modules compiled once (`python -m compileall`,
as the image does at build time), and with none compiled while PYTHONDONTWRITEBYTECODE is set
(as in this environment), which compiles them at every start.

Image: built as tests/test_deploy.py builds it (the Dockerfile on deploy/test-base-image.sh's
stand-in for python:3.12-slim), each bot in its own `podman run` (container start included, for
both); the echo bot is mounted into the image. Target: the timebank bot ≤ 1.5× the echo bot.
Figures to stdout (a table) and bench/out/start_time.json; progress to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.fake_telegram import FakeTelegram  # noqa: E402

OUT = ROOT / "bench" / "out"
TARGET = 1.5
PODMAN = ["--runtime", "/usr/bin/runc", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024",
          "--network", "host"]
T0 = time.monotonic()


def say(text: str) -> None:
    print(f"[{time.monotonic() - T0:6.1f}s] {text}", file=sys.stderr, flush=True)


def polls(tg: FakeTelegram) -> int:
    return sum(1 for method, _ in list(tg.calls) if method == "getUpdates")


def timed_start(tg: FakeTelegram, command: list[str], env: dict[str, str], cwd: Path,
                stop: list[str] | None = None) -> float:
    """Seconds from launching `command` to the fake seeing its first getUpdates; then stops it."""
    before = polls(tg)
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    # Polled, not tg.wait_for: the fake signals a change only when a long poll ends.
    while polls(tg) == before:
        if process.poll() is not None and not stop:
            raise RuntimeError(f"{command} exited with {process.returncode}: {process.stderr.read().decode()[-2000:]}")
        if time.perf_counter() - started > 60:
            process.kill()
            raise RuntimeError(f"{command} never polled")
        time.sleep(0.002)
    took = time.perf_counter() - started
    if stop:
        subprocess.run(stop, capture_output=True, timeout=30)
    else:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    return took


def median_of(tg: FakeTelegram, runs: int, command: list[str], env: dict[str, str], cwd: Path,
              stop: list[str] | None = None) -> tuple[float, list[float]]:
    timed_start(tg, command, env, cwd, stop)  # warm-up: page cache, a first migration
    starts = [timed_start(tg, command, env, cwd, stop) for _ in range(runs)]
    return statistics.median(starts), starts


def clean_env(tg: FakeTelegram, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("BOT_", "DATABASE_", "WEBHOOK_", "LITESTREAM_", "VIRTUAL_ENV", "PYTHON"))}
    env.update(BOT_TOKEN=tg.token, BOT_API_BASE_URL=tg.base_url, **extra)
    return env


# ------------------------------------------------------------------ a fresh virtualenv


def fresh_virtualenv(work: Path) -> tuple[Path, Path]:
    """A copy of the project and a new virtualenv with its dependencies; returns (python, project)."""
    project = work / "project"
    shutil.copytree(ROOT, project, ignore=shutil.ignore_patterns(
        ".git", ".venv", "__pycache__", "*.pyc", "bench", "tests", ".mypy_cache", ".pytest_cache", ".ruff_cache",
        "*.sqlite3*", "*.egg-info"))
    shutil.copy2(ROOT / "bench" / "echo_bot.py", work / "echo_bot.py")
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    say("installing the dependencies into a fresh virtualenv")
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", *dependencies], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return python, project


def bench_virtualenv(tg: FakeTelegram, runs: int, results: dict) -> None:
    with tempfile.TemporaryDirectory(prefix="timebank-start-") as tmp:
        work = Path(tmp)
        python, project = fresh_virtualenv(work)
        db = work / "timebank.sqlite3"
        env = clean_env(tg, DATABASE_URL=f"sqlite:///{db}", PYTHONDONTWRITEBYTECODE="1")
        say("echo bot, fresh virtualenv")
        echo, echo_runs = median_of(tg, runs, [str(python), str(work / "echo_bot.py")], env, work)
        say("timebank bot, fresh virtualenv, its modules not compiled (PYTHONDONTWRITEBYTECODE=1)")
        raw, raw_runs = median_of(tg, runs, [str(python), "-m", "bot"], env, project)
        subprocess.run([str(python), "-m", "compileall", "-q", str(project)], check=True)
        say("timebank bot, fresh virtualenv, its modules compiled once")
        ours, our_runs = median_of(tg, runs, [str(python), "-m", "bot"], env, project)
    results["virtualenv"] = {"echo_s": echo, "bot_s": ours, "bot_uncompiled_s": raw, "ratio": ours / echo,
                             "ratio_uncompiled": raw / echo,
                             "runs": {"echo": echo_runs, "bot": our_runs, "bot_uncompiled": raw_runs}}


# ------------------------------------------------------------------ the image


def build_image() -> str:
    base = subprocess.run([str(ROOT / "deploy" / "test-base-image.sh")], capture_output=True, text=True, check=True)
    image = "localhost/timebank-bot:bench"
    say("building the image")
    subprocess.run(["podman", "build", *PODMAN, "--build-arg", f"PYTHON_IMAGE={base.stdout.strip()}", "-t", image,
                    str(ROOT)], capture_output=True, text=True, check=True)
    return image


def bench_image(tg: FakeTelegram, runs: int, results: dict) -> None:
    image = build_image()
    with tempfile.TemporaryDirectory(prefix="timebank-start-") as tmp:
        data = Path(tmp)
        env = clean_env(tg)
        name = f"timebank-bench-{os.getpid()}"

        def run(*args: str) -> list[str]:
            return ["podman", "run", "--rm", "--name", name, *PODMAN, "-e", f"BOT_TOKEN={tg.token}",
                    "-e", f"BOT_API_BASE_URL={tg.base_url}", *args]

        stop = ["podman", "stop", "-t", "5", name]
        say("echo bot, in the image")
        echo_cmd = run("-v", f"{ROOT / 'bench' / 'echo_bot.py'}:/echo_bot.py:ro", "--entrypoint", "python", image,
                       "/echo_bot.py")
        echo, echo_runs = median_of(tg, runs, echo_cmd, env, data, stop)
        say("timebank bot, in the image")
        ours, our_runs = median_of(tg, runs, run("-v", f"{data}:/data", image), env, data, stop)
    results["image"] = {"echo_s": echo, "bot_s": ours, "ratio": ours / echo,
                        "runs": {"echo": echo_runs, "bot": our_runs}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-image", action="store_true")
    parser.add_argument("--no-venv", action="store_true")
    args = parser.parse_args()
    results: dict = {"runs": args.runs, "target_ratio": TARGET}
    with FakeTelegram() as tg:
        if not args.no_venv:
            bench_virtualenv(tg, args.runs, results)
        if not args.no_image:
            if shutil.which("podman") is None:
                say("no podman here: the image is not measured (apt-get install podman runc debootstrap)")
            else:
                bench_image(tg, args.runs, results)
    rows = []
    if "virtualenv" in results:
        v = results["virtualenv"]
        rows.append(("fresh virtualenv, modules compiled once", v["echo_s"], v["bot_s"], v["ratio"]))
        rows.append(("fresh virtualenv, nothing compiled (PYTHONDONTWRITEBYTECODE)", v["echo_s"],
                     v["bot_uncompiled_s"], v["ratio_uncompiled"]))
    if "image" in results:
        i = results["image"]
        rows.append(("in the image (podman run included)", i["echo_s"], i["bot_s"], i["ratio"]))
    print(f"start to first getUpdates, median of {args.runs} (target: timebank bot ≤ {TARGET}× the echo bot)")
    print("| where | echo bot | timebank bot | ratio |\n| --- | --- | --- | --- |")
    for where, echo, ours, ratio in rows:
        verdict = "ok" if ratio <= TARGET else "over"
        print(f"| {where} | {echo:.3f} s | {ours:.3f} s | {ratio:.2f}× ({verdict}) |")
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "start_time.json").write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
