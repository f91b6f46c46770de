"""An alert's life: new -> paged -> acknowledged -> resolved, or closed as false alarm / drill / real incident.

Every move is a compare-and-set in the store plus a row in the audit trail naming who made it, so two
alerting nodes (or an operator and an SMS reply arriving at once) can never both move the same alert.
"""

from __future__ import annotations

from typing import Any

from quaywatch.alerting.store import AlertStore
from quaywatch.errors import QuaywatchError

STATES = ("new", "paged", "acknowledged", "resolved", "closed")
CLOSED_AS = ("false_alarm", "drill", "real_incident")
ALLOWED: dict[str, tuple[str, ...]] = {
    "new": ("paged", "acknowledged", "resolved", "closed"),
    "paged": ("acknowledged", "resolved", "closed"),
    "acknowledged": ("resolved", "closed"),
    "resolved": ("closed",),  # a resolved alert is still classified afterwards for the statistics
    "closed": (),
}


class LifecycleError(QuaywatchError):
    """A move the life of an alert does not allow, e.g. acknowledging a closed alert."""


def transition(store: AlertStore, incident_id: str, to: str, *, actor: str, now: float,
               note: str | None = None, closed_as: str | None = None, **fields: Any) -> bool:
    """Move an incident to state `to`. False if it was already there (or another process moved it first)."""
    if to not in STATES:
        raise LifecycleError(f"unknown state {to!r}; states are {', '.join(STATES)}")
    if to == "closed" and closed_as not in CLOSED_AS:
        raise LifecycleError(f"closing needs closed_as, one of {', '.join(CLOSED_AS)}")
    with store.db.tx():
        inc = store.incident(incident_id)
        if inc is None:
            raise LifecycleError(f"no incident {incident_id!r}")
        current = inc["state"]
        if current == to:
            return False
        if to not in ALLOWED[current]:
            raise LifecycleError(f"incident {incident_id} is {current}; it cannot become {to}")
        extra = dict(fields)
        if closed_as:
            extra["closed_as"] = closed_as
        if to in ("acknowledged", "resolved", "closed"):
            extra.setdefault("next_due_at", None)  # nothing left to page
            extra.setdefault("delivery_check_at", None)
        if not store.set_state(incident_id, current, to, now, **extra):
            return False
        store.add_transition(incident_id, now, current, to, actor, _note(note, closed_as))
    return True


def audit(store: AlertStore, incident_id: str, *, actor: str, now: float, note: str) -> None:
    """A line in the trail that is not a change of state (a camera joined, an escalation fired)."""
    inc = store.incident(incident_id)
    state = inc["state"] if inc else "new"
    store.add_transition(incident_id, now, state, state, actor, note)


def _note(note: str | None, closed_as: str | None) -> str | None:
    if closed_as and note:
        return f"{closed_as}: {note}"
    return closed_as or note
