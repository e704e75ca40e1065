"""`python -m bot` as someone setting it up meets it: configuration mistakes end the
process at once, non-zero, with a short message that names what to fix, no traceback."""

from __future__ import annotations

import fnmatch
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot.settings import Settings
from tests.media_factory import make_image, make_video

REPO = Path(__file__).resolve().parents[1]
CREDENTIAL_PREFIXES = ("DISCORD_", "KLING_", "GOAPI_", "USEAPI_", "MODELSLAB_")
# "At once": a start-up check, not a connection attempt that times out. Generous for slow CI.


def clean_env(tmp_path: Path, **settings: str) -> dict[str, str]:
    """The environment without credentials or bot settings, so only the test's own values count."""
    names = {name.upper() for name in Settings.model_fields}
    env = {k: v for k, v in os.environ.items() if not k.startswith(CREDENTIAL_PREFIXES) and k.upper() not in names}
    env.update(PYTHONPATH=str(REPO), DATA_DIR=str(tmp_path / "data"))
    env.update(settings)
    return env


def run_bot(tmp_path: Path, *args: str, dotenv: str | None = None, **settings: str) -> tuple[int, str, float]:
    """Run `python -m bot ARGS` in an empty folder (plus `.env` if given); (exit code, output, seconds)."""
    workdir = tmp_path / "cwd"
    workdir.mkdir(exist_ok=True)
    if dotenv is not None:
        (workdir / ".env").write_text(dotenv, encoding="utf-8")
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=workdir,
        env=clean_env(tmp_path, **settings),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,  # the exit code is what the tests look at
    )
    return proc.returncode, proc.stdout + proc.stderr, time.monotonic() - started


def assert_short_and_clean(out: str) -> None:
    assert "Traceback" not in out, out
    assert len(out.strip().splitlines()) <= 3, f"expected a short message:\n{out}"


@pytest.mark.parametrize(
    ("token", "command"),
    [(None, []), ("", []), ("   ", []), (None, ["run"]), (None, ["sync"])],
)
def test_without_discord_token_it_says_what_to_set_and_where(
    tmp_path: Path, token: str | None, command: list[str]
) -> None:
    settings = {} if token is None else {"DISCORD_TOKEN": token}
    code, out, seconds = run_bot(tmp_path, *command, **settings)
    assert code != 0
    assert_short_and_clean(out)
    assert "DISCORD_TOKEN" in out
    assert ".env" in out  # where to put it
    # nothing was set up for a bot that cannot start
    assert not (tmp_path / "data" / "bot.sqlite3").exists()


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"WEB_PORT": "abc"}, ["WEB_PORT"]),
        ({"LOG_LEVEL": "LOUD"}, ["LOG_LEVEL"]),
        ({"WEB_PORT": "abc", "LOG_LEVEL": "LOUD"}, ["WEB_PORT", "LOG_LEVEL"]),
        ({"USER_DAILY_CREDITS": "-5"}, ["USER_DAILY_CREDITS"]),
        ({"KLING_BASE_URL": "api-singapore.klingai.com"}, ["KLING_BASE_URL"]),
    ],
)
def test_a_wrong_setting_is_named_without_a_traceback(
    tmp_path: Path, settings: dict[str, str], named: list[str]
) -> None:
    # a token is set so the only problem is the wrong value, and it must not be echoed
    token = "discord-token-SECRET-0123456789"
    code, out, seconds = run_bot(tmp_path, DISCORD_TOKEN=token, **settings)
    assert code != 0
    assert_short_and_clean(out)
    for name in named:
        assert name in out
    assert ".env" in out
    assert token not in out


def test_the_terminal_command_checks_settings_too(tmp_path: Path) -> None:
    """It needs no token, but a wrong value still stops it before anything runs."""
    args = ["motion", "--image", "a.png", "--video", "b.mp4", "--out", "c.mp4"]
    code, out, seconds = run_bot(tmp_path, *args, WEB_PORT="abc", LOG_LEVEL="LOUD")
    assert code == 2
    assert_short_and_clean(out)
    assert "WEB_PORT" in out and "LOG_LEVEL" in out
    assert not (tmp_path / "data").exists()


def test_a_wrong_setting_in_dotenv_is_named(tmp_path: Path) -> None:
    code, out, _ = run_bot(tmp_path, dotenv="# mine\nDISCORD_TOKEN=x-0123456789\nWEB_PORT=http\n")
    assert code != 0
    assert_short_and_clean(out)
    assert "WEB_PORT" in out and "'http'" in out


def test_dotenv_in_the_working_folder_is_read(tmp_path: Path) -> None:
    """The message for a missing token points at .env; a token put there must then count."""
    # A bad value alongside proves .env was read (the token is accepted, the port is not):
    # no Discord connection is attempted, which a test without internet must not do.
    code, out, _ = run_bot(tmp_path, dotenv="DISCORD_TOKEN=from-dotenv-0123456789\nLOG_LEVEL=LOUD\n")
    assert code != 0
    assert "DISCORD_TOKEN is not set" not in out
    assert "LOG_LEVEL" in out


def test_a_wrong_command_line_is_a_usage_error(tmp_path: Path) -> None:
    code, out, _ = run_bot(tmp_path, "motion", "--image", "a.png")  # no --out
    assert code == 2
    assert "--out" in out
    assert "Traceback" not in out


# --- the Docker image (no Docker engine here: its files are read, its health check is run) -----

DOCKERFILE = REPO / "Dockerfile"


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, its arguments), continuation lines joined, comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        pending += line[:-1] + " " if line.endswith("\\") else line
        if not line.endswith("\\"):
            word, _, rest = pending.partition(" ")
            instructions.append((word.upper(), rest.strip()))
            pending = ""
    return instructions


def docker_ignored(path: str) -> bool:
    patterns = [
        line.strip() for line in (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    return any(fnmatch.fnmatch(path, pattern) for pattern in patterns)


def test_the_image_copies_what_exists_and_leaves_secrets_and_tests_out() -> None:
    copies = [args.split()[:-1] for word, args in dockerfile() if word == "COPY"]
    sources = [source for sources in copies for source in sources]
    assert sources, "the Dockerfile copies nothing"
    for source in sources:
        assert (REPO / source).exists(), f"COPY {source}: no such file in the repository"
        assert not docker_ignored(source), f"COPY {source}: .dockerignore leaves it out of the build"
    for kept_out in (".env", ".venv", "data", "tests", "bench", ".git"):
        assert docker_ignored(kept_out), f"{kept_out} would be sent to the Docker build"


def test_the_image_installs_dependencies_before_the_code_and_runs_as_a_user() -> None:
    steps = dockerfile()
    words = [word for word, _ in steps]
    install = next(i for i, (word, args) in enumerate(steps) if word == "RUN" and "pip install" in args)
    code = next(i for i, (word, args) in enumerate(steps) if word == "COPY" and args.startswith("bot "))
    assert [args for word, args in steps[:install] if word == "COPY"] == ["pyproject.toml ./"]
    assert install < code, "a code change would reinstall every dependency"
    users = [args for word, args in steps if word == "USER"]
    assert users and users[-1] not in ("root", "0"), "the bot would run as root"
    assert words.index("USER") < words.index("CMD")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_images_health_check_passes_on_a_running_bot_and_fails_without_one(tmp_path: Path) -> None:
    health = next(args for word, args in dockerfile() if word == "HEALTHCHECK")
    command = json.loads(health[health.index("CMD") + 3 :])
    assert command[0] == "python"  # the image has no curl
    port = free_port()
    settings = {"WEB_PORT": str(port), "PUBLIC_URL": f"http://127.0.0.1:{port}", "SIMULATOR_DELAY_SECONDS": "60"}
    env = clean_env(tmp_path, **settings)

    def check() -> int:
        argv = [sys.executable, *command[1:]]
        return subprocess.run(argv, env=env, capture_output=True, timeout=30, check=False).returncode

    media = tmp_path / "media"
    image, video = make_image(media / "hero.png"), make_video(media / "dance.mp4", seconds=3.0)
    (tmp_path / "cwd").mkdir()
    args = ["motion", "--image", str(image), "--video", str(video), "--out", str(tmp_path / "out.mp4")]
    bot = subprocess.Popen(
        [sys.executable, "-m", "bot", *args],
        cwd=tmp_path / "cwd", env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        assert bot.stdout is not None
        for line in bot.stdout:  # the web server is up once the job is queued
            if "queued on" in line:
                break
        # Docker marks the container unhealthy only after --retries=3 failures in a row; a single
        # slow answer on a loaded machine is not a failure there either.
        assert any(check() == 0 for _ in range(3)), "the health check failed three times on a running bot"
    finally:
        bot.send_signal(signal.SIGINT)
        bot.communicate(timeout=90)
    assert check() != 0, "the health check passed with nothing listening"
