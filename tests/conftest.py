"""Shared fixtures: the Discord stand-in's `standin` fixture, `media` (a photo and a clip made
for the test) for every end-to-end test, and a throwaway PostgreSQL server (`postgres_server`,
`database_url`) for the tests that run on both databases."""

from pathlib import Path

import pytest

from tests.e2e_helpers import Media, make_media

pytest_plugins = ["tests.discord_standin.fixtures", "tests.postgres_server"]


@pytest.fixture
def media(tmp_path: Path) -> Media:
    return make_media(tmp_path / "media")
