"""The core never imports discord: it must load with discord made unimportable."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CORE = [
    "bot.app", "bot.cli", "bot.intake", "bot.jobs", "bot.media", "bot.quotas", "bot.store", "bot.web",
    "bot.providers.registry", "bot.providers.simulator", "bot.providers.kling", "bot.providers.goapi",
    "bot.providers.useapi", "bot.providers.modelslab",
]

BLOCK_DISCORD = """
import sys
class BlockDiscord:
    def find_spec(self, name, path=None, target=None):
        if name == "discord" or name.startswith("discord."):
            raise ImportError(f"the core imported {name}")
        return None
sys.meta_path.insert(0, BlockDiscord())
"""


def test_core_imports_without_discord() -> None:
    code = BLOCK_DISCORD + "".join(f"import {module}\n" for module in CORE)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr


def test_the_block_does_catch_discord() -> None:
    """Proves the check above can fail."""
    code = BLOCK_DISCORD + "import bot.discord_bot\n"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert result.returncode != 0 and "imported discord" in result.stderr
