"""The fault harness of issue 13: paging that cannot be stopped, tried under a seeded schedule of faults.

    python bench/chaos.py --short        # about 3 minutes; tests/test_chaos.py runs it in CI
    python bench/chaos.py --long         # about 22 minutes (`make chaos`)

What runs, all on 127.0.0.1 and free ports, each in its own process group (stopped at the end, also on
Ctrl-C or an exception):
- Mosquitto with the password_file and acl_file quaywatch writes from the site configs (no anonymous access);
- two edge workers, each a process that makes `water_entry` events of its own two cameras with the edge's
  own code (`detection_event`, the `Outbox` on disk, `MqttLink` with the worker's broker account) at a steady
  rate. Not the detector on video: that would spend the CI's two cores on decoding, and the faults here are
  downstream of it (tests/test_scale.py runs real edge workers on fixture clips through the same path);
- two `quaywatch alerting` instances on one PostgreSQL (its data on a small tmpfs when run as root, so the
  disk can really fill);
- the Twilio stand-in (tests/peers.py), which records every message and call it created.

The schedule (seeded: `--seed`) injects: kill -9 of an alerting instance (restarted after a while, as systemd
would), SIGSTOP past the claim lease then SIGCONT, broker restart and kill -9, Twilio refusing connections,
hanging (answering later than the client waits: the page is created) and answering 500, a busy process per
core, the store's disk filled, and hostile payloads (50,000 nested '[', NaN, an unknown camera, an event dated
2001, a control character in the topic) from a client with an edge worker's credentials, plus an anonymous
connect. After the faults it waits for things to settle and checks, from the store and the stand-in's record:
- each event stored once;
- each contact paged exactly once per step that fired (messages and calls created at the stand-in, counted by
  the page's key: incident, step, loop, channel, number);
- every incident's escalation resumed: nobody acknowledges, so each incident has fired every step due by its
  own clock;
- nothing lost: every water_entry an edge worker made is stored and its incident paged;
- no hostile payload paged, the anonymous client was refused.
It prints the faults injected by kind, incidents, pages, lost and duplicated; exit code 1 on any violation.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SITE = "demo-harbour"
POLICE, RESCUE, CONTROL = "+4520000002", "+4520000003", "+4520000001"
# Nobody acknowledges, so every step fires by the clock: SMS at once, a call to the police, then the control room.
POLICY = {"steps": [{"after_s": 0, "notify": ["police", "rescue"], "channel": "sms"},
                    {"after_s": 12, "notify": ["police"], "channel": "voice"},
                    {"after_s": 12, "notify": ["control_room"], "channel": "sms"}], "loops": 0}
STEP_CONTACTS = [[("sms", POLICE), ("sms", RESCUE)], [("voice", POLICE)], [("sms", CONTROL)]]
WORKERS = {"edge-a": ["cam-a1", "cam-a2"], "edge-b": ["cam-b1", "cam-b2"]}
LEASE_S = 15.0  # inflight_lease_s: over twice the longest send with timeout_s 2 and one retry (config checks)
ALERTING_PW, EDGE_PW = "chaos-alerting-pw", "chaos-edge-pw-{}"


@dataclass
class Schedule:
    name: str
    faults_s: float  # how long faults are injected
    gap_s: float  # one fault starts about every gap_s
    event_every_s: float  # each edge worker makes an event this often
    outage_s: tuple[float, float]  # how long Twilio misbehaves
    settle_s: float  # after the faults: how long everything may take to come out right
    owed_retry_max_s: float
    hog_s: float = 10.0
    kinds: list[str] = field(default_factory=list)


KINDS = ["kill9", "sigstop", "sigstop_holding_claims", "broker_restart", "broker_kill", "twilio_refuse", "twilio_hang", "twilio_500",
         "cpu_hog", "disk_full", "hostile"]
SHORT = Schedule("short", faults_s=132, gap_s=12, event_every_s=7, outage_s=(15, 25), settle_s=120,
                 owed_retry_max_s=5, hog_s=8)
LONG = Schedule("long", faults_s=1200, gap_s=30, event_every_s=10, outage_s=(60, 180), settle_s=300,
                owed_retry_max_s=30, hog_s=30)


# --- an edge worker: the edge's own event, outbox and MQTT link -------------------------------------------
def edge_main(args) -> int:
    from quaywatch.config import load_site
    from quaywatch.detector.types import Detection
    from quaywatch.edge.events import detection_event, to_wire
    from quaywatch.edge.mqtt import MqttLink, Topics
    from quaywatch.edge.outbox import Outbox
    from quaywatch.mqtt_accounts import credentials

    site = load_site(args.site)
    outbox = Outbox(Path(args.data_dir) / "outbox.db")
    topics = Topics(site.mqtt.topic_prefix, site.site.id)
    link = MqttLink(site.mqtt, site.site.id, site.edge.worker_id, outbox, "127.0.0.1", site.mqtt.port,
                    credentials=credentials(site, "edge")).start()
    made = open(args.made, "a")  # noqa: SIM115 - for the process's life
    stop = time.monotonic() + args.duration
    i = 0
    while time.monotonic() < stop:
        cam = site.cameras[i % len(site.cameras)]
        det = Detection("water_entry", time.time(), i, track_id=i, bbox=(10, 20, 8, 16), confidence=0.9)
        payload = detection_event(site.site.id, cam, det, tuple(cam.resolution))
        outbox.put(payload["event_id"], topics.events(cam.id), to_wire(payload), time.time())
        link.notify()  # as the edge worker does: the link drains the outbox when woken
        made.write(json.dumps({"event_id": payload["event_id"], "camera": cam.id, "t": time.time()}) + "\n")
        made.flush()
        i += 1
        time.sleep(args.every * random.uniform(0.7, 1.3))
    while len(outbox):  # the harness waits for this line, then stops the worker
        time.sleep(0.2)
    print(f"drained: {i} events made, {link.stats.published} published", flush=True)
    while True:
        time.sleep(1)


# --- the peers --------------------------------------------------------------------------------------------
def cameras() -> list[dict]:
    import yaml

    cam = yaml.safe_load((REPO / "config" / "sites" / "demo.yaml").read_text())["cameras"][0]
    ids = [c for cams in WORKERS.values() for c in cams]
    # kilometres apart, and grouping_window_s 0: one incident per event
    return [{**cam, "id": c, "name": f"Kaj {c}", "source": f"sim://aalborg?seed={i}",
             "location": {"lat": round(55.0 + 0.05 * i, 5), "lon": round(8.5 + 0.03 * i, 5)}}
            for i, c in enumerate(ids, 1)]


def mqtt_accounts_section(worker: str | None) -> dict:
    out = {"alerting": {"username": "quaywatch-alerting", "password_env": "CHAOS_ALERTING_PW"}}
    if worker:
        out["edge"] = {"username": f"quaywatch-edge-{worker}", "password_env": f"CHAOS_EDGE_{worker[-1].upper()}_PW"}
    return out


class Harness:
    def __init__(self, sched: Schedule, seed: int, workdir: Path):
        self.sched = sched
        self.rng = random.Random(seed)
        self.seed = seed
        self.dir = workdir
        self.faults: collections.Counter = collections.Counter()
        self.notes: list[str] = []
        self.hostile_ids: list[str] = []
        self.anonymous_accepted = 0
        self.hogs: list = []
        self.mounted: Path | None = None
        self.filler: Path | None = None
        self.broker = self.pg = self.twilio = None
        self.nodes: list = []
        self.edges: dict = {}
        for w in WORKERS:
            os.environ[f"CHAOS_EDGE_{w[-1].upper()}_PW"] = EDGE_PW.format(w)
        os.environ["CHAOS_ALERTING_PW"] = ALERTING_PW

    def log(self, msg: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)

    # setting up
    def start(self) -> None:
        import psycopg
        import yaml

        from quaywatch.config import load_site
        from quaywatch.mosquitto import write_config
        from quaywatch.mqtt_accounts import accounts, merge
        from tests.peers import AlertingProcess, Mosquitto, Postgres, TwilioStandIn

        self.broker = Mosquitto()
        self.edge_sites = {}
        all_cams = cameras()
        for w, cams in WORKERS.items():
            path = self.dir / f"{w}.yaml"
            path.write_text(yaml.safe_dump({
                "site": {"id": SITE, "name": "Chaos Harbour", "timezone": "Europe/Copenhagen"},
                "cameras": [c for c in all_cams if c["id"] in cams],
                "mqtt": {"host": "127.0.0.1", "port": self.broker.port, "keepalive_s": 5, "reconnect_min_s": 0.1,
                         "reconnect_max_s": 1, **mqtt_accounts_section(w)},
                "edge": {"worker_id": w, "data_dir": str(self.dir / w), "evidence": {"http_port": 0}},
            }))
            self.edge_sites[w] = path
        merged = merge([accounts(load_site(p)) for p in self.edge_sites.values()])
        self.broker.conf = write_config(self.broker.dir, self.broker.port, merged)  # allow_anonymous false
        self.broker.start()
        self.log(f"mosquitto on {self.broker.port} with {len(merged)} accounts: "
                 f"{', '.join(a.username for a in merged)}")

        self.pg = Postgres(self.dir / "pg")
        self.mount_tmpfs(self.pg.dir)
        self.pg.start()
        db = f"chaos{uuid.uuid4().hex[:8]}"
        deadline = time.monotonic() + 60
        while True:  # the port opens before PostgreSQL takes connections ("the database system is starting up")
            try:
                with psycopg.connect(self.pg.url, autocommit=True) as conn:
                    conn.execute(f"CREATE DATABASE {db}")
                break
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        self.store_url = self.pg.url.rsplit("/", 1)[0] + f"/{db}"
        self.twilio = TwilioStandIn().start()

        alerting = {"grouping_window_s": 0, "delivery_timeout_s": 3600, "inflight_lease_s": LEASE_S,
                    "owed_retry_max_s": self.sched.owed_retry_max_s, "policies": {"water": POLICY},
                    "twilio": {"retries": 1, "answer_wait_s": 8}}
        self.nodes = [AlertingProcess(self.dir / f"alerting-{i}", self.broker.port,
                                      {"cameras": all_cams, "mqtt": mqtt_accounts_section(None),
                                       "alerting": {**alerting, "instance_id": f"alerting-{i}"}},
                                      self.twilio.url, store_url=self.store_url) for i in (1, 2)]
        for n in self.nodes:  # one after the other: two at once race the migrations on a 2-core machine
            n.start(timeout=180)
        self.log(f"alerting on {[n.web_port for n in self.nodes]}, PostgreSQL {self.pg.port}, "
                 f"Twilio stand-in {self.twilio.port}")

    def start_edges(self) -> None:
        from tests.peers import Process

        for w, site in self.edge_sites.items():
            (self.dir / w).mkdir(exist_ok=True)
            self.edges[w] = Process([sys.executable, str(Path(__file__).resolve()), "edge", "--site", str(site),
                                     "--data-dir", str(self.dir / w), "--made", str(self.dir / f"{w}.made.jsonl"),
                                     "--every", str(self.sched.event_every_s), "--duration",
                                     str(self.sched.faults_s)], self.dir / f"{w}.log", env={"PYTHONUNBUFFERED": "1"})

    def mount_tmpfs(self, where: Path) -> None:
        """The store's data on a tmpfs of its own (root only), so `disk_full` fills a real filesystem."""
        if os.geteuid() != 0:
            self.notes.append("disk_full: not injected (mounting a small tmpfs for PostgreSQL needs root)")
            return
        st = where.stat()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size=256m,mode=0700,uid={st.st_uid},gid={st.st_gid}",
                               "tmpfs", str(where)], capture_output=True, text=True)
        if done.returncode:
            self.notes.append(f"disk_full: not injected (mount tmpfs failed: {done.stderr.strip()})")
            return
        self.mounted = where

    # the faults
    def plan(self) -> list[tuple[float, str]]:
        n = max(1, int(self.sched.faults_s // self.sched.gap_s))
        kinds = list(KINDS)
        self.rng.shuffle(kinds)
        while len(kinds) < n:
            kinds.append(self.rng.choice(KINDS))
        return [(5 + i * self.sched.gap_s + self.rng.uniform(0, self.sched.gap_s / 3), k)
                for i, k in enumerate(kinds[:n])]

    def inject(self, kind: str, pending: list) -> None:
        """Start fault `kind`; what ends it goes into `pending` as (when, what, callable)."""
        now = time.monotonic()
        outage = self.rng.uniform(*self.sched.outage_s)
        alive = [n for n in self.nodes if n.process]
        if kind in ("kill9", "sigstop") and not alive:
            return
        if kind == "kill9":
            node = self.rng.choice(alive)
            node.kill()
            back = self.rng.uniform(3, 15)
            pending.append((now + back, f"restart {node.site['alerting']['instance_id']}", node.start))
        elif kind == "sigstop":
            node = self.rng.choice(alive)
            node.process.signal(signal.SIGSTOP)
            held = LEASE_S + self.rng.uniform(3, 10)  # past the lease: the other node takes its claims over
            pending.append((now + held, f"SIGCONT {node.site['alerting']['instance_id']}",
                            lambda: node.process and node.process.signal(signal.SIGCONT)))
            outage = held
        elif kind == "sigstop_holding_claims":
            # Twilio slow (each request held past the client's timeout), then, once pages are owed and being
            # looked up, the node holding claims frozen past the lease: the other node takes them over and
            # sends; the frozen one, resumed, must not (the fencing check right before the request).
            outage = max(outage, 30)
            self.twilio.hang_for(outage, hold_s=4)
            pending.append((now + 12, "SIGSTOP the node holding claims", lambda: self.freeze_claimant(pending)))
        elif kind == "broker_restart":
            self.broker.restart()
            outage = 0
        elif kind == "broker_kill":
            self.broker.kill()
            outage = self.rng.uniform(2, 10)
            pending.append((now + outage, "mosquitto back", self.broker.start))
        elif kind == "twilio_refuse":
            self.twilio.refuse_for(outage)
        elif kind == "twilio_hang":
            self.twilio.hang_for(outage, hold_s=4)  # past the client's 2 s timeout, within answer_wait_s
        elif kind == "twilio_500":
            self.twilio.fail_for(outage, 500)
        elif kind == "cpu_hog":
            from tests.peers import Process

            outage = self.sched.hog_s
            for i in range(os.cpu_count() or 1):
                self.hogs.append(Process([sys.executable, "-c", "while True: pass"], self.dir / f"hog-{i}.log"))
            pending.append((now + outage, "CPU hogs stopped", self.stop_hogs))
        elif kind == "disk_full":
            if not self.mounted:
                return
            outage = self.rng.uniform(10, 20)
            self.fill_disk()
            pending.append((now + outage, "disk freed", self.free_disk))
        elif kind == "hostile":
            self.hostile()
            outage = 0
        self.faults[kind] += 1
        self.log(f"fault: {kind}" + (f" for {outage:.0f} s" if outage else ""))

    def freeze_claimant(self, pending: list) -> None:
        import psycopg

        with psycopg.connect(self.store_url) as conn:
            holders = [r[0] for r in conn.execute("SELECT claimed_by FROM messages WHERE status = 'sending'")]
        alive = {n.site["alerting"]["instance_id"]: n for n in self.nodes if n.process}
        pick = next((alive[h] for h in holders if h in alive), None) or (
            self.rng.choice(list(alive.values())) if alive else None)
        if pick is None:
            return
        pick.process.signal(signal.SIGSTOP)
        self.log(f"  {pick.site['alerting']['instance_id']} frozen holding {len(holders)} claim(s)")
        pending.append((time.monotonic() + LEASE_S + self.rng.uniform(5, 10),
                        f"SIGCONT {pick.site['alerting']['instance_id']}",
                        lambda: pick.process and pick.process.signal(signal.SIGCONT)))

    def stop_hogs(self) -> None:
        for h in self.hogs:
            h.stop()
        self.hogs.clear()

    def fill_disk(self) -> None:
        self.filler = self.mounted / "filler"
        chunk = b"\0" * (1 << 20)
        with open(self.filler, "wb") as f, contextlib.suppress(OSError):
            while True:
                f.write(chunk)
                f.flush()

    def free_disk(self) -> None:
        if self.filler:
            self.filler.unlink(missing_ok=True)
            self.filler = None

    def hostile(self) -> None:
        """The issue's payloads, from a client with edge-a's credentials, on its own camera's topic (the ACL
        refuses any other), and an anonymous connect."""
        import paho.mqtt.client as paho

        from tests.test_alerting_paging import event

        def client(user: str | None, pw: str | None):
            rc: list = []
            c = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=f"chaos-hostile-{uuid.uuid4().hex[:6]}")
            if user:
                c.username_pw_set(user, pw)
            c.on_connect = lambda cl, u, f, code, p=None: rc.append(code.value)
            try:
                c.connect("127.0.0.1", self.broker.port, keepalive=5)
            except OSError:
                return c, [-1]  # the broker is down right now
            c.loop_start()
            deadline = time.monotonic() + 5
            while not rc and time.monotonic() < deadline:
                time.sleep(0.05)
            return c, rc

        anon, rc = client(None, None)
        anon.loop_stop()
        if rc and rc[0] == 0:
            self.anonymous_accepted += 1
        base, cam = f"quaywatch/{SITE}", WORKERS["edge-a"][0]
        loc = cameras()[0]["location"]
        unknown = event(camera="cam-99", location={"lat": 0.0, "lon": 0.0})
        old = event(camera=cam, location=loc, time="2001-06-01T12:00:00+00:00")
        nan = event(camera=cam, location=loc, confidence=float("nan"))
        self.hostile_ids += [unknown["event_id"], old["event_id"], nan["event_id"]]
        payloads = [(f"{base}/{cam}/events", b"[" * 50_000), (f"{base}/{cam}/events", json.dumps(unknown).encode()),
                    (f"{base}/{cam}/events", json.dumps(old).encode()), (f"{base}/{cam}/events", json.dumps(nan).encode()),
                    (f"{base}/{cam}\x07\n/events", json.dumps(event(camera=cam, location=loc)).encode())]
        c, rc = client("quaywatch-edge-edge-a", EDGE_PW.format("edge-a"))
        if rc == [0]:
            for topic, payload in payloads:
                with contextlib.suppress(Exception):
                    c.publish(topic, payload, qos=1).wait_for_publish(5)
        else:
            self.notes.append(f"hostile: the broker did not take the edge's connect (rc {rc}); sent nothing")
        c.loop_stop()
        with contextlib.suppress(Exception):
            c.disconnect()

    def run_schedule(self) -> None:
        plan = self.plan()
        pending: list = []
        t0 = time.monotonic()
        self.start_edges()
        while plan or pending or time.monotonic() < t0 + self.sched.faults_s:
            now = time.monotonic()
            for item in sorted((p for p in pending if p[0] <= now), key=lambda p: p[0]):
                pending.remove(item)
                try:
                    item[2]()
                    self.log(item[1])
                except Exception as exc:  # e.g. a node that cannot start while the disk is full: again soon
                    self.log(f"{item[1]} failed ({str(exc).splitlines()[0][:200]}); again in 5 s")
                    pending.append((time.monotonic() + 5, item[1], item[2]))
            if plan and t0 + plan[0][0] <= now:
                self.inject(plan.pop(0)[1], pending)
            time.sleep(0.1)
        self.heal()

    def heal(self) -> None:
        """Every fault over: nodes running, broker up, Twilio answering, disk free, no hogs."""
        self.stop_hogs()
        self.free_disk()
        if self.broker.process is None:
            self.broker.start()
        for n in self.nodes:
            if n.process is None:
                n.start(timeout=180)
            else:
                n.process.signal(signal.SIGCONT)
        self.twilio.fail_for(0)
        self.twilio.hang_for(0, 0)

    # the verdict
    def made(self) -> dict[str, dict]:
        out = {}
        for w in WORKERS:
            path = self.dir / f"{w}.made.jsonl"
            if path.exists():
                for line in path.read_text().splitlines():
                    with contextlib.suppress(ValueError):
                        rec = json.loads(line)
                        out[rec["event_id"]] = rec
        return out

    def created(self) -> collections.Counter:
        """Pages created at the stand-in, by key (incident, step, loop, channel, number)."""
        keys: collections.Counter = collections.Counter()
        with self.twilio._lock:
            records = [r for r in self.twilio.requests if "created" in r]
        for r in records:
            cb = r["form"].get("StatusCallback")
            key = unquote(parse_qs(urlsplit(cb).query).get("m", [""])[0]) if cb else ""
            keys[key.split("#r")[0] or f"?{r['created']['sid']}"] += 1
        return keys

    def verdict(self) -> dict:
        import psycopg
        from psycopg.rows import dict_row

        made = self.made()
        with psycopg.connect(self.store_url, row_factory=dict_row) as conn:
            events = conn.execute("SELECT event_id, incident_id, COUNT(*) OVER (PARTITION BY event_id) AS n "
                                  "FROM events").fetchall()
            incidents = {r["id"]: r for r in conn.execute("SELECT id, state, opened_at FROM incidents").fetchall()}
            rejected = conn.execute("SELECT reason, COUNT(*) AS n FROM rejected GROUP BY reason").fetchall()
        stored = {r["event_id"]: r for r in events}
        created = self.created()
        now = time.time()
        offsets, t = [], 0.0
        for step in POLICY["steps"]:
            t += step["after_s"]
            offsets.append(t)
        expected, due_missing, not_yet = set(), [], 0
        for inc_id, inc in incidents.items():
            if inc["state"] not in ("new", "paged"):
                continue  # acknowledged or closed: nothing more is due (nobody does so here)
            for s, off in enumerate(offsets):
                if inc["opened_at"] + off > now - 5:  # not yet due, or just now
                    not_yet += 1
                    continue
                for channel, number in STEP_CONTACTS[s]:
                    key = f"{inc_id}:s{s}:l0:{channel}:{number}"
                    expected.add(key)
                    if created[key] == 0:
                        due_missing.append(key)
        hostile_incidents = {stored[e]["incident_id"] for e in self.hostile_ids if e in stored}
        lost = [e for e in made if e not in stored or not stored[e]["incident_id"]
                or not any(created[f"{stored[e]['incident_id']}:s0:l0:sms:{n}"] for n in (POLICE, RESCUE))]
        return {
            "made": len(made), "stored": sum(e in stored for e in made),
            "stored_twice": sorted(e for e, r in stored.items() if r["n"] > 1),
            "incidents": len(incidents), "pages": sum(created.values()),
            "sms": sum(v for k, v in created.items() if ":sms:" in k), "calls": sum(v for k, v in created.items() if ":voice:" in k),
            "due": len(expected), "due_missing": due_missing, "not_yet_due": not_yet,
            "duplicated": {k: v for k, v in created.items() if v > 1},
            "hostile_paged": sorted(k for k in created if k.split(":", 1)[0] in hostile_incidents),
            "unexplained": sorted(k for k in created if k.split(":", 1)[0] not in incidents),
            "lost": lost, "rejected": {r["reason"]: r["n"] for r in rejected},
        }

    def settle(self) -> dict:
        """Wait for the edges' outboxes to drain and every due step to be paged (or settle_s to pass)."""
        deadline = time.monotonic() + self.sched.settle_s
        drained = set()
        while time.monotonic() < deadline:
            drained = {w for w, p in self.edges.items() if "drained:" in p.output()}
            if len(drained) == len(self.edges):
                break
            time.sleep(1)
        self.log(f"edge outboxes drained: {sorted(drained)}; settling")
        v = self.verdict()
        while time.monotonic() < deadline and (v["lost"] or v["due_missing"] or v["not_yet_due"]):
            time.sleep(2)
            v = self.verdict()
        time.sleep(5)  # a page sent twice would show by now
        v = self.verdict()
        v["not_drained"] = sorted(set(self.edges) - drained)
        return v

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.stop_hogs()
        for p in self.edges.values():
            with contextlib.suppress(Exception):
                p.stop()
        for n in self.nodes:
            with contextlib.suppress(Exception):
                n.stop()
        if self.twilio:
            with contextlib.suppress(Exception):
                self.twilio.stop()
        if self.broker:
            with contextlib.suppress(Exception):
                self.broker.stop()
                import shutil

                from quaywatch.mosquitto import fallback_dir
                shutil.rmtree(self.broker.dir, ignore_errors=True)
                shutil.rmtree(fallback_dir(self.broker.port), ignore_errors=True)
        if self.pg:
            with contextlib.suppress(Exception):
                self.free_disk()
                if self.pg.process:  # Postgres.stop removes its dir: unmount first, after it stopped
                    self.pg.process.signal(signal.SIGINT)
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        self.pg.process.proc.wait(10)
                    self.pg.process.stop()
                    self.pg.process = None
                if self.mounted:
                    subprocess.run(["umount", str(self.mounted)], capture_output=True)
                self.pg.stop()


def report(h: Harness, v: dict, took: float) -> bool:
    faults = ", ".join(f"{k} {h.faults[k]}" for k in KINDS if h.faults[k])
    dups = sum(n - 1 for n in v["duplicated"].values())
    print(f"\nchaos --{h.sched.name} (seed {h.seed}): {took / 60:.1f} min")
    print(f"faults injected: {faults}")
    for note in h.notes:
        print(f"  {note}")
    print(f"events: {v['made']} water_entry made by {len(WORKERS)} edge workers, {v['stored']} stored, "
          f"{len(v['stored_twice'])} stored twice; hostile payloads rejected and stored aside: {v['rejected']}")
    print(f"incidents: {v['incidents']}; pages: {v['pages']} created at Twilio ({v['sms']} SMS, {v['calls']} calls); "
          f"steps due by the clock: {v['due']} pages, {len(v['due_missing'])} not made")
    print(f"lost: {len(v['lost'])}  duplicated: {dups}  hostile paged: {len(v['hostile_paged'])}  "
          f"anonymous accepted: {h.anonymous_accepted}  unexplained pages: {len(v['unexplained'])}")
    if v["not_yet_due"]:
        print(f"  ({v['not_yet_due']} steps not yet due when settle_s ran out: not checked)")
    ok = not (v["lost"] or dups or v["stored_twice"] or v["due_missing"] or v["hostile_paged"]
              or h.anonymous_accepted or v["unexplained"] or v["not_drained"])
    for name in ("lost", "stored_twice", "due_missing", "hostile_paged", "unexplained", "not_drained"):
        if v[name]:
            print(f"VIOLATION {name}: {v[name][:20]}")
    if dups:
        print(f"VIOLATION duplicated: {dict(list(v['duplicated'].items())[:20])}")
    print("OK: every invariant held" if ok else "FAILED: see the violations above")
    return ok


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd")
    e = sub.add_parser("edge", help=argparse.SUPPRESS)
    for a in ("--site", "--data-dir", "--made"):
        e.add_argument(a, required=True)
    e.add_argument("--every", type=float, required=True)
    e.add_argument("--duration", type=float, required=True)
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--short", action="store_true", help="about 3 minutes (CI)")
    g.add_argument("--long", action="store_true", help="about 22 minutes")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--keep", action="store_true", help="keep the work dir (logs) afterwards")
    args = ap.parse_args()
    if args.cmd == "edge":
        return edge_main(args)
    sched = LONG if args.long else SHORT
    workdir = Path(tempfile.mkdtemp(prefix="quaywatch-chaos-"))
    os.chmod(workdir, 0o755)  # mosquitto and postgres drop root and must reach what is below
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so `finally` stops every process group
    h = Harness(sched, args.seed, workdir)
    t0 = time.monotonic()
    try:
        h.start()
        h.run_schedule()
        v = h.settle()
    finally:
        h.stop()
    ok = report(h, v, time.monotonic() - t0)
    if args.keep or not ok:
        print(f"logs: {workdir}")
    else:
        import shutil

        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
