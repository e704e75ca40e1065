"""Builds the core from settings: store, HTTP client, providers, job engine, web server.

The Discord bot and the terminal command both run through `CoreApp`, so they
share every check, the store and the provider clients. The core exists only
inside `async with CoreApp.open(settings, notifier) as core:`: every part is
there from the first line of the block, and everything opened is closed again
(in reverse order) however the block ends.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import aiohttp

from bot.address_policy import allowed_hosts_from
from bot.animate.models import AnimateOptions
from bot.downloads import Downloader
from bot.errors import ProviderUnavailable
from bot.gate import Asker, Gate
from bot.guild_admin import GuildAdmin
from bot.guild_rules import install_guild_rules
from bot.http import HttpClient
from bot.intake import IncomingFile
from bot.intake_animate import AnimatePrepared, confirm_animate, prepare_animate
from bot.intake_fix import accept_fix, take_or_offer
from bot.jobs import EngineConfig, JobEngine, Notifier
from bot.models import MotionOptions, Requester
from bot.pricing import Price
from bot.providers.base import Provider
from bot.providers.registry import build_providers, choose_default
from bot.quotas import QuotaPolicy
from bot.retention import run_sweeps
from bot.settings import Settings
from bot.signing import Links, Signer, load_key
from bot.store import JobRow, Store
from bot.web import WebConfig, WebServer

log = logging.getLogger(__name__)


class CoreApp:
    def __init__(
        self,
        settings: Settings,
        notifier: Notifier,
        *,
        origin: str,
        store: Store,
        quotas: QuotaPolicy,
        http: HttpClient,
        downloader: Downloader,
        providers: dict[str, Provider],
        default_provider: str,
        engine: JobEngine,
        web: WebServer,
        admin: GuildAdmin,
    ) -> None:
        """Use `CoreApp.open`; this only gathers the parts it has opened."""
        self.settings = settings
        self.notifier = notifier
        self.origin = origin
        self.store = store
        self.quotas = quotas
        self.http = http
        self.downloader = downloader
        self.providers = providers
        self.default_provider = default_provider
        self.engine = engine
        self.web = web
        self.admin = admin  # what server admins and bot owners change (/admin ...), each change audited
        self._guild_providers: dict[int, str | None] = {}
        # The one gate every generation command and button passes (bot/gate.py); rules are added at start-up.
        self.gate = Gate.standard()
        install_guild_rules(self)  # bans, channels, age-restricted only, a 0 role, the word list

    @classmethod
    @asynccontextmanager
    async def open(
        cls, settings: Settings, notifier: Notifier, *, origin: str = "discord", web_port: int | None = None
    ) -> AsyncIterator[CoreApp]:
        """Open every part in order; close them in reverse on the way out. The closing finishes
        even if the caller is cancelled half-way (shutdown paths overlap: SIGTERM and the runner)."""
        stack = AsyncExitStack()
        try:
            core = await cls._build(stack, settings, notifier, origin, web_port)
            log.info("core started: providers %s, default %s", ", ".join(sorted(core.providers)), core.default_provider)
            yield core
        finally:
            await asyncio.shield(stack.aclose())

    @classmethod
    async def _build(
        cls, stack: AsyncExitStack, s: Settings, notifier: Notifier, origin: str, web_port: int | None
    ) -> CoreApp:
        store = Store(s.database, busy_retry_seconds=s.db_busy_retry_seconds)
        await store.open()
        stack.push_async_callback(store.close)
        session = aiohttp.ClientSession()
        stack.push_async_callback(session.close)
        http = HttpClient(
            session,
            timeout_seconds=s.http_timeout_seconds,
            max_retries=s.http_max_retries,
            retry_after_max_sleep=s.retry_after_max_sleep_seconds,
        )
        # Every download (attachments, results) goes through this one Downloader. The bot's own
        # address joins its allowed hosts once the web server listens (the port may be chosen then).
        downloader = Downloader.from_settings(s, allowed_hosts_from(s, own_base_url=""))
        stack.push_async_callback(downloader.close)
        secret = s.callback_secret.get_secret_value() if s.callback_secret else None
        signer = Signer(load_key(secret, s.data_dir))
        web: WebServer | None = None

        def base_url() -> str:
            # Where providers reach us: PUBLIC_URL, else the local server (known once it listens).
            return s.public_url or (web.base_url if web is not None else "")

        providers = build_providers(s, http, signer, base_url)
        default_provider = choose_default(s, providers)
        quotas = QuotaPolicy(
            user_daily=s.user_daily_credits,
            guild_daily=s.guild_daily_credits,
            global_daily=s.global_daily_credits,
            max_active_per_user=s.max_active_jobs_per_user,
        )
        engine = JobEngine(
            store,
            providers,
            quotas,
            notifier,
            Links(signer, s.public_url, media_ttl=s.media_link_ttl_seconds),
            EngineConfig(
                data_dir=s.data_dir,
                public_url=s.public_url,
                poll_interval=s.poll_interval_seconds,
                poll_max_interval=s.poll_max_interval_seconds,
                callback_fallback_poll=s.callback_fallback_poll_seconds,
                job_timeout=s.job_timeout_minutes * 60,
                provider_max_concurrency=s.provider_max_concurrency,
                guild_max_concurrency=s.guild_max_active_jobs,
                failover=s.provider_failover,
                keep_files=s.result_retention_days > 0,
                result_link_ttl=s.result_retention_days * 86400 if s.result_retention_days > 0 else None,
                lease_seconds=s.job_lease_seconds,
            ),
            downloader=downloader,
            origin=origin,
        )
        web = WebServer(engine, providers, WebConfig.from_settings(s, port=s.web_port if web_port is None else web_port))
        downloader.allow(await web.start())
        stack.push_async_callback(web.stop)
        for provider in providers.values():
            stack.push_async_callback(provider.close)
            await provider.start()
        admin = GuildAdmin(store, quotas, engine, s.owner_ids)
        await admin.load()  # price overrides and per-server slot limits, before the dispatcher runs
        await engine.start()
        stack.push_async_callback(engine.stop)
        if s.result_retention_days > 0:  # 0: files go when the job ends (bot/jobs/endings.py)
            sweeps = asyncio.create_task(run_sweeps(store, s.data_dir, s.result_retention_days), name="retention-sweeps")
            stack.push_async_callback(_cancel, sweeps)
        return cls(
            s,
            notifier,
            origin=origin,
            store=store,
            quotas=quotas,
            http=http,
            downloader=downloader,
            providers=providers,
            default_provider=default_provider,
            engine=engine,
            web=web,
            admin=admin,
        )

    @property
    def base_url(self) -> str:
        """Where providers reach us: PUBLIC_URL, else the local server address."""
        return self.settings.public_url or self.web.base_url

    async def provider_for(self, guild_id: int | None) -> str:
        """The guild's chosen provider while it is still configured, else the default."""
        if guild_id is not None:
            # read once; set_guild_provider keeps it current (with other processes on the database,
            # any of them may change it: read it each time, one point read)
            if guild_id not in self._guild_providers or self.store.shared:
                self._guild_providers[guild_id] = await self.store.guild_provider(guild_id)
            chosen = self._guild_providers[guild_id]
            if chosen and chosen in self.providers:
                return chosen
        return self.default_provider

    async def set_guild_provider(self, guild_id: int, name: str | None, by_user: int) -> None:
        if name is not None:
            self.provider(name)  # refuses an unconfigured one
        async with self.store.transaction() as db:  # the change and its audit row together
            old = await self.store.guild_provider(guild_id, db)
            await self.store.set_guild_provider(guild_id, name, by_user, db)
            await self.store.add_audit(
                guild_id=guild_id, actor_id=by_user, action="provider", old=old or "—", new=name or "—", db=db
            )
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
        """Check, price and queue one /motion job; raises FixOffered when a fix would make the inputs pass."""
        return await take_or_offer(self.engine, self.downloader, requester, self.provider(provider), image, video, options)

    async def accept_fix(self, offer_id: str, asker: Asker) -> tuple[JobRow, Price]:
        """The member accepted a fix (bot/intake_fix.py): the gate, then the fixed job, charged as usual."""
        await self.gate.check(asker)
        return await accept_fix(self.engine, self.downloader, offer_id, asker.user_id)

    async def prepare_animate(
        self,
        requester: Requester,
        image: IncomingFile,
        options: AnimateOptions,
        provider: str | None = None,
        *,
        end_image: IncomingFile | None = None,
        brush: IncomingFile | None = None,
        expires_at: float | None = None,
    ) -> AnimatePrepared:
        """Check, plan, price and preview one /animate job; nothing is reserved until `confirm_animate`."""
        return await prepare_animate(
            self.engine, self.downloader, requester, self.provider(provider), image, options,
            end_image=end_image, brush=brush, expires_at=expires_at,
        )

    async def confirm_animate(self, job_id: str, user_id: int) -> tuple[JobRow, Price]:
        return await confirm_animate(self.engine, job_id, user_id)


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
