"""One message catalogue for every sentence a member or admin reads: English and Simplified Chinese.

The catalogue is gettext's, kept as .po text files and read at run time by Babel, so a fresh
`pip install -e .` works with no compile step:

- `bot/locale/messages.pot`: the English messages (the msgids). English is the source language:
  the msgid *is* the English text, so English needs no .po of its own.
- `bot/locale/zh_CN/LC_MESSAGES/messages.po`: the Simplified Chinese translation of each.
  tests/test_i18n.py fails when a message is in one file and not the other, when a translation
  is empty or fuzzy, or when its {placeholders} differ from the English ones.

How to use it
-------------
The core never knows who reads a sentence, so it builds a lazy `Text` and the edge renders it::

    from bot.i18n import Text, OrList, translate

    raise Refusal(Text("video is {seconds} s; the minimum is {minimum} s", seconds="2.1", minimum=3))
    ...
    # in a cog, or the tree's error handler: private answers follow the member's language,
    # public posts the server's (English otherwise)
    text.render(interaction.locale)            # discord.Locale.chinese -> Chinese
    text.render(interaction.guild_locale)
    str(text)                                   # English (logs, the terminal)
    translate("Slash commands synced.", interaction.locale)   # one-off, already formatted

- Placeholders are `str.format` fields, named (`{left}`), with optional format specs (`{left:,}`).
  Only the catalogue's text is a template; parameter values are inserted as they are, so a
  member's prompt can never inject a field.
- A parameter may itself be a `Text` (a field name such as `Text("image", msgctxt="field")`) or an
  `OrList`/`AndList` (joined the way the language joins lists: "JPEG, PNG or WEBP" /
  "JPEG、PNG或WEBP"); they are rendered in the same language as the sentence around them.
- Plurals: `Text("You already have {count} video in progress.", plural="... {count} videos ...",
  count=n)`; gettext picks the form (Chinese has one).
- `msgctxt` separates the same English word used in two places ("image" the option name vs.
  "image" in a sentence). The command tree uses the contexts below (cogs/i18n_translator.py).
- `resolve_language("zh-CN")` -> "zh_CN"; anything without a catalogue (en-US, en-GB, fr, zh-TW,
  None, junk) -> "en". Discord's locale strings and `discord.Locale` both work (str() of it).

Adding a message: write it in the code as `Text("...")` (a literal, so it can be found), then add
the same msgid (and msgctxt, if any) to messages.pot and, translated, to zh_CN/.../messages.po.
tests/test_i18n.py lists every `Text(...)`/`translate(...)` literal in bot/ and cogs/ and every
command-tree string that is missing from the catalogue. Keep the .po files in Babel's layout
(`pybabel update -i bot/locale/messages.pot -d bot/locale` merges a changed template).
"""

from __future__ import annotations

import gettext
import io
import logging
import string
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal, Protocol

from babel import Locale, UnknownLocaleError
from babel.core import get_global
from babel.lists import format_list
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

log = logging.getLogger(__name__)

LOCALE_DIR = Path(__file__).with_name("locale")
DOMAIN = "messages"
TEMPLATE = LOCALE_DIR / f"{DOMAIN}.pot"
SOURCE_LANGUAGE = "en"

# msgctxt of the command tree's strings, one per place Discord shows them.
CTX_COMMAND_NAME = "command name"  # also group names: both are what a member types after "/"
CTX_COMMAND_DESCRIPTION = "command description"
CTX_OPTION_NAME = "option name"
CTX_OPTION_DESCRIPTION = "option description"
CTX_CHOICE = "choice"
# Other contexts used by messages: a form field named inside a sentence, a button label, a chart.
CTX_FIELD = "field"
CTX_BUTTON = "button"
CTX_DIMENSION = "dimension"


class Renderable(Protocol):
    def render(self, locale: object | None = None) -> str: ...


def catalogue_path(language: str) -> Path:
    return LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


@cache
def available_languages() -> tuple[str, ...]:
    """The source language first, then every language that has a catalogue ("zh_CN")."""
    found = sorted(p.parent.parent.name for p in LOCALE_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.po"))
    return (SOURCE_LANGUAGE, *found)


@cache
def _language_and_script(tag: str) -> tuple[str, str | None]:
    """("zh", "Hans") for zh_CN, zh-SG, zh-Hans; ("zh", "Hant") for zh-TW. Raises ValueError."""
    try:
        parsed = Locale.parse(tag.replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError) as exc:
        raise ValueError(tag) from exc
    script = parsed.script
    if script is None:
        # A bare language ("zh") is written in its usual script: CLDR's likely subtags ("zh_Hans_CN").
        likely = str(get_global("likely_subtags").get(parsed.language, "")).split("_")
        script = likely[1] if len(likely) == 3 else None
    return parsed.language, script


@cache
def resolve_language(locale: object | None) -> str:
    """The catalogue to use for a Discord locale ("zh-CN", discord.Locale.chinese, "en-GB", None).

    Traditional Chinese (zh-TW) does not get the Simplified catalogue: the command tree shows
    zh-TW members English names, and messages must match what they see there.
    """
    if locale is None:
        return SOURCE_LANGUAGE
    tag = str(getattr(locale, "value", locale)).strip()
    try:
        wanted = _language_and_script(tag)
    except ValueError:
        return SOURCE_LANGUAGE
    for language in available_languages()[1:]:
        if _language_and_script(language) == wanted:
            return language
    return SOURCE_LANGUAGE


@cache
def catalogue(language: str) -> Catalog:
    """The parsed .po of one language (read once)."""
    with catalogue_path(language).open("rb") as po:
        return read_po(po, locale=language, domain=DOMAIN)


@cache
def translations(language: str) -> gettext.NullTranslations:
    """gettext's view of one language's catalogue (Babel compiles the .po in memory)."""
    if language == SOURCE_LANGUAGE:
        return gettext.NullTranslations()
    mo = io.BytesIO()
    write_mo(mo, catalogue(language))  # leaves fuzzy entries out: an unchecked translation is not shown
    mo.seek(0)
    return gettext.GNUTranslations(mo)


def lookup(msgid: str, language: str, *, msgctxt: str | None = None) -> str | None:
    """The translation of one (singular) message in `language`, or None when it has none."""
    if language == SOURCE_LANGUAGE:
        return None
    message = catalogue(language).get(msgid, context=msgctxt)
    if message is None or message.fuzzy or not message.string or not isinstance(message.string, str):
        return None
    return message.string


def field_names(template: str) -> set[str]:
    """The placeholder names in a message ("{left:,} of {total}" -> {"left", "total"})."""
    return {name.split(".")[0].split("[")[0] for _, name, _, _ in string.Formatter().parse(template) if name}


@dataclass(frozen=True)
class _JoinedList:
    items: tuple[object, ...]
    style: Literal["standard", "or"]

    def render(self, locale: object | None = None) -> str:
        language = resolve_language(locale)
        words = [_render_value(item, locale) for item in self.items]
        if not words:
            return ""
        return format_list(words, style=self.style, locale=language)

    def __str__(self) -> str:
        return self.render(None)


def OrList(items: Iterable[object]) -> _JoinedList:  # noqa: N802 - reads as a type at call sites
    """"JPEG, PNG or WEBP" / "JPEG、PNG或WEBP" (items may be Text)."""
    return _JoinedList(tuple(items), "or")


def AndList(items: Iterable[object]) -> _JoinedList:  # noqa: N802
    """"a, b and c" / "a、b和c"."""
    return _JoinedList(tuple(items), "standard")


def _render_value(value: object, locale: object | None) -> object:
    render = getattr(value, "render", None)
    return render(locale) if callable(render) else value


class Text:
    """A catalogue message with its parameters, rendered in a reader's language when shown.

    `str(text)` is the English sentence, so a Text can stand wherever a plain message did.
    """

    __slots__ = ("count", "msgctxt", "msgid", "params", "plural")

    def __init__(
        self,
        msgid: str,
        /,
        *,
        plural: str | None = None,
        count: int | None = None,
        msgctxt: str | None = None,
        **params: object,
    ) -> None:
        if (plural is None) != (count is None):
            raise ValueError("a plural message needs both plural= and count=")
        self.msgid = msgid
        self.plural = plural
        self.count = count
        self.msgctxt = msgctxt
        self.params: dict[str, object] = params if count is None else {"count": count, **params}

    def template(self, language: str) -> str:
        catalog = translations(language)
        if self.plural is not None:
            assert self.count is not None
            if self.msgctxt:
                return catalog.npgettext(self.msgctxt, self.msgid, self.plural, self.count)
            return catalog.ngettext(self.msgid, self.plural, self.count)
        if self.msgctxt:
            return catalog.pgettext(self.msgctxt, self.msgid)
        return catalog.gettext(self.msgid)

    def render(self, locale: object | None = None) -> str:
        language = resolve_language(locale)
        values = {name: _render_value(value, locale) for name, value in self.params.items()}
        template = self.template(language)
        try:
            return template.format_map(values)
        except (KeyError, IndexError, ValueError) as exc:
            if language == SOURCE_LANGUAGE:
                raise
            # A broken translation must not hide the message; the tests keep this from happening.
            log.warning("translation of %r into %s does not format (%r); using English", self.msgid, language, exc)
            return self.template(SOURCE_LANGUAGE).format_map(values)

    def __str__(self) -> str:
        return self.render(None)

    def __repr__(self) -> str:
        return f"Text({self.msgid!r}, {self.params!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Text) and (self.msgid, self.plural, self.msgctxt, self.params) == (
            other.msgid,
            other.plural,
            other.msgctxt,
            other.params,
        )

    __hash__ = None  # type: ignore[assignment]  # params are mutable values


@dataclass(frozen=True)
class Stored:
    """A sentence kept in English (a job's reason in the database), shown in the reader's language
    when it is one whole catalogue message, else as it is (a provider's words, a filled template)."""

    english: str

    def render(self, locale: object | None = None) -> str:
        return lookup(self.english, resolve_language(locale)) or self.english

    def __str__(self) -> str:
        return self.english


def translate(msgid: str, locale: object | None = None, /, *, msgctxt: str | None = None, **params: object) -> str:
    """One message, formatted, in the reader's language (English when it has no translation)."""
    return Text(msgid, msgctxt=msgctxt, **params).render(locale)


def translate_plural(
    singular: str, plural: str, count: int, locale: object | None = None, /, *, msgctxt: str | None = None, **params: object
) -> str:
    return Text(singular, plural=plural, count=count, msgctxt=msgctxt, **params).render(locale)
