"""The shared HTTP client: Retry-After in every form, the in-process sleep cap, transport failures.

A small aiohttp app on 127.0.0.1 answers as a test tells it; the client's sleep is
replaced by a recorder, so waits are asserted as values, never timed.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import aiohttp
import pytest
from aiohttp import web
from pydantic import BaseModel

from bot.errors import InputRejected, Outage, ProviderError, RateLimited, TransportError
from bot.http import (
    RETRY_AFTER_CEILING_SECONDS,
    HttpClient,
    Response,
    parse_retry_after,
    retry_after_from,
)
from bot.providers.base import Provider, ProviderTask, SubmitRequest

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def http_date(moment: datetime) -> str:
    return format_datetime(moment, usegmt=True)


# --- parsing ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120.0),
        ("0", 0.0),
        (" 7 ", 7.0),
        ("1.5", 1.5),  # not RFC delay-seconds, but unambiguous: taken
        (http_date(NOW + timedelta(seconds=90)), 90.0),
        ("Sun, 01 Mar 2026 12:02:00 GMT", 120.0),  # IMF-fixdate, as servers write it
        ("Sunday, 01-Mar-26 12:02:00 GMT", 120.0),  # obsolete RFC 850 form, still to be accepted
        ("Sun Mar  1 12:02:00 2026", 120.0),  # obsolete asctime form
        (http_date(NOW - timedelta(hours=1)), 0.0),  # already past: no wait, never negative
    ],
)
def test_retry_after_forms(value: str, seconds: float) -> None:
    assert parse_retry_after(value, now=NOW) == pytest.approx(seconds)


@pytest.mark.parametrize("value", [None, "", "soon", "-5", "1e3", "nan", "inf", "12 s", "Sun, 99 Foo 2026 12:00:00 GMT"])
def test_unreadable_retry_after_is_none(value: str | None) -> None:
    assert parse_retry_after(value, now=NOW) is None


def test_an_absurd_wait_is_bounded() -> None:
    assert parse_retry_after("9" * 400, now=NOW) is None  # overflows to infinity: not believed
    assert parse_retry_after(str(10**9), now=NOW) == RETRY_AFTER_CEILING_SECONDS


def test_retry_after_ms_wins_and_falls_back_when_unreadable() -> None:
    assert retry_after_from({"retry-after-ms": "1500"}) == 1.5
    assert retry_after_from({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert retry_after_from({"retry-after-ms": "later", "retry-after": "9"}) == 9.0
    assert retry_after_from({"retry-after": http_date(NOW + timedelta(minutes=2))}, now=NOW) == 120.0
    assert retry_after_from({}) is None


def test_response_reads_its_own_headers() -> None:
    response = Response(429, {"retry-after": "3", "x-request-id": "req-42"}, b"")
    assert response.retry_after == 3.0
    assert response.request_id == "req-42"
    assert Response(200, {"cf-ray": "8a1b-SIN"}, b"").request_id == "8a1b-SIN"
    assert Response(200, {}, b"").request_id is None


def test_malformed_json_is_an_outage_without_the_body() -> None:
    with pytest.raises(Outage) as err:
        Response(200, {}, b"<html>secret-token-echo</html>").json()
    assert err.value.retryable
    assert "secret-token-echo" not in str(err.value)


# --- the client against a local server ------------------------------------------------------------


@dataclass
class Script:
    """What the local server answers, one entry per request; the last one repeats."""

    answers: list[tuple[int, dict[str, str]]] = field(default_factory=lambda: [(200, {})])
    hang_seconds: float = 0.0
    hits: int = 0


@dataclass
class Rig:
    url: str
    script: Script
    slept: list[float]
    session: aiohttp.ClientSession

    def client(self, **kwargs: object) -> HttpClient:
        async def record(seconds: float) -> None:
            self.slept.append(seconds)

        options: dict[str, object] = {"timeout_seconds": 5.0, "max_retries": 3, "sleep": record, **kwargs}
        return HttpClient(self.session, **options)  # type: ignore[arg-type]


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    script = Script()

    async def answer(request: web.Request) -> web.Response:
        script.hits += 1
        if script.hang_seconds:
            await asyncio.sleep(script.hang_seconds)
        status, headers = script.answers[min(script.hits, len(script.answers)) - 1]
        return web.json_response({"ok": status < 300}, status=status, headers=headers)

    app = web.Application()
    app.router.add_route("*", "/thing", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    async with aiohttp.ClientSession() as session:
        yield Rig(f"http://127.0.0.1:{port}/thing", script, [], session)
    await runner.cleanup()


def classify(response: Response) -> ProviderError | None:
    if response.status < 300:
        return None
    if response.status == 429:
        return RateLimited("busy", http_status=429)
    if response.status >= 500:
        return Outage("down", http_status=response.status)
    return InputRejected("no", http_status=response.status)


async def send(http: HttpClient, url: str, *, idempotent: bool = True, method: str = "GET") -> Response:
    return await http.request(method, url, provider="test", classify=classify, idempotent=idempotent)


async def test_a_short_retry_after_is_slept_then_the_call_succeeds(rig: Rig) -> None:
    rig.script.answers = [(429, {"Retry-After": "2"}), (200, {})]
    response = await send(rig.client(), rig.url, idempotent=False)  # 429 = not accepted: even a create is resent
    assert response.status == 200
    assert rig.slept == [2.0]
    assert rig.script.hits == 2


async def test_retry_after_ms_is_slept_in_seconds(rig: Rig) -> None:
    rig.script.answers = [(503, {"retry-after-ms": "1250"}), (200, {})]
    await send(rig.client(), rig.url)
    assert rig.slept == [1.25]


@pytest.mark.parametrize("form", ["seconds", "HTTP-date", "ms"])
async def test_a_wait_over_the_cap_is_raised_with_retry_after_and_never_slept(rig: Rig, form: str) -> None:
    headers = {
        "seconds": {"Retry-After": "120"},
        "HTTP-date": {"Retry-After": http_date(datetime.now(UTC) + timedelta(seconds=120))},
        "ms": {"retry-after-ms": "120000"},
    }[form]
    rig.script.answers = [(429, headers), (200, {})]
    with pytest.raises(RateLimited) as err:
        await send(rig.client(retry_after_max_sleep=30.0), rig.url)
    assert err.value.retryable and not err.value.maybe_accepted
    assert err.value.retry_after is not None and 110 <= err.value.retry_after <= 120
    assert rig.slept == []  # no coroutine held asleep: the engine parks the job instead
    assert rig.script.hits == 1


async def test_the_cap_is_a_setting(rig: Rig) -> None:
    rig.script.answers = [(429, {"Retry-After": "120"}), (200, {})]
    await send(rig.client(retry_after_max_sleep=300.0), rig.url)
    assert rig.slept == [120.0]


async def test_garbage_retry_after_falls_back_to_our_own_backoff(rig: Rig) -> None:
    rig.script.answers = [(503, {"Retry-After": "whenever"}), (503, {"Retry-After": "-1"}), (200, {})]
    http = rig.client(backoff_base=0.5, backoff_max=30.0)
    await send(http, rig.url)
    assert len(rig.slept) == 2
    assert 0.25 <= rig.slept[0] <= 0.5 and 0.5 <= rig.slept[1] <= 1.0  # jittered exponential backoff


async def test_retries_are_bounded_and_the_last_error_keeps_the_wait(rig: Rig) -> None:
    rig.script.answers = [(503, {"Retry-After": "1", "x-request-id": "rq-7"})]
    with pytest.raises(Outage) as err:
        await send(rig.client(max_retries=2), rig.url)
    assert rig.script.hits == 3 and rig.slept == [1.0, 1.0]
    assert err.value.retry_after == 1.0
    assert err.value.request_id == "rq-7"


async def test_a_500_to_a_create_is_not_resent_and_may_have_been_accepted(rig: Rig) -> None:
    rig.script.answers = [(500, {}), (200, {})]
    with pytest.raises(Outage) as err:
        await send(rig.client(), rig.url, idempotent=False, method="POST")
    assert err.value.maybe_accepted
    assert rig.script.hits == 1 and rig.slept == []


async def test_a_rejection_is_never_retried(rig: Rig) -> None:
    rig.script.answers = [(400, {"Retry-After": "1"}), (200, {})]
    with pytest.raises(InputRejected):
        await send(rig.client(), rig.url)
    assert rig.script.hits == 1 and rig.slept == []


# --- below HTTP: TransportError ----------------------------------------------------------------------


def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/thing"  # nothing listens there any more: connection refused


@pytest.mark.parametrize("idempotent", [True, False])
async def test_cannot_connect_is_retried_and_then_raised_as_not_reached(rig: Rig, idempotent: bool) -> None:
    with pytest.raises(TransportError) as err:
        await send(rig.client(max_retries=2), closed_port_url(), idempotent=idempotent, method="POST")
    assert err.value.reached is False  # nothing got there, so even a create may be sent again
    assert len(rig.slept) == 2


async def test_a_timeout_on_a_create_is_raised_at_once_as_reached(rig: Rig) -> None:
    rig.script.hang_seconds = 2.0
    with pytest.raises(TransportError) as err:
        await send(rig.client(timeout_seconds=0.3), rig.url, idempotent=False, method="POST")
    assert err.value.reached is True
    assert rig.script.hits == 1 and rig.slept == []  # it may have acted: never sent twice


async def test_a_timeout_on_a_read_is_retried(rig: Rig) -> None:
    rig.script.hang_seconds = 2.0
    with pytest.raises(TransportError) as err:
        await send(rig.client(timeout_seconds=0.3, max_retries=1), rig.url)
    assert err.value.reached is True
    assert rig.script.hits == 2 and len(rig.slept) == 1


# --- adapters translate TransportError (Provider.call) ------------------------------------------------


class Plain(Provider):
    name = "plain"

    async def submit(self, submit: SubmitRequest) -> ProviderTask:
        raise NotImplementedError

    async def get_task(self, task_id: str) -> ProviderTask:
        raise NotImplementedError


async def test_no_answer_to_a_create_is_an_outage_that_may_have_been_accepted(rig: Rig) -> None:
    rig.script.hang_seconds = 2.0
    provider = Plain(rig.client(timeout_seconds=0.3))
    with pytest.raises(Outage) as err:
        await provider.call("POST", rig.url, classify=classify, idempotent=False)
    assert err.value.maybe_accepted and err.value.retryable
    assert err.value.message.startswith("plain: ")
    assert isinstance(err.value.__cause__, TransportError)


@pytest.mark.parametrize("idempotent", [True, False])
async def test_no_connection_is_an_outage_that_surely_was_not_accepted(rig: Rig, idempotent: bool) -> None:
    provider = Plain(rig.client(max_retries=0))
    with pytest.raises(Outage) as err:
        await provider.call("POST", closed_port_url(), classify=classify, idempotent=idempotent)
    assert not err.value.maybe_accepted and err.value.retryable


async def test_no_answer_to_an_idempotent_call_is_a_plain_outage(rig: Rig) -> None:
    rig.script.hang_seconds = 2.0
    provider = Plain(rig.client(timeout_seconds=0.3, max_retries=0))
    with pytest.raises(Outage) as err:
        await provider.call("GET", rig.url, classify=classify, idempotent=True)
    assert not err.value.maybe_accepted


class CallbackBody(BaseModel):
    task_id: str
    count: int


@pytest.mark.parametrize(
    ("body", "where"),
    [(b'{"task_id": "t1", "count": "sk-live-SECRET"}', "count"), (b"{not json", "body"), (b"\xff\xfe", "body")],
)
def test_a_malformed_callback_is_bad_input_naming_the_field_never_its_value(body: bytes, where: str) -> None:
    with pytest.raises(InputRejected) as err:
        Plain(None).callback_body(CallbackBody, body)  # type: ignore[arg-type]  # no HTTP needed
    assert err.value.message.startswith(f"plain callback: malformed body ({where}")
    assert "SECRET" not in str(err.value) and not err.value.retryable
    assert Plain(None).callback_body(CallbackBody, b'{"task_id": "t1", "count": 2}').count == 2  # type: ignore[arg-type]
