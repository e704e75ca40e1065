"""Signed links: a media token carries its expiry inside the signed message."""

from __future__ import annotations

import pytest

from bot.signing import Links, Signer


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(1_800_000_000.0)


@pytest.fixture
def links(clock: Clock) -> Links:
    return Links(Signer(b"k" * 32), "https://bot.example/", media_ttl=3600, clock=clock)


def token_of(url: str | None) -> str:
    assert url is not None
    return url.split("?token=", 1)[1]


def test_a_media_link_works_until_its_expiry_and_not_after(links: Links, clock: Clock) -> None:
    url = links.media_url("job1", "image.png")
    assert url is not None and url.startswith("https://bot.example/media/job1/image.png?token=")
    token = token_of(url)
    assert token.split(".")[0] == str(int(clock.now) + 3600)
    assert links.verify_media(token, "job1", "image.png")
    clock.now += 3599
    assert links.verify_media(token, "job1", "image.png")
    clock.now += 1
    assert not links.verify_media(token, "job1", "image.png")


def test_a_tampered_expiry_is_refused(links: Links, clock: Clock) -> None:
    expiry, mac = token_of(links.media_url("job1", "image.png")).split(".")
    later = str(int(expiry) + 86400)
    assert not links.verify_media(f"{later}.{mac}", "job1", "image.png")
    # a leading zero is the same number but another signed message
    assert not links.verify_media(f"0{expiry}.{mac}", "job1", "image.png")
    clock.now = int(expiry) + 10  # expired: stretching the expiry must not revive it
    assert not links.verify_media(f"{later}.{mac}", "job1", "image.png")


def test_a_token_opens_only_its_own_job_and_file(links: Links) -> None:
    token = token_of(links.media_url("job1", "image.png"))
    assert not links.verify_media(token, "job2", "image.png")
    assert not links.verify_media(token, "job1", "video.mp4")
    other_key = Links(Signer(b"x" * 32), "https://bot.example")
    assert not other_key.verify_media(token, "job1", "image.png")


@pytest.mark.parametrize(
    "token",
    [None, "", "abc", "1900000000", "1900000000.", ".abc", "-1.abc", "१९००००००००.abc", "9" * 40 + ".abc"],
)
def test_malformed_media_tokens_are_refused(links: Links, token: str | None) -> None:
    assert not links.verify_media(token, "job1", "image.png")


def test_a_callback_token_is_no_media_token_and_callbacks_do_not_expire(links: Links, clock: Clock) -> None:
    callback = token_of(links.callback_url("simulator", "job1"))
    assert not links.verify_media(f"{int(clock.now) + 60}.{callback}", "job1", "image.png")
    clock.now += 365 * 86400  # a job's callbacks are judged by its state, not by the token's age
    assert links.verify_callback(callback, "simulator", "job1")


def test_without_a_public_url_there_are_no_links() -> None:
    links = Links(Signer(b"k" * 32), "")
    assert links.media_url("job1", "image.png") is None
    assert links.callback_url("simulator", "job1") is None
