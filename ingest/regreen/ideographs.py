"""CJK radicals read back as the ideographs they print as.

A PDF printed from a browser or an office suite with a CJK font (Noto/Source Han, SimSun) often maps a
glyph the font shares between a radical and an ideograph to the radical's code point in its text layer:
the notice printed by Chromium reads back '项⽬名称' (U+2F6C KANGXI RADICAL EYE) and '前⻅' (U+2EC5 CJK
RADICAL C-SIMPLIFIED SEE), which look like 项目名称 and 前见 and compare unequal to them. NFKC maps the
Kangxi radicals but not the CJK Radicals Supplement, so the mapping comes from the Unicode Character
Database's Equivalent_Unified_Ideograph property (`data/EquivalentUnifiedIdeograph.txt`, Unicode 15.0,
as Debian's unicode-data package ships it; the Unicode license is in its header).
"""

from __future__ import annotations

from pathlib import Path

_DATA = Path(__file__).resolve().parent / "data" / "EquivalentUnifiedIdeograph.txt"


def _read_table(path: Path) -> dict[int, str]:
    table: dict[int, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        fields = line.split("#", 1)[0].split(";")
        if len(fields) != 2:
            continue  # a comment, or a blank line
        first, _, last = fields[0].strip().partition("..")
        ideograph = chr(int(fields[1], 16))
        for code in range(int(first, 16), int(last or first, 16) + 1):
            table[code] = ideograph
    return table


# str.translate's table: every radical and stroke with an equivalent unified ideograph, to that ideograph.
UNIFIED_IDEOGRAPHS: dict[int, str] = _read_table(_DATA)


def unify_ideographs(text: str) -> str:
    """`text` with every CJK radical or stroke that prints as an ideograph replaced by that ideograph."""
    return text.translate(UNIFIED_IDEOGRAPHS)
