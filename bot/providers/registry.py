"""Which providers exist in this process, built from settings (credentials present = enabled)."""

from __future__ import annotations

import importlib
from collections.abc import Callable

from bot.errors import ProviderUnavailable
from bot.http import HttpClient
from bot.providers.base import Provider
from bot.settings import Settings
from bot.signing import Signer

# Failover and "first configured" follow this order; the simulator is the fallback of last resort.
HOSTED = ("kling", "goapi", "useapi", "modelslab")


def _secret(value: object) -> str:
    return value.get_secret_value() if value is not None else ""  # type: ignore[attr-defined]


def hosted_credentials(settings: Settings) -> dict[str, dict[str, object]]:
    """Constructor arguments of each hosted provider whose credentials are set."""
    found: dict[str, dict[str, object]] = {}
    if settings.kling_access_key and settings.kling_secret_key:
        found["kling"] = {
            "access_key": _secret(settings.kling_access_key),
            "secret_key": _secret(settings.kling_secret_key),
            "base_url": settings.kling_base_url,
            "model": settings.kling_model,
        }
    if settings.goapi_api_key:
        found["goapi"] = {"api_key": _secret(settings.goapi_api_key), "base_url": settings.goapi_base_url}
    if settings.useapi_token:
        found["useapi"] = {
            "token": _secret(settings.useapi_token),
            "base_url": settings.useapi_base_url,
            "email": settings.useapi_email,
        }
    if settings.modelslab_api_key:
        found["modelslab"] = {"api_key": _secret(settings.modelslab_api_key), "base_url": settings.modelslab_base_url}
    return found


_CLASSES = {
    "kling": ("bot.providers.kling", "KlingProvider"),
    "goapi": ("bot.providers.goapi", "GoApiProvider"),
    "useapi": ("bot.providers.useapi", "UseApiProvider"),
    "modelslab": ("bot.providers.modelslab", "ModelsLabProvider"),
}


def build_providers(
    settings: Settings, http: HttpClient, signer: Signer, public_base_url: Callable[[], str]
) -> dict[str, Provider]:
    from bot.providers.simulator import SimulatorProvider

    providers: dict[str, Provider] = {}
    for name, kwargs in hosted_credentials(settings).items():
        module, cls = _CLASSES[name]
        if name == "goapi":
            kwargs = {**kwargs, "webhook_secret": signer.derive("goapi-webhook")}
        providers[name] = getattr(importlib.import_module(module), cls)(http, **kwargs)
    providers["simulator"] = SimulatorProvider(
        http,
        data_dir=settings.data_dir,
        delay_seconds=settings.simulator_delay_seconds,
        failure=settings.simulator_failure,
        public_base_url=public_base_url,
        signer=signer,  # its result links are signed like every other media link
    )
    return providers


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
    return "simulator"
