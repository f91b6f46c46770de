"""CAP 1.2 (OASIS Common Alerting Protocol) messages for dispatch systems, derived from an incident's audit trail.

Every message is built from the store alone, so any node builds the same message for the same moment and
the feed, the per-message URL and the webhook always agree:

- `Alert` when the incident is first paged (not when it is opened: a muted camera's incident is never paged,
  and is never sent to dispatch either);
- `Update` when it escalates (a step after the first), when an agency acknowledges, when it is acknowledged,
  resolved, or closed as a real incident or a drill;
- `Cancel` when it is closed as a false alarm.

`status` is `Exercise` for drills, else `Actual`. The `area` is a `circle` around the fall's position (the
camera's, with a wider radius, when the event had none). Each message's identifier is
`<incident>.<audit row id>`; Updates and Cancels reference every earlier message of the incident.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any
from xml.etree import ElementTree as ET

from quaywatch.alerting.acks import acks_of
from quaywatch.alerting.facts import position_of
from quaywatch.alerting.store import AlertStore
from quaywatch.config.site import Site

NS = "urn:oasis:names:tc:emergency:cap:1.2"
ATOM = "http://www.w3.org/2005/Atom"
ESCALATION = re.compile(r"^step (\d+)/\d+ round (\d+)")
EVENT = {"water_entry": "Person fell into the water", "person_in_water": "Person in the water",
         "camera_offline": "Camera offline", "self_test_failed": "Camera self-test failed"}
LANG = {"da": "da-DK", "en": "en-GB"}
ET.register_namespace("cap", NS)  # inside the Atom feed; a message on its own has CAP as its default namespace
ET.register_namespace("atom", ATOM)  # prefixed: ElementTree's default namespace cannot have plain attributes


@dataclass(frozen=True)
class CapMessage:
    identifier: str
    incident_id: str
    msg_type: str          # Alert | Update | Cancel
    sent: float
    why: str               # what happened, for the description and the feed's entry title
    state: str = "paged"   # the incident's state then: a message says the same whenever it is rendered
    xml: str = ""


def cap_time(t: float) -> str:
    """CAP's dateTime: seconds, an explicit offset, never 'Z' nor '-00:00'."""
    return datetime.fromtimestamp(int(t), UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def _what(t: dict[str, Any]) -> tuple[str, str] | None:
    """(msgType, why) for one audit row after the Alert, or None when dispatch need not hear of it."""
    note = t["note"] or ""
    if t["from_state"] == t["to_state"]:
        m = ESCALATION.match(note)
        if t["actor"] == "escalation" and m and (m.group(1), m.group(2)) != ("1", "1"):
            return "Update", f"escalated: {note.split(':')[0]}"
        if note.startswith("acknowledged for "):
            return "Update", note.split(";")[0]
        return None
    if t["to_state"] == "acknowledged":
        return "Update", note.split(";")[0] if note.startswith("acknowledged for ") else "acknowledged"
    if t["to_state"] == "resolved":
        return "Update", "resolved"
    if t["to_state"] == "closed":
        if note.startswith("false_alarm"):
            return "Cancel", "closed as a false alarm"
        return "Update", "closed as " + (note.split(":")[0] or "closed").replace("_", " ")
    return None


def messages_of(store: AlertStore, incident_id: str) -> list[CapMessage]:
    """The incident's CAP messages so far, oldest first (XML not yet rendered)."""
    trail = store.transitions_of(incident_id)
    if any((t["note"] or "").startswith("not paged:") for t in trail):
        return []  # muted by a maintenance window: stored and shown, never sent on
    out: list[CapMessage] = []
    for t in trail:
        if not out:
            if t["from_state"] == "new" and t["to_state"] != "new":
                out.append(CapMessage(f"{incident_id}.{t['id']}", incident_id, "Alert", t["at"], "paged",
                                      t["to_state"]))
                if t["to_state"] == "paged":
                    continue
            else:
                continue
        what = _what(t)
        if what:
            out.append(CapMessage(f"{incident_id}.{t['id']}.u", incident_id, what[0], t["at"], what[1],
                                  t["to_state"]))
    return out


def _sub(parent: ET.Element, tag: str, text: str | None = None) -> ET.Element:
    el = ET.SubElement(parent, f"{{{NS}}}{tag}")
    if text is not None:
        el.text = text
    return el


def render(site: Site, store: AlertStore, inc: dict[str, Any], msg: CapMessage,
           earlier: list[CapMessage]) -> str:
    cfg = site.alerting.cap
    water = inc["category"] == "water"
    alert = ET.Element(f"{{{NS}}}alert")
    _sub(alert, "identifier", msg.identifier)
    _sub(alert, "sender", cfg.sender)
    _sub(alert, "sent", cap_time(msg.sent))
    _sub(alert, "status", "Exercise" if inc["drill"] else "Actual")
    _sub(alert, "msgType", msg.msg_type)
    _sub(alert, "source", f"quaywatch {site.site.id}")
    _sub(alert, "scope", "Restricted")
    _sub(alert, "restriction", "Police, rescue and the harbour control room only")
    if earlier:
        _sub(alert, "references", " ".join(f"{cfg.sender},{m.identifier},{cap_time(m.sent)}" for m in earlier))
    _sub(alert, "incidents", inc["id"])
    info = _sub(alert, "info")
    _sub(info, "language", LANG.get(site.alerting.language, "en-GB"))
    _sub(info, "category", "Rescue" if water else "Infra")
    _sub(info, "event", EVENT.get(inc["kind"], inc["kind"].replace("_", " ")))
    if msg.msg_type == "Cancel" or msg.why in ("resolved",):
        _sub(info, "responseType", "AllClear")
    elif water:
        _sub(info, "responseType", "Execute")
    over = msg.msg_type == "Cancel" or msg.state in ("resolved", "closed")
    _sub(info, "urgency", "Past" if over else "Immediate" if water else "Expected")
    _sub(info, "severity", "Extreme" if water else "Minor")
    _sub(info, "certainty", "Unlikely" if msg.msg_type == "Cancel" else "Likely" if water else "Observed")
    _sub(info, "onset", cap_time(inc["first_time"]))
    _sub(info, "senderName", f"quaywatch · {site.site.name}")
    cams = [c for c in inc["cameras"].split(",") if c]
    names = [next((c.name for c in site.cameras if c.id == cam), cam) for cam in cams]
    _sub(info, "headline", f"{EVENT.get(inc['kind'], inc['kind'])}: {names[0] if names else ''}"[:140])
    acks = "; ".join(f"acknowledged for {a['agency']} by {a['acked_by']}" for a in acks_of(store, inc["id"])
                     if a["at"] <= msg.sent)
    _sub(info, "description", f"{msg.why}. Cameras: {', '.join(cams)}." + (f" {acks}." if acks else ""))
    for name, value in (("quaywatch:incident", inc["id"]), ("quaywatch:kind", inc["kind"]),
                        ("quaywatch:state", msg.state)):
        p = _sub(info, "parameter")
        _sub(p, "valueName", name)
        _sub(p, "value", value)
    area = _sub(info, "area")
    _sub(area, "areaDesc", ", ".join(names) or site.site.name)
    pos = position_of(site, inc)
    if pos is not None:
        radius = max(cfg.approx_radius_km, pos.uncertainty_m / 1000) if pos.approx else cfg.radius_km
        _sub(area, "circle", f"{pos.lat:.6f},{pos.lon:.6f} {radius:g}")
    return ET.tostring(alert, encoding="unicode", default_namespace=NS)


def rendered(site: Site, store: AlertStore, incident_id: str) -> list[CapMessage]:
    """Every CAP message of one incident with its XML."""
    inc = store.incident(incident_id)
    if inc is None or inc["site"] != site.site.id:
        return []
    msgs = messages_of(store, incident_id)
    return [replace(m, xml=render(site, store, inc, m, msgs[:i])) for i, m in enumerate(msgs)]


def message(site: Site, store: AlertStore, identifier: str) -> CapMessage | None:
    incident_id = identifier.split(".")[0]
    return next((m for m in rendered(site, store, incident_id) if m.identifier == identifier), None)


def recent(site: Site, store: AlertStore, limit: int = 100) -> list[CapMessage]:
    """The newest messages over the newest incidents, newest first (the feed)."""
    out: list[CapMessage] = []
    for inc in store.incidents(site=site.site.id, limit=limit):
        out += rendered(site, store, inc["id"])
    return sorted(out, key=lambda m: (m.sent, m.identifier), reverse=True)[:limit]


def atom_feed(site: Site, msgs: list[CapMessage], base_url: str) -> str:
    """An Atom feed whose entries link to, and carry, each CAP message (as the CAP feed practice does)."""
    feed = ET.Element(f"{{{ATOM}}}feed")

    def sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
        el = ET.SubElement(parent, f"{{{ATOM}}}{tag}", attrs)
        if text is not None:
            el.text = text
        return el

    sub(feed, "id", f"urn:quaywatch:{site.site.id}:cap")
    sub(feed, "title", f"quaywatch CAP · {site.site.name}")
    sub(feed, "updated", cap_time(msgs[0].sent if msgs else 0))
    sub(feed, "link", rel="self", href=f"{base_url}/cap/feed.atom")
    author = sub(feed, "author")
    sub(author, "name", site.alerting.cap.sender)
    for m in msgs:
        entry = sub(feed, "entry")
        sub(entry, "id", f"urn:quaywatch:{site.site.id}:cap:{m.identifier}")
        sub(entry, "title", f"{m.msg_type}: {m.incident_id} ({m.why})")
        sub(entry, "updated", cap_time(m.sent))
        sub(entry, "link", rel="alternate", type="application/cap+xml", href=f"{base_url}/cap/messages/{m.identifier}.xml")
        content = sub(entry, "content", type="application/cap+xml")
        content.append(ET.fromstring(m.xml))
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(feed, encoding="unicode")
