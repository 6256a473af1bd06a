"""File names are data, not paths.

A name in the inbox is whatever bytes the uploader gave it: GBK from a Windows zip that `unzip` left
undecoded, control characters, 250 bytes of Chinese. Python hands such a name over as a str with the
undecodable bytes as lone surrogates, which neither DuckDB nor a UTF-8 terminal accepts. So:

- `display_name` is the form regreen stores and prints: every byte that is not UTF-8 written as `\\xNN`,
  every control or invisible formatting character (a terminal escape, a right-to-left override) as
  `\\xNN` / `\\uNNNN`, and a backslash as `\\\\`; nothing else changes, so the form is lossless and a
  plain Chinese name stays as it is;
- `safe_name` is the form regreen uses for a file it writes itself (in quarantine/): the display form
  cut to NAME_BYTES bytes of UTF-8 (the suffix kept), so that it and `.<name>.errors.txt.partial` stay
  under the file system's 255 bytes.
"""

from __future__ import annotations

import unicodedata

NAME_BYTES = 120
_INVISIBLE = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


def _escaped(char: str) -> str:
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # an undecodable byte, as os.fsdecode leaves it
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def display_name(name: str) -> str:
    """`name` (as os.listdir gives it) with undecodable bytes and invisible characters escaped."""
    return "".join(
        "\\\\" if char == "\\" else _escaped(char) if unicodedata.category(char) in _INVISIBLE else char
        for char in name
    )


def safe_name(name: str) -> str:
    """A name regreen may write: the display form of `name`, at most NAME_BYTES bytes, suffix kept."""
    shown = display_name(name)
    stem, dot, suffix = shown.rpartition(".")
    if not dot or len(suffix) > 10:
        stem, suffix = shown, ""
    suffix = f".{suffix}" if suffix else ""
    budget = NAME_BYTES - len(suffix.encode())
    cut = stem.encode()[:budget].decode("utf-8", "ignore")
    if cut.startswith("."):  # a hidden-looking name is stored visibly
        cut = "_" + cut[1:]
    return (cut or "_") + suffix
