"""GSM 03.38 (GSM-7): the alphabet one 160-character SMS segment is counted in.

Danish æøåÆØÅ are in the basic table; the extension table's characters cost two septets; anything else
(an emoji, a curly quote) would switch the whole SMS to UCS-2 and cut a segment to 70 characters.
"""

from __future__ import annotations

BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
EXTENSION = set("^{}\\[~]|€\f")
SEGMENT = 160


def septets(text: str) -> int | None:
    """Length in GSM-7 septets, or None when the text cannot be sent as GSM-7."""
    n = 0
    for ch in text:
        if ch in BASIC:
            n += 1
        elif ch in EXTENSION:
            n += 2
        else:
            return None
    return n


def fits_one_sms(text: str) -> bool:
    n = septets(text)
    return n is not None and n <= SEGMENT


def to_gsm7(text: str) -> str:
    """Replace characters outside GSM-7 with near equivalents so a place name can't force UCS-2."""
    table = {"’": "'", "‘": "'", "“": '"', "”": '"', "–": "-", "—": "-", "…": "...", "\u00a0": " "}
    out = []
    for ch in text:
        ch = table.get(ch, ch)
        out.append(ch if septets(ch) is not None else "?")
    return "".join(out)
