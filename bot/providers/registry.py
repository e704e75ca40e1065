"""Which providers exist in this process: one small factory per name, built from settings.

A factory returns None when its provider's credentials are not set; the simulator
needs none and is always there, as the fallback of last resort.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pydantic import SecretStr

from bot.errors import ProviderUnavailable
from bot.http import HttpClient
from bot.providers.base import Provider
from bot.providers.goapi import GoApiProvider
from bot.providers.kling import KlingProvider
from bot.providers.modelslab import ModelsLabProvider
from bot.providers.simulator import SimulatorProvider
from bot.providers.useapi import UseApiProvider
from bot.settings import Settings
from bot.signing import Signer

FALLBACK = "simulator"


@dataclass(frozen=True)
class ProviderContext:
    """What a factory may need besides the settings."""

    settings: Settings
    http: HttpClient
    signer: Signer  # derives provider-level shared secrets (GoAPI's webhook header)
    public_base_url: Callable[[], str]  # where providers reach us; known only once the web server runs


ProviderFactory = Callable[[ProviderContext], Provider | None]


def _kling(ctx: ProviderContext) -> Provider | None:
    s = ctx.settings
    if not (s.kling_access_key and s.kling_secret_key):
        return None
    return KlingProvider(
        ctx.http,
        access_key=_secret(s.kling_access_key),
        secret_key=_secret(s.kling_secret_key),
        base_url=s.kling_base_url,
        model=s.kling_model,
    )


def _goapi(ctx: ProviderContext) -> Provider | None:
    s = ctx.settings
    if not s.goapi_api_key:
        return None
    return GoApiProvider(
        ctx.http,
        api_key=_secret(s.goapi_api_key),
        base_url=s.goapi_base_url,
        webhook_secret=ctx.signer.derive("goapi-webhook"),
    )


def _useapi(ctx: ProviderContext) -> Provider | None:
    s = ctx.settings
    if not s.useapi_token:
        return None
    return UseApiProvider(ctx.http, token=_secret(s.useapi_token), base_url=s.useapi_base_url, email=s.useapi_email)


def _modelslab(ctx: ProviderContext) -> Provider | None:
    s = ctx.settings
    if not s.modelslab_api_key:
        return None
    return ModelsLabProvider(ctx.http, api_key=_secret(s.modelslab_api_key), base_url=s.modelslab_base_url)


def _simulator(ctx: ProviderContext) -> Provider | None:
    s = ctx.settings
    return SimulatorProvider(
        ctx.http,
        data_dir=s.data_dir,
        delay_seconds=s.simulator_delay_seconds,
        failure=s.simulator_failure,
        public_base_url=ctx.public_base_url,
        signer=ctx.signer,  # its result links are signed like every other media link
        link_ttl=s.media_link_ttl_seconds,
    )


# Failover and "first configured" follow this order; the simulator comes last.
FACTORIES: dict[str, ProviderFactory] = {
    "kling": _kling,
    "goapi": _goapi,
    "useapi": _useapi,
    "modelslab": _modelslab,
    FALLBACK: _simulator,
}
HOSTED = tuple(name for name in FACTORIES if name != FALLBACK)


def _secret(value: SecretStr) -> str:
    return value.get_secret_value()


def build_providers(
    settings: Settings, http: HttpClient, signer: Signer, public_base_url: Callable[[], str]
) -> dict[str, Provider]:
    """Every provider whose factory builds one, in FACTORIES order."""
    ctx = ProviderContext(settings, http, signer, public_base_url)
    built = {name: factory(ctx) for name, factory in FACTORIES.items()}
    return {name: provider for name, provider in built.items() if provider is not None}


def choose_default(settings: Settings, providers: dict[str, Provider]) -> str:
    if settings.default_provider:
        if settings.default_provider not in providers:
            known = ", ".join(sorted(providers))
            raise ProviderUnavailable(
                f"DEFAULT_PROVIDER={settings.default_provider} has no credentials set (configured: {known})"
            )
        return settings.default_provider
    for name in HOSTED:
        if name in providers:
            return name
    return FALLBACK
