"""The import rules that keep the layers apart, checked on the source.

- The core never imports discord: it must load with discord made unimportable.
- Inside the job engine, arrows run one way: the engine calls the phases; a phase (submit,
  follow, endings, and dispatch: the dispatcher's rules) imports no other phase and not the
  engine; the shared context imports none.
- Outside bot/jobs, only `from bot.jobs import <public name>`: the package's files are its own.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import bot.jobs

REPO = Path(__file__).resolve().parents[1]
CORE = [
    "bot.app", "bot.cli", "bot.intake", "bot.jobs", "bot.jobs.engine", "bot.jobs.submit", "bot.jobs.follow",
    "bot.jobs.endings", "bot.jobs.dispatch", "bot.jobs.context", "bot.media", "bot.media_image", "bot.media_video",
    "bot.quotas", "bot.store", "bot.gate", "bot.pending", "bot.web", "bot.downloads", "bot.address_policy",
    "bot.providers.registry", "bot.providers.simulator", "bot.providers.simulator_tasks",
    "bot.providers.kling", "bot.providers.kling_errors", "bot.providers.goapi", "bot.providers.goapi_errors",
    "bot.providers.useapi", "bot.providers.useapi_errors", "bot.providers.useapi_assets", "bot.providers.modelslab",
]
PHASES = {"submit", "follow", "endings", "dispatch"}  # dispatch: called by the engine like a phase
BELOW_THE_ENGINE = {"context"}  # shared by every phase; knows none of them

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


def jobs_modules_imported(source: str) -> set[str]:
    """The bot.jobs modules a source imports, by dotted name: "bot.jobs" for the package itself
    (which brings the engine with it), else "bot.jobs.<file>" (`from bot.jobs import follow`
    counts as importing bot.jobs.follow)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[:2] != ["bot", "jobs"]:
                continue
            if len(parts) == 2 or parts[2] in bot.jobs.__all__:  # the package, or a name it exports
                found.add("bot.jobs")
            else:
                found.add(".".join(parts[:3]))
    return found


def layering_problems(module: str, source: str) -> list[str]:
    """What breaks the rules above in one module (dotted name) with this source."""
    imported = jobs_modules_imported(source)
    if module == "bot.jobs":
        return []  # the package's own front door
    if not module.startswith("bot.jobs."):
        return [f"{module} imports {name}" for name in sorted(imported - {"bot.jobs"})]
    own = module.split(".")[2]
    above = {f"bot.jobs.{name}" for name in PHASES | {"engine"}} | {"bot.jobs"}
    if own in PHASES:
        return [f"{module} (a phase) imports {name}" for name in sorted(imported & above - {module})]
    if own in BELOW_THE_ENGINE:
        return [f"{module} (shared) imports {name}" for name in sorted(imported & above)]
    return []


def test_the_job_engine_layers_hold() -> None:
    problems: list[str] = []
    for folder in ("bot", "cogs", "tests", "bench"):
        for path in sorted((REPO / folder).rglob("*.py")):
            module = ".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
            problems += layering_problems(module, path.read_text(encoding="utf-8"))
    assert problems == []
    assert {path.stem for path in (REPO / "bot" / "jobs").glob("*.py")} >= PHASES | BELOW_THE_ENGINE | {"engine"}


def test_the_layering_check_can_fail() -> None:
    assert layering_problems("bot.jobs.follow", "from bot.jobs import endings\n") == [
        "bot.jobs.follow (a phase) imports bot.jobs", "bot.jobs.follow (a phase) imports bot.jobs.endings"
    ]
    assert layering_problems("bot.jobs.submit", "import bot.jobs.follow\n") == [
        "bot.jobs.submit (a phase) imports bot.jobs.follow"
    ]
    assert layering_problems("bot.jobs.endings", "from bot.jobs.engine import JobEngine\n") == [
        "bot.jobs.endings (a phase) imports bot.jobs.engine"
    ]
    assert layering_problems("bot.jobs.context", "from bot.jobs.submit import send\n") == [
        "bot.jobs.context (shared) imports bot.jobs.submit"
    ]
    assert layering_problems("bot.web", "from bot.jobs.engine import JobEngine\n") == ["bot.web imports bot.jobs.engine"]
    assert layering_problems("cogs.motion", "from bot.jobs import follow\n") == ["cogs.motion imports bot.jobs.follow"]
    # what is allowed
    assert layering_problems("bot.web", "from bot.jobs import JobEngine, new_job_id\n") == []
    assert layering_problems("bot.jobs.follow", "from bot.jobs.context import JobContext\n") == []
    assert layering_problems("bot.jobs.engine", "from bot.jobs import endings, follow, submit\n") == []
