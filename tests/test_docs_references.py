"""Documents the code cites are in the repository, so a clone can follow every reference."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CITED = re.compile(r"(?:\.\./)*(?:docs|shared)/[\w.-]+\.md")


def test_every_cited_document_exists_in_the_repository() -> None:
    cited: dict[str, list[str]] = {}
    for folder in ("bot", "cogs", "tests"):
        for path in (REPO / folder).rglob("*.py"):
            for name in CITED.findall(path.read_text(encoding="utf-8")):
                cited.setdefault(name, []).append(str(path.relative_to(REPO)))
    assert "docs/providers.md" in cited  # the adapters cite it; the check below has something to check
    missing = {name: files for name, files in cited.items() if name.startswith("..") or not (REPO / name).is_file()}
    assert not missing, f"cited documents missing from the repository: {missing}"
