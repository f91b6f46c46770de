"""Words of every message: SMS (one GSM-7 segment), the voice call's TwiML, the acknowledgement reply.

An SMS must arrive as one segment, so when a long place name would push it past 160 septets the place
is shortened first, then dropped (it is the least needed part: the camera id, the position and the link also
say where), then cameras past the first are counted ("cam-1,+4"), then the position loses a decimal, then
its uncertainty, then it goes (the linked page shows it); the link, the date and the code are never cut.
Camera trouble has its own wording (KAMERAFEJL ...): it must never read as a drowning alert.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

from quaywatch.alerting.notify.gsm7 import SEGMENT, septets, to_gsm7
from quaywatch.config.alerting import Templates

VOICE_LANG = {"da": "da-DK", "en": "en-GB"}
CAMERA_KINDS = ("camera_offline", "self_test_failed")


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
    approx: bool = False           # lat/lon are the camera's, not the fall's
    uncertainty_m: float | None = None  # how far off an approximate position may be
    link: str | None = None        # the signed evidence link (alerting/links.py)

    @property
    def is_camera_trouble(self) -> bool:
        return self.kind in CAMERA_KINDS

    def local_time(self) -> str:
        return self.time.astimezone(ZoneInfo(self.timezone)).strftime("%H:%M")

    def local_date(self, fmt: str) -> str:
        return self.time.astimezone(ZoneInfo(self.timezone)).strftime(fmt)

    def position(self, approx_word: str, brevity: int = 0) -> str:
        """'57.05031,9.92254' for the fall's own spot; 'ca. 57.0502,9.9217 (150 m)' for the camera's.
        `brevity` 1: four decimals (~10 m); 2: no uncertainty either; 3: nothing (the linked page has it)."""
        if self.lat is None or self.lon is None or brevity >= 3:
            return ""
        if self.approx:
            spread = f" ({self.uncertainty_m or 0:.0f} m)" if brevity < 2 else ""
            return f"{approx_word} {self.lat:.4f},{self.lon:.4f}{spread}"
        d = 5 if brevity == 0 else 4
        return f"{self.lat:.{d}f},{self.lon:.{d}f}"

    def map_link(self) -> str:
        if self.lat is None or self.lon is None:
            return "-"
        return f"https://maps.google.com/?q={round(self.lat, 5)},{round(self.lon, 5)}"


def short_place(name: str, limit: int) -> str:
    """'Honnørkajen, looking west' -> 'Honnørkajen'; then cut to `limit` characters."""
    head = name.split(",")[0].strip() or name
    return to_gsm7(head[:limit].rstrip())


def _fields(tpl: Templates, facts: AlertFacts, place: str, brevity: int = 0) -> dict[str, str]:
    return {
        "what": tpl.what.get(facts.kind, facts.kind.replace("_", " ")),
        "place": place,
        "camera": facts.cameras[0] if facts.cameras else "",
        "cameras": ",".join(facts.cameras),
        "date": facts.local_date(tpl.date_format),
        "time": facts.local_time(),
        "map": facts.map_link(),
        "position": facts.position(tpl.approx, brevity),
        "link": facts.link or facts.map_link(),
        "code": facts.code,
        "drill": tpl.drill_prefix if facts.drill else "",
    }


def _squeeze(text: str) -> str:
    """No double spaces where a field is empty (no position known, no drill prefix)."""
    return " ".join(text.split())


def sms_text(tpl: Templates, facts: AlertFacts, place_max: int = 24) -> str:
    """The alert SMS, at most one GSM-7 segment: shortens the place, then drops it, then counts cameras past the first,
    then a decimal of the position (5 decimals is ~1 m, 4 is ~10 m), its uncertainty, then the position."""
    template = (tpl.camera_sms or tpl.sms) if facts.is_camera_trouble else tpl.sms
    place = short_place(facts.place, place_max)
    brevity = 0
    while True:
        text = _squeeze(to_gsm7(template.format(**_fields(tpl, facts, place, brevity))))
        n = septets(text)
        if n is not None and n <= SEGMENT:
            return text
        if len(place) > 4:
            place = place[: max(4, len(place) - (n or len(text)) + SEGMENT - 1)].rstrip()
            continue
        if place:
            place = ""
            continue
        if len(facts.cameras) > 2:  # the first camera and how many more: "cam-1,+4"
            facts = AlertFacts(**{**facts.__dict__, "cameras": (facts.cameras[0], f"+{len(facts.cameras) - 1}")})
            continue
        if brevity < 3:
            brevity += 1
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
    template = (tpl.camera_voice or tpl.voice) if facts.is_camera_trouble else tpl.voice
    said = escape(template.format(**fields))
    lang = VOICE_LANG.get(language, "en-GB")
    return (f'<Response><Say language="{lang}">{said}</Say><Pause length="1"/>'
            f'<Say language="{lang}">{said}</Say></Response>')
