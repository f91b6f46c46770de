"""Acknowledgement per agency: police and rescue each take an alert for themselves.

Semantics (docs/alerting.md, "Who acknowledged for whom"): each agency's escalation goes on until that agency
acknowledges; the control room's acknowledgement (its page, or a reply from a control-room group) counts for
all. An alert becomes `acknowledged` (and stops paging anyone) once every agency its paging policy pages,
the control room aside, has acknowledged, or once the control room has. Until then, the escalation skips
the groups of the agencies that have acknowledged (`Escalator.pages_for`).

Each acknowledgement is a row (incident, agency) in `agency_acks`: the first one for an agency counts, a
second from the same agency is kept in the audit trail only.
"""

from __future__ import annotations

from typing import Any

from quaywatch.alerting.lifecycle import audit, transition
from quaywatch.alerting.store import AlertStore
from quaywatch.config.alerting import AlertingConfig, Policy

CONTROL_ROOM = "control_room"


def agencies_paged_by(cfg: AlertingConfig, policy: Policy | None) -> set[str]:
    """The agencies a policy pages, the control room aside (its word counts for all)."""
    if policy is None:
        return set()
    out = set()
    for step in policy.steps:
        for gname in step.notify:
            group = cfg.groups.get(gname)
            if group is not None and group.kind != CONTROL_ROOM:
                out.add(group.agency_name)
    return out


def agency_of_number(cfg: AlertingConfig, number: str, paged_groups: list[str] | None = None) -> str | None:
    """The agency a phone number acknowledges for: of the groups that paged it, else of any group it is in."""
    names = paged_groups or list(cfg.groups)
    for name in [*names, *cfg.groups]:
        group = cfg.groups.get(name)
        if group and any(p.number == number for p in group.people):
            return CONTROL_ROOM if group.kind == CONTROL_ROOM else group.agency_name
    return None


def acks_of(store: AlertStore, incident_id: str) -> list[dict[str, Any]]:
    return store.db.all("SELECT agency, acked_by, at, via FROM agency_acks WHERE incident_id = ? ORDER BY at",
                        (incident_id,))


def acked_agencies(store: AlertStore, incident_id: str) -> set[str]:
    return {r["agency"] for r in acks_of(store, incident_id)}


def acknowledge_for(store: AlertStore, cfg: AlertingConfig, policy: Policy | None, incident_id: str,
                    agency: str, who: str, via: str, now: float) -> str:
    """Record `agency`'s acknowledgement by `who` (via sms / phone link / control room).

    Returns 'acknowledged' (the alert stopped paging: all agencies, or the control room, have it),
    'agency_acknowledged' (this agency has it, others are still paged), 'already_acknowledged' (this agency
    had it before, or the alert is past paging)."""
    with store.db.tx():
        inc = store.incident(incident_id)
        if inc is None or inc["state"] not in ("new", "paged", "acknowledged"):
            return "already_acknowledged"
        fresh = bool(store.db.run(
            "INSERT INTO agency_acks (incident_id, agency, acked_by, at, via) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (incident_id, agency) DO NOTHING", (incident_id, agency, who, now, via)))
        if inc["state"] == "acknowledged":
            if fresh:
                audit(store, incident_id, actor=who, now=now, note=f"acknowledged for {agency} ({via})")
            return "agency_acknowledged" if fresh else "already_acknowledged"
        if not fresh:
            audit(store, incident_id, actor=who, now=now, note=f"{agency} had acknowledged already ({via})")
            return "already_acknowledged"
        needed = agencies_paged_by(cfg, policy)
        done = acked_agencies(store, incident_id)
        if agency == CONTROL_ROOM or needed <= done:
            scope = "for all" if agency == CONTROL_ROOM else "by every agency paged"
            transition(store, incident_id, "acknowledged", actor=who, now=now,
                       note=f"acknowledged for {agency} ({via}); {scope}", acked_by=who, acked_at=now)
            return "acknowledged"
        waiting = ", ".join(sorted(needed - done))
        audit(store, incident_id, actor=who, now=now,
              note=f"acknowledged for {agency} ({via}); still paging {waiting}")
        return "agency_acknowledged"


def record_control_room(store: AlertStore, incident_id: str, who: str, now: float) -> None:
    """The control-room page acknowledged (its own transition, controlroom/backend_alerting.py): for all."""
    store.db.run("INSERT INTO agency_acks (incident_id, agency, acked_by, at, via) VALUES (?, ?, ?, ?, ?) "
                 "ON CONFLICT (incident_id, agency) DO NOTHING", (incident_id, CONTROL_ROOM, who, now, "control room"))
