"""The provider registry: names mapped to factories; credentials decide what is built."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from bot.errors import ProviderUnavailable
from bot.http import HttpClient
from bot.providers.base import Provider
from bot.providers.goapi import GoApiProvider
from bot.providers.kling import KlingProvider
from bot.providers.modelslab import ModelsLabProvider
from bot.providers.registry import FACTORIES, HOSTED, build_providers, choose_default
from bot.providers.simulator import SimulatorProvider
from bot.providers.useapi import UseApiProvider
from bot.settings import Settings
from bot.signing import Signer

ALL_CREDENTIALS: dict[str, object] = {
    "kling_access_key": "ak",
    "kling_secret_key": "sk",
    "goapi_api_key": "goapi-key",
    "useapi_token": "useapi-token",
    "modelslab_api_key": "modelslab-key",
}


def settings(tmp_path: Path, **values: object) -> Settings:
    return Settings(_env_file=None, data_dir=tmp_path / "data", **values)  # type: ignore[arg-type]


@pytest.fixture
async def http() -> AsyncIterator[HttpClient]:
    async with aiohttp.ClientSession() as session:
        yield HttpClient(session)


def build(tmp_path: Path, http: HttpClient, **values: object) -> dict[str, Provider]:
    return build_providers(settings(tmp_path, **values), http, Signer(b"k" * 32), lambda: "http://127.0.0.1:1")


async def test_without_credentials_only_the_simulator_runs(tmp_path: Path, http: HttpClient) -> None:
    providers = build(tmp_path, http)
    assert list(providers) == ["simulator"]
    assert isinstance(providers["simulator"], SimulatorProvider)
    assert choose_default(settings(tmp_path), providers) == "simulator"


async def test_every_provider_with_credentials_is_built_under_its_own_name(tmp_path: Path, http: HttpClient) -> None:
    providers = build(tmp_path, http, **ALL_CREDENTIALS)
    assert list(providers) == [*HOSTED, "simulator"] == list(FACTORIES)
    kinds = {"kling": KlingProvider, "goapi": GoApiProvider, "useapi": UseApiProvider, "modelslab": ModelsLabProvider}
    for name, provider in providers.items():
        assert provider.name == name
        if name in kinds:
            assert isinstance(provider, kinds[name])
    assert choose_default(settings(tmp_path, **ALL_CREDENTIALS), providers) == "kling"


async def test_kling_needs_both_keys_and_the_first_configured_becomes_the_default(tmp_path: Path, http: HttpClient) -> None:
    values = {"kling_access_key": "ak", "modelslab_api_key": "m"}
    providers = build(tmp_path, http, **values)
    assert sorted(providers) == ["modelslab", "simulator"]
    assert choose_default(settings(tmp_path, **values), providers) == "modelslab"


async def test_settings_reach_the_adapters(tmp_path: Path, http: HttpClient) -> None:
    providers = build(
        tmp_path, http, **ALL_CREDENTIALS, kling_base_url="http://127.0.0.1:5001", kling_model="kling-v3",
        useapi_email="me@example.com",
    )
    kling = providers["kling"]
    assert isinstance(kling, KlingProvider) and (kling.base_url, kling.model) == ("http://127.0.0.1:5001", "kling-v3")
    useapi = providers["useapi"]
    assert isinstance(useapi, UseApiProvider) and useapi.email == "me@example.com"
    goapi = providers["goapi"]
    # the webhook secret is derived from the bot's key, so it survives a restart
    assert isinstance(goapi, GoApiProvider) and goapi.secrets()[1] == Signer(b"k" * 32).derive("goapi-webhook")


async def test_a_default_without_credentials_is_refused_by_name(tmp_path: Path, http: HttpClient) -> None:
    providers = build(tmp_path, http)
    with pytest.raises(ProviderUnavailable, match="DEFAULT_PROVIDER=goapi"):
        choose_default(settings(tmp_path, default_provider="goapi"), providers)
