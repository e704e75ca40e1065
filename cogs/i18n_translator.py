"""Command names, descriptions, option names and choices in the member's language (bot/i18n.py).

Discord shows each member the command tree in their client's language when the synced commands
carry `name_localizations` / `description_localizations`; discord.py fills them at sync time by
asking a `Translator` about every string of the tree. This one answers from the same catalogue as
every other message, looking up the English string under the context of where it stands
(command name, option description, choice, ...).

Wiring (in MotionBot.setup_hook, before the tree is synced)::

    await self.tree.set_translator(CatalogueTranslator())

The commands need no change: discord.py turns their plain strings into `locale_str` itself. The
command fingerprint that decides whether to sync must then include the translations (hash
`await command.get_translated_payload(tree, translator)` rather than `to_dict`), or a catalogue
change would never reach Discord.
"""

from __future__ import annotations

from discord import Locale
from discord.app_commands import (
    TranslationContextLocation,
    TranslationContextTypes,
    Translator,
    locale_str,
)

from bot.i18n import (
    CTX_CHOICE,
    CTX_COMMAND_DESCRIPTION,
    CTX_COMMAND_NAME,
    CTX_OPTION_DESCRIPTION,
    CTX_OPTION_NAME,
    SOURCE_LANGUAGE,
    lookup,
    resolve_language,
)

CONTEXT_OF_LOCATION: dict[TranslationContextLocation, str] = {
    TranslationContextLocation.command_name: CTX_COMMAND_NAME,
    TranslationContextLocation.group_name: CTX_COMMAND_NAME,
    TranslationContextLocation.command_description: CTX_COMMAND_DESCRIPTION,
    TranslationContextLocation.group_description: CTX_COMMAND_DESCRIPTION,
    TranslationContextLocation.parameter_name: CTX_OPTION_NAME,
    TranslationContextLocation.parameter_description: CTX_OPTION_DESCRIPTION,
    TranslationContextLocation.choice_name: CTX_CHOICE,
}


class CatalogueTranslator(Translator):
    """Chinese (zh-CN) from the catalogue; None (Discord shows the English default) otherwise."""

    async def translate(self, string: locale_str, locale: Locale, context: TranslationContextTypes) -> str | None:
        language = resolve_language(locale.value)
        msgctxt = CONTEXT_OF_LOCATION.get(context.location)
        if language == SOURCE_LANGUAGE or msgctxt is None:
            return None
        return lookup(string.message, language, msgctxt=msgctxt)
