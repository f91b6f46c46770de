"""Scale limits on this machine: alerting through Mosquitto with the PostgreSQL store, one instance vs two
sharing one subscription, beside the broker's own delivery rate measured in the same run.

    .venv/bin/python bench/scale.py [--events N]

Every run drains the same backlog the same way, so the rates compare: the consumers connect and subscribe
(persistent session, QoS 1), are frozen (SIGSTOP), N events are published from another process (as the
edge is), then the consumers are thawed (SIGCONT) together and timed until the last event is in.

  broker baseline  = Mosquitto -> paho subscriber process(es) counting messages (1, then 2 sharing
                     `$share/...`): what the broker hands Python consumers, with nothing else to do;
  alerting SQLite  = one `quaywatch alerting` on its SQLite store (WAL, synchronous=FULL): bench/alerting's
                     engine, here as a real process, for reference;
  alerting PG x1   = one instance on PostgreSQL (fsync on: durable commits);
  alerting PG x2   = two instances on the same PostgreSQL, each with its own subscription (the default,
                     `alerting.subscription: own`: both see every event, the store keeps it once), then
                     splitting the stream by a shared subscription (`subscription: shared`);
  alerting 2 sites = two instances on the same PostgreSQL, each the only one of its own site (half the
                     events each): how many harbours scale, with no site lock between them.

Each event is a water_entry of one camera with a ~30 KB snapshot (the edge's evidence), grouped into one
incident (this measures intake and store, not paging: bench/alerting times the pages). Rates are events
per wall second across the instances and per CPU-second of the consumers (the machine is shared: the
ratios within one run are what compare). No floors: it prints what the parts do here.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # tests.peers: Mosquitto, Postgres, AlertingProcess, the Twilio stand-in

SITE = "demo-harbour"
SNAPSHOT = "/9j/" + "A" * 30_000


def payload(i: int, site: str = SITE) -> bytes:
    return json.dumps({
        "version": 1, "event_id": f"scale-{uuid.uuid4().hex}", "kind": "water_entry", "site": site,
        "camera": "cam-1", "time": datetime.now(UTC).isoformat(), "confidence": 0.8, "track_id": i,
        "bbox": [10, 20, 8, 8], "location": {"lat": 57.0502, "lon": 9.9217},
        "evidence": {"snapshot_jpeg_b64": SNAPSHOT},
    }).encode()


PUBLISHER = """
import sys, paho.mqtt.client as paho
port, path = int(sys.argv[1]), sys.argv[2]
c = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="scale-bench-publisher")
c.max_inflight_messages_set(1000)
c.connect("127.0.0.1", port)
c.loop_start()
lines = [line.split(b" ", 1) for line in open(path, "rb").read().splitlines()]
infos = [c.publish(topic.decode(), raw, qos=1) for topic, raw in lines]
for i in infos:
    i.wait_for_publish(120)
print(sum(i.is_published() for i in infos), flush=True)
c.loop_stop()
c.disconnect()
"""

SUBSCRIBER = """
import json, sys, time, paho.mqtt.client as paho
port, name, topic, idle = int(sys.argv[1]), sys.argv[2], sys.argv[3], float(sys.argv[4])
state = {"n": 0, "first": None, "last": None}
def on_message(c, u, m):
    now = time.time()
    state["n"] += 1
    state["first"] = state["first"] or now
    state["last"] = now
c = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=name, clean_session=False)
c.on_message = on_message
def on_subscribe(*a):
    state["cpu0"] = time.process_time()
    print("ready", flush=True)
c.on_subscribe = on_subscribe
c.connect("127.0.0.1", port, keepalive=60)
c.subscribe(topic, qos=1)
c.loop_start()
deadline = time.time() + 300
while time.time() < deadline and (state["last"] is None or time.time() - state["last"] < idle):
    time.sleep(0.1)
state["cpu"] = time.process_time() - state["cpu0"]
c.loop_stop()
c.disconnect()
print(json.dumps(state), flush=True)
"""


def cpu_seconds(pid: int) -> float:
    import psutil

    try:
        proc = psutil.Process(pid)
        return sum(p.cpu_times().user + p.cpu_times().system for p in [proc, *proc.children(recursive=True)])
    except psutil.Error:
        return 0.0


def publish(port: int, raws: list[bytes], tmp: Path) -> None:
    path = tmp / f"backlog-{uuid.uuid4().hex[:6]}.txt"
    path.write_bytes(b"\n".join(f"quaywatch/{json.loads(r)['site']}/cam-1/events ".encode() + r for r in raws))
    out = subprocess.run([sys.executable, "-c", PUBLISHER, str(port), str(path)], capture_output=True,
                         text=True, timeout=300)
    if out.returncode != 0 or out.stdout.strip() != str(len(raws)):
        raise RuntimeError(f"publisher: {out.stdout[-500:]} {out.stderr[-1500:]}")


def broker_baseline(port: int, raws: list[bytes], tmp: Path, consumers: int) -> tuple[float, float]:
    """(messages per wall second across the subscribers, per CPU-second of the subscribers)."""
    topic = f"quaywatch/{SITE}/cam-1/events"
    topic = f"$share/scale-base{consumers}/{topic}" if consumers > 1 else topic
    subs = [subprocess.Popen([sys.executable, "-c", SUBSCRIBER, str(port), f"scale-sub-{consumers}-{i}", topic, "3"],
                             stdout=subprocess.PIPE, text=True, start_new_session=True) for i in range(consumers)]
    try:
        for s in subs:
            if s.stdout.readline().strip() != "ready":
                raise RuntimeError("subscriber did not subscribe")
        for s in subs:
            os.killpg(s.pid, signal.SIGSTOP)
        publish(port, raws, tmp)
        for s in subs:
            os.killpg(s.pid, signal.SIGCONT)
        states = [json.loads(s.communicate(timeout=320)[0].strip().splitlines()[-1]) for s in subs]
        cpu = sum(st["cpu"] for st in states)  # each one's own, from its SUBACK on
        n = sum(st["n"] for st in states)
        if n != len(raws):
            raise RuntimeError(f"broker baseline: {n} of {len(raws)} messages arrived")
        span = max(st["last"] for st in states) - min(st["first"] for st in states)
        return n / span, n / max(cpu, 1e-6)
    finally:
        for s in subs:
            if s.poll() is None:
                os.killpg(s.pid, signal.SIGCONT)
                s.kill()


def stored(store_url: str) -> tuple[int, float, float]:
    """(events, first received_at, last received_at) in the store."""
    q = "SELECT COUNT(*) AS n, MIN(received_at) AS a, MAX(received_at) AS b FROM events"
    if store_url.startswith("sqlite"):
        conn = sqlite3.connect(store_url[len("sqlite:///"):], timeout=30)
        try:
            row = conn.execute(q).fetchone()
        finally:
            conn.close()
        return row[0], row[1] or 0.0, row[2] or 0.0
    import psycopg

    with psycopg.connect(store_url) as conn:
        row = conn.execute(q).fetchone()
    return row[0], row[1] or 0.0, row[2] or 0.0


def alerting_run(tmp: Path, port: int, twilio_url: str, store_url: str, raws: list[bytes], instances: int,
                 label: str, sites: list[str] | None = None, subscription: str = "own") -> tuple[float, float]:
    """(events per wall second across the instances, per CPU-second of the instances)."""
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    from tests.peers import AlertingProcess

    overrides = {"grouping_window_s": 600, "delivery_timeout_s": 3600, "subscription": subscription,
                 "policies": {"water": {"steps": [{"after_s": 0, "notify": ["police"], "channel": "sms"}]}}}
    sites = sites or [SITE] * instances  # the same site: one shared subscription; else one site each
    nodes = [AlertingProcess(tmp / f"{label}-{i}", port, {"site": {"id": site}, "alerting": {
        **overrides, "instance_id": f"{label}-{i}"}}, twilio_url, store_url=store_url)
        for i, site in enumerate(sites)]
    try:
        with ThreadPoolExecutor(instances) as pool:
            list(pool.map(lambda n: n.start(timeout=300), nodes))
        for n in nodes:  # subscribed: only then does the broker hand the subscription its share
            deadline = time.monotonic() + 60
            while not httpx.get(n.url + "/healthz", timeout=10).json().get("mqtt"):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{label}: never subscribed")
                time.sleep(0.1)
        for n in nodes:
            n.process.signal(signal.SIGSTOP)
        publish(port, raws, tmp)
        cpu0 = sum(cpu_seconds(n.process.pid) for n in nodes)
        for n in nodes:
            n.process.signal(signal.SIGCONT)
        deadline = time.monotonic() + 180
        while (count := stored(store_url)[0]) < len(raws):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{label}: only {count} of {len(raws)} events stored after 180 s")
            time.sleep(0.05)
        cpu = sum(cpu_seconds(n.process.pid) for n in nodes) - cpu0
        n_, first, last = stored(store_url)
        errors = [line for n in nodes for line in n.process.output().splitlines()
                  if " ERROR " in line or "Traceback" in line]
        if errors:
            print(f"  ({label}: {len(errors)} error line(s) in the service log, e.g. {errors[0][:200]})")
        return n_ / max(last - first, 1e-6), n_ / max(cpu, 1e-6)
    finally:
        for n in nodes:
            n.stop()


def durable_postgres(workdir: Path):
    """tests.peers.Postgres, but with fsync on (the test peer turns it off for speed; a command-line setting
    cannot be undone by ALTER SYSTEM): commits here are as durable as in production."""
    from tests.peers import Postgres, Process, wait_for_port

    class DurablePostgres(Postgres):
        def start(self):
            subprocess.run([*self._as, str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres",
                            "--auth=trust", "-E", "UTF8"], check=True, capture_output=True)
            self.process = Process([*self._as, str(self.bin / "postgres"), "-D", str(self.data), "-p",
                                    str(self.port), "-c", "listen_addresses=127.0.0.1",
                                    "-c", f"unix_socket_directories={self.dir}"], self.dir / "postgres.log")
            wait_for_port(self.port, 30)
            return self

    return DurablePostgres(workdir)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=3000, help="events in each backlog")
    args, _ = parser.parse_known_args()
    from tests.peers import Mosquitto, TwilioStandIn

    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; {args.events} events of "
          f"{len(payload(0)) / 1000:.0f} KB per run, QoS 1, persistent sessions")
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as d:
        tmp = Path(d)
        try:
            Mosquitto(tmp / "probe").start().stop()
            pg = durable_postgres(tmp / "pg").start()
        except BaseException as exc:  # pytest's skip is a BaseException; here it only means: not installed
            print(f"skipped: {exc}")
            return 0
        import psycopg

        with psycopg.connect(pg.url, autocommit=True) as conn:
            fsync = conn.execute("SHOW fsync").fetchone()[0]
            for db in ("pg1", "pg2", "pg3", "pg4"):
                conn.execute(f"CREATE DATABASE {db}")
        base = pg.url.rsplit("/", 1)[0]
        stand_in = TwilioStandIn().start()
        results: dict[str, tuple[float, float]] = {}
        try:
            for consumers in (1, 2):
                # a fresh broker per run: a persistent session left behind would keep taking a share
                broker = Mosquitto(tmp / f"mosquitto-base{consumers}").start()
                try:
                    rate, per_cpu = broker_baseline(broker.port, [payload(i) for i in range(args.events)], tmp, consumers)
                finally:
                    broker.stop()
                results[f"broker x{consumers}"] = rate, per_cpu
                print(f"broker baseline: Mosquitto -> {consumers} paho subscriber(s){' (shared)' if consumers > 1 else ''}"
                      f"{'':12s}{rate:8.0f} msg/s    ({per_cpu:.0f} per CPU-second of the subscribers)", flush=True)
            runs = [("sqlite x1", f"sqlite:///{tmp}/alerts.db", 1, None, "own"),
                    ("pg x1", f"{base}/pg1", 1, None, "own"),
                    ("pg x2 own", f"{base}/pg2", 2, None, "own"),
                    ("pg x2 shared", f"{base}/pg4", 2, None, "shared"),
                    ("pg 2 sites", f"{base}/pg3", 2, [SITE, "harbour-b"], "own")]
            for label, url, instances, sites, subscription in runs:
                broker = Mosquitto(tmp / f"mosquitto-{label.replace(' ', '-')}").start()
                try:
                    raws = [payload(i, (sites or [SITE])[i % len(sites or [SITE])]) for i in range(args.events)]
                    rate, per_cpu = alerting_run(tmp, broker.port, stand_in.url, url, raws, instances,
                                                 label.replace(" ", "-"), sites, subscription)
                finally:
                    broker.stop()
                results[label] = rate, per_cpu
                store = "SQLite (WAL, FULL)" if label.startswith("sqlite") else f"PostgreSQL (fsync={fsync})"
                what = f"{instances} instance(s)" + (", one site each" if sites else
                                                     f", {subscription} subscription" if instances > 1 else "")
                print(f"alerting: {what:30s} on {store:24s}{rate:8.0f} events/s "
                      f"({per_cpu:.0f} per CPU-second of the service)", flush=True)
        finally:
            stand_in.stop()
            pg.stop()
        print("ratios:")
        r = {k: v[0] for k, v in results.items()}
        c = {k: v[1] for k, v in results.items()}
        for mode in ("own", "shared"):
            print(f"  two instances, {mode + ' subscription':19s} / one {r[f'pg x2 {mode}'] / r['pg x1']:.2f}x wall, "
                  f"{c[f'pg x2 {mode}'] / c['pg x1']:.2f}x per CPU-second")
        print(f"  two sites, an instance each / one (PostgreSQL) {r['pg 2 sites'] / r['pg x1']:.2f}x wall, "
              f"{c['pg 2 sites'] / c['pg x1']:.2f}x per CPU-second")
        print(f"  PostgreSQL / SQLite, one instance              {r['pg x1'] / r['sqlite x1']:.2f}x wall, "
              f"{c['pg x1'] / c['sqlite x1']:.2f}x per CPU-second")
        print(f"  alerting (PostgreSQL x1) / broker baseline x1  {r['pg x1'] / r['broker x1']:.2f}x wall")
        print(f"  broker: two shared subscribers / one           {r['broker x2'] / r['broker x1']:.2f}x wall")
        print(f"  (on {os.cpu_count()} CPUs at load {os.getloadavg()[0]:.1f}: wall rates move with the other "
              "users of the machine; per CPU-second is the steadier figure)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
