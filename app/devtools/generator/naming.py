"""Names derived from a module name: plural, PascalCase, kebab-case, and English labels.

Every value that ends up in generated Python code as an identifier is an `Ident` and every
prose value (docstrings, comments) is a `Prose`; both are checked when they are made, and the
template environment refuses any other string (see `render.py`).
"""

from __future__ import annotations

import builtins
import keyword
import re

IDENTIFIER = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$")
# Labels go into docstrings, comments and string literals: letters, digits, spaces and a
# little punctuation; never quotes, backslashes or line breaks.
PROSE = re.compile(r"^[^\W_][\w .,()&/+'-]*$")
MAX_NAME_LENGTH = 30
MAX_LABEL_LENGTH = 30

_ES_ENDINGS = ("s", "x", "z", "ch", "sh")


class Ident(str):
    """A validated snake_case identifier (or a name built only from such identifiers)."""

    __slots__ = ()


class Prose(str):
    """Validated human text: safe inside a docstring, a comment or a string literal."""

    __slots__ = ()


class Code(str):
    """A fragment of Python source built by the generator from validated parts."""

    __slots__ = ()


def is_snake_identifier(value: str) -> bool:
    return bool(IDENTIFIER.match(value)) and value.isascii()


def shadows_python(value: str) -> bool:
    """A keyword, soft keyword or builtin name."""
    return keyword.iskeyword(value) or keyword.issoftkeyword(value) or hasattr(builtins, value)


def pascal(name: str) -> Ident:
    return Ident("".join(part.capitalize() for part in name.split("_")))


def kebab(name: str) -> Ident:
    return Ident(name.replace("_", "-"))


def pluralize(word: str) -> str:
    """Regular English plural of the last word of `word` (`category` -> `categories`)."""
    lower = word.lower()
    if lower.endswith("y") and len(word) > 1 and lower[-2] not in "aeiou":
        return word[:-1] + ("IES" if word.isupper() else "ies")
    if lower.endswith(_ES_ENDINGS):
        return word + ("ES" if word.isupper() else "es")
    return word + ("S" if word.isupper() else "s")


def humanize(name: str) -> str:
    """`order_item` -> `Order item`."""
    return name.replace("_", " ").capitalize()


def lower_first(text: str) -> str:
    """`Example` -> `example`, but `API key` stays `API key` (an acronym keeps its case)."""
    if len(text) > 1 and text[1].isupper():
        return text
    return text[:1].lower() + text[1:]


def article(text: str) -> str:
    """`a` or `an` before `text` (by its first letter, which is right for most words)."""
    return "an" if text[:1].lower() in "aeiou" else "a"


def check_prose(text: str, what: str, limit: int = MAX_LABEL_LENGTH) -> Prose:
    """`text` as `Prose`, or ValueError naming `what`."""
    if not 1 <= len(text) <= limit or not PROSE.match(text):
        raise ValueError(
            f"{what} must be 1-{limit} characters of letters, digits, spaces and "
            ".,()&/+'- (no quotes, backslashes or line breaks): {text!r}"
        )
    return Prose(text)
