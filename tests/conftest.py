"""Shared fixtures: the Discord stand-in's `standin` fixture, and `media` (a photo and a clip made
for the test) for every end-to-end test."""

from pathlib import Path

import pytest

from tests.e2e_helpers import Media, make_media

pytest_plugins = ["tests.discord_standin.fixtures"]


@pytest.fixture
def media(tmp_path: Path) -> Media:
    return make_media(tmp_path / "media")
