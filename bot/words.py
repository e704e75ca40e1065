"""A server's word list: is a listed word or phrase in a prompt, even when disguised?

Both the listed words and the prompt are brought to one comparable form, `normalise()`:

1. NFKC: fullwidth ｌｅｔｔｅｒｓ, 𝐦𝐚𝐭𝐡 letters, ligatures and circled letters become plain ones.
2. Look-alikes from other scripts become the Latin letter they imitate (Cyrillic а/е/о/р/с/х,
   Greek ο/ν/ρ, Armenian ս, ...), from Unicode's confusables table (UTS #39) as shipped by
   confusable-homoglyphs. Prompts are also searched with capitals mapped before case folding,
   so both Cyrillic "Н" (looks like H, though "н" looks like nothing) and "с" are caught.
3. casefold, then invisible format characters (zero-width space, joiners, soft hyphen, bidi
   marks) are removed and accents are stripped from Latin, Greek and Cyrillic letters (é -> e).
   Marks of other scripts are kept: in Japanese or Hindi they make a different word.

Matching, on that form:

- Case-insensitive whole words: "ass" does not match "class". A phrase ("nude photo") also matches
  with any punctuation or none between its words ("nude-photo", "nudephoto").
- Scripts written without spaces (Chinese, Japanese, Korean, Thai, ...) have no word edges:
  there a listed word matches anywhere ("色情" in "这是色情内容"), and a Latin word right next to
  Chinese text still counts as a whole word ("我想要nude图片").
- Digits and symbols standing in for letters (n00d, $hit, sh1t, @ss) match, but only when the
  match holds at least one real letter, so "455" is never taken for "ass".

Not caught (say so to admins rather than pretend): letters spaced out ("n u d e"), repeated
letters ("nuuude"), misspellings, and Traditional vs. Simplified Chinese variants of a word
(list both). A Russian word that looks exactly like a listed Latin one ("сор" vs "cop") is caught:
by design, look-alikes are one word here.

Use: `WordList(rows).find(prompt)` returns the listed word as the admin wrote it (so the refusal
can name it: Text("Your prompt contains “{word}”, which this server does not allow. ...")), or
None. `check_entry(word)` validates an admin's new entry and returns its `entry_key`, the form to
keep unique in the store (so "Nude" and "ｎｕｄｅ" are one entry).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import cache, cached_property

from confusable_homoglyphs.confusables import confusables_data

MAX_ENTRY_CHARS = 100

# Scripts written without spaces between words (code point ranges; Python's re has no \p{Script}).
_NO_SPACE_RANGES = (
    "\u0e00-\u0eff"  # Thai, Lao
    "\u1000-\u109f"  # Myanmar
    "\u1780-\u17ff"  # Khmer
    "\u1100-\u11ff\u3130-\u318f\uac00-\ud7af"  # Hangul (Korean particles attach to nouns)
    "\u2e80-\u2fdf\u3005-\u3007\u3021-\u3029\u3038-\u303b"  # CJK radicals, ideographic marks
    "\u3040-\u30ff\u31f0-\u31ff"  # Hiragana, Katakana
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # Han
    "\U00020000-\U0003134f"  # Han, extensions B-H
)
_NO_SPACE_CHAR = re.compile(f"[{_NO_SPACE_RANGES}]")
_BETWEEN_WORDS = r"[\W_]*"

# Stand-ins people type for letters. Kept to the common ones: each addition widens every match.
_LEET: dict[str, str] = {
    "a": "4@",
    "b": "8",
    "e": "3",
    "g": "9",
    "i": "1!|",
    "l": "1|",
    "o": "0",
    "s": "5$",
    "t": "7",
    "z": "2",
}
# The prefilter's alphabet: every stand-in becomes its letter, i and l become one letter (1 and |
# stand for both), so a precise match always leaves its words in the skeleton of the text.
_SKELETON = str.maketrans({stand_in: ("i" if letter == "l" else letter) for letter, ins in _LEET.items() for stand_in in ins} | {"l": "i"})
_SEPARATORS = re.compile(r"[\W_]+")
_STRIPPED_MARK_BASES = ("LATIN", "GREEK", "CYRILLIC")


class WordEntryError(ValueError):
    """An admin's word-list entry that cannot be used; str() says why."""


@cache
def _look_alikes() -> dict[int, str]:
    """Non-ASCII character -> the ASCII letters or digit it imitates (UTS #39 prototypes)."""
    table: dict[int, str] = {}
    for char, prototypes in confusables_data.items():
        if len(char) != 1 or char.isascii() or len(prototypes) != 1:
            continue  # a prototype itself lists all its look-alikes; only the mapped ones count
        target = prototypes[0]["c"].strip("\u200e\u200f")
        if not (target.isascii() and target.isalnum()):
            continue
        # UTS #39 uses "l" as the prototype of everything shaped like a bar: I, 1, l, |. A capital
        # letter of that shape (Greek Ι, Cyrillic І, Ӏ) imitates the capital I, so it reads as "i".
        if target == "l" and unicodedata.category(char) == "Lu":
            target = "i"
        table[ord(char)] = target
    return table


def _clean(text: str) -> str:
    """Drop invisible format characters, and accents from Latin, Greek and Cyrillic letters."""
    if text.isascii():
        return text  # neither can occur: skip the per-character work
    out: list[str] = []
    base = ""
    for char in unicodedata.normalize("NFD", text):
        category = unicodedata.category(char)
        if category == "Cf":
            continue
        if category != "Mn":
            base = char
        elif base and unicodedata.name(base, "").startswith(_STRIPPED_MARK_BASES):
            continue
        out.append(char)
    return unicodedata.normalize("NFC", "".join(out))


def normalise(text: str) -> str:
    """The form in which listed words and prompts are compared (see the module's docstring)."""
    # Case folding first keeps a cased script's two cases one word (ПРИВЕТ = привет).
    return _clean(unicodedata.normalize("NFKC", text).casefold().translate(_look_alikes()))


def _capitals_form(text: str) -> str:
    """The prompt with capital look-alikes mapped before case folding: Cyrillic "НЕ" imitates "HE",
    though its small letters "не" imitate nothing. Searched as well as `normalise(text)`."""
    look_alikes = _look_alikes()
    return _clean(unicodedata.normalize("NFKC", text).translate(look_alikes).casefold().translate(look_alikes))


def entry_key(word: str) -> str:
    """The normalised entry, single-spaced: two entries with the same key are the same entry."""
    return " ".join(normalise(word).split())


def check_entry(word: str) -> str:
    """An admin's new entry, checked; returns its key. Raises WordEntryError with the reason."""
    word = word.strip()
    if not word:
        raise WordEntryError("the word is empty")
    if len(word) > MAX_ENTRY_CHARS:
        raise WordEntryError(f"the word is {len(word)} characters; the limit is {MAX_ENTRY_CHARS}")
    key = entry_key(word)
    if not any(char.isalnum() for char in key):
        raise WordEntryError("the word has no letters or digits")
    return key


def _char_pattern(char: str) -> str:
    stand_ins = _LEET.get(char)
    if stand_ins is None:
        return re.escape(char)
    return "[" + re.escape(char + stand_ins) + "]"


def _entry_pattern(key: str) -> str:
    words = ["".join(_char_pattern(char) for char in word) for word in key.split()]
    return _BETWEEN_WORDS.join(words)


def _skeleton(text: str) -> str:
    return _SEPARATORS.sub("", text.translate(_SKELETON))


def _is_word_char(char: str) -> bool:
    """A letter or digit of a spaced script: what may not touch a whole word on either side."""
    return (char.isalnum() or char == "_") and not _NO_SPACE_CHAR.match(char)


class _Entry:
    """One listed word, ready to match: the precise pattern, its edges and its skeleton words."""

    def __init__(self, key: str, word: str) -> None:
        self.key = key
        self.word = word
        # A word edge applies only where the entry ends in a letter or digit of a spaced script.
        self.edge_before = _is_word_char(key[0])
        self.edge_after = _is_word_char(key[-1])
        self.skeletons = [_skeleton(part) for part in key.split()]

    @cached_property
    def pattern(self) -> re.Pattern[str]:
        # Compiled only for entries the prefilter lets through (a compile costs about 0.5 ms).
        return re.compile(_entry_pattern(self.key))

    def found_in(self, form: str) -> bool:
        start = 0
        while (match := self.pattern.search(form, start)) is not None:
            begin, end = match.span()
            if (
                not (self.edge_before and begin > 0 and _is_word_char(form[begin - 1]))
                and not (self.edge_after and end < len(form) and _is_word_char(form[end]))
                # Stand-ins alone ("455") are a number, not a word.
                and any(char.isalpha() for char in match.group())
            ):
                return True
            start = begin + 1
        return False


class WordList:
    """One server's listed words, compiled once; `find` a prompt against them.

    A cheap prefilter (are the entry's words in the text's skeleton, a plain substring test)
    leaves the precise pattern to the few entries that may match: 500 entries against a 2,500
    character prompt take about a millisecond.
    """

    def __init__(self, words: Iterable[str]) -> None:
        listed: dict[str, str] = {}  # key -> the word as the admin wrote it
        for word in words:
            try:
                key = check_entry(word)
            except WordEntryError:
                continue  # stored before a rule changed; an unusable entry cannot match anything
            listed.setdefault(key, word.strip())
        # Longest first: where a phrase and one of its words both match, the refusal names the phrase.
        self._entries = [_Entry(key, listed[key]) for key in sorted(listed, key=len, reverse=True)]

    def __len__(self) -> int:
        return len(self._entries)

    def find(self, text: str) -> str | None:
        """A listed word found in `text` (as the admin wrote it; the longest if several), or None."""
        if not self._entries or not text:
            return None
        forms = [normalise(text)]
        if not text.isascii():
            capitals = _capitals_form(text)
            if capitals != forms[0]:
                forms.append(capitals)
        skeletons = [_skeleton(form) for form in forms]
        for entry in self._entries:
            for form, skeleton in zip(forms, skeletons, strict=True):
                if all(part in skeleton for part in entry.skeletons) and entry.found_in(form):
                    return entry.word
        return None
