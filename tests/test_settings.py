"""Settings: every one is documented in .env.example, and a wrong value is named, not a traceback."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
from pydantic import SecretStr

from bot.logs import MASK, RedactSecrets, secret_values
from bot.settings import Settings, SettingsError, load_settings

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / ".env.example"
SETTING_LINE = re.compile(r"^([A-Z][A-Z0-9_]*)=")
FIELDS = {name.upper(): name for name in Settings.model_fields}

@pytest.fixture(autouse=True)
def no_settings_from_outside(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Only what a test sets counts: no variable from the shell, no .env from the working folder."""
    for name in FIELDS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def example_lines() -> list[str]:
    return EXAMPLE.read_text(encoding="utf-8").splitlines()


def example_settings() -> dict[str, int]:
    """Setting name -> its line index in .env.example."""
    found: dict[str, int] = {}
    for index, line in enumerate(example_lines()):
        if match := SETTING_LINE.match(line):
            assert match[1] not in found, f"{match[1]} appears twice in .env.example"
            found[match[1]] = index
    return found


def test_every_setting_is_in_env_example() -> None:
    missing = sorted(set(FIELDS) - set(example_settings()))
    assert not missing, f"add these to .env.example, each with a comment line above it: {missing}"


def test_env_example_names_no_setting_that_does_not_exist() -> None:
    # a typo or a removed setting in the example would be silently ignored (extra="ignore")
    unknown = sorted(set(example_settings()) - set(FIELDS))
    assert not unknown, f".env.example names settings the bot does not read: {unknown}"


def test_every_setting_in_env_example_has_a_comment_right_above() -> None:
    lines = example_lines()
    settings = example_settings()
    undocumented = []
    for name, index in settings.items():
        above = lines[index - 1].strip() if index > 0 else ""
        if above.startswith("#") and len(above) > 1:
            continue
        undocumented.append(name)
    assert not undocumented, f"put a comment line right above these in .env.example: {undocumented}"


def test_env_example_copied_to_env_starts_with_the_defaults(tmp_path: Path) -> None:
    """The README says to copy .env.example to .env: as it stands, that must load, and change nothing."""
    (tmp_path / ".env").write_text(EXAMPLE.read_text(encoding="utf-8"), encoding="utf-8")
    from_example = load_settings()
    defaults = Settings(_env_file=None)  # type: ignore[call-arg]
    for name in Settings.model_fields:
        assert getattr(from_example, name) == getattr(defaults, name), (
            f"{name.upper()} in .env.example is not its default"
        )
    assert from_example.db_path == Path("data") / "bot.sqlite3"


@pytest.mark.parametrize("name", ["DATABASE_PATH", "DISCORD_TEST_GUILD_ID", "PUBLIC_URL", "KLING_BASE_URL"])
def test_an_empty_value_means_the_default(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.setenv(name, "")
    settings = load_settings()
    field = FIELDS[name]
    assert getattr(settings, field) == Settings.model_fields[field].get_default(call_default_factory=True)


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"WEB_PORT": "abc"}, ["WEB_PORT"]),
        ({"WEB_PORT": "70000"}, ["WEB_PORT"]),
        ({"LOG_LEVEL": "LOUD"}, ["LOG_LEVEL"]),
        ({"OWNER_IDS": "12,x"}, ["OWNER_IDS"]),
        ({"PUBLIC_URL": "bot.example.com"}, ["PUBLIC_URL"]),
        ({"SIMULATOR_FAILURE": "sometimes"}, ["SIMULATOR_FAILURE"]),
        ({"POLL_INTERVAL_SECONDS": "0"}, ["POLL_INTERVAL_SECONDS"]),
        # every bad setting at once, so fixing one does not just reveal the next
        ({"WEB_PORT": "abc", "LOG_LEVEL": "LOUD"}, ["WEB_PORT", "LOG_LEVEL"]),
    ],
)
def test_a_bad_value_is_reported_by_its_env_name(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], named: list[str]
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    for name in named:
        assert f"{name}:" in message
        assert repr(env[name]) in message  # shows what was given, so the typo is visible
    assert "\n" not in message


def test_a_bad_value_in_dotenv_is_reported_by_its_env_name(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("LOG_LEVEL=info\nWEB_PORT=eighty\n", encoding="utf-8")
    with pytest.raises(SettingsError, match="WEB_PORT: .*'eighty'"):
        load_settings()


def test_values_are_read_from_env_and_dotenv(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("WEB_PORT=9000\nOWNER_IDS=1, 2\nLOG_LEVEL=debug\n", encoding="utf-8")
    monkeypatch.setenv("WEB_PORT", "9001")  # the environment wins over .env
    settings = load_settings()
    assert (settings.web_port, settings.owner_ids, settings.log_level) == (9001, [1, 2], "DEBUG")


# --- secrets -------------------------------------------------------------------------------


def secret_fields() -> list[str]:
    return [name for name, field in Settings.model_fields.items() if SecretStr in _types(field.annotation)]


def _types(annotation: object) -> tuple[object, ...]:
    return (annotation, *getattr(annotation, "__args__", ()))


def test_credentials_are_secret_fields() -> None:
    """A credential typed as plain str would escape the log filter and show in reprs."""
    looks_secret = [
        name for name in Settings.model_fields if re.search(r"(token|key|secret)$", name) and name not in secret_fields()
    ]
    assert not looks_secret, f"make these SecretStr: {looks_secret}"
    assert {"discord_token", "kling_secret_key", "goapi_api_key"} <= set(secret_fields())


def test_every_secret_is_masked_in_logs() -> None:
    values = {name: f"{name}-value-0123456789" for name in secret_fields()}
    settings = Settings(_env_file=None, **values)  # type: ignore[arg-type]
    redact = RedactSecrets(secret_values(settings))
    record = logging.LogRecord("t", logging.DEBUG, __file__, 1, "config %s", (repr(values),), None)
    assert redact.filter(record)
    text = record.getMessage()
    for name, value in values.items():
        assert value not in text, f"{name.upper()} is not masked"
    assert MASK in text
    assert not any(value in repr(settings) for value in values.values())
