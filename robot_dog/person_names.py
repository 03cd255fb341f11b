"""What a person's name is, wherever one is typed (pure): a station account, an officer paired
with a handheld. One rule, so the name the station signs as a command's issuer is the name the
dog burns into its bodycam frames.

Names may be in any script (王警官 is a name) but are one NFC-normalised line of at most
MAX_NAME_CHARS printable characters: no control, format or separator characters other than the
plain space, no space at either end. They go into signed commands, logs, pages and frames,
where they are escaped, never trusted as markup.
"""
from __future__ import annotations

import unicodedata

MAX_NAME_CHARS = 64
_REFUSED_CATEGORIES = ("C", "Z")  # control, format, surrogate, unassigned; separators


def check_person_name(name: object) -> str:
    """The name, normalised (NFC), or ValueError saying what is wrong with it."""
    if not isinstance(name, str):
        raise ValueError("a name is text")
    name = unicodedata.normalize("NFC", name)
    if not 1 <= len(name) <= MAX_NAME_CHARS or name != name.strip():
        raise ValueError(f"a name is 1 to {MAX_NAME_CHARS} characters, no space at either end")
    for char in name:
        if char != " " and unicodedata.category(char)[0] in _REFUSED_CATEGORIES:
            raise ValueError(f"a name cannot hold the character U+{ord(char):04X}")
    return name


def shown(text: object) -> str:
    """Anything a client sent as a name, fit for a log line: at most MAX_NAME_CHARS characters,
    the refused ones (control, format, NUL...) as \\uXXXX."""
    if not isinstance(text, str):
        return f"<{type(text).__name__}>"
    return "".join(c if c == " " or unicodedata.category(c)[0] not in _REFUSED_CATEGORIES
                   else f"\\u{ord(c):04x}" for c in text[:MAX_NAME_CHARS])
