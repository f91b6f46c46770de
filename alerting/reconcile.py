"""Reconciliation of pages left in flight: claimed ('sending') by a sender that died before it recorded how
the send went, so nobody knows whether the page left. Never resending them could leave the police without
their first SMS; blindly resending could page them twice. So the provider is asked.

Which claims, so that a live sender is never second-guessed:
  - a node's own claims from before it started: its previous run died holding them (instance ids are unique
    per live node; two nodes with one id would also take each other's MQTT session). Reconciled at once.
  - anyone's claim older than `alerting.inflight_lease_s`: a live sender records its outcome well within the
    lease (the config refuses a lease shorter than twice Twilio's longest send), so its sender is gone.
Taking a claim over is a compare-and-set on its claimant and claim time: of two nodes reconciling one page
at once, exactly one does it, and a page settled meanwhile (say by its delivery callback) is left alone.

Then, for each claim taken over, the provider (Twilio's list APIs, or the dry-run pager's record) is asked
whether the page was created after its claim:
  - it was: its SID and status are recorded; nothing is sent                           -> found_sent
  - it was not: it is sent once more, same key and status callback                    -> resent / resend_failed
    unless its incident no longer pages (acknowledged, closed): recorded canceled     -> not_needed
    or it was claimed longer ago than an SMS may wait (twilio.validity_period_s; calls
    too): recorded expired, and the escalation moves on as for a page not delivered   -> too_old
  - the provider could not be asked: the claim stays 'sending' with this node, which
    asks again next round; should this node die too, another takes over after the lease -> lookup_failed
Every outcome is counted (quaywatch_alerting_inflight_reconciled_total) and noted in the incident's trail.

Pages owed (a send that failed transiently: Twilio refusing, timing out, answering 5xx; alerting/escalation.py)
go the same way once their retry is due: taken by a compare-and-set on their retry time, then Twilio is asked
(a timed-out request may have created the page), then sent once if it does not have it. Unlike a claim left in
flight, an owed page is not given up when it is old: it is retried until delivered or its incident stops
paging (not_needed). A failed lookup or a failed send puts it back, owed, with a longer wait (at most
`alerting.owed_retry_max_s`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from quaywatch.alerting.lifecycle import audit
from quaywatch.alerting.notify.pager import Fenced, Found, LookupFailed, Page, SendError
from quaywatch.alerting.store import PAGING_STATES

if TYPE_CHECKING:
    from quaywatch.alerting.escalation import Escalator

log = logging.getLogger(__name__)

ROUND_S = 2.0  # how often claims are swept; a sweep is one indexed query over the rows still 'sending'
# How much earlier than its claim the provider may have stamped a page and it still counts as this page's:
# clocks differ a little. A provider record another row already accounts for never counts.
CLOCK_SLACK_S = 30.0
ACTOR = "reconciliation"


class Reconciler:
    def __init__(self, escalator: Escalator):
        self.esc = escalator
        self.store = escalator.store
        self.metrics = escalator.metrics
        self.me = escalator.cfg.instance_id
        self.started_at = time.time()  # own claims older than this were left by a previous run
        self._retry: set[str] = set()  # claims this node took over whose lookup failed: asked again next round
        self._failures: dict[str, int] = {}  # failed lookups per page, for the log and the first audit note

    @property
    def lease_s(self) -> float:
        return self.esc.cfg.inflight_lease_s

    @property
    def max_age_s(self) -> float:
        """A page claimed longer ago than this is not sent any more: Twilio itself would drop an SMS that waited
        so long (its validity period), and a call that late is as stale. Its step is then escalated past."""
        return self.esc.cfg.twilio.validity_period_s

    async def run(self, stop: asyncio.Event, period: float = ROUND_S) -> None:
        while not stop.is_set():
            try:
                await self.reconcile_once()
            except Exception:  # a database hiccup or a bad row must not end reconciliation for good
                log.exception("reconciliation of pages in flight failed; trying again in %.0f s", period)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), period)

    async def reconcile_once(self) -> None:
        """One round: every claim whose claimant is gone, every claim whose lookup failed last round, and every
        owed page whose retry is due."""
        rows = {r["id"]: r for r in self._retried_claims()}
        now = time.time()
        for r in [*self.store.stale_claims(self.me, self.started_at, now - self.lease_s), *self.store.owed(now)]:
            rows.setdefault(r["id"], r)
        for key in self.esc.sending:  # this process is sending them right now: not stale, only slow
            rows.pop(key, None)
        if not rows:
            return
        # Pages to one number one at a time, oldest first: a provider record found for one is then recorded
        # and cannot also be taken for a later page with the same words (a repeated step). Numbers in parallel.
        # Those that may have left go first: a call in doubt holds its number (AlertStore.call_in_doubt), and
        # once it is settled the calls waiting on it are made in the same round, not a retry later.
        queues: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        for r in sorted(rows.values(), key=lambda r: (r["left_at"] is None, r["created_at"])):
            queues[(r["channel"], r["to_number"])].append(r)
        await asyncio.gather(*(self._reconcile_in_order(q) for q in queues.values()))

    def _retried_claims(self) -> list[dict[str, Any]]:
        rows = []
        for key in list(self._retry):
            row = self.store.message(key)
            if row and row["status"] == "sending" and row["claimed_by"] == self.me:
                rows.append(row)
            else:  # settled meanwhile (a delivery callback), or taken over by another node
                self._forget(key)
        return rows

    async def _reconcile_in_order(self, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            try:
                await self._reconcile(row)
            except Exception:  # one page's trouble must not keep the next from being reconciled
                log.exception("reconciling page %s failed; trying again next round", row["id"])

    async def _reconcile(self, row: dict[str, Any]) -> None:
        owed = row["status"] == "failed"
        if not (self._take_owed(row) if owed else self._take(row)):
            self._forget(row["id"])
            return
        inc = self.store.incident(row["incident_id"]) if row["incident_id"] else None
        page = self._page(row, inc)
        try:
            # A page whose request never passed its fencing check cannot be at the provider: sent without
            # asking. Otherwise only what the provider created after the request first left can be it (a
            # call carries no text: an earlier call to the same number is another page's).
            left_at = row.get("left_at")
            found = [] if left_at is None else await self.esc.pager.find_sent(page, left_at - CLOCK_SLACK_S)
        except LookupFailed as exc:
            self.esc.provider.failed(f"lookup: {exc}", time.time())
            if owed:
                self._still_owed(row, f"could not ask the provider whether it left ({exc})")
            else:
                self._lookup_failed(row, exc)
            return
        self.esc.provider_answered(time.time())
        self._forget(row["id"])
        accounted = self.store.sids_recorded_elsewhere([f.sid for f in found], row["id"])
        left = next((f for f in found if f.sid not in accounted), None)
        if left is not None:
            self._found_sent(row, left)
        elif inc is not None and inc["state"] not in PAGING_STATES:
            self._not_needed(row, inc)
        elif not owed and time.time() - row["created_at"] > self.max_age_s:
            self._too_old(row)
        else:
            await self._resend(row, page, owed)

    def _take_owed(self, row: dict[str, Any]) -> bool:
        with self.store.db.tx(power_safe=False):
            return self.store.take_owed(row, self.me, time.time())

    def _take(self, row: dict[str, Any]) -> bool:
        renewing = row["claimed_by"] == self.me and row["claimed_at"] >= self.started_at
        detail = None if renewing else (
            f"reconciling on {self.me}: claimed by {row['claimed_by'] or 'an older version'} at "
            f"{self._clock(row['claimed_at'])}, outcome never recorded")
        with self.store.db.tx(power_safe=False):
            return self.store.take_claim(row, self.me, time.time(), detail)

    def _page(self, row: dict[str, Any], inc: dict[str, Any] | None) -> Page:
        # Taking the claim (or the owed page) raised its fencing token by one: this node's token.
        return Page(key=row["id"], channel=row["channel"], to=row["to_number"], body=row["body"],
                    status_callback=self.esc.status_callback(row["id"]), drill=bool(inc and inc["drill"]),
                    person=row["person"] or "", fence=self.esc.fence_for(row["id"], row["claim_token"] + 1),
                    left_before=row.get("left_at"))

    # --- outcomes -----------------------------------------------------------------------------------------
    def _found_sent(self, row: dict[str, Any], found: Found) -> None:
        detail = f"the provider has it ({found.sid}, {found.status}): not resent"
        if not self.store.settle_claim(row["id"], self.me, time.time(), found.status, provider_sid=found.sid,
                                       detail=detail):
            return  # settled by its delivery callback meanwhile: the callback's word stands
        self._outcome(row, "found_sent", detail, log.info)

    def _not_needed(self, row: dict[str, Any], inc: dict[str, Any]) -> None:
        detail = f"the provider does not have it; not sent: the incident is {inc['state']}"
        if self.store.settle_claim(row["id"], self.me, time.time(), "canceled", detail=detail):
            self._outcome(row, "not_needed", detail, log.info)

    def _too_old(self, row: dict[str, Any]) -> None:
        age = time.time() - row["created_at"]
        detail = (f"the provider does not have it; not sent: claimed {_duration(age)} ago, past the "
                  f"{self.max_age_s:g} s validity period (twilio.validity_period_s): expired")
        if self.store.settle_claim(row["id"], self.me, time.time(), "expired", detail=detail):
            self._outcome(row, "too_old", detail, log.error)
            self.esc.page_lost(row)

    async def _resend(self, row: dict[str, Any], page: Page, owed: bool) -> None:
        out = await self.esc.deliver(page)
        if isinstance(out, Fenced):  # frozen past the lease while sending: the claim's new holder settles it
            log.warning("page %s not sent: %s", row["id"], out)
            return
        status, fields = self.esc.outcome(page, out)
        if isinstance(out, SendError):
            outcome, detail = "resend_failed", f"the provider does not have it: sent again, which failed: {out}"
        else:
            outcome, detail = "resent", f"the provider does not have it: sent again once ({out.sid}, {out.status})"
        if owed:
            outcome = "owed_" + outcome
        # The new message's delivery callback may get here first: it records the SID too, and its status stands.
        now = time.time()
        with self.store.db.tx(power_safe=False):
            if self.store.settle_claim(row["id"], self.me, now, status, **{**fields, "detail": detail[:500]}):
                self.esc.record_refusal(page, out)
            if row["step"] is not None:
                self.esc.owe_if_transient(row["id"], out, row["created_at"], now)
        self._outcome(row, outcome, detail, log.error if outcome.endswith("resend_failed") else log.warning)

    def _still_owed(self, row: dict[str, Any], why: str) -> None:
        """An owed page's retry could not be done now: back to owed, with a longer wait."""
        now = time.time()
        with self.store.db.tx(power_safe=False):
            if self.store.settle_claim(row["id"], self.me, now, "failed", detail=f"still owed: {why}"):
                self.esc.owe_if_transient(row["id"], SendError(why, transient=True), row["created_at"], now)
        self.metrics.reconciled.labels("owed_lookup_failed").inc()
        log.warning("page %s (%s to %s) owed: %s; retried later", row["id"], row["channel"], row["to_number"], why)

    def _lookup_failed(self, row: dict[str, Any], exc: LookupFailed) -> None:
        self._retry.add(row["id"])
        n = self._failures[row["id"]] = self._failures.get(row["id"], 0) + 1
        self.metrics.reconciled.labels("lookup_failed").inc()
        log.warning("page %s (%s to %s) left in flight: could not ask the provider whether it left (attempt %d): "
                    "%s; kept 'sending' on %s, asking again in %.0f s", row["id"], row["channel"],
                    row["to_number"], n, exc, self.me, ROUND_S)
        if n == 1 and row["incident_id"]:  # the trail says it once; the metric and the log count every try
            self._note(row, f"could not ask the provider whether it left ({exc}); asking again every "
                            f"{ROUND_S:g} s until it answers")

    def _outcome(self, row: dict[str, Any], outcome: str, detail: str, say) -> None:
        self.metrics.reconciled.labels(outcome).inc()
        say("page %s (%s to %s) left in flight by %s: %s", row["id"], row["channel"], row["to_number"],
            row["claimed_by"] or "an older version", detail)
        if row["incident_id"]:
            self._note(row, detail)
            self.esc.changes.publish(row["incident_id"], "delivery")

    def _note(self, row: dict[str, Any], what: str) -> None:
        to = f"{row['to_number']} ({row['person']})" if row["person"] else row["to_number"]
        if row["status"] == "failed":
            how = f"owed since its send at {self._clock(row['created_at'])} failed ({row['error_code']})"
        else:
            how = f"claimed by {row['claimed_by'] or 'an older version'} at {self._clock(row['claimed_at'])}, " \
                  "outcome never recorded"
        audit(self.store, row["incident_id"], actor=ACTOR, now=time.time(),
              note=f"{row['channel']} to {to} {how}; checked by {self.me}: {what}")

    def _forget(self, key: str) -> None:
        self._retry.discard(key)
        self._failures.pop(key, None)

    def _clock(self, t: float) -> str:
        return datetime.fromtimestamp(t, ZoneInfo(self.esc.site.site.timezone)).strftime("%H:%M:%S")


def _duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60)} min"
    return f"{int(seconds // 60)} min {int(seconds % 60)} s" if seconds >= 60 else f"{seconds:.0f} s"
