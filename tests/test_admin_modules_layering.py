"""Issue 10's core modules load with discord made unimportable (as tests/test_layering.py does for the rest)."""

from __future__ import annotations

import subprocess
import sys

from tests.test_layering import BLOCK_DISCORD, REPO

MODULES = ["bot.i18n", "bot.words", "bot.allowances", "bot.usage_chart"]


def test_issue_10_core_modules_import_without_discord() -> None:
    code = BLOCK_DISCORD + "".join(f"import {module}\n" for module in MODULES)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr
