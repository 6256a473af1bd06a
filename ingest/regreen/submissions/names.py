"""File names are data, not paths.

A name in the inbox is whatever bytes the uploader gave it: GBK from a Windows zip that `unzip` left
undecoded, control characters, 250 bytes of Chinese. Python hands such a name over as a str with the
undecodable bytes as lone surrogates, which neither DuckDB nor a UTF-8 terminal accepts. So:

- `display_name` is the form regreen stores and prints: every byte that is not UTF-8 written as `\\xNN`,
  every control or invisible formatting character (a terminal escape, a right-to-left override) as
  `\\xNN` / `\\uNNNN`, and a backslash as `\\\\`; and personal data in it masked as in an issue
  (`mask_name`: a clerk who adds a phone number to the name, `…-13812345678.csv`, is not quoted in the
  warehouse, the report or the logs). Nothing else changes: a plain Chinese name stays as it is;
- `safe_name` is the form regreen uses for a file it writes itself (in quarantine/): the display form
  cut to NAME_BYTES bytes of UTF-8 (the suffix kept), so that it and `.<name>.errors.txt.partial` stay
  under the file system's 255 bytes.
"""

from __future__ import annotations

import unicodedata

from regreen.submissions.personal import mask_personal

NAME_BYTES = 120
_INVISIBLE = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


def _escaped(char: str) -> str:
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # an undecodable byte, as os.fsdecode leaves it
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def display_name(name: str) -> str:
    """`name` (as os.listdir gives it) with undecodable bytes and invisible characters escaped, and
    personal data masked (mask_name)."""
    return mask_name(
        "".join(
            "\\\\" if char == "\\" else _escaped(char) if unicodedata.category(char) in _INVISIBLE else char
            for char in name
        )
    )


def mask_name(shown: str) -> str:
    """`shown` (a displayed name) with personal data in its stem masked (mask_personal), the suffix kept:
    the word after a label would otherwise take it along."""
    stem, suffix = _split_suffix(shown)
    return (mask_personal(stem) or "") + suffix


def _split_suffix(shown: str) -> tuple[str, str]:
    """(stem, '.suffix'), the suffix '' when there is none of at most 10 characters."""
    stem, dot, suffix = shown.rpartition(".")
    if not dot or len(suffix) > 10:
        return shown, ""
    return stem, f".{suffix}"


def safe_name(name: str) -> str:
    """A name regreen may write: the display form of `name`, at most NAME_BYTES bytes, suffix kept."""
    stem, suffix = _split_suffix(display_name(name))
    budget = NAME_BYTES - len(suffix.encode())
    cut = stem.encode()[:budget].decode("utf-8", "ignore")
    if cut.startswith("."):  # a hidden-looking name is stored visibly
        cut = "_" + cut[1:]
    return (cut or "_") + suffix
