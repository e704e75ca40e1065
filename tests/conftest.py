"""Shared fixtures: the Discord stand-in's `standin` fixture is available to every test."""

pytest_plugins = ["tests.discord_standin.fixtures"]
