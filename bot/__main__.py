"""Entry point: `python -m bot` runs the Discord bot; `python -m bot motion …` runs one job.

Configuration problems and other expected errors (a busy database, a taken
port) end the process at once with a short message naming what to fix, and no
traceback: `bot.cli.EXPECTED_ERRORS` says which, with their exit codes.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from bot.cli import (
    add_animate_parser,
    add_motion_parser,
    explain,
    run_animate,
    run_motion,
)
from bot.logs import setup_logging
from bot.media import set_max_image_pixels
from bot.settings import Settings, load_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot", description="Motion Control video bot for Discord")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("run", help="run the Discord bot (the default)")
    sub.add_parser("sync", help="push the slash commands to Discord now, even if unchanged")
    add_motion_parser(sub)
    add_animate_parser(sub)
    args = parser.parse_args(argv)

    try:
        settings = load_settings()
        setup_logging(settings)
        set_max_image_pixels(settings.max_image_pixels)
        if args.command == "motion":
            return asyncio.run(run_motion(settings, args))
        if args.command == "animate":
            return asyncio.run(run_animate(settings, args))
        return run_discord(settings, force_sync=args.command == "sync")
    except BaseException as exc:
        # A wrong setting, a busy database, a taken port: one line and an exit code, no traceback.
        expected = explain(exc)
        if expected is None:
            raise
        line, code = expected
        print(line, file=sys.stderr)
        return code


def run_discord(settings: Settings, force_sync: bool) -> int:
    if settings.discord_token is None or not settings.discord_token.get_secret_value().strip():
        print(
            "DISCORD_TOKEN is not set. Put your bot token in .env (copy .env.example to .env) "
            "or in the environment, then start again.",
            file=sys.stderr,
        )
        return 2
    from bot.discord_bot import (
        run_bot,  # imported late: the terminal path needs no discord
    )

    try:
        return run_bot(settings, force_sync=force_sync)
    except KeyboardInterrupt:
        logging.getLogger(__name__).info("stopped")
        return 0


if __name__ == "__main__":
    sys.exit(main())
