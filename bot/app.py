"""Builds the core from settings: store, HTTP client, providers, job engine, web server.

The Discord bot and the terminal command both run through `CoreApp`, so they
share every check, the store and the provider clients.
"""

from __future__ import annotations

import asyncio
import logging
from types import TracebackType

import aiohttp

from bot.animate.models import AnimateOptions
from bot.errors import ProviderUnavailable
from bot.http import HttpClient
from bot.intake import IncomingFile, take_motion_request
from bot.intake_animate import AnimatePrepared, confirm_animate, prepare_animate
from bot.jobs import EngineConfig, JobEngine, Notifier
from bot.models import MotionOptions, Requester
from bot.pricing import Price
from bot.providers.base import Provider
from bot.providers.registry import build_providers, choose_default
from bot.quotas import QuotaPolicy
from bot.settings import Settings
from bot.signing import Links, Signer, load_key
from bot.store import JobRow, Store
from bot.web import WebConfig, WebServer

log = logging.getLogger(__name__)


class CoreApp:
    def __init__(self, settings: Settings, notifier: Notifier, *, origin: str = "discord", web_port: int | None = None) -> None:
        self.settings = settings
        self.notifier = notifier
        self.origin = origin
        self.web_port = settings.web_port if web_port is None else web_port
        self.store = Store(settings.db_path)
        self.quotas = QuotaPolicy(
            user_daily=settings.user_daily_credits,
            guild_daily=settings.guild_daily_credits,
            global_daily=settings.global_daily_credits,
            max_active_per_user=settings.max_active_jobs_per_user,
        )
        self._session: aiohttp.ClientSession | None = None
        self._stopped: asyncio.Future[None] | None = None
        self.http: HttpClient
        self.providers: dict[str, Provider] = {}
        self.engine: JobEngine
        self.web: WebServer
        self.default_provider = "simulator"
        self._guild_providers: dict[int, str | None] = {}

    @property
    def base_url(self) -> str:
        """Where providers reach us: PUBLIC_URL, else the local server address."""
        return self.settings.public_url or self.web.base_url

    async def start(self) -> None:
        await self.store.open()
        self._session = aiohttp.ClientSession()
        self.http = HttpClient(
            self._session, timeout_seconds=self.settings.http_timeout_seconds, max_retries=self.settings.http_max_retries
        )
        secret = self.settings.callback_secret.get_secret_value() if self.settings.callback_secret else None
        signer = Signer(load_key(secret, self.settings.data_dir))
        self.providers = build_providers(self.settings, self.http, signer, lambda: self.base_url)
        self.default_provider = choose_default(self.settings, self.providers)
        s = self.settings
        self.engine = JobEngine(
            self.store,
            self.providers,
            self.quotas,
            self.notifier,
            Links(signer, s.public_url, media_ttl=s.media_link_ttl_seconds),
            EngineConfig(
                data_dir=s.data_dir,
                public_url=s.public_url,
                poll_interval=s.poll_interval_seconds,
                poll_max_interval=s.poll_max_interval_seconds,
                callback_fallback_poll=s.callback_fallback_poll_seconds,
                job_timeout=s.job_timeout_minutes * 60,
                provider_max_concurrency=s.provider_max_concurrency,
                failover=s.provider_failover,
            ),
            origin=self.origin,
        )
        self.web = WebServer(self.engine, self.providers, WebConfig.from_settings(s, port=self.web_port))
        await self.web.start()
        for provider in self.providers.values():
            await provider.start()
        await self.engine.start()
        log.info("core started: providers %s, default %s", ", ".join(sorted(self.providers)), self.default_provider)

    async def stop(self) -> None:
        """Idempotent, and finishes even if the caller is cancelled half-way (shutdown paths overlap)."""
        if self._stopped is None:
            self._stopped = asyncio.ensure_future(self._stop())
        await asyncio.shield(self._stopped)

    async def _stop(self) -> None:
        if hasattr(self, "engine"):
            await self.engine.stop()
        for provider in self.providers.values():
            await provider.close()
        if hasattr(self, "web"):
            await self.web.stop()
        if self._session is not None:
            await self._session.close()
        await self.store.close()

    async def __aenter__(self) -> CoreApp:
        await self.start()
        return self

    async def __aexit__(self, *exc: tuple[type[BaseException], BaseException, TracebackType] | None) -> None:
        await self.stop()

    async def provider_for(self, guild_id: int | None) -> str:
        """The guild's chosen provider while it is still configured, else the default."""
        if guild_id is not None:
            if guild_id not in self._guild_providers:  # read once; set_guild_provider keeps it current
                self._guild_providers[guild_id] = await self.store.guild_provider(guild_id)
            chosen = self._guild_providers[guild_id]
            if chosen and chosen in self.providers:
                return chosen
        return self.default_provider

    async def set_guild_provider(self, guild_id: int, name: str | None, by_user: int) -> None:
        if name is not None:
            self.provider(name)  # refuses an unconfigured one
        await self.store.set_guild_provider(guild_id, name, by_user)
        self._guild_providers[guild_id] = name

    def provider(self, name: str | None) -> str:
        name = name or self.default_provider
        if name not in self.providers:
            raise ProviderUnavailable(
                f"provider {name!r} is not configured; configured: {', '.join(sorted(self.providers))}"
            )
        return name

    async def submit_motion(
        self,
        requester: Requester,
        image: IncomingFile,
        video: IncomingFile | None,
        options: MotionOptions,
        provider: str | None = None,
    ) -> tuple[JobRow, Price]:
        return await take_motion_request(self.engine, self.http, requester, self.provider(provider), image, video, options)

    async def prepare_animate(
        self,
        requester: Requester,
        image: IncomingFile,
        options: AnimateOptions,
        provider: str | None = None,
        *,
        end_image: IncomingFile | None = None,
        brush: IncomingFile | None = None,
    ) -> AnimatePrepared:
        """Check, plan, price and preview one /animate job; nothing is reserved until `confirm_animate`."""
        return await prepare_animate(
            self.engine, self.http, requester, self.provider(provider), image, options, end_image=end_image, brush=brush
        )

    async def confirm_animate(self, job_id: str, user_id: int) -> tuple[JobRow, Price]:
        return await confirm_animate(self.engine, job_id, user_id)
