"""`python -m bot` as someone setting it up meets it: configuration mistakes end the
process at once, non-zero, with a short message that names what to fix, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot.settings import Settings

REPO = Path(__file__).resolve().parents[1]
CREDENTIAL_PREFIXES = ("DISCORD_", "KLING_", "GOAPI_", "USEAPI_", "MODELSLAB_")
# "At once": a start-up check, not a connection attempt that times out. Generous for slow CI.
QUICK = 10.0


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
    assert seconds < QUICK
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
    assert seconds < QUICK
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
    assert seconds < QUICK
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
