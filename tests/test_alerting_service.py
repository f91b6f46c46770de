"""AlertingService.handle_batch beside a running escalation loop: the first page of every new incident goes out
from handle_batch, at once, carrying the event's receive time (the event -> request latency histogram counts
it); the escalation loop is only the fallback for an incident committed but never fired (the fire failed, the
process died in between), and pages it within the first-page grace."""

from __future__ import annotations

import asyncio
import io
import time

import pytest

from quaywatch.alerting import dispatch
from quaywatch.alerting.dispatch import Incoming
from quaywatch.alerting.notify.dry_run import DryRunPager
from quaywatch.alerting.service import AlertingService
from quaywatch.config.loader import load_site
from tests.test_alerting_store import ev

LATENCY_COUNT = "quaywatch_alerting_event_to_request_seconds_count"


def service(url: str) -> AlertingService:
    site = load_site("demo")
    site.alerting.store_url = url
    site.alerting.grouping_window_s = 0  # every event its own incident
    return AlertingService(site, dry_run=True, pager=DryRunPager(io.StringIO()))


def first_pages(svc: AlertingService) -> list:
    return [p for p in svc.pager.sent if ":s0:l0:" in p.key]


async def until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


@pytest.mark.parametrize("race", ["slow-handoff", "busy-loop"])
def test_every_first_page_goes_out_from_handle_batch_with_its_latency(tmp_path, race):
    """slow-handoff: the worker thread hands the committed batch back late (a loaded machine), so the
    escalation loop certainly looks in between. busy-loop: the loop looks for due incidents all the time."""
    svc = service(f"sqlite:///{tmp_path}/alerts.db")
    period = 0.25
    if race == "slow-handoff":
        commit = svc.dispatcher.commit

        def slow_handoff(items):
            out = commit(items)
            time.sleep(0.3)
            return out

        svc.dispatcher.commit = slow_handoff
    else:
        period = 0.001
    batches, per_batch = 6, 8

    async def scenario() -> list[float]:
        stop = asyncio.Event()
        loop = asyncio.create_task(svc.escalator.run(stop, period=period))
        waits = []
        for b in range(batches):
            t = time.perf_counter()
            await svc.handle_batch([Incoming(ev(camera="cam-1" if i % 2 else "cam-2")) for i in range(per_batch)])
            await until(lambda b=b: len(first_pages(svc)) >= 2 * per_batch * (b + 1), 5, "the batch's first pages")
            waits.append(time.perf_counter() - t)
        await asyncio.gather(*svc._tasks)
        stop.set()
        await loop
        return waits

    waits = asyncio.run(scenario())
    pages = first_pages(svc)
    incidents = batches * per_batch
    assert len(pages) == 2 * incidents and len({p.key for p in pages}) == 2 * incidents  # police + rescue, once
    untimed = [p.key for p in pages if p.received_at is None]
    assert untimed == [], f"{len(untimed)} of {len(pages)} first pages sent by the escalation loop: {untimed[:4]}"
    assert svc.metrics.sample(LATENCY_COUNT) == 2 * incidents
    assert svc.metrics.sample("quaywatch_alerting_escalations_total", {"reason": "first page"}) == incidents
    assert max(waits) < 1.5, waits  # never held back for the grace: out as soon as the batch is committed
    for inc in svc.store.incidents(limit=1000):  # the fire moved each on to its next step
        assert (inc["state"], inc["step"]) == ("paged", 0)
        assert inc["next_due_at"] > inc["step_sent_at"] + 59
    svc.store.close()


def test_an_incident_whose_first_fire_failed_is_paged_by_the_escalation_loop_within_the_grace(tmp_path):
    svc = service(f"sqlite:///{tmp_path}/alerts.db")
    fire = svc.escalator.fire

    async def fire_fails_from_handle_batch(incident_id, reason, received=None):
        if received is not None:  # handle_batch's fire (the escalation loop's carries no receive time)
            raise RuntimeError("database is locked")
        return await fire(incident_id, reason, received)

    svc.escalator.fire = fire_fails_from_handle_batch
    grace = dispatch.FIRST_PAGE_GRACE_S

    async def scenario() -> None:
        stop = asyncio.Event()
        loop = asyncio.create_task(svc.escalator.run(stop))
        await svc.handle_batch([Incoming(ev())])
        await until(lambda: len(first_pages(svc)) == 2, grace + 5, "the fallback's first page")
        await asyncio.gather(*svc._tasks)
        stop.set()
        await loop

    asyncio.run(scenario())
    inc = svc.store.incidents()[0]
    claimed = min(m["created_at"] for m in svc.store.messages_of(inc["id"]))
    assert grace - 0.05 <= claimed - inc["opened_at"] <= grace + 0.25 + 0.5  # the grace, one loop period, slack
    assert (inc["state"], inc["step"]) == ("paged", 0)
    assert svc.metrics.sample(LATENCY_COUNT) == 0  # the fallback has no receive time: it is the exception
    svc.store.close()


@pytest.mark.parametrize("down_s", [0.0, 5.0], ids=["back-within-the-grace", "back-after-the-grace"])
def test_a_crash_between_commit_and_fire_is_paged_after_the_restart_within_the_grace(tmp_path, down_s):
    url = f"sqlite:///{tmp_path}/alerts.db"
    crashed = service(url)
    opened, _notices = crashed.dispatcher.commit([Incoming(ev())])  # committed; the process dies before the fire
    crashed.store.close()
    grace = dispatch.FIRST_PAGE_GRACE_S
    if down_s:  # as if the node had been down this long
        crashed = service(url)
        crashed.store.db.run("UPDATE incidents SET opened_at = opened_at - ?, next_due_at = next_due_at - ?",
                             (down_s, down_s))
        crashed.store.close()
    restarted = service(url)

    async def scenario() -> float:
        stop = asyncio.Event()
        started = time.time()
        loop = asyncio.create_task(restarted.escalator.run(stop))
        await until(lambda: len(first_pages(restarted)) == 2, grace + 5, "the first page after the restart")
        stop.set()
        await loop
        return started

    started = asyncio.run(scenario())
    inc = restarted.store.incident(opened[0].incident_id)
    claimed = min(m["created_at"] for m in restarted.store.messages_of(inc["id"]))
    assert claimed - inc["opened_at"] <= max(grace, down_s) + 0.25 + 0.5
    if down_s:
        assert claimed - started < 0.5  # its grace ran out while the node was down: paged at once
    assert (inc["state"], inc["step"]) == ("paged", 0)
    restarted.store.close()
