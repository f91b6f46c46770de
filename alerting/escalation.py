"""Escalation: send each step of the paging policy until someone acknowledges.

Crash safety comes from the order of work: the pages of a step are claimed in the store under
idempotency keys (incident, step, loop, channel, number), then sent, and only then is the incident
moved on to that step (compare-and-set). A process that dies anywhere in between comes back, finds
the same step due, recomputes the same keys, sends only what was never claimed, and moves on. A page it
had claimed but whose outcome it never recorded is settled by the reconciler (alerting/reconcile.py), which
runs beside the escalation loop: it asks the provider whether the page left and sends it once if not.

The escalation keeps its own clock: the next step is due after the policy's delay (or sooner when a step's
delivery is not confirmed within `delivery_timeout_s`), never because a send failed. A page whose send failed
transiently (Twilio refusing, timing out, answering 5xx) is owed: the reconciler retries it, asking Twilio
first, until it is delivered or its incident stops paging, with a backoff capped at `owed_retry_max_s`; all at
once when Twilio answers again. Every claim is fenced right before its request leaves (`Page.fence`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from quaywatch.alerting.acks import acked_agencies
from quaywatch.alerting.changes import ChangeFeed
from quaywatch.alerting.facts import incident_facts
from quaywatch.alerting.lifecycle import audit, transition
from quaywatch.alerting.links import LinkSigner
from quaywatch.alerting.maintenance import muted
from quaywatch.alerting.metrics import Metrics
from quaywatch.alerting.notify.pager import Fenced, LineBusy, Page, Pager, SendError, Sent
from quaywatch.alerting.notify.templates import AlertFacts, sms_text, voice_twiml
from quaywatch.alerting.provider_health import PagingState, ProviderHealth
from quaywatch.alerting.reconcile import Reconciler
from quaywatch.alerting.store import AlertStore
from quaywatch.config.alerting import Policy, Step
from quaywatch.config.site import Site

log = logging.getLogger(__name__)

CONFIRMED = ("delivered", "read", "completed", "dry-run")  # dry-run: nothing will ever call back
FAILED = ("failed", "undelivered", "busy", "no-answer", "canceled", "expired")  # expired: too old to send
OWED_FIRST_RETRY_S = 1.0  # an owed page's first retry; later ones wait half its age, up to owed_retry_max_s


class Escalator:
    def __init__(self, site: Site, store: AlertStore, pager: Pager, metrics: Metrics, changes: ChangeFeed):
        self.site = site
        self.cfg = site.alerting
        self.store = store
        self.pager = pager
        self.metrics = metrics
        self.changes = changes
        self._busy: set[str] = set()  # incidents this process is paging right now
        self.sending: set[str] = set()  # keys of the pages this process is sending right now
        self.provider = ProviderHealth()
        self.reconciler = Reconciler(self)
        self.links = LinkSigner.from_config(self.cfg)  # the evidence link in each SMS (alerting/links.py)

    # --- policy -------------------------------------------------------------------------------------------
    def policy_for(self, inc: dict[str, Any]) -> Policy | None:
        p = self.cfg.policies
        if p is None:
            return None
        if inc["drill"]:
            return p.drill
        return p.camera if inc["category"] == "camera" else p.water

    def facts(self, inc: dict[str, Any], agency: str = "") -> AlertFacts:
        return incident_facts(self.site, inc, self.links.url(inc["id"], agency))

    def status_callback(self, key: str) -> str | None:
        base = self.cfg.twilio.public_url
        return f"{base}/twilio/status?m={quote(key, safe='')}" if base else None

    def pages_for(self, inc: dict[str, Any], step: Step, at: tuple[int, int], received: float | None) -> list[Page]:
        pages, seen = [], set()
        acked = acked_agencies(self.store, inc["id"])  # an agency that acknowledged is paged no more (acks.py)
        for gname in step.notify:
            group = self.cfg.groups[gname]
            if group.agency_name in acked:
                continue
            facts = self.facts(inc, group.agency_name)
            # Config validation already forbids these; checked again because a wrong page here is costly.
            if inc["drill"] and group.kind != "test":
                log.error("drill %s: refusing to page group %s (%s)", inc["id"], gname, group.kind)
                continue
            if inc["category"] == "camera" and group.kind == "police":
                log.error("camera incident %s: refusing to page police group %s", inc["id"], gname)
                continue
            for person in group.people:
                if person.number in seen:
                    continue
                seen.add(person.number)
                lang = person.language or self.cfg.language
                tpl = self.cfg.templates[lang]
                body = (sms_text(tpl, facts, self.cfg.place_max_chars) if step.channel == "sms"
                        else voice_twiml(tpl, facts, lang))
                key = f"{inc['id']}:s{at[0]}:l{at[1]}:{step.channel}:{person.number}"
                pages.append(Page(key=key, channel=step.channel, to=person.number, body=body,
                                  status_callback=self.status_callback(key), drill=bool(inc["drill"]),
                                  person=person.name, received_at=received))
        return pages

    @staticmethod
    def after(policy: Policy, at: tuple[int, int]) -> tuple[tuple[int, int], float] | None:
        """The step after `at` and its delay, or None at the end of the last loop."""
        step, loop = at
        if step + 1 < len(policy.steps):
            return (step + 1, loop), policy.steps[step + 1].after_s
        if loop < policy.loops:
            return (0, loop + 1), policy.loop_after_s
        return None

    # --- sending ------------------------------------------------------------------------------------------
    async def send(self, inc: dict[str, Any] | None, page: Page, step: int | None, loop: int | None) -> bool | None:
        """Claim, send, record one page. None = claimed before (not sent again); else whether it went out."""
        return (await self.send_all(inc, [page], step, loop))[0]

    async def send_all(self, inc: dict[str, Any] | None, pages: list[Page], step: int | None,
                       loop: int | None) -> list[bool | None]:
        """Claim every page in one commit, send the claimed ones at once, record the outcomes in one commit:
        two disk flushes before the requests leave, however many people a step pages."""
        keys = {p.key for p in pages} - self.sending
        self.sending |= keys  # the reconciler leaves this process's own sends alone, however long they take
        try:
            now = time.time()
            with self.store.db.tx(power_safe=False):
                claimed = [self.store.claim_message(self._row(inc, p, step, loop), now, self.cfg.instance_id)
                           for p in pages]
            todo = [dataclasses.replace(p, fence=self.fence_for(p.key, 0)) for p, c in zip(pages, claimed, strict=True)
                    if c]  # a fresh claim's fencing token is 0
            outcomes = await asyncio.gather(*(self.deliver(p) for p in todo))
            by_key = dict(zip((p.key for p in todo), outcomes, strict=True))
            now = time.time()
            with self.store.db.tx(power_safe=False):
                for page, out in zip(todo, outcomes, strict=True):
                    self._record(page, out, now, owe=step is not None)
        finally:
            self.sending -= keys
        # Fenced: another node holds the claim now and sends or settles the page, as when it was claimed before.
        return [None if not c or isinstance(by_key[p.key], Fenced) else not isinstance(by_key[p.key], SendError)
                for p, c in zip(pages, claimed, strict=True)]

    def fence_for(self, key: str, token: int) -> Callable[[], bool]:
        """The fencing check of one claim (`Page.fence`), run by the pager right before the request leaves."""
        def still_mine() -> bool:
            try:
                with self.store.db.tx(power_safe=False):
                    busy = self.store.call_in_doubt(key)  # voice only: one call in doubt per number
                    if busy is None:
                        return self.store.fence(key, self.cfg.instance_id, token, time.time())
            except Exception:  # the store cannot say: not sending is the safe side; the claim is reconciled
                log.exception("page %s: cannot check its claim in the store; not sent now (reconciled after "
                              "the lease)", key)
                return False
            raise LineBusy(f"call {key}: not made yet: call {busy} to the same number may have left and is not "
                           "settled; retried once it is")
        return still_mine

    def _row(self, inc: dict[str, Any] | None, page: Page, step: int | None, loop: int | None) -> dict[str, Any]:
        return {"id": page.key, "incident_id": inc["id"] if inc else None, "direction": "out",
                "channel": page.channel, "step": step, "loop": loop, "person": page.person, "to_number": page.to,
                "from_number": self.cfg.twilio.from_number, "body": page.body}

    async def deliver(self, page: Page) -> Sent | SendError:
        try:
            sent = await self.pager.send(page)
        except SendError as exc:
            return exc
        if page.received_at is not None and not hasattr(self.pager, "on_request"):
            self.metrics.latency.observe(time.perf_counter() - page.received_at)
        return sent

    def _record(self, page: Page, out: Sent | SendError, now: float, owe: bool) -> None:
        if isinstance(out, Fenced):
            log.warning("page %s not sent: %s", page.key, out)
            return  # its claim's new holder records it
        status, fields = self.outcome(page, out)
        self.store.update_message(page.key, now, status, **fields)
        self.record_refusal(page, out)
        if owe:
            self.owe_if_transient(page.key, out, now, now)

    def owe_if_transient(self, key: str, out: Sent | SendError, created_at: float, now: float) -> None:
        """A page whose send failed transiently is owed: retried (Twilio asked first) until delivered or its
        incident stops paging. Backoff: half the page's age, at least OWED_FIRST_RETRY_S, at most the cap; after
        a send that got no answer, at least twilio.answer_wait_s."""
        if isinstance(out, SendError) and out.transient and not isinstance(out, Fenced):
            delay = min(self.cfg.owed_retry_max_s, max(OWED_FIRST_RETRY_S, (now - created_at) / 2))
            if isinstance(out, LineBusy):  # waiting its turn behind a call in doubt: it goes once that is settled
                delay = OWED_FIRST_RETRY_S
            if out.ambiguous:  # Twilio may still be creating it: ask only once it would have answered
                delay = max(delay, self.cfg.twilio.answer_wait_s)
            self.store.owe(key, now + delay)

    def paging_state(self) -> PagingState:
        return self.provider.state(self.store.owed_count(), self.site.site.timezone)

    def provider_answered(self, now: float) -> None:
        if self.provider.answered(now):  # an outage ended: what is owed goes out now, not after its backoff
            with self.store.db.tx(power_safe=False):
                n = self.store.retry_owed_now(now)
            if n:
                log.warning("%d owed page(s) retried now", n)

    def outcome(self, page: Page, out: Sent | SendError) -> tuple[str, dict[str, Any]]:
        """Count one send and say how to record it: (status, update_message's keyword fields)."""
        if isinstance(out, LineBusy):  # waiting its turn behind a call in doubt: neither Twilio nor the page failed
            log.info("page %s waits: %s", page.key, out)
            self.metrics.pages.labels(page.channel, "waiting").inc()
            return "failed", {"error_code": out.code, "attempts": out.attempts, "detail": str(out)[:500]}
        if isinstance(out, SendError):
            if out.transient:
                self.provider.failed(f"{out.code}", time.time())
            log.error("page %s failed (%s): %s", page.key, "transient" if out.transient else "permanent", out)
            self.metrics.pages.labels(page.channel, "failed").inc()
            self.metrics.retries.inc(max(0, out.attempts - 1))
            return "failed", {"error_code": out.code, "attempts": out.attempts, "detail": str(out)[:500]}
        self.metrics.pages.labels(page.channel, "sent").inc()
        self.metrics.retries.inc(out.attempts - 1)
        self.provider_answered(time.time())
        return out.status, {"provider_sid": out.sid, "attempts": out.attempts}

    def record_refusal(self, page: Page, out: Sent | SendError) -> None:
        """Every request of a send that failed with an answer (an error status, a refused connection; not a
        timeout, not a connection lost after sending) created nothing: the page is as far from the provider
        as before the send, so reconciliation sends it again without a lookup that could take another page's
        call to the same number for it (a call carries no text)."""
        if isinstance(out, SendError) and not out.ambiguous and not isinstance(out, Fenced):
            self.store.restore_left(page.key, page.left_before)

    async def fire(self, incident_id: str, reason: str, received: float | None = None) -> bool:
        """Send the next due step of one incident. False if nothing was due or another process did it."""
        if incident_id in self._busy:
            return False
        self._busy.add(incident_id)
        try:
            return await self._fire(incident_id, reason, received)
        finally:
            self._busy.discard(incident_id)

    async def _fire(self, incident_id: str, reason: str, received: float | None) -> bool:
        inc = self.store.incident(incident_id)
        policy = self.policy_for(inc) if inc else None
        if inc is None or inc["state"] not in ("new", "paged"):
            return False
        now = time.time()
        if inc["step"] < 0 and not inc["drill"] and (why := muted(self.store, self.site, inc, now)):
            # A maintenance window (alerting/maintenance.py): stored and shown, never paged; drills still run.
            # Looked at again while the grouping window lasts: an unmuted camera joining it must page.
            again = now + 1.0 if now < inc["opened_at"] + self.cfg.grouping_window_s + 2 else None
            with self.store.db.tx(power_safe=False):
                if self.store.advance_step(incident_id, (-1, 0), (-1, 0), now, again, None) \
                        and inc["step_sent_at"] is None:
                    audit(self.store, incident_id, actor="escalation", now=now, note=f"not paged: {why}")
                    self.changes.publish(incident_id, "muted")
            return False
        if policy is None:
            log.error("incident %s: no alerting.policies configured; nobody can be paged", incident_id)
            self.store.advance_step(incident_id, (inc["step"], inc["loop"]), (inc["step"], inc["loop"]), now, None, None)
            return False
        if inc["step"] < 0:
            target: tuple[int, int] | None = (0, 0)
        else:
            following = self.after(policy, (inc["step"], inc["loop"]))
            target = following[0] if following else None
        if target is None:
            self.store.advance_step(incident_id, (inc["step"], inc["loop"]), (inc["step"], inc["loop"]),
                                    inc["step_sent_at"] or now, None, None)
            return False
        step = policy.steps[target[0]]
        pages = self.pages_for(inc, step, target, received)
        results = await self.send_all(inc, pages, *target)
        now = time.time()
        nxt = self.after(policy, target)
        next_due = now + nxt[1] if nxt else None
        # The next step is due by the policy's clock. A transient failure does not bring it forward: that page is
        # owed and retried (a Twilio outage used to run through a whole policy in seconds, every page failing).
        # Only pages lost for good (a permanent failure such as an invalid number, or claimed before and since
        # expired: too old to send, alerting/reconcile.py) count as not delivered, now or claimed by a previous run.
        lost = [r is not True and self._lost(p.key) for p, r in zip(pages, results, strict=True)]
        if nxt and pages and all(lost):
            next_due = now  # every page of this step is lost for good: don't wait out the delay
        check = now + self.cfg.delivery_timeout_s if nxt else None
        with self.store.db.tx(power_safe=False):
            if not self.store.advance_step(incident_id, (inc["step"], inc["loop"]), target, now, next_due, check):
                return False
            current = self.store.incident(incident_id)
            if current and current["state"] == "new":  # an acknowledgement may have overtaken the first page
                transition(self.store, incident_id, "paged", actor="escalation", now=now)
            sent = sum(1 for r in results if r)
            before = sum(1 for r in results if r is None)
            gone = sum(1 for r, lo in zip(results, lost, strict=True) if r is None and lo)
            owed = sum(1 for r, lo in zip(results, lost, strict=True) if r is False and not lo)
            audit(self.store, incident_id, actor="escalation", now=now,
                  note=f"step {target[0] + 1}/{len(policy.steps)} round {target[1] + 1} ({reason}): {step.channel} "
                       f"to {', '.join(step.notify)}: {sent} sent, {sum(1 for r in results if r is False)} failed, "
                       f"{before} already sent before" + (f" ({gone} of them not delivered)" if gone else "")
                       + (f"; {owed} failed page(s) owed, retried until delivered or acknowledged" if owed else ""))
        self.metrics.escalations.labels(reason).inc()
        self.changes.publish(incident_id, "paged" if target == (0, 0) else "escalated")
        return True

    def _lost(self, key: str) -> bool:
        """Lost for good: failed and not owed (a permanent failure, or expired), so never retried."""
        msg = self.store.message(key)
        return msg is not None and msg["status"] in FAILED and msg["retry_at"] is None

    def page_lost(self, msg: dict[str, Any]) -> None:
        """A page that will never be delivered (expired: too old to send again). If it belongs to its incident's
        current step, that step's delivery is checked now rather than `delivery_timeout_s` after it was sent,
        so the escalation moves on at once, as for a step whose pages were not delivered. A page of a step not
        yet reached counts when that step is fired (`_fire`); one of a step already passed no longer matters."""
        if not msg["incident_id"] or msg["step"] is None:
            return
        inc = self.store.incident(msg["incident_id"])
        policy = self.policy_for(inc) if inc else None
        if inc is None or policy is None or self.after(policy, (msg["step"], msg["loop"])) is None:
            return  # nothing left to escalate to
        self.store.check_delivery_now(inc["id"], (msg["step"], msg["loop"]), time.time())

    async def tick(self) -> None:
        """One pass over due incidents: steps whose delay ran out, pages whose delivery is unconfirmed."""
        now = time.time()
        for inc in self.store.due(now):
            if inc["id"] in self._busy:
                continue
            if inc["next_due_at"] is not None and inc["next_due_at"] <= now:
                if inc["step"] < 0 and inc["step_sent_at"] is None:  # its first fire never happened (not muted)
                    log.warning("incident %s: first page not sent %.1f s after it was opened (its fire failed, or "
                                "the process stopped in between): sent by the escalation loop",
                                inc["id"], now - inc["opened_at"])
                await self.fire(inc["id"], "first page" if inc["step"] < 0 else "no acknowledgement")
            elif inc["delivery_check_at"] is not None and inc["delivery_check_at"] <= now:
                await self._check_delivery(inc, now)

    async def _check_delivery(self, inc: dict[str, Any], now: float) -> None:
        msgs = self.store.messages_of_step(inc["id"], inc["step"], inc["loop"])
        # A number counts as reached when any of its messages (first try or a redelivery) was confirmed.
        reached = {m["to_number"] for m in msgs if m["status"] in CONFIRMED}
        unconfirmed = [m for m in msgs if m["to_number"] not in reached and "#r" not in m["id"]]
        if not unconfirmed:
            self.store.clear_delivery_check(inc["id"])
            return
        early = inc["step_sent_at"] is not None and now < inc["step_sent_at"] + self.cfg.delivery_timeout_s
        why = "not delivered" if early else f"no delivery confirmation within {self.cfg.delivery_timeout_s:g}s"
        audit(self.store, inc["id"], actor="escalation", now=now,
              note=f"{why} for " + ", ".join(f"{m['to_number']} ({m['status']})" for m in unconfirmed)
                   + ": escalating")
        self.store.escalate_now(inc["id"], now)
        await self.fire(inc["id"], "undelivered")

    async def run(self, stop: asyncio.Event, period: float = 0.25) -> None:
        """The escalation loop, with the reconciliation of pages left in flight beside it (its own task: a
        slow provider lookup must not hold back the next step of another incident)."""
        await asyncio.gather(self._escalate(stop, period), self.reconciler.run(stop))

    async def _escalate(self, stop: asyncio.Event, period: float) -> None:
        while not stop.is_set():
            try:
                await self.tick()
            except Exception:  # the escalation loop must outlive one bad row or a database hiccup
                log.exception("escalation pass failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), period)

    async def redeliver(self, message: dict[str, Any]) -> bool | None:
        """Send a page again after a transient delivery failure (30001/30008), under a new key."""
        base, _, n = message["id"].partition("#r")
        attempt = int(n or 0) + 1
        if attempt > self.cfg.twilio.retries:
            return False
        inc = self.store.incident(message["incident_id"]) if message["incident_id"] else None
        if inc is None or inc["state"] not in ("new", "paged"):
            return False
        key = f"{base}#r{attempt}"
        page = Page(key=key, channel=message["channel"], to=message["to_number"], body=message["body"],
                    status_callback=self.status_callback(key), drill=bool(inc["drill"]), person=message["person"] or "")
        return await self.send(inc, page, message["step"], message["loop"])
