"""Every sentence a member or admin reads goes through the message catalogue (bot/i18n.py).

An AST scan, so a new English-only answer fails here instead of reaching a zh-CN member:

- in cogs/ and bot/discord_*.py, message content (the first positional argument or `content=`
  of send_message / edit_original_response / send / followup.send / edit_message / edit) must
  not be a string literal or f-string with letters in it. Content built only from rendered
  catalogue text and marks ("❌ {text}", "{a}\\n{b}") is fine: its literal parts have no letters;
- anywhere in bot/, a Refusal (any subclass too: MediaRejected, QuotaRefused, ...) must not be
  built with such a literal: its message is a `Text`. Lower-case keys that are not words for a
  reader ("image", "options", "active": a field or a scope) are not messages and pass.

Logs, exceptions that are not refusals and the terminal's stderr lines stay English and are not
looked at.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

CONTENT_CALLS = {"send_message", "edit_original_response", "send", "edit_message", "edit"}
# The cogs' own answer helpers: every positional argument after the interaction is content.
CONTENT_HELPERS = {"reply", "answer_privately", "_answer_privately"}
REFUSAL_ROOT = "Refusal"
KEY = re.compile(r"[a-z_]+")  # a field name or a scope passed beside a message, not a sentence

# (file, literal text without its placeholders) allowed to pass although it has letters. Only what
# is not words for a reader; say why beside each entry.
ALLOWED: set[tuple[str, str]] = {
    ("bot/discord_intake.py", "@original"),  # the id of the message a webhook edits, not content
}


def literal_text(node: ast.expr) -> str | None:
    """The literal characters of a str constant or f-string (placeholders left out), else None."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(part.value for part in node.values if isinstance(part, ast.Constant) and isinstance(part.value, str))
    return None


def has_letters(text: str) -> bool:
    return any(ch.isalpha() for ch in text)


def call_name(node: ast.Call) -> str | None:
    func = node.func
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def content_args(node: ast.Call) -> Iterator[ast.expr]:
    if call_name(node) in CONTENT_HELPERS:
        yield from node.args[1:]
        return
    if node.args:
        yield node.args[0]
    yield from (k.value for k in node.keywords if k.arg == "content")


def refusal_classes(sources: Iterable[str]) -> set[str]:
    """Refusal and every class that derives from it (by name, through any number of steps)."""
    bases: dict[str, set[str]] = {}
    for source in sources:
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.ClassDef):
                names = {b.id if isinstance(b, ast.Name) else getattr(b, "attr", "") for b in node.bases}
                bases.setdefault(node.name, set()).update(names)
    found = {REFUSAL_ROOT}
    while True:
        more = {name for name, parents in bases.items() if parents & found} - found
        if not more:
            return found
        found |= more


def content_problems(source: str, where: str) -> list[str]:
    problems = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and call_name(node) in CONTENT_CALLS | CONTENT_HELPERS:
            for arg in content_args(node):
                text = literal_text(arg)
                if text is not None and has_letters(text) and (where, text) not in ALLOWED:
                    problems.append(f"{where}:{arg.lineno}: message content {text!r} is not from the catalogue")
    return problems


def refusal_problems(source: str, where: str, refusals: set[str]) -> list[str]:
    problems = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and call_name(node) in refusals:
            for arg in [*node.args, *(k.value for k in node.keywords)]:
                text = literal_text(arg)
                if text is None or not has_letters(text) or (isinstance(arg, ast.Constant) and KEY.fullmatch(text)):
                    continue
                if (where, text) not in ALLOWED:
                    problems.append(f"{where}:{arg.lineno}: {call_name(node)} says {text!r}, not a catalogue Text")
    return problems


def relative(path: Path) -> str:
    return path.relative_to(REPO).as_posix()


def test_message_content_in_cogs_and_the_discord_shell_comes_from_the_catalogue() -> None:
    files = [*sorted((REPO / "cogs").glob("*.py")), *sorted((REPO / "bot").glob("discord_*.py"))]
    assert len(files) > 10
    problems = [p for path in files for p in content_problems(path.read_text(encoding="utf-8"), relative(path))]
    assert problems == []


def test_refusals_in_the_core_carry_catalogue_text() -> None:
    files = sorted((REPO / "bot").rglob("*.py"))
    sources = {relative(path): path.read_text(encoding="utf-8") for path in files}
    refusals = refusal_classes(sources.values())
    assert {"MediaRejected", "QuotaRefused", "AnimateRefused", "BrushRefused"} <= refusals  # the walk finds subclasses
    problems = [p for where, source in sources.items() for p in refusal_problems(source, where, refusals)]
    assert problems == []


# --- the checks can fail ----------------------------------------------------------------------

BAD_COG = '''
async def answer(interaction, job, text):
    await interaction.response.send_message("Slash commands synced.", ephemeral=True)
    await interaction.edit_original_response(content=f"Job {job.id} is done")
    await interaction.followup.send(f"❌ {text}", ephemeral=True)  # no words of its own: fine
    await interaction.response.edit_message(content=Text("Done! {link}", link=job.link).render(interaction.locale))
    await channel.send(f"{text}\\n-# job `{job.id}`")
    await reply(interaction, Text("Prices:"), "Nothing changed.")
    await answer_privately(interaction, "❌ " + say(text, interaction.locale))
'''

BAD_CORE = '''
class Refusal(Exception): ...
class MediaRejected(Refusal): ...
class BrushRefused(MediaRejected): ...

def check(size, limit, caps):
    raise MediaRejected("video", f"video is {size} MB; the limit is {limit} MB")
    raise MediaRejected("video", Text("video is {size} MB; the limit is {limit} MB", size=size, limit=limit))
    raise Refusal("Not allowed.")
    raise BrushRefused(message="The brush is empty.")
    raise QuotaRefused("active", Text("..."))  # not a Refusal in this source: ignored
'''


def test_the_content_check_flags_english_literals() -> None:
    problems = content_problems(BAD_COG, "cogs/example.py")
    flagged = sorted(p.split(": ", 1)[0] for p in problems)
    assert flagged == ["cogs/example.py:3", "cogs/example.py:4", "cogs/example.py:7", "cogs/example.py:8"]


def test_the_refusal_check_flags_plain_strings_in_subclasses_too() -> None:
    refusals = refusal_classes([BAD_CORE])
    assert refusals == {"Refusal", "MediaRejected", "BrushRefused"}
    problems = refusal_problems(BAD_CORE, "bot/example.py", refusals)
    assert [p.split(": ", 1)[0] for p in problems] == ["bot/example.py:7", "bot/example.py:9", "bot/example.py:10"]


# --- what the sweep routed through the catalogue reads Chinese to a zh-CN member --------------


def chinese(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def test_a_media_refusal_is_chinese_and_its_english_is_unchanged() -> None:
    import pytest

    from bot.media import AttachmentMeta, MediaRejected, precheck_image

    with pytest.raises(MediaRejected) as refused:
        precheck_image(AttachmentMeta(filename="cat.gif", size=1000))
    assert str(refused.value) == "image must be a .jpg, .jpeg, or .png file; got a .gif file (cat.gif)"
    assert refused.value.message.render("zh-CN") == "图片必须是 .jpg、.jpeg或.png 文件；收到的是一个 .gif 文件（cat.gif）"


def test_an_options_refusal_is_chinese() -> None:
    from bot.models import MotionOptions
    from bot.options import options_refusal
    from bot.providers.base import Capabilities

    refusal = options_refusal(MotionOptions(keep_sound=True), Capabilities(keep_sound=False), "goapi", has_video=True)
    assert refusal is not None
    assert str(refusal) == "goapi cannot keep the reference video's sound; turn keep_sound off."
    assert refusal.message.render("zh-CN") == "goapi 无法保留参考视频的声音；请关闭“保留声音”。"


def test_a_provider_error_reads_chinese_with_its_detail() -> None:
    from bot.errors import InputRejected
    from bot.i18n import Text

    error = InputRejected("goapi: no person detected", user_detail=Text("No person was found in the image."))
    assert str(error.user_message) == "The video service could not use this input. No person was found in the image."
    assert error.user_message.render("zh-CN") == "视频服务无法使用这个输入。详情：图片中没有找到人物。"


def test_the_quota_reset_time_reads_chinese() -> None:
    from datetime import UTC, datetime

    from bot.quotas import QuotaPolicy

    policy = QuotaPolicy(user_daily=10, clock=lambda: datetime(2026, 1, 1, 21, 30, tzinfo=UTC))
    assert str(policy._reset_text()) == "at 00:00 UTC (in 2 h 30 min)"
    assert policy._reset_text().render("zh-CN") == " UTC 00:00（2 小时 30 分钟后）"
