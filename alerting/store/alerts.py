"""The alert store: events, incidents, their audit trail and every message sent or received.

Writes are small named operations the alerting code composes inside `db.tx()`; reads return plain
dicts so the control room (and anyone else) can query without knowing the SQL. Every outgoing message
is keyed by an idempotency key and claimed (inserted) before it is sent: a second claim of the same key,
by a restarted process or by a second node, finds the row and sends nothing. The row names its claimant
(`claimed_by`, the node's instance id) and the claim's time, so a claim whose claimant died before recording
the outcome can be found and taken over by exactly one node (alerting/reconcile.py).
"""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

from quaywatch.alerting.notify.pager import NO_ANSWER
from quaywatch.alerting.store.db import Database

OPEN_STATES = ("new", "paged", "acknowledged")
REJECTED_KEPT = 10_000  # rows of the rejected table kept (about 10 MB at most with 1 KB prefixes)
PAGING_STATES = ("new", "paged")

# How far along its life an outgoing message's status is. A status is recorded only when it ranks above the one
# recorded: the send's own answer ('queued') can reach the store after Twilio's status callback ('delivered'),
# and callbacks themselves arrive out of order or twice. SMS: accepted/scheduled/queued -> sent -> a final
# status; calls: queued/initiated -> ringing -> in-progress -> a final status. A confirmed delivery outranks a
# failure (a late delivery receipt is the truth), and WhatsApp-style 'read' outranks that. 'sending' is our
# own claim (the page is in flight, alerting/reconcile.py) and also a Twilio status; as the lowest rank it is
# never written over anything, so a recorded message never looks in flight again. Statuses not listed here
# rank with 'queued'. Every status still goes into message_events as received.
STATUS_RANK: dict[str, int] = {
    "sending": 0, "unknown": 0,
    "accepted": 1, "scheduled": 1, "queued": 1, "initiated": 1,
    "sent": 2, "ringing": 2, "dry-run": 2,  # the dry-run pager's 'sent': a (simulated) callback moves it on
    "in-progress": 3,
    "failed": 4, "undelivered": 4, "canceled": 4, "busy": 4, "no-answer": 4, "expired": 4,
    "partially_delivered": 4,
    "delivered": 5, "completed": 5,
    "read": 6,
}
DEFAULT_RANK = STATUS_RANK["queued"]
_RANK_SQL = "CASE status " + " ".join(f"WHEN '{s}' THEN {r}" for s, r in STATUS_RANK.items()) + \
    f" ELSE {DEFAULT_RANK} END"


def status_rank(status: str) -> int:
    return STATUS_RANK.get(status, DEFAULT_RANK)


class AlertStore:
    def __init__(self, url: str, reserve_bytes: int = 0):
        self.db = Database(url, reserve_bytes)

    def close(self) -> None:
        self.db.close()

    # --- intake -------------------------------------------------------------------------------------------
    def lock_site(self, site: str) -> None:
        """Serialise incident grouping for one site across processes (a row lock in both engines)."""
        if not self.db.run("UPDATE site_locks SET n = n + 1 WHERE site = ?", (site,)):
            self.db.run("INSERT INTO site_locks (site, n) VALUES (?, 1) ON CONFLICT (site) DO NOTHING", (site,))
            self.db.run("UPDATE site_locks SET n = n + 1 WHERE site = ?", (site,))

    def insert_event(self, event: dict[str, Any], time: float, received_at: float, raw: str | None = None,
                     late: bool = False) -> bool:
        """False when this event id was seen before (a redelivery). `raw`: the payload as received (valid
        JSON of `event`), stored as is rather than serialised again. `late`: stored, never paged."""
        return bool(
            self.db.run(
                "INSERT INTO events (event_id, site, camera, kind, drill, time, received_at, payload, late) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (event_id) DO NOTHING",
                (event["event_id"], event["site"], event["camera"], event["kind"], int(bool(event.get("drill"))),
                 time, received_at,
                 raw if raw is not None else json.dumps(event, separators=(",", ":"), allow_nan=False), int(late)),
            )
        )

    def set_aside(self, rows: list[dict[str, Any]], keep: int = REJECTED_KEPT) -> None:
        """Store payloads intake refused (the `rejected` table): at, reason, detail, topic, size, prefix. Only
        the newest `keep` are kept: a flood of garbage must not fill the disk the alarm needs."""
        with self.db.tx():
            for r in rows:
                self.db.run("INSERT INTO rejected (at, reason, detail, topic, size, prefix) VALUES (?, ?, ?, ?, ?, ?)",
                            (r["at"], r["reason"], r["detail"], r["topic"], r["size"], r["prefix"]))
            self.db.run("DELETE FROM rejected WHERE id <= (SELECT MAX(id) FROM rejected) - ?", (keep,))

    def rejected(self, limit: int = 100) -> list[dict[str, Any]]:
        return self.db.all("SELECT * FROM rejected ORDER BY id DESC LIMIT ?", (limit,))

    def late_events(self, site: str, limit: int = 50) -> list[dict[str, Any]]:
        """Events stored but not paged because their frame was too old when they arrived, newest first."""
        return self.db.all("SELECT event_id, camera, kind, drill, time, received_at FROM events "
                           "WHERE site = ? AND late = 1 ORDER BY received_at DESC LIMIT ?", (site, limit))

    def bind_event(self, event_id: str, incident_id: str) -> None:
        self.db.run("UPDATE events SET incident_id = ? WHERE event_id = ?", (incident_id, event_id))

    def groupable_incident(self, site: str, category: str, drill: bool, since: float,
                           cameras: Collection[str]) -> dict[str, Any] | None:
        """The newest incident still paging, opened at or after `since`, that one of `cameras` has seen."""
        rows = self.db.all(
            "SELECT * FROM incidents WHERE site = ? AND category = ? AND drill = ? AND state IN (?, ?) "
            "AND opened_at >= ? ORDER BY opened_at DESC LIMIT 20",
            (site, category, int(drill), *PAGING_STATES, since),
        )
        for row in rows:
            if not set(cameras).isdisjoint(row["cameras"].split(",")):
                return row
        return None

    def create_incident(self, inc: dict[str, Any]) -> None:
        cols = ", ".join(inc)
        self.db.run(f"INSERT INTO incidents ({cols}) VALUES ({', '.join('?' * len(inc))})", tuple(inc.values()))

    def add_camera(self, incident_id: str, camera: str, now: float) -> bool:
        row = self.incident(incident_id)
        cams = row["cameras"].split(",") if row else []
        if not row or camera in cams:
            return False
        self.db.run("UPDATE incidents SET cameras = ?, updated_at = ? WHERE id = ?",
                    (",".join([*cams, camera]), now, incident_id))
        return True

    def ack_code_in_use(self, code: str) -> bool:
        return self.db.one(
            "SELECT 1 AS x FROM incidents WHERE ack_code = ? AND state IN (?, ?, ?)", (code, *OPEN_STATES)
        ) is not None

    # --- life and audit -----------------------------------------------------------------------------------
    def set_state(self, incident_id: str, from_state: str, to_state: str, now: float, **fields: Any) -> bool:
        """Compare-and-set: only one process moves an incident out of a given state."""
        sets = ", ".join(["state = ?", "updated_at = ?", *(f"{k} = ?" for k in fields)])
        return bool(self.db.run(f"UPDATE incidents SET {sets} WHERE id = ? AND state = ?",
                                (to_state, now, *fields.values(), incident_id, from_state)))

    def add_transition(self, incident_id: str, at: float, from_state: str | None, to_state: str,
                       actor: str, note: str | None = None) -> None:
        self.db.run("INSERT INTO transitions (incident_id, at, from_state, to_state, actor, note) "
                    "VALUES (?, ?, ?, ?, ?, ?)", (incident_id, at, from_state, to_state, actor, note))

    def advance_step(self, incident_id: str, expect: tuple[int, int], to: tuple[int, int], sent_at: float,
                     next_due_at: float | None, delivery_check_at: float | None) -> bool:
        """Compare-and-set on (step, loop): exactly one process sends each escalation step."""
        return bool(self.db.run(
            "UPDATE incidents SET step = ?, loop = ?, step_sent_at = ?, next_due_at = ?, delivery_check_at = ?, "
            "updated_at = ? WHERE id = ? AND step = ? AND loop = ?",
            (to[0], to[1], sent_at, next_due_at, delivery_check_at, sent_at, incident_id, expect[0], expect[1]),
        ))

    def escalate_now(self, incident_id: str, now: float) -> None:
        self.db.run("UPDATE incidents SET next_due_at = ?, delivery_check_at = NULL WHERE id = ?", (now, incident_id))

    def check_delivery_now(self, incident_id: str, at: tuple[int, int], now: float) -> bool:
        """Have the delivery of step `at` checked at once, if the incident still pages and is at that step."""
        return bool(self.db.run(
            "UPDATE incidents SET delivery_check_at = ? WHERE id = ? AND step = ? AND loop = ? AND state IN (?, ?)",
            (now, incident_id, at[0], at[1], *PAGING_STATES)))

    def clear_delivery_check(self, incident_id: str) -> None:
        self.db.run("UPDATE incidents SET delivery_check_at = NULL WHERE id = ?", (incident_id,))

    def due(self, now: float) -> list[dict[str, Any]]:
        """Incidents whose next step is due, or whose delivery confirmation is overdue."""
        return self.db.all(
            "SELECT * FROM incidents WHERE state IN (?, ?) AND (next_due_at <= ? OR delivery_check_at <= ?) "
            "ORDER BY opened_at", (*PAGING_STATES, now, now),
        )

    def unpaged(self) -> list[dict[str, Any]]:
        """Incidents created but whose first step never went out (a crash between the two)."""
        return self.db.all("SELECT * FROM incidents WHERE state = 'new' AND step = -1 ORDER BY opened_at")

    # --- messages -----------------------------------------------------------------------------------------
    def claim_message(self, msg: dict[str, Any], now: float, claimant: str | None = None) -> bool:
        """Insert the message row under its idempotency key (`id`); False if it exists: don't send.
        `claimant`: the node sending it (its instance id), so a claim it leaves behind can be told apart."""
        row = {"status": "sending", "attempts": 0, "created_at": now, "updated_at": now, "claimed_by": claimant,
               "claimed_at": now, **msg}
        cols = ", ".join(row)
        claimed = bool(self.db.run(
            f"INSERT INTO messages ({cols}) VALUES ({', '.join('?' * len(row))}) ON CONFLICT (id) DO NOTHING",
            tuple(row.values()),
        ))
        if claimed:
            self.add_message_event(msg["id"], now, row["status"])
        return claimed

    def update_message(self, message_id: str, now: float, status: str, *, provider_sid: str | None = None,
                       error_code: str | None = None, attempts: int | None = None, detail: str | None = None) -> bool:
        """Record a status of an outgoing message (the send's answer, a delivery callback). The status (and its
        error code) is taken only if it is further along than the one recorded (STATUS_RANK); the SID and the
        attempts are taken either way, and message_events gets the status as received. True if it was taken."""
        with self.db.tx():  # joins the caller's transaction when there is one
            taken = bool(self.db.run(
                f"UPDATE messages SET status = ?, error_code = COALESCE(?, error_code) "
                f"WHERE id = ? AND {_RANK_SQL} < ?",
                (status, error_code, message_id, status_rank(status)),
            ))
            self.db.run("UPDATE messages SET updated_at = ?, provider_sid = COALESCE(?, provider_sid), "
                        "attempts = COALESCE(?, attempts) WHERE id = ?", (now, provider_sid, attempts, message_id))
            if not taken and detail is None:
                row = self.message(message_id)
                if row is not None and row["status"] != status:
                    detail = f"arrived after {row['status']}: recorded status kept"
            self.add_message_event(message_id, now, status, error_code, detail)
        return taken

    def add_message_event(self, message_id: str, at: float, status: str, error_code: str | None = None,
                          detail: str | None = None) -> None:
        self.db.run("INSERT INTO message_events (message_id, at, status, error_code, detail) VALUES (?, ?, ?, ?, ?)",
                    (message_id, at, status, error_code, detail))

    def message(self, message_id: str) -> dict[str, Any] | None:
        return self.db.one("SELECT * FROM messages WHERE id = ?", (message_id,))

    def message_by_sid(self, sid: str) -> dict[str, Any] | None:
        return self.db.one("SELECT * FROM messages WHERE provider_sid = ? AND direction = 'out' "
                           "ORDER BY created_at DESC", (sid,))

    def messages_of_step(self, incident_id: str, step: int, loop: int) -> list[dict[str, Any]]:
        return self.db.all("SELECT * FROM messages WHERE incident_id = ? AND direction = 'out' AND step = ? "
                           "AND loop = ? ORDER BY created_at", (incident_id, step, loop))

    # --- claims whose claimant never recorded the outcome (alerting/reconcile.py) ----------------------------
    def stale_claims(self, claimant: str, started_at: float, lease_expired_before: float,
                     limit: int = 200) -> list[dict[str, Any]]:
        """Outgoing pages still 'sending' whose claimant is gone: claimed by `claimant`'s previous run (before
        `started_at`), or by anyone before `lease_expired_before`, oldest first."""
        return self.db.all(
            "SELECT * FROM messages WHERE status = 'sending' AND direction = 'out' "
            "AND (claimed_at < ? OR (claimed_by = ? AND claimed_at < ?)) ORDER BY claimed_at LIMIT ?",
            (lease_expired_before, claimant, started_at, limit),
        )

    def take_claim(self, row: dict[str, Any], claimant: str, now: float, detail: str | None) -> bool:
        """Compare-and-set on the claim as `row` saw it (claimant, time and token): of two nodes taking over the
        same stale claim at once, exactly one succeeds; the other, and a claim settled meanwhile, get False.
        The claim's fencing token grows, so its previous holder can no longer send it (`fence`).
        `detail`: a message event saying so (None when a claimant only renews its own claim)."""
        taken = bool(self.db.run(
            "UPDATE messages SET claimed_by = ?, claimed_at = ?, updated_at = ?, claim_token = claim_token + 1 "
            "WHERE id = ? AND status = 'sending' AND claimed_at = ? AND COALESCE(claimed_by, '') = ? "
            "AND claim_token = ?",
            (claimant, now, now, row["id"], row["claimed_at"], row["claimed_by"] or "", row["claim_token"]),
        ))
        if taken and detail:
            self.add_message_event(row["id"], now, "sending", detail=detail)
        return taken

    def fence(self, message_id: str, claimant: str, token: int, now: float) -> bool:
        """The check right before a page's request leaves, one atomic UPDATE in the store: True only while
        `claimant` still holds the claim under `token` (nobody took it over, it was not settled); it then
        renews the claim's time, so no node takes it over for another lease. A node frozen (SIGSTOP, a paused
        VM) past its lease whose claim was taken over meanwhile gets False and must not send: the new holder
        asks Twilio and sends it. Checked and renewed in one statement, the two cannot interleave with a
        take-over (`take_claim` compares the claim time and token it read). The first pass is kept as
        `left_at`: from then on the provider may have the page (reconciliation asks it only then)."""
        return bool(self.db.run(
            "UPDATE messages SET claimed_at = ?, updated_at = ?, left_at = COALESCE(left_at, ?) WHERE id = ? "
            "AND status = 'sending' AND claimed_by = ? AND claim_token = ?",
            (now, now, now, message_id, claimant, token),
        ))

    def call_in_doubt(self, message_id: str) -> str | None:
        """For a voice page about to be sent: another voice page to the same number whose request may have
        reached the provider and is not settled (no provider sid, still being sent or owed a retry), or None.
        Run in the fence's transaction: PostgreSQL takes a lock per number first, so two nodes fencing two calls
        to one number at once cannot both find the line free (SQLite has one writer at a time anyway)."""
        row = self.db.one("SELECT channel, to_number, left_at FROM messages WHERE id = ?", (message_id,))
        if row is None or row["channel"] != "voice":
            return None
        if self.db.dialect == "postgres":
            self.db.one("SELECT pg_advisory_xact_lock(hashtext(?)) AS locked", ("voice:" + row["to_number"],))
        # A page itself in doubt yields only to one that was in doubt before it. Two in doubt at once cannot
        # arise under this check, but a store written before it may hold them: they must not wait on each other.
        mine = row["left_at"] if row["left_at"] is not None else float("inf")
        other = self.db.one(
            "SELECT id FROM messages WHERE to_number = ? AND channel = 'voice' AND direction = 'out' AND id <> ? "
            "AND left_at IS NOT NULL AND provider_sid IS NULL "
            "AND (status = 'sending' OR (status = 'failed' AND retry_at IS NOT NULL)) "
            "AND (left_at < ? OR (left_at = ? AND id < ?)) LIMIT 1",
            (row["to_number"], message_id, mine, mine, message_id))
        return other["id"] if other else None

    def restore_left(self, message_id: str, left_at: float | None) -> None:
        """A send the provider answered with a refusal created nothing: the page may have left only as far as
        it had before that send (`left_at`, None: never)."""
        self.db.run("UPDATE messages SET left_at = ? WHERE id = ?", (left_at, message_id))

    # --- pages owed: sends that failed transiently, retried until delivered or no longer needed -------------
    def owe(self, message_id: str, retry_at: float) -> bool:
        """Mark a failed page as owed: retried from `retry_at` on (alerting/reconcile.py)."""
        return bool(self.db.run("UPDATE messages SET retry_at = ? WHERE id = ? AND status = 'failed'",
                                (retry_at, message_id)))

    def owed(self, now: float, limit: int = 200) -> list[dict[str, Any]]:
        """Owed pages whose retry is due, oldest first."""
        return self.db.all("SELECT * FROM messages WHERE status = 'failed' AND direction = 'out' "
                           "AND retry_at IS NOT NULL AND retry_at <= ? ORDER BY created_at LIMIT ?", (now, limit))

    def owed_summary(self) -> dict[str, Any]:
        """Pages owed, for people: how many, the oldest one's first claim, the last failure's error code."""
        row = self.db.one("SELECT COUNT(*) AS n, MIN(created_at) AS since, MAX(updated_at) AS last FROM messages "
                          "WHERE status = 'failed' AND retry_at IS NOT NULL")
        n = int(row["n"]) if row else 0
        err = self.db.one("SELECT error_code FROM messages WHERE status = 'failed' AND retry_at IS NOT NULL "
                          "ORDER BY updated_at DESC LIMIT 1") if n else None
        return {"owed": n, "since": row["since"] if n else None, "error": err["error_code"] if err else None}

    def owed_count(self) -> int:
        row = self.db.one("SELECT COUNT(*) AS n FROM messages WHERE status = 'failed' AND retry_at IS NOT NULL")
        return int(row["n"]) if row else 0

    def retry_owed_now(self, now: float) -> int:
        """Every owed page due at once (the provider answers again: no need to wait out the backoff), except
        those whose send got no answer: they wait out twilio.answer_wait_s, so a page Twilio may still be
        creating is not looked up too early and sent twice."""
        return self.db.run("UPDATE messages SET retry_at = ? WHERE status = 'failed' AND retry_at > ? "
                           "AND COALESCE(error_code, '') <> ?", (now, now, NO_ANSWER))

    def take_owed(self, row: dict[str, Any], claimant: str, now: float) -> bool:
        """Claim an owed page for its retry: compare-and-set on its retry time, so one node retries it. The page
        is 'sending' again under a new fencing token, and reconciled like any claim should this node die."""
        taken = bool(self.db.run(
            "UPDATE messages SET status = 'sending', claimed_by = ?, claimed_at = ?, updated_at = ?, retry_at = NULL, "
            "claim_token = claim_token + 1 WHERE id = ? AND status = 'failed' AND retry_at = ?",
            (claimant, now, now, row["id"], row["retry_at"]),
        ))
        if taken:
            self.add_message_event(row["id"], now, "sending", detail=f"owed (last failure: {row['error_code']}): "
                                   f"retried by {claimant}, the provider asked first")
        return taken

    def settle_claim(self, message_id: str, claimant: str, now: float, status: str, *,
                     provider_sid: str | None = None, error_code: str | None = None, attempts: int | None = None,
                     detail: str | None = None) -> bool:
        """Record the outcome of a page `claimant` holds. False when it no longer does (a delivery callback
        settled the page first, or another node took the claim over): the row is left as it is."""
        settled = bool(self.db.run(
            "UPDATE messages SET status = ?, updated_at = ?, provider_sid = COALESCE(?, provider_sid), "
            "error_code = COALESCE(?, error_code), attempts = COALESCE(?, attempts) "
            "WHERE id = ? AND status = 'sending' AND claimed_by = ?",
            (status, now, provider_sid, error_code, attempts, message_id, claimant),
        ))
        if settled:
            self.add_message_event(message_id, now, status, error_code, detail)
        return settled

    def sids_recorded_elsewhere(self, sids: Collection[str], message_id: str) -> set[str]:
        """Those of `sids` that another message row already accounts for."""
        if not sids:
            return set()
        rows = self.db.all(f"SELECT provider_sid FROM messages WHERE provider_sid IN ({', '.join('?' * len(sids))}) "
                           "AND id <> ?", (*sids, message_id))
        return {r["provider_sid"] for r in rows}

    def paged_numbers(self, incident_id: str) -> set[str]:
        rows = self.db.all("SELECT DISTINCT to_number FROM messages WHERE incident_id = ? AND direction = 'out'",
                           (incident_id,))
        return {r["to_number"] for r in rows}

    def open_incident_by_code(self, code: str) -> dict[str, Any] | None:
        return self.db.one("SELECT * FROM incidents WHERE ack_code = ? AND state IN (?, ?, ?) "
                           "ORDER BY opened_at DESC", (code, *OPEN_STATES))

    def inbound_count(self, number: str, since: float, status: str | None = None) -> int:
        """Inbound messages from `number` since then; only those recorded with `status`, when given."""
        sql = "SELECT COUNT(*) AS n FROM messages WHERE direction = 'in' AND from_number = ? AND created_at >= ?"
        row = (self.db.one(sql, (number, since)) if status is None else
               self.db.one(sql + " AND status = ?", (number, since, status)))
        return int(row["n"]) if row else 0

    # --- queries for people (control room, CLI, tests) ----------------------------------------------------
    def incident(self, incident_id: str) -> dict[str, Any] | None:
        return self.db.one("SELECT * FROM incidents WHERE id = ?", (incident_id,))

    def incidents(self, *, site: str | None = None, states: tuple[str, ...] | None = None,
                  limit: int = 100) -> list[dict[str, Any]]:
        where, params = [], []
        if site:
            where.append("site = ?")
            params.append(site)
        if states:
            where.append(f"state IN ({', '.join('?' * len(states))})")
            params += list(states)
        clause = f"WHERE {' AND '.join(where)} " if where else ""
        return self.db.all(f"SELECT * FROM incidents {clause}ORDER BY opened_at DESC LIMIT ?", (*params, limit))

    def events_of(self, incident_id: str) -> list[dict[str, Any]]:
        """Its events, payloads parsed; a payload that does not parse (written by an older build or by hand)
        reads as {} rather than failing every reader of the incident."""
        rows = self.db.all("SELECT * FROM events WHERE incident_id = ? ORDER BY time", (incident_id,))
        for r in rows:
            try:
                r["payload"] = json.loads(r["payload"])
            except (TypeError, ValueError, RecursionError):
                r["payload"] = {}
            if not isinstance(r["payload"], dict):
                r["payload"] = {}
        return rows

    def messages_of(self, incident_id: str) -> list[dict[str, Any]]:
        return self.db.all("SELECT * FROM messages WHERE incident_id = ? ORDER BY created_at", (incident_id,))

    def message_events_of(self, message_id: str) -> list[dict[str, Any]]:
        return self.db.all("SELECT * FROM message_events WHERE message_id = ? ORDER BY id", (message_id,))

    def transitions_of(self, incident_id: str) -> list[dict[str, Any]]:
        return self.db.all("SELECT * FROM transitions WHERE incident_id = ? ORDER BY id", (incident_id,))

    def count_events(self) -> int:
        row = self.db.one("SELECT COUNT(*) AS n FROM events")
        return int(row["n"]) if row else 0
