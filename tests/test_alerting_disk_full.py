"""A full disk is named as such and loses nothing: /healthz and the control room say "store: disk full" (not a
broker fault: intake keeps its connection), the events that could not be stored are held unacknowledged, and
they are stored and paged, once, as soon as the store takes writes again.

The fault is SQLite's own: `PRAGMA max_page_count` caps the database at its current size, so the next write
that needs a page fails with SQLITE_FULL ('database or disk is full'), exactly as on a full filesystem."""

from __future__ import annotations

import asyncio
import errno
import io
import os
import shutil
import sqlite3
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
import psycopg.errors

from quaywatch.alerting.notify.dry_run import DryRunPager
from quaywatch.alerting.service import AlertingService
from quaywatch.alerting.store.db import is_disk_full
from quaywatch.config.loader import load_site
from quaywatch.controlroom.mount import attach_controlroom
from tests.peers import AlertingProcess, missing, wait_until
from tests.test_alerting_paging import event, incidents, publish

SNAPSHOT = "/9j/" + "A" * 60_000  # a real event's size: it needs new pages


def test_disk_full_errors_of_every_engine_are_told_apart():
    assert is_disk_full(sqlite3.OperationalError("database or disk is full"))
    assert is_disk_full(OSError(errno.ENOSPC, "No space left on device"))
    assert is_disk_full(psycopg.errors.DiskFull('could not extend file "base/5/16384": No space left on device'))
    assert not is_disk_full(sqlite3.OperationalError("database is locked"))
    assert not is_disk_full(OSError(errno.EACCES, "Permission denied"))


def test_intake_holds_a_batch_for_a_failing_store_but_not_for_an_event_that_breaks_a_constraint():
    from quaywatch.alerting.intake import store_unavailable

    assert store_unavailable(sqlite3.OperationalError("database or disk is full"))
    assert store_unavailable(psycopg.errors.DiskFull("could not extend file"))
    assert store_unavailable(psycopg.errors.AdminShutdown("terminating connection"))
    assert store_unavailable(OSError(errno.ENOSPC, "No space left on device"))
    assert not store_unavailable(sqlite3.IntegrityError("NOT NULL constraint failed: events.time"))
    assert not store_unavailable(psycopg.errors.NotNullViolation("null value in column"))
    assert not store_unavailable(KeyError("camera"))


def service(tmp_path, mqtt_port: int) -> AlertingService:
    site = load_site("demo")
    site.mqtt.host, site.mqtt.port = "127.0.0.1", mqtt_port
    site.alerting.store_url = f"sqlite:///{tmp_path}/alerts.db"
    site.alerting.web.port = 0
    site.alerting.store_reserve_mb = 0  # no reserve: the events must be held until space returns
    return AlertingService(site, dry_run=True, pager=DryRunPager(io.StringIO()))


def test_a_full_disk_is_named_in_health_holds_events_and_pages_them_once_when_space_returns(tmp_path, mosquitto):
    svc = service(tmp_path, mosquitto.port)
    backend = attach_controlroom(svc)
    db = svc.store.db
    evs = [event(evidence={"snapshot_jpeg_b64": SNAPSHOT}), event(camera="cam-2", evidence={"snapshot_jpeg_b64": SNAPSHOT})]

    async def until(predicate, timeout: float, what: str):
        deadline = time.monotonic() + timeout
        while not (value := await predicate()):
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            await asyncio.sleep(0.05)
        return value

    async def health() -> tuple[int, dict]:
        async with httpx.AsyncClient() as c:
            r = await c.get(f"http://127.0.0.1:{svc.web_port}/healthz", timeout=10)
        return r.status_code, r.json()

    async def scenario() -> tuple[list, list]:
        stop = asyncio.Event()
        run = asyncio.create_task(svc.run(stop))

        async def connected():
            return svc.web_port and svc.intake and svc.intake.connected.is_set()

        await until(connected, 30, "intake connected")
        with db._lock:  # the disk is full: not one more page
            pages = db._conn.execute("PRAGMA page_count").fetchone()[0]
            db._conn.execute(f"PRAGMA max_page_count = {pages}")
        await asyncio.to_thread(publish, mosquitto.port, evs[:1])
        await asyncio.to_thread(publish, mosquitto.port, evs[1:], "cam-2")

        async def named():
            code, body = await health()
            return (code, body) if any(p.startswith("store: disk full") for p in body.get("problems", ())) else None

        code, body = await until(named, 30, "/healthz naming the full disk")
        during = [p.key for p in svc.pager.sent]
        assert code == 503 and body["store"] is False
        # What intake holds for (and logs) is SQLite's own SQLITE_FULL, not a failed ROLLBACK after it.
        assert is_disk_full(svc.intake.holding_error), repr(svc.intake.holding_error)
        assert body["mqtt"] is True, body  # the broker is fine, and health says so
        assert "mqtt: not connected to the broker" not in body["problems"]
        problems = await asyncio.to_thread(backend.service_problems)
        assert any(p.startswith("store: disk full") for p in problems), problems
        await asyncio.sleep(1.5)  # a few more failed tries while full: none may page, none may be dropped
        assert svc.store.count_events() == 0 and svc.pager.sent == []
        with db._lock:  # space again
            db._conn.execute("PRAGMA max_page_count = 1073741823")

        async def paged():
            return len(svc.pager.sent) >= 4 or None

        await until(paged, 30, "the held events paged")
        await asyncio.sleep(0.5)  # had anything been taken twice, it would page again now
        code, body = await health()
        # Healthy again, paging included (the paging branch added it to /healthz: Twilio answering, no page owed).
        assert (code, body) == (200, {"ok": True, "store": True, "mqtt": True, "paging": True}), body
        stop.set()
        await run
        return during, [p.key for p in svc.pager.sent]

    try:
        during, sent = asyncio.run(scenario())
    finally:
        if backend is not None:
            backend.stop()
    assert during == []  # nothing could be paged while the store refused the events (see docs/alerting.md)
    assert len(sent) == len(set(sent)) == 4, sent  # police and rescue for each camera's incident, once
    store = svc.store.__class__(f"sqlite:///{tmp_path}/alerts.db")
    assert store.count_events() == 2
    store.close()


def test_on_a_really_full_filesystem_the_reserve_is_given_back_and_the_event_is_paged(tmp_path, mosquitto):
    """A real full filesystem: a 4 MB tmpfs in a mount namespace of the service's own (so nothing is left
    mounted if the test dies), filled to the last block while the service runs."""
    if os.geteuid() != 0 or not (shutil.which("unshare") and shutil.which("nsenter")):
        missing("a tmpfs of its own needs root and util-linux's unshare and nsenter")
    mnt = Path(tempfile.mkdtemp(prefix="quaywatch-full-"))
    proc = AlertingProcess(tmp_path / "alerting", mosquitto.port, store_url=f"sqlite:///{mnt}/alerts.db",
                           overrides={"alerting": {"store_reserve_mb": 1}})
    proc.argv = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                 f'mount -t tmpfs -o size=4m quaywatch-full {mnt} && exec "$@"', "sh", *proc.argv]
    try:
        proc.start()
        inside = ["nsenter", "-t", str(proc.process.pid), "-m", "--"]
        fill = subprocess.run([*inside, "sh", "-c", f"dd if=/dev/zero of={mnt}/filler bs=4k 2>&1; df -k {mnt}"],
                              capture_output=True, text=True, timeout=60)
        assert "No space left" in fill.stdout, fill.stdout
        publish(mosquitto.port, [event(evidence={"snapshot_jpeg_b64": "/9j/" + "A" * 150_000})])
        wait_until(lambda: [i for i in incidents(proc) if i["state"] == "paged"], 60, "the event paged on a full disk",
                   logs=lambda: proc.process.output()[-3000:])
        body = httpx.get(proc.url + "/healthz", timeout=10).json()
        assert body["mqtt"] is True and body["store"] is False, body
        assert any(p.startswith("store: disk full: running on the 1 MB reserve") for p in body["problems"]), body
        assert "released the 1 MB reserve" in proc.process.output()
    finally:
        proc.stop()
        shutil.rmtree(mnt, ignore_errors=True)
