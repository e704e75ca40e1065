"""A server's word list (bot/words.py): whole words, phrases, look-alikes, Chinese."""

from __future__ import annotations

import pytest

from bot.words import (
    MAX_ENTRY_CHARS,
    WordEntryError,
    WordList,
    check_entry,
    entry_key,
    normalise,
)

LISTED = ["NuDe", "ass", "nude photo", "色情", "bob", "hell", "привет"]


@pytest.fixture(scope="module")
def words() -> WordList:
    return WordList(LISTED)


@pytest.mark.parametrize(
    ("prompt", "named"),
    [
        ("a girl dancing, NUDE", "NuDe"),
        ("Nude.", "NuDe"),
        ("(nude)", "NuDe"),
        ("a nude photo of her", "nude photo"),  # the phrase, not just its first word
        ("Nude-Photo", "nude photo"),
        ("nude_photo", "nude photo"),
        ("nudephoto", "nude photo"),
        ("dancing in hell tonight", "hell"),
        ("an ass", "ass"),
    ],
)
def test_listed_words_are_found_whatever_their_case(words: WordList, prompt: str, named: str) -> None:
    assert words.find(prompt) == named


@pytest.mark.parametrize(
    "prompt",
    [
        "denuded landscape",  # inside a longer word
        "a classic pose",  # "ass" inside "classic"
        "Shelly says hello",  # "hell" inside "Shelly" and "hello"
        "bobsleigh",
        "nude0",  # a digit after the word makes a different word
        "",
        "a cat dancing in the rain",
    ],
)
def test_only_whole_words_match(words: WordList, prompt: str) -> None:
    assert words.find(prompt) is None


@pytest.mark.parametrize(
    ("prompt", "named"),
    [
        ("nudе", "NuDe"),  # Cyrillic е
        ("пudе", None),  # Cyrillic п does not look like n: no false alarm
        ("ΝUDΕ", "NuDe"),  # Greek capital Nu and Epsilon
        ("nυde", "NuDe"),  # Greek upsilon
        ("ｎｕｄｅ", "NuDe"),  # fullwidth
        ("𝐧𝐮𝐝𝐞", "NuDe"),  # mathematical bold
        ("ⓝⓤⓓⓔ", "NuDe"),  # circled
        ("núdé", "NuDe"),  # accents
        ("n̴u̴d̴e̴", "NuDe"),  # combining overlays ("zalgo")
        ("nu\u200bde", "NuDe"),  # a zero-width space inside
        ("nu\u00adde", "NuDe"),  # a soft hyphen inside
        ("аss", "ass"),  # Cyrillic а
        ("Ηеll", "hell"),  # Greek capital Eta, Cyrillic е
        ("НЕLL", "hell"),  # Cyrillic capitals Н and Е look like H and E (their small letters do not)
        ("нell", None),  # Cyrillic н does not look like h
    ],
)
def test_look_alike_letters_do_not_slip_through(words: WordList, prompt: str, named: str | None) -> None:
    assert words.find(prompt) == named


@pytest.mark.parametrize(
    ("prompt", "named"),
    [("a55", "ass"), ("@ss", "ass"), ("a$$", "ass"), ("b0b", "bob"), ("he11", "hell"), ("H3LL", "hell")],
)
def test_digits_and_symbols_standing_in_for_letters(words: WordList, prompt: str, named: str) -> None:
    assert words.find(prompt) == named


@pytest.mark.parametrize("prompt", ["455", "808 bpm", "page 455", "h3ll0 world"])
def test_numbers_are_not_words(words: WordList, prompt: str) -> None:
    assert words.find(prompt) is None


@pytest.mark.parametrize(
    ("prompt", "named"),
    [
        ("这是色情内容", "色情"),  # no spaces in Chinese: found inside the sentence
        ("色情", "色情"),
        ("这是情色内容", None),
        ("我想要nude图片", "NuDe"),  # a Latin word between Chinese characters is still a whole word
        ("我想要ｎｕｄｅ图片", "NuDe"),
        ("ПРИВЕТ всем", "привет"),  # other cased scripts: case-insensitive too
        ("приветствие", None),  # and whole words
    ],
)
def test_chinese_and_other_scripts(words: WordList, prompt: str, named: str | None) -> None:
    assert words.find(prompt) == named


def test_the_word_is_named_as_the_admin_wrote_it() -> None:
    assert WordList(["  Motion Brush "]).find("a motion brush stroke") == "Motion Brush"


def test_an_empty_list_finds_nothing() -> None:
    empty = WordList([])
    assert len(empty) == 0 and empty.find("anything at all") is None


def test_entries_that_look_the_same_are_one_entry() -> None:
    assert entry_key("Nude") == entry_key("ｎｕｄｅ") == entry_key("nudе") == "nude"
    assert entry_key("nude   photo") == "nude photo"
    assert len(WordList(["Nude", "ｎｕｄｅ", "nudе"])) == 1


@pytest.mark.parametrize(
    ("entry", "why"),
    [("", "empty"), ("   ", "empty"), ("!!!", "no letters"), ("x" * (MAX_ENTRY_CHARS + 1), "limit")],
)
def test_unusable_entries_are_refused_with_the_reason(entry: str, why: str) -> None:
    with pytest.raises(WordEntryError, match=why):
        check_entry(entry)


def test_normalise_is_stable() -> None:
    once = normalise("ＮＵＤＥ nudе núdé ß が")
    assert once == "nude nude nude ss が"  # Japanese keeps its voicing mark: a different word without it
    assert normalise(once) == once

