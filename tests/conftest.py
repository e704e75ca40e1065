"""Shared fixtures: the Discord stand-in's `standin` fixture is available to every test, and a
throwaway PostgreSQL server (`postgres_server`, `database_url`) for the tests that run on both databases."""

pytest_plugins = ["tests.discord_standin.fixtures", "tests.postgres_server"]
