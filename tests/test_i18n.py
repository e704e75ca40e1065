"""The message catalogue (bot/i18n.py) and the command-tree translator (cogs/i18n_translator.py)."""

from __future__ import annotations

import ast
import gettext
import io
import unicodedata
from pathlib import Path

import discord
import pytest
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from discord import app_commands
from discord.ext import commands

from bot import i18n
from bot.i18n import (
    CTX_COMMAND_NAME,
    CTX_FIELD,
    CTX_OPTION_NAME,
    TEMPLATE,
    AndList,
    OrList,
    Text,
    catalogue_path,
    field_names,
    resolve_language,
    translate,
    translate_plural,
)
from cogs.admin import AdminCog
from cogs.animate import AnimateCog
from cogs.challenge import ChallengeCog
from cogs.i18n_translator import CatalogueTranslator
from cogs.jobs import JobsCog
from cogs.motion import MotionCog
from cogs.quota import QuotaCog

REPO = Path(__file__).resolve().parents[1]
CHINESE = "zh_CN"


def read(path: Path) -> Catalog:
    with path.open("rb") as f:
        return read_po(f)


def entries(catalog: Catalog) -> dict[tuple[str | None, str], object]:
    return {(m.context, m.id if isinstance(m.id, str) else m.id[0]): m for m in catalog if m.id}


# --- the two languages hold the same messages ------------------------------------------------


def test_every_message_is_in_both_languages() -> None:
    english = entries(read(TEMPLATE))
    chinese = entries(read(catalogue_path(CHINESE)))
    assert len(english) > 100  # the seeded catalogue, not an empty file that trivially agrees
    assert sorted(english.keys() - chinese.keys(), key=str) == [], "English only: translate these"
    assert sorted(chinese.keys() - english.keys(), key=str) == [], "Chinese only: add them to messages.pot"


def test_every_chinese_message_is_translated_and_checked() -> None:
    untranslated = []
    for message in read(catalogue_path(CHINESE)):
        if not message.id:
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if message.fuzzy or not all(s.strip() for s in strings):
            untranslated.append(message.id)
    assert untranslated == []


def test_plural_messages_are_plural_in_both() -> None:
    english = entries(read(TEMPLATE))
    chinese = entries(read(catalogue_path(CHINESE)))
    plural_en = {key for key, m in english.items() if m.pluralizable}  # type: ignore[attr-defined]
    plural_zh = {key for key, m in chinese.items() if m.pluralizable}  # type: ignore[attr-defined]
    assert plural_en and plural_en == plural_zh


def test_placeholders_are_the_same_in_both_languages() -> None:
    wrong = []
    for message in read(catalogue_path(CHINESE)):
        if not message.id:
            continue
        sources = message.id if isinstance(message.id, tuple) else (message.id,)
        targets = message.string if isinstance(message.string, tuple) else (message.string,)
        wanted = field_names(sources[0])
        for text in (*sources, *targets):
            if field_names(text) != wanted:
                wrong.append((sources[0], text))
    assert wrong == []


def test_the_placeholder_check_can_fail() -> None:
    assert field_names("{left:,} of {total} left") == {"left", "total"}
    assert field_names("还剩 {left} 积分") != field_names("{left} of {total} left")


def test_every_chinese_message_formats_with_the_english_parameters() -> None:
    """Each translation renders with exactly the names its English message takes."""
    for message in read(catalogue_path(CHINESE)):
        if not message.id:
            continue
        msgid = message.id if isinstance(message.id, str) else message.id[0]
        params: dict[str, object] = {name: f"<{name}>" for name in field_names(msgid)}
        if isinstance(message.id, tuple):
            params["count"] = 3
            rest = {name: value for name, value in params.items() if name != "count"}
            text = Text(msgid, plural=message.id[1], count=3, msgctxt=message.context, **rest)
        else:
            text = Text(msgid, msgctxt=message.context, **params)
        rendered = text.render("zh-CN")
        assert any("\u4e00" <= ch <= "\u9fff" for ch in rendered), (msgid, rendered)  # the Chinese was used
        for name in field_names(msgid):
            assert str(params[name]) in rendered, (msgid, rendered)


# --- every string in the code is in the catalogue ---------------------------------------------

CALLS = {"Text", "translate", "translate_plural"}


def marked_messages(root: Path) -> set[tuple[str | None, str]]:
    """(msgctxt, msgid) of every Text(...)/translate(...) call with a literal message under root."""
    found: set[tuple[str | None, str]] = set()
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", None)
            if name not in CALLS or not node.args or not isinstance(node.args[0], ast.Constant):
                continue
            context = next(
                (k.value.value for k in node.keywords if k.arg == "msgctxt" and isinstance(k.value, ast.Constant)), None
            )
            found.add((context, node.args[0].value))
    return found


def test_every_marked_message_in_the_code_is_in_the_catalogue() -> None:
    catalogued = entries(read(TEMPLATE)).keys()
    marked = marked_messages(REPO / "bot") | marked_messages(REPO / "cogs")
    assert sorted(marked - catalogued, key=str) == []


def test_the_code_scan_finds_a_missing_message(tmp_path: Path) -> None:
    (tmp_path / "m.py").write_text(
        'Text("image", msgctxt="field")\nraise Refusal(Text("Not in the catalogue {x}", x=1))\n', encoding="utf-8"
    )
    marked = marked_messages(tmp_path)
    assert marked == {("field", "image"), (None, "Not in the catalogue {x}")}
    assert marked - entries(read(TEMPLATE)).keys() == {(None, "Not in the catalogue {x}")}


# --- rendering -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tag", "language"),
    [
        ("zh-CN", CHINESE),
        (discord.Locale.chinese, CHINESE),
        ("zh", CHINESE),
        ("zh-Hans", CHINESE),
        ("zh_CN", CHINESE),
        ("zh-TW", "en"),
        (discord.Locale.taiwan_chinese, "en"),
        ("en-US", "en"),
        (discord.Locale.british_english, "en"),
        ("fr", "en"),
        ("not a locale!", "en"),
        ("", "en"),
        (None, "en"),
    ],
)
def test_discord_locales_pick_a_catalogue(tag: object, language: str) -> None:
    assert resolve_language(tag) == language


def test_every_discord_locale_resolves() -> None:
    chosen = {locale.value: resolve_language(locale) for locale in discord.Locale}
    assert {value for value, language in chosen.items() if language != "en"} == {"zh-CN"}


def test_a_message_in_chinese_and_english() -> None:
    text = Text("This server's budget has {left} credits left today.", left=12)
    assert text.render("zh-CN") == "本服务器今天的预算还剩 12 积分。"
    assert text.render("en-GB") == "This server's budget has 12 credits left today."
    assert str(text) == "This server's budget has 12 credits left today."
    assert translate("Slash commands synced.", discord.Locale.chinese) == "斜杠命令已同步。"


def test_a_message_without_translation_falls_back_to_english() -> None:
    assert translate("No such message {n}", "zh-CN", n=1) == "No such message 1"


def test_nested_texts_and_lists_follow_the_outer_language() -> None:
    text = Text(
        "{field} must be a {allowed} file; got {found} ({filename})",
        field=Text("image", msgctxt=CTX_FIELD),
        allowed=OrList([".jpg", ".jpeg", ".png"]),
        found=Text("a {extension} file", extension=".gif"),
        filename="cat.gif",
    )
    assert str(text) == "image must be a .jpg, .jpeg, or .png file; got a .gif file (cat.gif)"
    assert text.render("zh-CN") == "图片必须是 .jpg、.jpeg或.png 文件；收到的是一个 .gif 文件（cat.gif）"
    assert AndList(["a", "b", "c"]).render("zh-CN") == "a、b和c"


def test_plural_forms() -> None:
    one = "You already have {count} video in progress (the limit is {limit}). Wait for one to finish, then try again."
    many = "You already have {count} videos in progress (the limit is {limit}). Wait for one to finish, then try again."
    assert translate_plural(one, many, 1, "en-US", limit=2).startswith("You already have 1 video in progress")
    assert translate_plural(one, many, 2, "en-US", limit=2).startswith("You already have 2 videos in progress")
    assert translate_plural(one, many, 2, "zh-CN", limit=2).startswith("你已有 2 个视频正在制作")
    with pytest.raises(ValueError):
        Text(one, plural=many)


def test_parameter_values_are_never_templates() -> None:
    text = Text("Reason: {reason}", reason="{0.__class__} {reason}")
    assert text.render("zh-CN") == "原因：{0.__class__} {reason}"


def test_a_broken_translation_shows_english(monkeypatch: pytest.MonkeyPatch) -> None:
    broken = Catalog(locale=CHINESE)
    broken.add("Reason: {reason}", "原因：{原因}")  # a translator renamed the placeholder
    mo = io.BytesIO()
    write_mo(mo, broken)
    mo.seek(0)
    monkeypatch.setattr(i18n, "translations", lambda language: gettext.GNUTranslations(mo) if language == CHINESE else gettext.NullTranslations())
    assert translate("Reason: {reason}", "zh-CN", reason="spam") == "Reason: spam"


# --- the command tree ----------------------------------------------------------------------------


def is_discord_name(name: str) -> bool:
    """Discord's `^[-_\\p{L}\\p{N}\\p{sc=Deva}\\p{sc=Thai}]{1,32}$`, lowercase where the script has case."""

    def allowed(ch: str) -> bool:
        if ch in "-_" or unicodedata.category(ch)[0] in "LN":
            return True
        return "\u0900" <= ch <= "\u097f" or "\u0e00" <= ch <= "\u0e7f"  # Devanagari, Thai (their marks too)

    return 1 <= len(name) <= 32 and all(allowed(ch) for ch in name) and name == name.lower()


def test_the_name_rule_can_fail() -> None:
    assert is_discord_name("运动控制") and is_discord_name("keep_sound") and is_discord_name("उपयोग")
    assert not is_discord_name("运动 控制")  # a space
    assert not is_discord_name("Motion")  # upper case
    assert not is_discord_name("额度！")  # punctuation
    assert not is_discord_name("长" * 33)


def test_every_chinese_command_and_option_name_is_a_valid_discord_name() -> None:
    names = [
        (m.id, m.string)
        for m in read(catalogue_path(CHINESE))
        if m.context in (CTX_COMMAND_NAME, CTX_OPTION_NAME)
    ]
    assert len(names) >= 10
    assert [pair for pair in names if not is_discord_name(pair[1])] == []


async def synced_tree() -> tuple[app_commands.CommandTree, list[dict]]:
    """The real cogs' commands, as discord.py would send them to Discord with the translator set."""
    bot = commands.Bot(command_prefix="!", intents=discord.Intents.none())
    for cog in (MotionCog, AnimateCog, QuotaCog, AdminCog, ChallengeCog, JobsCog):
        await bot.add_cog(cog(bot))  # type: ignore[arg-type]  # the cogs only keep the bot
    await bot.tree.set_translator(CatalogueTranslator())
    translator = bot.tree.translator
    assert translator is not None
    payloads = [await command.get_translated_payload(bot.tree, translator) for command in bot.tree.get_commands()]
    return bot.tree, payloads


def walk(payload: dict, path: str = ""):
    """Every command, group and option of a payload, with the choices, as (path, item)."""
    here = f"{path}/{payload['name']}"
    yield here, payload
    for option in payload.get("options", []):
        yield from walk(option, here)


async def test_every_command_string_is_translated_for_zh_cn() -> None:
    _, payloads = await synced_tree()
    assert {p["name"] for p in payloads} >= {"motion", "animate", "quota", "admin"}
    missing = []
    for path, item in walk({"name": "", "options": payloads}):
        if path == "/":
            continue
        zh = "zh-CN"
        if zh not in (item.get("name_localizations") or {}):
            missing.append(("name", path))
        if zh not in (item.get("description_localizations") or {}):
            missing.append(("description", path))
        for choice in item.get("choices", []):
            if zh not in (choice.get("name_localizations") or {}):
                missing.append(("choice", path, choice["name"]))
    assert missing == []


async def test_the_synced_chinese_tree_is_one_discord_accepts() -> None:
    _, payloads = await synced_tree()
    for path, item in walk({"name": "", "options": payloads}):
        if path == "/":
            continue
        localized = item.get("name_localizations") or {}
        # Only Simplified Chinese is offered: every other locale keeps the English default.
        assert set(localized) <= {"zh-CN"}, path
        assert is_discord_name(localized["zh-CN"]), (path, localized)
        assert 1 <= len(item["description_localizations"]["zh-CN"]) <= 100, path
        for choice in item.get("choices", []):
            assert 1 <= len(choice["name_localizations"]["zh-CN"]) <= 100
        siblings = [o["name_localizations"]["zh-CN"] for o in item.get("options", [])]
        assert len(siblings) == len(set(siblings)), f"two options of {path} share a Chinese name"
    top = [p["name_localizations"]["zh-CN"] for p in payloads]
    assert len(top) == len(set(top))
    motion = next(p for p in payloads if p["name"] == "motion")
    assert motion["name_localizations"] == {"zh-CN": "运动控制"}
    orientation = next(o for o in motion["options"] if o["name"] == "orientation")
    assert [c["name_localizations"]["zh-CN"] for c in orientation["choices"]] == ["与视频一致（最长 30 秒）", "与图片一致（最长 10 秒）"]


@pytest.mark.parametrize(
    "locale", [discord.Locale.american_english, discord.Locale.british_english, discord.Locale.taiwan_chinese, discord.Locale.japanese]
)
async def test_the_translator_leaves_other_locales_to_the_default(locale: discord.Locale) -> None:
    translator = CatalogueTranslator()
    context = app_commands.TranslationContext(app_commands.TranslationContextLocation.command_name, None)
    assert await translator.translate(app_commands.locale_str("motion"), locale, context) is None  # type: ignore[arg-type]


async def test_the_translator_answers_chinese_by_location() -> None:
    translator = CatalogueTranslator()
    where = app_commands.TranslationContextLocation
    chinese = discord.Locale.chinese

    async def zh(text: str, location: app_commands.TranslationContextLocation) -> str | None:
        return await translator.translate(app_commands.locale_str(text), chinese, app_commands.TranslationContext(location, None))  # type: ignore[arg-type]

    assert await zh("motion", where.command_name) == "运动控制"
    assert await zh("admin", where.group_name) == "管理"
    assert await zh("image", where.parameter_name) == "图片"
    assert await zh("Pro (1080p)", where.choice_name) == "高品质（1080p）"
    assert await zh("Not a catalogued string", where.command_description) is None
    assert await zh("motion", where.other) is None
