"""Masking personal data in what leaves the landing zone.

The reporter column and the phone column go to `landing.duckdb` only (see landing.py). But a clerk also
writes a name or a phone where no rule expects it: a footer line `填报人：张三 联系电话：13812345678`
under the table, a phone in a wrong column. Such a value comes back in an Issue (the cell as written),
which is stored in the warehouse, the quarantine report, `check --json` and the logs: so every Issue's
value and messages pass through `mask_personal` first.

Masked: mainland mobile numbers (also written 138 1234 5678 or 138-1234-5678), landline numbers with an
area code (also in brackets, (0595)2234-5678), the xxx-xxxx-xxxx form, resident ID-card numbers (18
digits, the last may be X, or the old 15), the mailbox of an e-mail address (zhangsan@163.com keeps
@163.com), and the word after a label such as 填报人, 联系人, 联系电话, 手机号, 邮箱, 微信 or QQ. A label
followed at once by a verb (电话通知, 微信联系) says how someone was reached, not who: the word after it is
kept. A masked value keeps its shape (how long, where the digits were), not its content.
"""

from __future__ import annotations

import re

MASK = "＊"
_DIGITS = r"(?<![0-9])(?:{})(?![0-9])"
_PATTERNS = (
    re.compile(
        _DIGITS.format(r"[1-9][0-9]{5}(?:19|20)[0-9]{2}[01][0-9][0-3][0-9][0-9]{3}[0-9Xx]")
    ),  # ID card
    re.compile(_DIGITS.format(r"[1-9][0-9]{7}[01][0-9][0-3][0-9][0-9]{3}")),  # the 15-digit ID card
    re.compile(_DIGITS.format(r"(?:\+?86[- ]?)?1[3-9][0-9](?:[- ]?[0-9]{4}){2}")),  # mobile
    # A landline with its area code, the code maybe in brackets, the number maybe split 4-4 or 3-4.
    re.compile(_DIGITS.format(r"(?:0[0-9]{2,3}|[(（]0[0-9]{2,3}[)）])[- ]?[0-9]{3,4}[- ]?[0-9]{4}")),
    re.compile(_DIGITS.format(r"[0-9]{3}-[0-9]{4}-[0-9]{4}")),
    # What a regreen before 2026-11-30 left of 手机 138 1234 5678 (it masked the word after the label
    # first, then found no phone in the rest): mended when `regreen purge` masks stored text again.
    re.compile(_DIGITS.format(r"(?<=＊ )[0-9]{4} [0-9]{4}")),
)
# Longer labels first: 手机号：138… masks the number, not the 号 after 手机. QQ is a label, not the start of
# a domain name (qq.com).
_LABEL = (
    r"(?:填报人|填表人|报送人|联系人|联系方式|经办人|制表人|负责人|审核人|姓名|联系电话|电话号码|电话|手机号码?|手机|座机|固话"
    r"|身份证号?码?|电子邮箱|邮箱|微信号?|[QqＱｑ]{2}(?![.A-Za-z])(?:邮箱|号码?)?)"
)
# A label followed at once by one of these says how someone was reached, not who: 电话通知各镇,
# 已微信联系监理, 微信群.
_HOW_REACHED = r"(?:通知|联系|沟通|告知|回复|确认|核实|催报|催办|汇报|群)"
# The part of an e-mail address before its @ (the domain names the provider, not the person).
_MAILBOX = re.compile(r"[A-Za-z0-9._%+-]+(?=@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)")
# A label, then the name or number it introduces, maybe in brackets or quotes, up to the next space,
# separator or closing bracket or quote: a header quoted as 「手机号」 introduces nothing (the label taken
# whole: not 手机 introducing 号), and 姓名（张三） keeps its brackets.
_LABELLED = re.compile(
    rf"((?>{_LABEL})(?!{_HOW_REACHED})\s*[:：]?\s*[「『“‘\"'(（【\[〔《<]?)"
    rf"([^\s,，;；:：、/|」』”’\"')）】\]〕》>]{{1,20}})"
)
# What every pattern above needs: a label, an @, or three digits and four more with at most a space or
# hyphen between them. Most texts (an issue's message, a note) have none of these, and one search says so
# where the substitutions would each scan the text.
_MAYBE_PERSONAL = re.compile(rf"{_LABEL}|@|[0-9]{{3}}[- ]?[0-9]{{4}}")


def mask_personal(text: str | None) -> str | None:
    """`text` with every name after a label, phone number, ID-card number and mailbox replaced by ＊."""
    if not text or not _MAYBE_PERSONAL.search(text):
        return text
    return _substitute(text)


def _substitute(text: str) -> str:
    """mask_personal's substitutions, each over the whole of `text`: numbers and mailboxes first, then the
    word after a label (masked the other way round, 手机 138 1234 5678 would keep 1234 5678: the label takes
    138, and what is left no longer looks like a phone)."""
    masked = text
    for pattern in _PATTERNS:
        masked = pattern.sub(lambda m: re.sub(r"[0-9Xx]", MASK, m.group(0)), masked)
    masked = _MAILBOX.sub(lambda m: MASK * len(m.group(0)), masked)
    return _LABELLED.sub(lambda m: m.group(1) + MASK * len(m.group(2)), masked)


def mask_all(text: str | None) -> str | None:
    """A value from a column of personal data: nothing of it kept but its length."""
    return text and MASK * len(text)
