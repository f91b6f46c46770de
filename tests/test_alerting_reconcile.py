# ruff: noqa: F811 - pytest fixtures imported from other test modules are parameters here
"""Pages left in flight ('sending') by a sender that died: reconciled with the provider, never lost and never
sent twice.

In process, on SQLite and PostgreSQL: nodes as objects on their own connections, a pager that can stall a
send (a node alive mid-send, or one that dies there). Through real peers: `quaywatch alerting` killed with
SIGKILL while its SMS is at the Twilio stand-in, restarted, and the stand-in's list API (checked by Prism
against Twilio's contract) says whether the SMS had left."""

from __future__ import annotations

import asyncio
import io
import sqlite3
import time

import httpx
import pytest

from quaywatch.alerting.changes import ChangeFeed
from quaywatch.alerting.dispatch import Dispatcher, Incoming
from quaywatch.alerting.escalation import Escalator
from quaywatch.alerting.metrics import Metrics
from quaywatch.alerting.notify.dry_run import DryRunPager
from quaywatch.alerting.notify.pager import Fenced, Found, LineBusy, LookupFailed, Page, SendError, Sent
from quaywatch.alerting.store import AlertStore
from quaywatch.config.loader import load_site
from tests.peers import wait_until
from tests.test_alerting_paging import (  # noqa: F401 - fixtures
    POLICE,
    RESCUE,
    alerting,
    event,
    incidents,
    metric,
    publish,
    twilio,
)
from tests.test_alerting_store import ev, postgres, store_url  # noqa: F401 - fixtures

RECONCILED = "quaywatch_alerting_inflight_reconciled_total"


class StallingPager(DryRunPager):
    """The dry-run pager, but a send can stall: right before its request leaves, its fencing check passed
    (`stall_before`: the request never got out, though it might have: reconciliation must ask), before even
    the fencing check (`stall_before_fence`: nothing can have left), or after (`stall_after`: it left, the
    answer never came back). A stalled send waits for `release`, or forever: its node is as good as dead.
    Lookups can be made to fail, and are counted."""

    def __init__(self, stall_before: bool = False, stall_after: bool = False, stall_before_fence: bool = False):
        super().__init__(io.StringIO())
        self.stall_before, self.stall_after = stall_before, stall_after
        self.stall_before_fence = stall_before_fence
        self.release = asyncio.Event()
        self.stalled = 0
        self.lookups: list[Page] = []
        self.failing_lookups = 0

    async def send(self, page: Page) -> Sent:
        if self.stall_before_fence or self.stall_before:
            if self.stall_before and page.fence is not None and not page.fence():
                raise Fenced(f"{page.channel} to {page.to}: claim no longer held by this node: not sent")
            self.stalled += 1
            await self.release.wait()
        sent = await super().send(page)  # fenced again, as the Twilio pager fences each attempt
        if self.stall_after:
            self.stalled += 1
            await self.release.wait()
        return sent

    async def find_sent(self, page: Page, since: float) -> list[Found]:
        self.lookups.append(page)
        await asyncio.sleep(0)  # let a second node's reconciliation run in between, as it would
        if self.failing_lookups:
            self.failing_lookups -= 1
            raise LookupFailed(f"{page.channel} to {page.to}: ConnectionError: provider unreachable")
        return await super().find_sent(page, since)


class Peer:
    """One alerting node (instance id, lease) on its own connection to the shared store."""

    def __init__(self, store_url: str, instance: str, pager: DryRunPager | None = None, lease_s: float = 60.0):
        self.site = load_site("demo")
        self.site.alerting.store_url = store_url
        self.site.alerting.instance_id = instance
        self.site.alerting.inflight_lease_s = lease_s  # attribute assignment skips the config's lease floor
        self.store = AlertStore(store_url)
        self.metrics, self.changes = Metrics(), ChangeFeed()
        self.pager = pager or StallingPager()
        self.dispatcher = Dispatcher(self.site, self.store, self.metrics, self.changes)
        self.escalator = Escalator(self.site, self.store, self.pager, self.metrics, self.changes)

    async def reconcile(self) -> None:
        await self.escalator.reconciler.reconcile_once()

    def reconciled(self, outcome: str) -> float:
        return self.metrics.sample(RECONCILED, {"outcome": outcome})


async def stall_first_page(node: Peer) -> tuple[str, asyncio.Task]:
    """Open an incident on `node` and start its first step, stalled in the pager: police and rescue claimed."""
    incident_id = node.dispatcher.ingest([Incoming(ev())])[0].incident_id
    task = asyncio.create_task(node.escalator.fire(incident_id, "first page"))
    while node.pager.stalled < 2:
        await asyncio.sleep(0.01)
    return incident_id, task


def claims(store: AlertStore, incident_id: str) -> list[tuple[str, str, str]]:
    return sorted((m["to_number"], m["status"], m["claimed_by"]) for m in store.messages_of(incident_id))


def notes(store: AlertStore, incident_id: str) -> list[str]:
    return [t["note"] for t in store.transitions_of(incident_id) if t["actor"] == "reconciliation"]


def test_a_live_nodes_fresh_claims_are_left_alone_by_a_node_starting(store_url):
    async def scenario():
        a = Peer(store_url, "alerting-a", StallingPager(stall_before=True))
        incident_id, sending = await stall_first_page(a)
        b = Peer(store_url, "alerting-b")  # starts while a is mid-send
        await b.reconcile()
        assert claims(b.store, incident_id) == [(POLICE, "sending", "alerting-a"), (RESCUE, "sending", "alerting-a")]
        assert b.pager.lookups == [] and b.pager.sent == []
        a.site.alerting.inflight_lease_s = 0.01  # however long they take:
        await asyncio.sleep(0.02)
        await asyncio.wait_for(a.reconcile(), 10)  # a's own round leaves its own sends in progress alone
        assert a.pager.lookups == []
        a.pager.release.set()
        assert await sending
        assert claims(a.store, incident_id) == [(POLICE, "dry-run", "alerting-a"), (RESCUE, "dry-run", "alerting-a")]
        assert notes(a.store, incident_id) == []

    asyncio.run(scenario())


def test_a_dead_nodes_claims_are_resent_once_after_the_lease_by_one_of_two_nodes(store_url):
    async def scenario():
        a = Peer(store_url, "alerting-a", StallingPager(stall_before=True))
        incident_id, _dead = await stall_first_page(a)  # the requests never leave: a is as good as dead
        b, c = (Peer(store_url, name, lease_s=0.5) for name in ("alerting-b", "alerting-c"))
        await asyncio.gather(b.reconcile(), c.reconcile())
        assert b.pager.lookups == c.pager.lookups == []  # the lease has not run out
        await asyncio.sleep(0.6)
        await asyncio.gather(b.reconcile(), c.reconcile())  # both sweep, both try to take over each claim
        sent = b.pager.sent + c.pager.sent
        assert sorted(p.to for p in sent) == [POLICE, RESCUE]  # each once, by whichever took its claim
        assert all(p.key.startswith(f"{incident_id}:s0:l0:sms:") for p in sent)
        assert b.reconciled("resent") + c.reconciled("resent") == 2
        rows = b.store.messages_of(incident_id)
        assert {r["status"] for r in rows} == {"dry-run"} and all(r["provider_sid"] for r in rows)
        assert {r["claimed_by"] for r in rows} <= {"alerting-b", "alerting-c"}
        trail = notes(b.store, incident_id)
        assert len(trail) == 2 and all("claimed by alerting-a" in n and "sent again once" in n for n in trail)
        await asyncio.gather(b.reconcile(), c.reconcile())
        assert len(b.pager.sent + c.pager.sent) == 2  # settled: nothing more

    asyncio.run(scenario())


def test_a_node_that_wakes_after_its_claims_were_taken_over_sends_nothing(store_url):
    """Fencing, on SQLite and PostgreSQL: a stalls right before its requests leave (frozen, as far as the
    store can tell) past its lease; b takes the claims over and sends them. When a wakes, the store's fencing
    check finds its token stale: a sends nothing and records nothing; b's record stands."""

    async def scenario():
        a = Peer(store_url, "alerting-a", StallingPager(stall_before=True))
        incident_id, sending = await stall_first_page(a)
        b = Peer(store_url, "alerting-b", lease_s=0.2)
        await asyncio.sleep(0.3)
        await b.reconcile()
        assert sorted(p.to for p in b.pager.sent) == [POLICE, RESCUE]
        tokens = {r["to_number"]: r["claim_token"] for r in b.store.messages_of(incident_id)}
        assert tokens == {POLICE: 1, RESCUE: 1}
        a.pager.release.set()  # a wakes, its two sends go on to the pager's last check
        assert await sending is True  # the step counts as done: its pages were sent by b
        assert a.pager.sent == []  # nothing went out twice
        assert claims(a.store, incident_id) == [(POLICE, "dry-run", "alerting-b"), (RESCUE, "dry-run", "alerting-b")]

    asyncio.run(scenario())


def test_own_claims_from_a_previous_run_are_reconciled_at_once_and_what_left_is_not_resent(store_url):
    """a's SMS left but a died before hearing back; its restart (same instance id, same provider account)
    finds them at the provider at once, without waiting out the lease, records their SIDs, sends nothing."""

    async def scenario():
        provider = StallingPager(stall_after=True)  # one account: the messages a sent are there to be found
        a = Peer(store_url, "alerting-a", provider)
        incident_id, _dead = await stall_first_page(a)
        other = Peer(store_url, "alerting-b")
        await other.reconcile()
        assert other.pager.lookups == []  # another node waits out the lease
        provider.stall_after = False
        restarted = Peer(store_url, "alerting-a", provider)
        await restarted.reconcile()
        assert len(provider.lookups) == 2 and len(provider.sent) == 2  # looked up, nothing sent again
        rows = {r["to_number"]: r for r in restarted.store.messages_of(incident_id)}
        for number in (POLICE, RESCUE):
            key = rows[number]["id"]
            assert rows[number]["status"] == "dry-run"
            assert rows[number]["provider_sid"] == DryRunPager.sid_of(Page(key, "sms", number, ""))
            assert "not resent" in restarted.store.message_events_of(key)[-1]["detail"]
        assert restarted.reconciled("found_sent") == 2 and restarted.reconciled("resent") == 0
        assert all("the provider has it" in n for n in notes(restarted.store, incident_id))

    asyncio.run(scenario())


def test_a_failed_lookup_keeps_the_claim_and_is_asked_again_next_round(store_url):
    async def scenario():
        a = Peer(store_url, "alerting-a", StallingPager(stall_before=True))
        incident_id, _dead = await stall_first_page(a)
        restarted = Peer(store_url, "alerting-a")
        restarted.pager.failing_lookups = 10  # the provider is down for a while
        await restarted.reconcile()
        await restarted.reconcile()
        assert restarted.pager.sent == []
        assert restarted.reconciled("lookup_failed") == 4  # two pages, two rounds
        assert claims(restarted.store, incident_id) == [(POLICE, "sending", "alerting-a"),
                                                        (RESCUE, "sending", "alerting-a")]
        trail = notes(restarted.store, incident_id)
        assert len(trail) == 2 and all("could not ask the provider" in n for n in trail)  # once per page
        other = Peer(store_url, "alerting-b")
        await other.reconcile()
        assert other.pager.lookups == []  # the claims are held by a live node that is still asking
        restarted.pager.failing_lookups = 0
        await restarted.reconcile()
        assert sorted(p.to for p in restarted.pager.sent) == [POLICE, RESCUE]
        assert restarted.reconciled("resent") == 2
        assert {r["status"] for r in restarted.store.messages_of(incident_id)} == {"dry-run"}

    asyncio.run(scenario())


def test_the_round_outlives_a_lookup_that_raises_something_unexpected(store_url):
    class Broken(StallingPager):
        async def find_sent(self, page: Page, since: float) -> list[Found]:
            raise RuntimeError("a bug in a pager")

    async def scenario():
        a = Peer(store_url, "alerting-a", StallingPager(stall_before=True))
        incident_id, _dead = await stall_first_page(a)
        restarted = Peer(store_url, "alerting-a", Broken())
        stop = asyncio.Event()
        loop = asyncio.create_task(restarted.escalator.reconciler.run(stop, period=0.05))
        await asyncio.sleep(0.3)
        assert not loop.done()  # still going round
        stop.set()
        await loop
        assert {r["status"] for r in restarted.store.messages_of(incident_id)} == {"sending"}

    asyncio.run(scenario())


def test_a_page_whose_incident_was_acknowledged_meanwhile_is_not_sent(store_url):
    from quaywatch.alerting.lifecycle import transition

    async def scenario():
        a = Peer(store_url, "alerting-a", StallingPager(stall_before=True))
        incident_id, _dead = await stall_first_page(a)
        transition(a.store, incident_id, "acknowledged", actor="op Ann", now=time.time())
        restarted = Peer(store_url, "alerting-a")
        await restarted.reconcile()
        assert len(restarted.pager.lookups) == 2 and restarted.pager.sent == []
        assert {r["status"] for r in restarted.store.messages_of(incident_id)} == {"canceled"}
        assert restarted.reconciled("not_needed") == 2
        assert all("the incident is acknowledged" in n for n in notes(restarted.store, incident_id))

    asyncio.run(scenario())


def test_a_repeated_page_with_the_same_words_is_not_taken_for_the_one_that_left(tmp_path):
    """Two claims to one number with one text (a step repeated in the next round), both left in flight; only
    the first reached the provider. The provider record goes to the first; the second is sent."""

    async def scenario():
        url = f"sqlite:///{tmp_path}/alerts.db"
        provider = StallingPager()
        node = Peer(url, "alerting-b", provider, lease_s=0.2)
        then = time.time() - 5
        rows = [{"id": f"inc-1:s0:l{loop}:sms:{POLICE}", "incident_id": None, "direction": "out", "channel": "sms",
                 "to_number": POLICE, "from_number": "+4520000000", "body": "DRUKNEALARM same words"}
                for loop in (0, 1)]
        for i, row in enumerate(rows):
            node.store.claim_message(row, then + i, claimant="alerting-a")
            assert node.store.fence(row["id"], "alerting-a", 0, then + i)  # both requests may have left
        await provider.send(Page(rows[0]["id"], "sms", POLICE, rows[0]["body"]))  # only the first left
        await node.reconcile()
        first, second = (node.store.message(r["id"]) for r in rows)
        assert first["provider_sid"] == DryRunPager.sid_of(Page(rows[0]["id"], "sms", POLICE, ""))
        assert second["provider_sid"] == DryRunPager.sid_of(Page(rows[1]["id"], "sms", POLICE, ""))
        assert [p.key for p in provider.sent] == [rows[0]["id"], rows[1]["id"]]  # the second sent, once
        assert node.reconciled("found_sent") == 1 and node.reconciled("resent") == 1

    asyncio.run(scenario())


def test_migration_2_gives_claims_from_before_a_claim_time(store_url, monkeypatch):
    from quaywatch.alerting.store import db as db_module
    from quaywatch.alerting.store.migrations import MIGRATIONS

    monkeypatch.setattr(db_module, "pending", lambda current: [m for m in MIGRATIONS[:1] if m[0] > current])
    old = AlertStore(store_url)  # a store as the previous release left it
    old.db.run("INSERT INTO messages (id, direction, channel, to_number, from_number, body, status, created_at, "
               "updated_at) VALUES ('k', 'out', 'sms', ?, '+4520000000', 'x', 'sending', 100.5, 100.5)", (POLICE,))
    old.close()
    monkeypatch.undo()
    new = AlertStore(store_url)
    assert new.db.migrate() == MIGRATIONS[-1][0]  # 2 and every later one
    row = new.message("k")
    assert (row["claimed_by"], row["claimed_at"]) == (None, 100.5)
    assert [r["id"] for r in new.stale_claims("alerting-1", time.time(), time.time() - 60)] == ["k"]
    new.close()


def test_the_lease_must_outlast_a_live_send():
    from quaywatch.config import load_yaml, site_from_dict
    from quaywatch.config.loader import SITES_DIR
    from quaywatch.errors import ConfigError

    data = load_yaml(SITES_DIR / "demo.yaml")
    data["alerting"]["inflight_lease_s"] = 20  # Twilio's defaults: a send may take 23.5 s, a lookup 5 s more
    with pytest.raises(ConfigError) as exc:
        site_from_dict(data)
    assert "inflight_lease_s: 20 s is too short" in str(exc.value)
    data["alerting"]["inflight_lease_s"] = -1
    with pytest.raises(ConfigError, match="inflight_lease_s"):
        site_from_dict(data)
    data["alerting"]["inflight_lease_s"] = 20
    data["alerting"]["twilio"] = {"timeout_s": 2, "retries": 1, "backoff_s": 0.5}
    assert site_from_dict(data).alerting.inflight_lease_s == 20


# --- through real peers: `quaywatch alerting` killed mid-send, restarted ------------------------------------
# One SMS to the police; the Twilio client waits long enough for the kill to land while the request is held.
KILLABLE = {"alerting": {"policies": {"water": {"steps": [{"after_s": 0, "notify": ["police"], "channel": "sms"}]}},
                         "twilio": {"timeout_s": 10, "retries": 0}}}


def kill_while_at_twilio(svc, twilio, mosquitto) -> None:
    """Publish one event and SIGKILL the service while its SMS request is held at the stand-in."""
    publish(mosquitto.port, [event()])
    wait_until(lambda: [r for r in twilio.posts("/Messages.json", answered=False) if r["form"].get("To") == POLICE],
               what="the SMS request at the stand-in")
    svc.kill()


def claim_rows(svc) -> list[dict]:
    """The store's outgoing messages, read from the SQLite file while the service is down."""
    with sqlite3.connect(svc.dir / "alerts.db") as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute("SELECT * FROM messages WHERE direction = 'out'")]


def incident_detail(svc) -> dict:
    inc = wait_until(lambda: incidents(svc), what="the incident")[0]
    return httpx.get(f"{svc.url}/api/incidents/{inc['id']}", timeout=10).json()


def assert_lookups_kept_twilios_contract(twilio) -> None:
    lookups = twilio.gets("/Messages.json")
    assert lookups, "no Messages list lookup was made"
    for r in lookups:
        assert "To=%2B4520000002" in r["path"] and "From=%2B4520000000" in r["path"], r["path"]
        if r.get("upstream_status") is not None:  # answered by Prism; the injected 500s never reach it
            assert r["upstream_status"] == 200, f"Prism refused the lookup: {r['upstream_status']} {r['response']!r}"
    assert any(r.get("upstream_status") == 200 for r in lookups)


def test_through_peers_a_page_that_never_reached_twilio_is_sent_once_after_a_restart(alerting, mosquitto, twilio):
    svc = alerting(KILLABLE)
    twilio.drop_next(1, hold_s=120)  # held, then dropped unanswered: Twilio never got it
    kill_while_at_twilio(svc, twilio, mosquitto)
    left = claim_rows(svc)
    assert [(r["to_number"], r["status"], r["claimed_by"]) for r in left] == [(POLICE, "sending", "alerting-1")]
    assert twilio.created(to=POLICE) == []
    twilio.fail_next(1)  # and Twilio answers the first lookup after the restart with a 500
    svc.start()
    wait_until(lambda: twilio.created(to=POLICE), timeout=60, what="the SMS sent again", logs=svc.process.output)
    time.sleep(2 * 2.0 + 1)  # two more reconciliation rounds: nothing else may go out
    sent = twilio.created(to=POLICE)
    assert len(sent) == 1, sent  # the police phone gets exactly one SMS
    assert len(twilio.posts("/Messages.json", answered=False)) == 2  # the dropped request and the resend
    assert_lookups_kept_twilios_contract(twilio)
    detail = incident_detail(svc)
    row = next(m for m in detail["messages"] if m["direction"] == "out")
    assert row["id"] == left[0]["id"] and row["provider_sid"] == sent[0]["sid"] and row["status"] == "queued"
    assert metric(svc, f'{RECONCILED}{{outcome="lookup_failed"}}') == 1
    assert metric(svc, f'{RECONCILED}{{outcome="resent"}}') == 1
    assert metric(svc, f'{RECONCILED}{{outcome="found_sent"}}') == 0
    trail = [t["note"] for t in detail["transitions"] if t["actor"] == "reconciliation"]
    assert len(trail) == 2 and "could not ask the provider" in trail[0], trail
    assert "sent again once" in trail[1] and sent[0]["sid"] in trail[1], trail
    assert "could not ask the provider whether it left (attempt 1)" in svc.process.output()


def test_through_peers_a_page_that_reached_twilio_is_found_and_not_sent_again(alerting, mosquitto, twilio):
    svc = alerting(KILLABLE)
    twilio.hang_next(1, 3.0)  # Twilio creates the message; its answer comes too late for the killed sender
    kill_while_at_twilio(svc, twilio, mosquitto)
    assert [r["status"] for r in claim_rows(svc)] == ["sending"]
    sent = wait_until(lambda: twilio.created(to=POLICE), what="the stand-in to create the SMS")
    svc.start()
    detail = wait_until(lambda: (d := incident_detail(svc)) and all(m["status"] != "sending" for m in d["messages"])
                        and d, timeout=60, what="the claim reconciled", logs=svc.process.output)
    time.sleep(2 * 2.0 + 1)
    assert twilio.created(to=POLICE) == sent  # not sent again
    assert len(twilio.posts("/Messages.json", answered=False)) == 1
    assert_lookups_kept_twilios_contract(twilio)
    row = next(m for m in detail["messages"] if m["direction"] == "out")
    assert (row["provider_sid"], row["status"]) == (sent[0]["sid"], sent[0]["status"])
    assert metric(svc, f'{RECONCILED}{{outcome="found_sent"}}') == 1
    assert metric(svc, f'{RECONCILED}{{outcome="resent"}}') == 0
    trail = [t["note"] for t in detail["transitions"] if t["actor"] == "reconciliation"]
    assert len(trail) == 1 and f"the provider has it ({sent[0]['sid']}" in trail[0] and "not resent" in trail[0]


def test_through_peers_prism_refuses_a_lookup_that_breaks_twilios_contract(twilio):
    """The contract check behind the stand-in's list API is live: a page size Twilio does not allow is refused
    (so the lookups the tests above saw accepted were checked, not waved through)."""
    base = f"{twilio.url}/2010-04-01/Accounts/AC{'0123456789abcdef' * 2}/Messages.json"
    auth = (f"AC{'0123456789abcdef' * 2}", "token")
    assert httpx.get(base, params={"To": POLICE, "PageSize": 50}, auth=auth, timeout=30).status_code == 200
    refused = httpx.get(base, params={"To": POLICE, "PageSize": 0}, auth=auth, timeout=30)
    assert 400 <= refused.status_code < 500, refused.text


# --- pages too old to send: past the SMS validity period (twilio.validity_period_s) ---------------------------
def age(store: AlertStore, seconds: float) -> None:
    """As if the claims (and their claimant's death) were `seconds` older, their incidents opened and due then:
    a node down for that long."""
    store.db.run("UPDATE messages SET created_at = created_at - ?, claimed_at = claimed_at - ? "
                 "WHERE status = 'sending'", (seconds, seconds))
    store.db.run("UPDATE incidents SET opened_at = opened_at - ?, next_due_at = next_due_at - ?",
                 (seconds, seconds))


@pytest.mark.parametrize("escalation_first", [True, False], ids=["escalation-first", "reconciliation-first"])
def test_a_page_left_in_flight_for_hours_is_not_resent_and_the_escalation_moves_on(store_url, escalation_first):
    """The first SMS step was claimed and never left; its node comes back three hours later, the incident still
    paging. The SMS is not sent now: recorded expired, audited, counted too_old; the next step (voice calls)
    goes out at once, as for a step not delivered, whichever of the two loops gets there first."""

    async def scenario():
        a = Peer(store_url, "alerting-a", StallingPager(stall_before=True))
        incident_id, _dead = await stall_first_page(a)
        age(a.store, 3 * 3600)
        restarted = Peer(store_url, "alerting-a")
        if escalation_first:  # the due first step: claimed before, so nothing is sent; the step is advanced
            await restarted.escalator.tick()
            assert restarted.store.incident(incident_id)["step"] == 0
        await restarted.reconcile()
        for _ in range(3):
            await restarted.escalator.tick()
        assert len(restarted.pager.lookups) == 2  # asked first: had it left, its SID would be recorded instead
        assert [(p.channel, p.to) for p in restarted.pager.sent] == [("voice", POLICE), ("voice", RESCUE)]
        rows = [m for m in restarted.store.messages_of(incident_id) if m["channel"] == "sms"]
        assert sorted((m["to_number"], m["status"], m["claimed_by"]) for m in rows) == \
            [(POLICE, "expired", "alerting-a"), (RESCUE, "expired", "alerting-a")]
        for m in rows:
            last = restarted.store.message_events_of(m["id"])[-1]
            assert last["status"] == "expired" and "validity period" in last["detail"]
        assert restarted.reconciled("too_old") == 2 and restarted.reconciled("resent") == 0
        trail = notes(restarted.store, incident_id)
        assert len(trail) == 2 and all("not sent" in n and "600 s validity period" in n for n in trail), trail
        inc = restarted.store.incident(incident_id)
        assert (inc["step"], inc["state"]) == (1, "paged")

    asyncio.run(scenario())


def test_calls_have_the_same_cutoff_and_younger_pages_are_still_resent(tmp_path):
    async def scenario():
        node = Peer(f"sqlite:///{tmp_path}/alerts.db", "alerting-b", lease_s=0.2)
        validity = node.site.alerting.twilio.validity_period_s
        now = time.time()
        for key, channel, old in (("old-sms", "sms", validity + 5), ("old-call", "voice", validity + 5),
                                  ("young-call", "voice", validity - 60)):
            node.store.claim_message({"id": key, "incident_id": None, "direction": "out", "channel": channel,
                                      "to_number": POLICE, "from_number": "+4520000000", "body": key},
                                     now - old, claimant="alerting-a")
        await node.reconcile()
        assert {k: node.store.message(k)["status"] for k in ("old-sms", "old-call", "young-call")} == \
            {"old-sms": "expired", "old-call": "expired", "young-call": "dry-run"}
        assert [p.key for p in node.pager.sent] == ["young-call"]
        assert node.reconciled("too_old") == 2 and node.reconciled("resent") == 1

    asyncio.run(scenario())


# --- the lookup reads back past the newest page of results ----------------------------------------------------
def test_a_page_older_than_the_newest_fifty_to_its_number_is_still_found(twilio):
    """The double pages of test_scale's kill test: 80 incidents page the same police and rescue numbers, so
    by the time the killed instance was back and asked Twilio about a page it had left in flight, more than 50
    newer SMS to that number existed. The lookup read only the newest 50 (one page of the list API), did not
    see the page, and sent it again. It now reads page after page (Prism checks each request against Twilio's
    contract) until it is past the page's time."""
    from quaywatch.alerting.notify.twilio_pager import TwilioPager
    from quaywatch.config.alerting import TwilioConfig

    cfg = TwilioConfig(account_sid="AC" + "0123456789abcdef" * 2, api_base_url=twilio.url, timeout_s=10)
    pager = TwilioPager(cfg, "token")
    left = Page(key="inc-1:s0:l0:sms:+4520000002", channel="sms", to=POLICE, body="DRUKNEALARM the one that left")
    never = Page(key="inc-2:s0:l0:sms:+4520000002", channel="sms", to=POLICE, body="DRUKNEALARM never sent")

    async def scenario():
        claimed_at = time.time()
        sent = await pager.send(left)
        for i in range(60):  # later pages to the same number push it out of the newest 50
            await pager.send(Page(key=f"inc-{i + 3}:s0:l0:sms:{POLICE}", channel="sms", to=POLICE,
                                  body=f"DRUKNEALARM later incident {i}"))
        try:
            return sent, await pager.find_sent(left, claimed_at - 30), await pager.find_sent(never, claimed_at - 30)
        finally:
            await pager.close()

    sent, found, not_found = asyncio.run(scenario())
    assert [f.sid for f in found] == [sent.sid]
    assert not_found == []
    later_pages = [r for r in twilio.gets("/Messages.json") if "Page=1" in r["path"]]
    assert later_pages and all(r["upstream_status"] == 200 for r in later_pages), later_pages  # Twilio's contract


class CallsWithoutText(StallingPager):
    """A provider whose calls, as Twilio's Call resources, carry no text: a lookup sees every call to the
    number made since, whichever page it was."""

    def __init__(self, calls: list[tuple[str, str, float]]):
        super().__init__()
        self.calls = calls  # (sid, to, created_at)

    async def find_sent(self, page: Page, since: float) -> list[Found]:
        self.lookups.append(page)
        return [Found(sid, "completed", at) for sid, to, at in self.calls if to == page.to and at >= since]


def test_a_call_that_never_left_is_made_and_never_takes_another_incidents_call(store_url):
    """bench/chaos.py found it: page A's fencing check never passed (the store was full), so its request never
    left; page B, to the same number, left into a hanging Twilio and its call was made, the answer lost. A's
    lookup took B's call for its own (a call carries no text) and B's then found that call taken and called
    again: the police got two calls for B and none for A. Now A, which never left, is made without asking,
    and B's lookup counts only calls made after its request left."""
    async def scenario():
        store = AlertStore(store_url)
        t0 = time.time() - 120
        row = {"direction": "out", "channel": "voice", "step": 0, "loop": 0, "person": "Politi",
               "to_number": POLICE, "from_number": "+4500000000", "body": "<Response/>", "incident_id": None}
        with store.db.tx():
            store.claim_message({**row, "id": "inc-a:s0:l0:voice:" + POLICE}, t0, "alerting-a")
            store.claim_message({**row, "id": "inc-b:s0:l0:voice:" + POLICE}, t0 + 1, "alerting-a")
            assert store.fence("inc-b:s0:l0:voice:" + POLICE, "alerting-a", 0, t0 + 2)  # B's request left
            store.db.run("UPDATE messages SET claimed_at = ? WHERE claimed_by = 'alerting-a'", (t0 + 2,))
        provider = CallsWithoutText([("CAb", POLICE, t0 + 3)])  # B's call, made; its answer never came
        b = Peer(store_url, "alerting-b", provider, lease_s=0.5)
        await b.reconcile()
        rows = {r["id"].split(":")[0]: r for r in store.db.all("SELECT * FROM messages")}
        assert [p.key for p in provider.sent] == ["inc-a:s0:l0:voice:" + POLICE]  # A made, once
        assert rows["inc-b"]["provider_sid"] == "CAb" and rows["inc-a"]["provider_sid"] != "CAb"
        assert [p.key for p in provider.lookups] == ["inc-b:s0:l0:voice:" + POLICE]  # A never asked about
        await b.reconcile()
        assert len(provider.sent) == 1  # settled: nothing more
        store.close()

    asyncio.run(scenario())


def test_a_call_twilio_refused_is_made_again_without_taking_another_incidents_call(store_url):
    """The chaos run's second case: page A's request left (its fence passed) but Twilio answered 500, so
    nothing was made; meanwhile another incident's call went to the same number. The refusal puts A back
    where it was before the send (never left), so its retry is made, not settled by the other call."""
    async def scenario():
        t0 = time.time() - 120
        key = "inc-a:s1:l0:voice:" + POLICE
        row = {"id": key, "direction": "out", "channel": "voice", "step": 1, "loop": 0, "person": "Politi",
               "to_number": POLICE, "from_number": "+4500000000", "body": "<Response/>", "incident_id": None}
        provider = CallsWithoutText([("CAother", POLICE, t0 + 5)])  # another incident's call, made
        b = Peer(store_url, "alerting-b", provider, lease_s=0.5)
        store = b.store
        with store.db.tx():
            store.claim_message(row, t0, "alerting-b")
            assert store.fence(key, "alerting-b", 0, t0 + 1)  # the request left ...
            refused = SendError("voice: HTTP 500 error: Unable to create record", transient=True, code="500")
            b.escalator.record_refusal(Page(key, "voice", POLICE, "<Response/>"), refused)  # ... and was refused
            store.update_message(key, t0 + 2, "failed", error_code="500")
            assert store.owe(key, t0 + 3)
        assert store.message(key)["left_at"] is None
        await b.reconcile()
        assert [p.key for p in provider.sent] == [key] and provider.lookups == []  # made, nobody asked
        assert store.message(key)["provider_sid"] != "CAother"

    asyncio.run(scenario())


class CallsMade(StallingPager):
    """Twilio's calls as a lookup sees them: every call made to the number since, whichever page made it."""

    def __init__(self):
        super().__init__()
        self.calls: list[tuple[str, str, float]] = []  # (sid, to, created_at)

    async def send(self, page: Page) -> Sent:
        sent = await super().send(page)
        self.calls.append((sent.sid, page.to, time.time()))
        return sent

    async def find_sent(self, page: Page, since: float) -> list[Found]:
        self.lookups.append(page)
        return [Found(sid, "completed", at) for sid, to, at in self.calls if to == page.to and at >= since]


def test_a_call_in_doubt_holds_its_number_so_no_other_call_is_taken_for_it(store_url):
    """bench/chaos.py --long, after the two fixes above: node A fenced incident A's police call (its request
    may leave) and was killed before Twilio answered. Node B then called the police for incident B. When A's
    claim was reconciled, the lookup found B's call, made since A's request may have left, and took it for A's:
    A's call was never made and B's was made again (9 of 239 incidents). Now a call to a number waits while
    another call to it is in doubt, and is owed meanwhile; once that one is settled, it is made."""
    async def scenario():
        t0 = time.time() - 120
        a_key, b_key = "inc-a:s1:l0:voice:" + POLICE, "inc-b:s1:l0:voice:" + POLICE
        row = {"direction": "out", "channel": "voice", "step": 1, "loop": 0, "person": "Politi",
               "to_number": POLICE, "from_number": "+4500000000", "body": "<Response/>", "incident_id": None}
        provider = CallsMade()
        b = Peer(store_url, "alerting-b", provider, lease_s=0.5)
        store = b.store
        with store.db.tx():
            store.claim_message({**row, "id": a_key}, t0, "alerting-a")
            assert store.fence(a_key, "alerting-a", 0, t0 + 1)  # A's request may leave; its node dies (kill -9)
            store.claim_message({**row, "id": b_key}, time.time() + 60, "alerting-b")  # B: claimed, fresh
        b_call = Page(b_key, "voice", POLICE, "<Response>B</Response>", fence=b.escalator.fence_for(b_key, 0))
        with pytest.raises(LineBusy) as busy:
            await provider.send(b_call)
        assert busy.value.transient and not busy.value.ambiguous and a_key in str(busy.value)
        assert provider.sent == [] and store.message(b_key)["left_at"] is None  # nothing of B left
        # Owed, and looked at again within a second, not after the backoff of a failing Twilio (up to 30 s for
        # a page this old): it goes as soon as A is settled.
        now = time.time()
        with store.db.tx():
            store.update_message(b_key, now, "failed", error_code=busy.value.code)
            b.escalator.owe_if_transient(b_key, busy.value, now - 600, now)
            assert store.message(b_key)["retry_at"] - now == pytest.approx(1.0, abs=0.01)
            store.db.run("UPDATE messages SET status = 'sending', retry_at = NULL, claimed_at = ? WHERE id = ?",
                         (now + 60, b_key))  # back as it was: B's node still holds it
        await b.reconcile()  # A's claim: Twilio asked since A may have left, nothing there: A made now
        assert [p.key for p in provider.sent] == [a_key] and [p.key for p in provider.lookups] == [a_key]
        assert store.message(a_key)["provider_sid"] == provider.calls[0][0]
        await provider.send(b_call)  # A settled: B's call is made
        assert [p.key for p in provider.sent] == [a_key, b_key]
        # Waiting its turn is not Twilio failing: the paging health stays clear.
        failed = b.metrics.sample("quaywatch_alerting_pages_total", {"channel": "voice", "result": "failed"})
        b.escalator.outcome(b_call, LineBusy("waiting for A"))
        assert b.escalator.paging_state().failing_since is None
        assert b.metrics.sample("quaywatch_alerting_pages_total", {"channel": "voice", "result": "failed"}) == failed
        store.close()

    asyncio.run(scenario())
