"""A camera's trouble in plain words: the edge reports reasons meant for an engineer (`rtsp://…: Connect
call failed ('192.0.2.10', 554)`); the operator is told what it means (the camera does not answer).

The page gets a code and says it in its own language (i18n.py, `reason_<code>`); the raw text stays in
the edge's log. A reason nobody foresaw reads as a fault, never as the exception's text.
"""

from __future__ import annotations

import re

# First match wins: the order puts the specific before the general ("timed out" of a login is a login).
RULES: tuple[tuple[str, re.Pattern[str]], ...] = tuple((code, re.compile(pattern, re.IGNORECASE)) for code, pattern in (
    ("frames_arriving", r"frames arriving"),
    ("refused_login", r"\b401\b|unauthori[sz]ed|credential|password|not authori[sz]ed|authentication"),
    ("edge_silent", r"no status for \d+"),
    ("no_status_yet", r"no status from the edge"),
    ("frozen", r"picture frozen"),
    ("clip_ended", r"end of clip"),
    ("no_answer", r"connect call failed|connection refused|refused|no route to host|unreachable|timed? ?out|"
                  r"could not connect|cannot connect|connection reset|broken pipe|name or service not known|"
                  r"temporary failure in name resolution|getaddrinfo|eof"),
    ("no_frames", r"no frames|waiting for the first frame|no picture|no video"),
))


def reason_code(reason: str | None) -> str | None:
    """The plain-words key for an edge's reason text; None when there is nothing to say."""
    if not reason:
        return None
    for code, pattern in RULES:
        if pattern.search(reason):
            return None if code == "frames_arriving" else code
    return "fault"
