"""Log lines that cannot be forged: whatever a message holds (an MQTT topic, an SMS body, a webhook field),
its control characters are written escaped, so one record is always one line. Tracebacks, which the
formatter adds apart from the message, keep their own lines."""

from __future__ import annotations

import logging

# Every character that is not printable (C0 and C1 controls, line and paragraph separators, bidi overrides),
# escaped as Python would show it: "\x0a", "\u2028".
_ESCAPES = {c: (f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}") for c in range(0x10000)
            if not chr(c).isprintable()}


def escape(text: str) -> str:
    return text.translate(_ESCAPES)


class OneLineFormatter(logging.Formatter):
    def formatMessage(self, record: logging.LogRecord) -> str:  # logging's name
        record.message = escape(record.message)
        return super().formatMessage(record)
