"""`python -m bot motion …` as an operator runs it: a real subprocess, a clean environment.

The simulator cases check the exit codes (0 done, 2 refused before anything is
spent, 1 the provider failed). The hosted cases start a provider's emulator in
this process and point the CLI at it through its *_BASE_URL setting, which is
what proves every base URL really is a setting.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import av
import pytest
from pydantic import SecretStr

from bot.cli import BUSY_LINE, EXIT_BUSY, EXIT_INPUT, EXIT_PROVIDER, explain
from bot.errors import ContentRejected, ProviderUnavailable, StoreBusy
from bot.media import MediaRejected
from bot.settings import Settings, SettingsError
from bot.store import Store
from tests.contract import (
    ProviderCase,
    case_goapi,
    case_kling,
    case_modelslab,
    case_useapi,
)
from tests.emulators.common import Emulator, Fault
from tests.emulators.goapi import API_KEY as GOAPI_KEY
from tests.emulators.modelslab import API_KEY as MODELSLAB_KEY
from tests.emulators.useapi import PREFIX as USEAPI_PREFIX
from tests.emulators.useapi import TOKEN as USEAPI_TOKEN
from tests.media_factory import make_image, make_video

REPO = Path(__file__).resolve().parents[1]
CREDENTIAL_PREFIXES = ("DISCORD_", "KLING_", "GOAPI_", "USEAPI_", "MODELSLAB_")
# A subprocess that takes longer than this is hung, not slow: fail instead of stalling the suite.
RUN_TIMEOUT = 90.0  # a bound for a stuck run, not a speed goal: a loaded machine starts Python slowly


@dataclass
class Result:
    code: int
    out: str  # stdout and stderr together: a secret must not be in either

    def line(self, prefix: str) -> str:
        """The one line the CLI printed that starts with `prefix` (log lines start with a timestamp)."""
        found = [line for line in self.out.splitlines() if line.startswith(prefix)]
        assert len(found) == 1, f"expected one line starting {prefix!r}:\n{self.out}"
        return found[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def clean_env(tmp_path: Path, **settings: str) -> dict[str, str]:
    """This machine's environment without any credential or bot setting, plus fast test settings.

    Settings names are dropped too so that, say, a LOG_LEVEL exported in the developer's
    shell cannot change what a test sees.
    """
    names = {name.upper() for name in Settings.model_fields}
    env = {k: v for k, v in os.environ.items() if not k.startswith(CREDENTIAL_PREFIXES) and k.upper() not in names}
    env.update(
        PYTHONPATH=str(REPO),
        DATA_DIR=str(tmp_path / "data"),
        SIMULATOR_DELAY_SECONDS="0.2",
        POLL_INTERVAL_SECONDS="0.1",
        POLL_MAX_INTERVAL_SECONDS="0.2",
        CALLBACK_FALLBACK_POLL_SECONDS="0.2",
        # a provider that never answers must fail the test quickly, not after a minute
        HTTP_TIMEOUT_SECONDS="5",
    )
    env.update(settings)
    return env


async def run_bot(tmp_path: Path, env: dict[str, str], *args: str) -> Result:
    """Run `python -m bot ARGS` without blocking the event loop (an emulator may be serving on it)."""
    workdir = tmp_path / "cwd"  # empty, so no stray .env is read
    workdir.mkdir(exist_ok=True)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", *args,
        cwd=workdir, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), RUN_TIMEOUT)
    except TimeoutError:
        proc.kill()
        out, _ = await proc.communicate()
        pytest.fail(f"python -m bot {' '.join(args)} did not end in {RUN_TIMEOUT} s:\n{out.decode()}")
    assert proc.returncode is not None
    return Result(proc.returncode, out.decode(errors="replace"))


@dataclass
class Inputs:
    image: Path
    video: Path
    out: Path

    def args(self, *extra: str, image: Path | None = None, video: Path | None = None, out: Path | None = None) -> list[str]:
        image, video, out = image or self.image, video or self.video, out or self.out
        return ["motion", "--image", str(image), "--video", str(video), "--out", str(out), *extra]


@pytest.fixture
def inputs(tmp_path: Path) -> Inputs:
    media = tmp_path / "media"
    return Inputs(
        image=make_image(media / "hero.png", 512, 768),
        video=make_video(media / "dance.mp4", 360, 640, seconds=3.0),
        out=tmp_path / "result" / "out.mp4",
    )


def assert_decodable_mp4(path: Path) -> None:
    assert path.is_file(), f"{path} was not written"
    with av.open(str(path)) as container:
        assert container.format.name.startswith("mov,mp4")
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(stream))
    assert frames > 0


def ledger_rows(data_dir: Path) -> list[tuple[str, int]]:
    db = data_dir / "bot.sqlite3"
    if not db.exists():
        return []
    with sqlite3.connect(db) as conn:
        return [(kind, amount) for kind, amount in conn.execute("SELECT kind, amount FROM ledger ORDER BY id")]


def job_count(data_dir: Path) -> int:
    db = data_dir / "bot.sqlite3"
    if not db.exists():
        return 0
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM jobs").fetchone()[0])


def simulator_tasks(data_dir: Path) -> list[Path]:
    tasks = data_dir / "simulator" / "tasks"
    return sorted(tasks.iterdir()) if tasks.exists() else []


# --- the simulator: exit codes --------------------------------------------------------------


async def test_success_writes_a_decodable_mp4(tmp_path: Path, inputs: Inputs) -> None:
    result = await run_bot(tmp_path, clean_env(tmp_path), *inputs.args("--prompt", "dance!"))
    assert result.code == 0, result.out
    assert_decodable_mp4(inputs.out)
    assert f"wrote {inputs.out}" in result.out
    # the terminal job went through the core's ledger like a Discord job: reserved, then committed
    assert [kind for kind, _ in ledger_rows(tmp_path / "data")] == ["reserve", "commit"]


# Inputs that break one of Kling's limits (bot/limits.py), as `motion` arguments.
OVER_A_LIMIT: dict[str, Callable[[Inputs, Path], list[str]]] = {
    "image side under 300 px": lambda i, media: i.args(image=make_image(media / "tiny.png", 200, 400)),
    "video under 3 s": lambda i, media: i.args(video=make_video(media / "short.mp4", 360, 640, seconds=1.0)),
    "video over 10 s with orientation=image": lambda i, media: i.args(
        "--orientation", "image", video=make_video(media / "long.mp4", 360, 640, seconds=12.0, fps=2)
    ),
    "prompt over 2500 characters": lambda i, media: i.args("--prompt", "x" * 2501),
}


@pytest.mark.parametrize("what", sorted(OVER_A_LIMIT))
async def test_input_over_a_limit_exits_2_and_spends_nothing(tmp_path: Path, inputs: Inputs, what: str) -> None:
    result = await run_bot(tmp_path, clean_env(tmp_path), *OVER_A_LIMIT[what](inputs, tmp_path / "media"))
    assert result.code == 2, result.out
    result.line("refused: ")  # one line that says why
    assert "Traceback" not in result.out
    data = tmp_path / "data"
    assert ledger_rows(data) == [], f"{what}: credits were touched"
    assert job_count(data) == 0, f"{what}: a job was created"
    assert simulator_tasks(data) == [], f"{what}: something was submitted to the simulator"
    assert not any((data / "jobs").glob("*")), f"{what}: a job folder was left behind"
    assert not inputs.out.exists()


async def test_missing_input_file_exits_2(tmp_path: Path, inputs: Inputs) -> None:
    result = await run_bot(tmp_path, clean_env(tmp_path), *inputs.args(image=tmp_path / "nope.png"))
    assert result.code == 2, result.out
    assert "nope.png" in result.line("error: ")
    assert "Traceback" not in result.out


async def test_unconfigured_provider_exits_2_and_names_the_configured_ones(tmp_path: Path, inputs: Inputs) -> None:
    result = await run_bot(tmp_path, clean_env(tmp_path), *inputs.args("--provider", "kling"))
    assert result.code == 2, result.out
    line = result.line("error: ")
    assert "'kling' is not configured" in line and "simulator" in line
    assert job_count(tmp_path / "data") == 0


@pytest.mark.parametrize(
    ("env", "prompt", "reason"),
    [
        ({"SIMULATOR_FAILURE": "content_policy"}, "", "content policy"),
        ({"SIMULATOR_FAILURE": "outage"}, "", "outage"),
        ({}, "walk [simulate:outage]", "outage"),
    ],
)
async def test_provider_failure_exits_1_with_its_reason_and_refunds(
    tmp_path: Path, inputs: Inputs, env: dict[str, str], prompt: str, reason: str
) -> None:
    result = await run_bot(tmp_path, clean_env(tmp_path, **env), *inputs.args("--prompt", prompt))
    assert result.code == 1, result.out
    assert reason in result.line("failed: "), result.out
    assert "Traceback" not in result.out
    assert not inputs.out.exists()
    assert [kind for kind, _ in ledger_rows(tmp_path / "data")] == ["reserve", "refund"]


async def test_timeout_exits_1_and_says_the_job_goes_on(tmp_path: Path, inputs: Inputs) -> None:
    env = clean_env(tmp_path, SIMULATOR_DELAY_SECONDS="30")
    result = await run_bot(tmp_path, env, *inputs.args("--timeout", "0.5"))
    assert result.code == 1, result.out
    assert "still running after 0.5 s" in result.out
    assert not inputs.out.exists()


async def test_the_pixel_budget_is_a_setting(tmp_path: Path, inputs: Inputs) -> None:
    """MAX_IMAGE_PIXELS reaches the checks (the hero picture is 512×768, 0.39 megapixels)."""
    result = await run_bot(tmp_path, clean_env(tmp_path, MAX_IMAGE_PIXELS="300000"), *inputs.args())
    assert result.code == 2, result.out
    assert result.line("refused: ") == "refused: image is 512×768 px (0.4 megapixels); the limit is 0.3 megapixels"
    assert job_count(tmp_path / "data") == 0


# --- expected errors: one line, one exit code -------------------------------------------------

LOG_LINE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ [A-Z]+ ")


async def test_a_locked_database_ends_in_one_line_and_nothing_is_queued(tmp_path: Path, inputs: Inputs) -> None:
    """Another process holds the write lock for longer than the store waits: one line, exit 75,
    no traceback, nothing queued or charged; once the lock is gone the same command works."""
    data = tmp_path / "data"
    store = Store(data / "bot.sqlite3")
    await store.open()  # the database exists, migrated, as after any earlier run
    await store.close()
    holder = sqlite3.connect(data / "bot.sqlite3", isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")  # the write lock, held until the CLI has given up
        # the store retries for DB_BUSY_RETRY_SECONDS (30 s by default) before it gives up
        result = await run_bot(tmp_path, clean_env(tmp_path, DB_BUSY_RETRY_SECONDS="1"), *inputs.args())
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert result.code == EXIT_BUSY, result.out
    assert result.line("error: ") == BUSY_LINE
    assert "Traceback" not in result.out
    # besides log lines (they start with a timestamp), that one line is all a person reads
    assert [line for line in result.out.splitlines() if not LOG_LINE.match(line)] == [BUSY_LINE]
    assert job_count(data) == 0 and ledger_rows(data) == []
    assert not any((data / "jobs").glob("*")), "a job folder was left behind"

    again = await run_bot(tmp_path, clean_env(tmp_path), *inputs.args())
    assert again.code == 0, again.out
    assert_decodable_mp4(inputs.out)


async def test_ctrl_c_while_waiting_is_one_line_not_a_traceback(tmp_path: Path, inputs: Inputs) -> None:
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", *inputs.args(),
        cwd=workdir, env=clean_env(tmp_path, SIMULATOR_DELAY_SECONDS="60"),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    assert proc.stdout is not None
    seen = []
    try:
        async with asyncio.timeout(RUN_TIMEOUT):
            while not any("queued on" in line for line in seen):
                line = (await proc.stdout.readline()).decode()
                assert line, "".join(seen)
                seen.append(line)
            proc.send_signal(signal.SIGINT)
            rest, _ = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
    out = "".join(seen) + rest.decode()
    assert proc.returncode == 130, out
    assert "Traceback" not in out
    assert [line for line in out.splitlines() if not LOG_LINE.match(line) and not line.startswith("[")] == [
        "interrupted"
    ]


def test_expected_errors_map_to_their_line_and_code() -> None:
    assert explain(MediaRejected("image", "image is too big")) == ("refused: image is too big", EXIT_INPUT)
    assert explain(ProviderUnavailable("provider 'x' is not configured")) == (
        "error: provider 'x' is not configured", EXIT_INPUT
    )
    # the most specific class wins: a rejected content is a provider error, not a refusal of ours
    line, code = explain(ContentRejected("no dancing cats")) or ("", 0)
    assert (line.startswith("provider error: content_policy"), code) == (True, EXIT_PROVIDER)
    assert explain(StoreBusy()) == (BUSY_LINE, EXIT_BUSY)
    assert explain(SettingsError("Bad setting: WEB_PORT"))[1] == EXIT_INPUT  # type: ignore[index]
    assert explain(OSError(98, "address already in use"))[0].endswith("(check WEB_HOST, WEB_PORT and DATA_DIR)")  # type: ignore[index]
    # a lock met where the store does not turn it into StoreBusy reads the same
    locked = sqlite3.OperationalError("database is locked")
    locked.sqlite_errorcode = sqlite3.SQLITE_BUSY  # type: ignore[attr-defined]
    assert explain(locked) == (BUSY_LINE, EXIT_BUSY)
    # anything else is a bug: it keeps its traceback
    assert explain(ValueError("bug")) is None
    assert explain(sqlite3.OperationalError("no such table: jobs")) is None


# --- hosted providers, each against its emulator ------------------------------------------------


@dataclass(frozen=True)
class Hosted:
    case: ProviderCase
    # env settings that point the bot at an emulator (given its base URL) with the case's credentials
    settings: Callable[[str], dict[str, str]]
    secrets: tuple[str, ...]
    # fetches our inputs by URL: the CLI must serve them on a reachable PUBLIC_URL
    needs_public_url: bool


HOSTED = {
    "kling": Hosted(
        case_kling.CASE,
        lambda url: {
            "KLING_ACCESS_KEY": case_kling.ACCESS_KEY,
            "KLING_SECRET_KEY": case_kling.SECRET_KEY,
            "KLING_BASE_URL": url,
        },
        (case_kling.ACCESS_KEY, case_kling.SECRET_KEY),
        needs_public_url=True,
    ),
    "goapi": Hosted(
        case_goapi.CASE,
        lambda url: {"GOAPI_API_KEY": GOAPI_KEY, "GOAPI_BASE_URL": url},
        (GOAPI_KEY,),
        needs_public_url=True,
    ),
    "useapi": Hosted(
        case_useapi.CASE,
        # the emulator serves under /v1/kling as the real host does
        lambda url: {"USEAPI_TOKEN": USEAPI_TOKEN, "USEAPI_BASE_URL": url + USEAPI_PREFIX},
        (USEAPI_TOKEN,),
        needs_public_url=False,
    ),
    "modelslab": Hosted(
        case_modelslab.CASE,
        lambda url: {"MODELSLAB_API_KEY": MODELSLAB_KEY, "MODELSLAB_BASE_URL": url},
        (MODELSLAB_KEY,),
        needs_public_url=True,
    ),
}


@dataclass
class Running:
    name: str
    hosted: Hosted
    emulator: Emulator

    def env(self, tmp_path: Path, **extra: str) -> dict[str, str]:
        values = self.hosted.settings(self.emulator.base_url)
        if self.hosted.needs_public_url:
            port = free_port()
            values.update(WEB_PORT=str(port), PUBLIC_URL=f"http://127.0.0.1:{port}")
        values.update(extra)
        return clean_env(tmp_path, **values)


@asynccontextmanager
async def emulated(name: str, tmp_path: Path) -> AsyncIterator[Running]:
    """That provider's emulator, serving on 127.0.0.1 in this process while the CLI runs."""
    hosted = HOSTED[name]
    emulator = hosted.case.make_emulator(tmp_path / "emulator")
    await emulator.start()
    try:
        yield Running(name, hosted, emulator)
    finally:
        await emulator.stop()


@pytest.fixture(params=sorted(HOSTED))
async def provider(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Running]:
    async with emulated(request.param, tmp_path) as running:
        yield running


def media_urls(value: object) -> list[str]:
    """Every URL of the bot's own media server (`…/media/…`) in a JSON body, at any depth."""
    if isinstance(value, str):
        return [value] if value.startswith("http") and "/media/" in value else []
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list):
        return [url for item in value for url in media_urls(item)]
    return []


async def fetch_inputs_like_the_provider(emulator: Emulator) -> list[bytes]:
    """Wait for the create call, then download the input URLs it names, as the real service would.

    Not every emulator fetches inputs itself; this proves the CLI really serves them at PUBLIC_URL
    while the job runs (the job needs several polls after the create, so there is time).
    """
    while True:
        for recorded in emulator.requests:
            try:
                urls = media_urls(recorded.json()) if recorded.method == "POST" else []
            except ValueError:
                continue
            if urls:
                async with aiohttp.ClientSession() as session:
                    bodies = []
                    for url in urls:
                        async with session.get(url) as resp:
                            assert resp.status == 200, f"{url}: HTTP {resp.status}"
                            bodies.append(await resp.read())
                    return bodies
        await asyncio.sleep(0.01)


async def test_hosted_provider_runs_end_to_end_from_the_terminal(
    tmp_path: Path, inputs: Inputs, provider: Running
) -> None:
    fetcher = asyncio.create_task(fetch_inputs_like_the_provider(provider.emulator))
    try:
        result = await run_bot(tmp_path, provider.env(tmp_path), *inputs.args("--provider", provider.name))
        fetched = await asyncio.wait_for(fetcher, 5) if provider.hosted.needs_public_url else None
    finally:
        fetcher.cancel()
    assert result.code == 0, result.out
    assert_decodable_mp4(inputs.out)
    if fetched is not None:
        assert sorted(fetched) == sorted([inputs.image.read_bytes(), inputs.video.read_bytes()])
    assert f"queued on {provider.name}" in result.out
    # the emulator really took the job (not some other configured provider)
    assert any(r.method == "POST" for r in provider.emulator.requests), provider.emulator.requests
    for secret in provider.hosted.secrets:
        assert secret not in result.out


async def test_hosted_auth_failure_exits_1_names_it_and_hides_the_credential(
    tmp_path: Path, inputs: Inputs, provider: Running
) -> None:
    provider.emulator.inject(Fault.UNAUTHORIZED)
    env = provider.env(tmp_path, LOG_LEVEL="DEBUG")  # the most talkative logs must not leak it either
    result = await run_bot(tmp_path, env, *inputs.args("--provider", provider.name))
    assert result.code == 1, result.out
    # says what failed: this provider refused our credentials
    line = result.line("failed: ").lower()
    assert "credentials" in line and "auth http 401" in line and provider.name in line, result.out
    assert "Traceback" not in result.out
    assert not inputs.out.exists()
    for secret in provider.hosted.secrets:
        assert secret not in result.out, f"{provider.name} credential leaked"
    assert [kind for kind, _ in ledger_rows(tmp_path / "data")] == ["reserve", "refund"]


@pytest.mark.parametrize("name", sorted(name for name, hosted in HOSTED.items() if hosted.needs_public_url))
async def test_url_fetching_provider_without_public_url_exits_2_before_charging(
    tmp_path: Path, inputs: Inputs, name: str
) -> None:
    async with emulated(name, tmp_path) as running:
        env = clean_env(tmp_path, **running.hosted.settings(running.emulator.base_url))
        result = await run_bot(tmp_path, env, *inputs.args("--provider", name))
        assert result.code == 2, result.out
        assert "PUBLIC_URL" in result.line("error: ")
        assert running.emulator.requests == []
    assert ledger_rows(tmp_path / "data") == []
    assert job_count(tmp_path / "data") == 0


async def test_busy_web_port_exits_2_and_names_it(tmp_path: Path, inputs: Inputs) -> None:
    """With PUBLIC_URL the CLI must serve on WEB_PORT; if the running bot has it, say so plainly."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = clean_env(tmp_path, WEB_PORT=str(port), PUBLIC_URL=f"http://127.0.0.1:{port}")
        result = await run_bot(tmp_path, env, *inputs.args())
    assert result.code == 2, result.out
    assert "WEB_PORT" in result.line("error: ")
    assert "Traceback" not in result.out


async def test_a_job_left_by_an_earlier_run_never_lands_in_this_runs_out(tmp_path: Path, inputs: Inputs) -> None:
    """The next terminal run resumes a job an earlier run gave up waiting for. Its video must not
    be written to the new run's --out (here the new run's own job fails, so --out must not exist)."""
    first = await run_bot(tmp_path, clean_env(tmp_path, SIMULATOR_DELAY_SECONDS="1"), *inputs.args("--timeout", "0.2"))
    assert first.code == 1, first.out
    earlier_job = re.search(r"^\[(\w+)\] still running", first.out, re.MULTILINE)
    assert earlier_job, first.out

    # the earlier task is due about 1 s after it started; this run's job fails after 2 s
    second_out = tmp_path / "second" / "out.mp4"
    args = inputs.args("--prompt", "[simulate:outage]", out=second_out)
    second = await run_bot(tmp_path, clean_env(tmp_path, SIMULATOR_DELAY_SECONDS="2"), *args)
    assert second.code == 1, second.out
    assert "outage" in second.line("failed: ")
    assert not second_out.exists(), "the earlier run's video was written to this run's --out"
    # the earlier job's video is kept, beside this run's --out, under its job id
    assert_decodable_mp4(second_out.with_name(f"{earlier_job[1]}.mp4"))


async def test_a_run_finishes_the_jobs_it_resumed_before_exiting(tmp_path: Path, inputs: Inputs) -> None:
    """A resumed job is not left half-followed with its credits held when this run's own job is
    done first: the run says it resumed it, waits for it, saves it and only then exits."""
    first = await run_bot(tmp_path, clean_env(tmp_path, SIMULATOR_DELAY_SECONDS="3"), *inputs.args("--timeout", "0.2"))
    assert first.code == 1, first.out
    earlier = re.search(r"^\[(\w+)\] still running", first.out, re.MULTILINE)
    assert earlier, first.out

    # this run's own job takes 0.2 s; the earlier one is due about 3 s after it started
    second = await run_bot(tmp_path, clean_env(tmp_path), *inputs.args())
    assert second.code == 0, second.out
    assert "left unfinished by an earlier run: finishing it too" in second.line(f"[{earlier[1]}] left unfinished")
    assert_decodable_mp4(inputs.out)
    assert_decodable_mp4(inputs.out.with_name(f"{earlier[1]}.mp4"))
    with sqlite3.connect(tmp_path / "data" / "bot.sqlite3") as conn:
        states = dict(conn.execute("SELECT id, state FROM jobs"))
    assert states[earlier[1]] == "delivered" and set(states.values()) == {"delivered"}
    assert sorted(kind for kind, _ in ledger_rows(tmp_path / "data")) == ["commit", "commit", "reserve", "reserve"]


def test_the_help_says_what_happens_to_earlier_jobs() -> None:
    result = subprocess.run([sys.executable, "-m", "bot", "motion", "--help"], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0
    assert "left unfinished" in result.stdout and "finished by this run before it exits" in " ".join(result.stdout.split())


# --- secrets in output ------------------------------------------------------------------------


async def test_no_secret_in_output_at_debug(tmp_path: Path, inputs: Inputs) -> None:
    """Every secret setting is set; a DEBUG-level run must print none of them."""
    secrets = {
        name.upper(): f"{name}-SECRET-0123456789"
        for name, field in Settings.model_fields.items()
        if SecretStr in (field.annotation, *getattr(field.annotation, "__args__", ()))
    }
    assert {"DISCORD_TOKEN", "KLING_SECRET_KEY", "MODELSLAB_API_KEY", "DATABASE_URL"} <= set(secrets)
    # Every hosted provider is configured, at a port where nothing listens: the simulator runs the job.
    dead = f"http://127.0.0.1:{free_port()}"
    urls = {f"{name.upper()}_BASE_URL": dead for name in HOSTED}
    # A database URL must be a URL: the marker goes inside one (a real one would hold a password).
    values = {**secrets, "DATABASE_URL": f"sqlite:///{tmp_path}/{secrets['DATABASE_URL']}.sqlite3"}
    env = clean_env(tmp_path, LOG_LEVEL="DEBUG", DEFAULT_PROVIDER="simulator", **urls, **values)
    result = await run_bot(tmp_path, env, *inputs.args())
    assert result.code == 0, result.out
    assert "DEBUG" in result.out  # the run really logged at DEBUG
    assert "providers goapi, kling, modelslab, simulator, useapi" in result.out  # every key was taken
    for name, value in secrets.items():
        assert value not in result.out, f"{name} appeared in the output"


# --- --fix (h9r) ------------------------------------------------------------------------------


async def test_a_clip_too_long_is_refused_with_the_fix_and_trimmed_with_fix(tmp_path: Path, inputs: Inputs) -> None:
    long_clip = make_video(tmp_path / "media" / "long.mp4", 360, 640, seconds=12.0, fps=2)
    refused = await run_bot(tmp_path, clean_env(tmp_path), *inputs.args("--orientation", "image", video=long_clip))
    assert refused.code == 2, refused.out
    refused.line("refused: ")
    assert "Trim to the first 10 s: your video (12.0 s)" in refused.out
    refused.line("Run again with --fix to do this.")
    assert ledger_rows(tmp_path / "data") == []

    fixed = await run_bot(tmp_path, clean_env(tmp_path), *inputs.args("--orientation", "image", "--fix", video=long_clip))
    assert fixed.code == 0, fixed.out
    fixed.line("fixing: Trim to the first 10 s")
    assert_decodable_mp4(inputs.out)
    assert [kind for kind, _ in ledger_rows(tmp_path / "data")] == ["reserve", "commit"]
    db = tmp_path / "data" / "bot.sqlite3"
    with sqlite3.connect(db) as conn:
        [(request,)] = conn.execute("SELECT request_json FROM jobs").fetchall()
    assert '"filename": "long-first-10s.mp4"' in request  # what the provider got, and what Details shows
