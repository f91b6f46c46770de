"""Inbound SMS: a reply with the acknowledgement code, from a number that was paged for that incident,
acknowledges it, stops the escalation and is confirmed by SMS. Everything received is kept in the trail.

Numbers that are in no contact group get at most `unknown_sender_limit` answers an hour; past that their
messages are stored and counted but never answered (a stranger cannot make us send SMS in a loop).

Wrong codes are limited per phone, known or not (a paged phone once sent 1,500 and got 1,500 answers):
each is stored with status `wrong_code`; the first `wrong_code_answers` (3) an hour are answered, later ones
are not (`wrong_code_unanswered`); after `ack_code_attempts` (10) an hour the phone's codes are not even
looked up until the hour has passed (`code_locked`), so nobody guesses a code by trying them all. The
limit errs on the safe side: an acknowledgement refused only lets the escalation go on.
"""

from __future__ import annotations

import logging
import re
import time

from quaywatch.alerting.acks import acknowledge_for, agency_of_number
from quaywatch.alerting.changes import ChangeFeed
from quaywatch.alerting.escalation import Escalator
from quaywatch.alerting.metrics import Metrics
from quaywatch.alerting.notify.pager import Page
from quaywatch.alerting.notify.templates import ack_text, unknown_code_text
from quaywatch.alerting.store import AlertStore

log = logging.getLogger(__name__)
CODE = re.compile(r"\b(\d{4,5})\b")


class Replies:
    def __init__(self, escalator: Escalator, store: AlertStore, metrics: Metrics, changes: ChangeFeed):
        self.esc = escalator
        self.cfg = escalator.cfg
        self.store = store
        self.metrics = metrics
        self.changes = changes
        self.known = {p.number: p for g in self.cfg.groups.values() for p in g.people}

    async def handle(self, sid: str, sender: str, body: str) -> str:
        """Process one inbound SMS; returns what happened (also the metric label)."""
        now = time.time()
        match = CODE.search(body or "")
        code = match.group(1) if match else ""
        wrong_before = self.store.inbound_count(sender, now - 3600, status="wrong_code")
        locked = wrong_before >= self.cfg.ack_code_attempts
        inc = self.store.open_incident_by_code(code) if code and not locked else None
        acks = bool(inc and sender in self.store.paged_numbers(inc["id"]))
        recorded = self.store.claim_message(
            {"id": f"in:{sid}", "incident_id": inc["id"] if inc else None, "direction": "in", "channel": "sms",
             "to_number": self.cfg.twilio.from_number, "from_number": sender, "body": (body or "")[:1600],
             "status": "received" if acks else "code_locked" if locked else "wrong_code", "provider_sid": sid}, now)
        if not recorded:
            result = "duplicate"  # Twilio retried the webhook; handled the first time
        elif locked:
            result = "code_locked"
        elif acks:
            result = await self._acknowledge(inc, sender, now)
        elif sender in self.known and wrong_before >= self.cfg.wrong_code_answers:
            result = "wrong_code_unanswered"
        elif sender in self.known:
            result = "wrong_code"
            await self._answer(f"reply:{sid}", sender, unknown_code_text(self._tpl(sender), code or body[:12]))
        elif self.store.inbound_count(sender, now - 3600) <= self.cfg.unknown_sender_limit:
            result = "unknown_sender"
            await self._answer(f"reply:{sid}", sender, unknown_code_text(self._tpl(sender), code or body[:12]))
        else:
            result = "rate_limited"
        self.metrics.inbound.labels(result).inc()
        log.info("inbound SMS %s from %s: %s", sid, sender, result)
        return result

    async def _acknowledge(self, inc: dict, sender: str, now: float) -> str:
        """For the sender's agency (alerting/acks.py): the others are still paged until they answer too."""
        person = self.known.get(sender)
        who = f"{person.name} {sender}" if person else sender
        policy = self.esc.policy_for(inc)
        paged_groups = [g for step in policy.steps for g in step.notify] if policy else None
        agency = agency_of_number(self.cfg, sender, paged_groups) or "control_room"
        result = acknowledge_for(self.store, self.cfg, policy, inc["id"], agency, who, "SMS reply with code", now)
        if result == "already_acknowledged":
            return result
        self.changes.publish(inc["id"], result)
        facts = self.esc.facts(inc)
        await self._answer(f"{inc['id']}:ack:{sender}", sender,
                           ack_text(self._tpl(sender), facts, self.cfg.place_max_chars), inc)
        return result

    def _tpl(self, number: str):
        person = self.known.get(number)
        return self.cfg.templates[(person.language if person and person.language else None) or self.cfg.language]

    async def _answer(self, key: str, to: str, text: str, inc: dict | None = None) -> None:
        page = Page(key=key, channel="sms", to=to, body=text, status_callback=self.esc.status_callback(key),
                    drill=bool(inc and inc["drill"]))
        await self.esc.send(inc, page, None, None)
