
"""Exactly once under a frozen node (issue 13): a node that holds a page's claim and is frozen (SIGSTOP, as a
paused VM or a stalled host would be) past its lease must not send that page when it wakes, because another
node has taken the claim over, asked Twilio and sent it meanwhile. Claims carry a fencing token, checked in
the store right before each request leaves (alerting/store/alerts.py `fence`).

Two real `quaywatch alerting` processes on one SQLite file. Node A pages nine people in one step; its eight
Twilio workers are held at the stand-in, so the ninth page waits in its queue, claimed but not yet sent. A is
frozen there; node B starts, and after the lease reconciles A's claims: the eight that Twilio created are
found, the ninth is sent by B. Then A is woken: its queued ninth page must not go out a second time."""

from __future__ import annotations

import signal
import sqlite3
import time

from tests.peers import AlertingProcess, TwilioStandIn, wait_until
from tests.test_alerting_paging import event, publish

NUMBERS = [f"+45200001{i:02d}" for i in range(9)]  # one more than the pager's 8 workers
LEASE_S = 13  # the config's floor for timeout_s 3, retries 0 is 12 s


def site(instance: str) -> dict:
    return {"alerting": {
        "instance_id": instance, "inflight_lease_s": LEASE_S, "delivery_timeout_s": 600,
        "twilio": {"timeout_s": 3, "retries": 0},
        "groups": {"police": {"kind": "police", "people": [{"name": f"Vagt {i}", "number": n}
                                                           for i, n in enumerate(NUMBERS)]}},
        "policies": {"water": {"steps": [{"after_s": 0, "notify": ["police"], "channel": "sms"}]}}}}


def rows(db: str) -> list[tuple[str, str, str]]:
    with sqlite3.connect(db, timeout=10) as conn:
        return conn.execute("SELECT to_number, status, claimed_by FROM messages WHERE direction = 'out' "
                            "ORDER BY to_number").fetchall()


def test_a_node_frozen_past_its_lease_does_not_send_when_it_wakes(tmp_path, mosquitto):
    twilio = TwilioStandIn().start()
    db = tmp_path / "shared.db"
    store_url = f"sqlite:///{db}"
    a = AlertingProcess(tmp_path / "a", mosquitto.port, site("alerting-a"), twilio.url, store_url=store_url).start()
    b = AlertingProcess(tmp_path / "b", mosquitto.port, site("alerting-b"), twilio.url, store_url=store_url)
    frozen = False
    try:
        twilio.hang_next(8, 2.5)  # A's eight workers held (within its 3 s timeout); the ninth page queues behind
        publish(mosquitto.port, [event()])
        wait_until(lambda: len(rows(str(db))) == 9 and len(twilio.posts("/Messages.json", answered=False)) == 8,
                   timeout=30, poll=0.01, what="A's nine claims, eight requests at the stand-in")
        a.process.signal(signal.SIGSTOP)  # frozen: claimed the ninth, not yet sent it
        frozen = True
        assert len(twilio.posts("/Messages.json", answered=False)) == 8
        assert {r[1:] for r in rows(str(db))} == {("sending", "alerting-a")}

        b.start()  # after the lease B takes the claims over, asks Twilio, and sends the ninth
        wait_until(lambda: all(r[1] != "sending" for r in rows(str(db))), timeout=LEASE_S + 60,
                   what="B to reconcile A's claims", logs=b.process.output)
        assert len(twilio.created(to=NUMBERS[-1])) == 1  # sent by B
        a.process.signal(signal.SIGCONT)  # A wakes with the ninth page still in its queue
        frozen = False
        time.sleep(5)
        created = {n: len(twilio.created(to=n)) for n in NUMBERS}
        assert created == dict.fromkeys(NUMBERS, 1), created  # exactly once each: A sent nothing after waking
        assert len(twilio.posts("/Messages.json", answered=False)) == 9
        assert "claim no longer held by this node" in a.process.output(), a.process.output()[-3000:]
        ninth = [r for r in rows(str(db)) if r[0] == NUMBERS[-1]]
        assert ninth == [(NUMBERS[-1], "queued", "alerting-b")], ninth
    finally:
        if frozen:
            a.process.signal(signal.SIGCONT)
        a.stop()
        b.stop()
        twilio.stop()
