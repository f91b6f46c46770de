"""Words of every message: SMS (one GSM-7 segment), the voice call's TwiML, the acknowledgement reply.

An SMS must arrive as one segment, so when a long place name would push it past 160 septets the place
is shortened first (it is the least needed part: the camera id and the map link also say where).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

from quaywatch.alerting.notify.gsm7 import SEGMENT, septets, to_gsm7
from quaywatch.config.alerting import Templates

VOICE_LANG = {"da": "da-DK", "en": "en-GB"}


@dataclass(frozen=True)
class AlertFacts:
    kind: str
    drill: bool
    place: str              # camera name, e.g. "Honnørkajen, looking west"
    cameras: tuple[str, ...]
    time: datetime          # aware, UTC
    timezone: str
    code: str
    lat: float | None = None
    lon: float | None = None

    def local_time(self) -> str:
        return self.time.astimezone(ZoneInfo(self.timezone)).strftime("%H:%M:%S")

    def map_link(self) -> str:
        if self.lat is None or self.lon is None:
            return "-"
        return f"https://maps.google.com/?q={round(self.lat, 5)},{round(self.lon, 5)}"


def short_place(name: str, limit: int) -> str:
    """'Honnørkajen, looking west' -> 'Honnørkajen'; then cut to `limit` characters."""
    head = name.split(",")[0].strip() or name
    return to_gsm7(head[:limit].rstrip())


def _fields(tpl: Templates, facts: AlertFacts, place: str) -> dict[str, str]:
    return {
        "what": tpl.what.get(facts.kind, facts.kind.replace("_", " ")),
        "place": place,
        "camera": facts.cameras[0] if facts.cameras else "",
        "cameras": ",".join(facts.cameras),
        "time": facts.local_time(),
        "map": facts.map_link(),
        "code": facts.code,
        "drill": tpl.drill_prefix if facts.drill else "",
    }


def sms_text(tpl: Templates, facts: AlertFacts, place_max: int = 24) -> str:
    """The alert SMS, at most one GSM-7 segment: shortens the place, then drops it, then cameras past two."""
    place = short_place(facts.place, place_max)
    while True:
        text = to_gsm7(tpl.sms.format(**_fields(tpl, facts, place)))
        n = septets(text)
        if n is not None and n <= SEGMENT:
            return text
        if len(place) > 4:
            place = place[: max(4, len(place) - (n or len(text)) + SEGMENT - 1)].rstrip()
            continue
        if len(facts.cameras) > 2:
            facts = AlertFacts(**{**facts.__dict__, "cameras": (*facts.cameras[:2], "+")})
            continue
        return text[:SEGMENT]  # a template that is too long on its own: config's problem, never a 2nd segment


def ack_text(tpl: Templates, facts: AlertFacts, place_max: int = 24) -> str:
    return to_gsm7(tpl.ack_confirm.format(**_fields(tpl, facts, short_place(facts.place, place_max))))[:SEGMENT]


def unknown_code_text(tpl: Templates, code: str) -> str:
    return to_gsm7(tpl.unknown_code.format(code=code[:12]))[:SEGMENT]


def voice_twiml(tpl: Templates, facts: AlertFacts, language: str) -> str:
    """Said twice, with the code digit by digit so a listener can type it."""
    fields = _fields(tpl, facts, facts.place.split(",")[0])
    fields["code"] = " ".join(facts.code)
    said = escape(tpl.voice.format(**fields))
    lang = VOICE_LANG.get(language, "en-GB")
    return (f'<Response><Say language="{lang}">{said}</Say><Pause length="1"/>'
            f'<Say language="{lang}">{said}</Say></Response>')
