"""Real peers for tests: started on 127.0.0.1 and a free port, stopped by process group at teardown.

`require(program)` skips with a clear reason on a laptop that lacks a program, and fails under CI=true,
where every peer must be installed by .ci/system-deps.sh.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from quaywatch.mosquitto import mosquitto_binary, write_config

IN_CI = os.environ.get("CI") == "true"
REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


def missing(reason: str) -> None:
    """Skip (laptop) or fail (CI) because something the test needs is not there."""
    if IN_CI:
        pytest.fail(f"CI=true but {reason}")
    pytest.skip(reason)


def require(program: str, hint: str = "") -> str:
    path = shutil.which(program) or (program if os.path.isabs(program) and os.access(program, os.X_OK) else None)
    if not path:
        missing(f"{program} is not installed{': ' + hint if hint else ''}")
    return path


def require_shared(relative: str) -> Path:
    path = SHARED / relative
    if not path.exists():
        missing(f"../shared/{relative} is absent (real footage lives beside the checkout)")
    return path


ARTIFACTS = REPO / "test-artifacts"  # screenshots and reports a person looks at after a run
# Debian's Chromium, headless, with no background traffic (the machine has no network beyond loopback).
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 # A wall screen runs as a kiosk with this flag, so the alarm sounds without a click first.
                 "--autoplay-policy=no-user-gesture-required"]


def wait_until(predicate, timeout: float = 45.0, what: str = "condition", logs=None, poll: float = 0.05):
    """Poll until predicate() is truthy and return its value; fail naming `what` (and the logs) if it never is."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}\n{logs() if logs else ''}")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 10.0, host: str = "127.0.0.1") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listening on {host}:{port} after {timeout}s")


class Process:
    """A child in its own process group, so stop() takes its children with it."""

    def __init__(self, argv: list[str], log: Path, env: dict | None = None, cwd: str | Path | None = None):
        self.argv = argv
        self.log = log
        self._logf = open(log, "ab")  # noqa: SIM115 - lives as long as the process
        self.proc = subprocess.Popen(
            argv, stdout=self._logf, stderr=subprocess.STDOUT, start_new_session=True,
            env={**os.environ, **(env or {})}, cwd=cwd,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def signal(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, sig)

    def stop(self, timeout: float = 5.0) -> None:
        if self.proc.poll() is None:
            self.signal(signal.SIGCONT)  # a SIGSTOPped group cannot handle SIGTERM
            self.signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL)
                self.proc.wait(timeout)
        self._logf.close()

    def output(self) -> str:
        self._logf.flush()
        return self.log.read_text(errors="replace")


class Mosquitto:
    """Debian's mosquitto on 127.0.0.1:<free port>, with persistence in a dir it owns (as root it drops to
    user `mosquitto`). `restart()` keeps the port and the persisted sessions, as a real broker restart would."""

    def __init__(self, workdir: Path | None = None, port: int | None = None):
        self.binary = mosquitto_binary() or require("mosquitto", "apt-get install mosquitto")
        self.dir = Path(workdir or tempfile.mkdtemp(prefix="mosquitto-"))
        self.port = port or free_port()
        self.conf = write_config(self.dir, self.port)
        self.process: Process | None = None

    def start(self) -> Mosquitto:
        self.process = Process([self.binary, "-c", str(self.conf)], self.dir / "mosquitto.log")
        wait_for_port(self.port)
        return self

    def stop(self) -> None:
        if self.process:
            self.process.stop()
            self.process = None

    def kill(self) -> None:
        if self.process:
            self.process.signal(signal.SIGKILL)
            self.process.proc.wait(5)
            self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()


class MqttRecorder:
    """A subscriber that records every message, with a persistent session (clean_session=False) and paho's
    own reconnect, so messages queued by the broker while it was away still arrive. Used to assert by
    event id that nothing was lost or reordered."""

    def __init__(self, port: int, topic: str = "#", client_id: str = "test-recorder", host: str = "127.0.0.1",
                 username: str | None = None, password: str | None = None, ca_file: str | None = None):
        import threading

        import paho.mqtt.client as paho

        self.messages: list[tuple[str, bytes, bool]] = []  # (topic, payload, retain)
        self._cond = threading.Condition()
        self._topic = topic
        self.client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False)
        self.client.reconnect_delay_set(0.1, 1)
        if username:
            self.client.username_pw_set(username, password)
        if ca_file:
            self.client.tls_set(ca_certs=ca_file)
        self.client.on_connect = lambda c, u, f, rc, p=None: c.subscribe(self._topic, qos=1)
        self.client.on_message = self._on_message
        self.subscribed = threading.Event()
        self.client.on_subscribe = lambda *a: self.subscribed.set()
        self.client.connect(host, port, keepalive=5)
        self.client.loop_start()
        if not self.subscribed.wait(10):
            raise TimeoutError(f"MQTT recorder: no SUBACK from 127.0.0.1:{port} in 10s")

    def _on_message(self, client, userdata, msg) -> None:
        with self._cond:
            self.messages.append((msg.topic, bytes(msg.payload), bool(msg.retain)))
            self._cond.notify_all()

    def wait_for(self, predicate, timeout: float = 10.0) -> bool:
        """Wait until predicate(messages) is true; returns whether it became true."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate(self.messages):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True

    def payloads(self, suffix: str = "") -> list[dict]:
        import json

        with self._cond:
            return [json.loads(p) for t, p, _ in self.messages if t.endswith(suffix) and p]

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


class Prism:
    """Stoplight Prism mocking Twilio's own OpenAPI contract (../shared/twilio/twilio_api_v2010.json): a request
    that breaks the contract gets a 4xx/422, one that keeps it a 2xx with an example body."""

    def __init__(self, workdir: Path, spec: Path | None = None, port: int | None = None):
        self.binary = str(REPO / "tools" / "node_modules" / ".bin" / "prism")
        if not os.access(self.binary, os.X_OK):
            missing("Prism is not installed in tools/ (bash .ci/system-deps.sh installs it)")
        self.spec = spec or require_shared("twilio/twilio_api_v2010.json")
        self.port = port or free_port()
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.process: Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> Prism:
        self.process = Process([self.binary, "mock", "-h", "127.0.0.1", "-p", str(self.port), str(self.spec)],
                               self.dir / "prism.log")
        wait_for_port(self.port, timeout)
        return self

    def stop(self) -> None:
        if self.process:
            self.process.stop()
            self.process = None


class TwilioStandIn:
    """A loopback HTTP stand-in for api.twilio.com that records every request (form fields decoded) and then
    forwards it to `upstream` (Prism) or, without one, answers 201 itself. Faults on demand: `fail_next(n)`
    answers 500 n times, `hang_next(n, s)` holds n requests for s seconds (a client timeout), `drop_next(n, s)`
    holds n requests for s seconds and then closes the connection unanswered: those never reached Twilio.
    Outages by the clock (bench/chaos.py): `fail_for(s)` answers 500 for s seconds, `hang_for(s, hold)` holds
    each request arriving in those s seconds for `hold` seconds and then answers it (created: a slow Twilio),
    `refuse_for(s)` closes the listening socket for s seconds (connection refused).

    Like Twilio it keeps what it created: each message or call answered 2xx gets a SID of its own (Prism's mock
    answers one example SID for all), and the list APIs (GET Messages.json / Calls.json, filtered by To and
    From, newest first) answer from that record. With `upstream` the list request goes to Prism first, so it
    must keep Twilio's contract: a refusal is passed back as it is; otherwise the records are the answer."""

    def __init__(self, upstream: str | None = None, port: int | None = None):
        import http.server
        import threading

        self.upstream = upstream
        self.port = port or free_port()
        self.requests: list[dict] = []
        self._fail = 0
        self._fail_status = 500
        self._hang = (0, 0.0)
        self._drop = (0, 0.0)
        self._created = 0
        self._fail_until = 0.0  # monotonic deadlines of the outages by the clock
        self._hang_until, self._hang_hold = 0.0, 0.0
        self._reopen: threading.Timer | None = None
        self._closing = threading.Event()  # releases dropped requests at stop()
        self._lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):
                self._serve()

            def do_POST(self):
                self._serve()

            def _serve(self):
                outer._handle(self)

        self._handler = Handler
        self._bind()

    def _bind(self) -> None:
        import http.server
        import threading

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), self._handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> TwilioStandIn:
        self.thread.start()
        return self

    def stop(self) -> None:
        self._closing.set()
        with self._lock:
            if self._reopen is not None:
                self._reopen.cancel()
            refused, self._reopen = self._reopen is not None, None
        if not refused:
            self.server.shutdown()
            self.server.server_close()

    def fail_for(self, seconds: float, status: int = 500) -> None:
        with self._lock:
            self._fail_until = time.monotonic() + seconds
            self._fail_status = status

    def hang_for(self, seconds: float, hold_s: float) -> None:
        with self._lock:
            self._hang_until, self._hang_hold = time.monotonic() + seconds, hold_s

    def refuse_for(self, seconds: float) -> None:
        """Nothing listens on the port for `seconds` (requests in progress finish), then it listens again."""
        import threading

        with self._lock:
            if self._reopen is not None or self._closing.is_set():
                return
            self._reopen = threading.Timer(seconds, self._listen_again)
        self.server.shutdown()
        self.server.server_close()
        self._reopen.start()

    def _listen_again(self) -> None:
        with self._lock:
            if self._reopen is None:
                return  # stopped meanwhile
            self._reopen = None
            self._bind()
            self.thread.start()

    def fail_next(self, n: int, status: int = 500) -> None:
        with self._lock:
            self._fail = n
            self._fail_status = status

    def hang_next(self, n: int, seconds: float) -> None:
        with self._lock:
            self._hang = (n, seconds)

    def drop_next(self, n: int, hold_s: float) -> None:
        with self._lock:
            self._drop = (n, hold_s)

    def posts(self, path_part: str = "", answered: bool = True) -> list[dict]:
        """POSTs whose path contains `path_part`; by default only those already answered."""
        with self._lock:
            return [r for r in self.requests if r["method"] == "POST" and path_part in r["path"]
                    and (r["status"] is not None or not answered)]

    def gets(self, path_part: str = "") -> list[dict]:
        """GETs (list lookups) whose path contains `path_part`, answered or not."""
        with self._lock:
            return [r for r in self.requests if r["method"] == "GET" and path_part in r["path"]]

    def created(self, path_part: str = "/Messages.json", to: str | None = None) -> list[dict]:
        """The messages (or calls) Twilio would have made, oldest first: what the phone at `to` gets."""
        with self._lock:
            return [r["created"] for r in self.requests if "created" in r and path_part in r["path"]
                    and (to is None or r["created"]["to"] == to)]

    def _create(self, record: dict, payload: bytes) -> bytes:
        """Keep a 2xx-answered POST to Messages/Calls as created, with a SID of its own in the answer."""
        import json as _json
        from datetime import UTC, datetime
        from email.utils import format_datetime

        try:
            answer = _json.loads(payload)
        except ValueError:
            return payload
        kind = "SM" if "/Messages.json" in record["path"] else "CA"
        with self._lock:
            self._created += 1
            answer["sid"] = f"{kind}{self._created:032x}"
            form = record["form"]
            record["created"] = {
                "sid": answer["sid"], "to": form.get("To"), "from": form.get("From"), "body": form.get("Body"),
                "status": answer.get("status") or "queued",
                "date_created": format_datetime(datetime.fromtimestamp(record["wall"], UTC), usegmt=False),
            }
        return _json.dumps(answer).encode()

    def _listing(self, path: str, upstream_answer: bytes | None) -> bytes:
        """Twilio's list answer (Prism's page fields, when it gave them) over what was created, newest first."""
        import json as _json
        from urllib.parse import parse_qs, urlencode, urlsplit

        parts = urlsplit(path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        kind = "messages" if parts.path.endswith("/Messages.json") else "calls"
        items = [c for c in reversed(self.created("/Messages.json" if kind == "messages" else "/Calls.json"))
                 if query.get("To") in (None, c["to"]) and query.get("From") in (None, c["from"])]
        size, number = int(query.get("PageSize") or 50), int(query.get("Page") or 0)
        more = len(items) > (number + 1) * size
        items = items[number * size: (number + 1) * size]
        next_uri = None
        if more:  # as Twilio does: the next page's URI, with a page token
            next_uri = parts.path + "?" + urlencode({**query, "Page": number + 1, "PageToken": f"PA{number + 1}"})
        try:
            page = _json.loads(upstream_answer) if upstream_answer else {}
        except ValueError:
            page = {}
        page.update({kind: [{**c, "account_sid": parts.path.split("/")[3], "direction": "outbound-api"}
                            for c in items],
                     "page": number, "page_size": len(items), "start": number * size,
                     "end": max(0, number * size + len(items) - 1), "uri": path, "first_page_uri": path,
                     "next_page_uri": next_uri, "previous_page_uri": None})
        return _json.dumps(page).encode()

    def _handle(self, h) -> None:
        import json as _json
        import urllib.error
        import urllib.request
        from urllib.parse import parse_qs

        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        form = {k: v[0] if len(v) == 1 else v for k, v in parse_qs(body.decode(errors="replace")).items()}
        record = {"method": h.command, "path": h.path, "form": form, "t": time.perf_counter(), "wall": time.time(),
                  "status": None}
        listing = h.command == "GET" and h.path.split("?", 1)[0].endswith(("/Messages.json", "/Calls.json"))
        with self._lock:
            self.requests.append(record)
            fail = self._fail > 0
            self._fail -= int(fail)
            hang = self._hang[1] if self._hang[0] > 0 else 0.0
            self._hang = (self._hang[0] - int(hang > 0), self._hang[1])
            now = time.monotonic()
            fail = fail or now < self._fail_until
            hang = hang or (self._hang_hold if now < self._hang_until else 0.0)
            drop = self._drop[1] if self._drop[0] > 0 and h.command == "POST" else 0.0
            self._drop = (self._drop[0] - int(drop > 0), self._drop[1])
        if drop:
            self._closing.wait(drop)
            record["dropped"] = True
            h.close_connection = True  # no answer, nothing created: the request never reached Twilio
            return
        if hang:
            time.sleep(hang)
        if fail:
            status, ctype = self._fail_status, "application/json"
            code = 20500 if status >= 500 else 21211  # 21211: invalid 'To' phone number
            payload = _json.dumps({"code": code, "message": "stand-in failure", "status": status}).encode()
        elif self.upstream:
            req = urllib.request.Request(self.upstream + h.path, data=body if h.command == "POST" else None,
                                         method=h.command, headers={k: v for k, v in h.headers.items()
                                                                    if k.lower() not in ("host", "content-length")})
            try:
                with urllib.request.urlopen(req, timeout=20) as resp:
                    status, payload, ctype = resp.status, resp.read(), resp.headers.get("Content-Type", "")
            except urllib.error.HTTPError as exc:
                status, payload, ctype = exc.code, exc.read(), exc.headers.get("Content-Type", "")
            record["upstream_status"] = status
            if 200 <= status < 300 and listing:
                payload = self._listing(h.path, payload)
            elif 200 <= status < 300 and h.command == "POST" and h.path.endswith(("/Messages.json", "/Calls.json")):
                payload = self._create(record, payload)
        elif listing:
            status, ctype, payload = 200, "application/json", self._listing(h.path, None)
        else:
            status, ctype = 201, "application/json"
            payload = self._create(record, _json.dumps({"status": "queued", "to": form.get("To"),
                                                        "body": form.get("Body")}).encode())
        record["response"] = payload[:2000]
        record["status"] = status
        try:
            h.send_response(status)
            h.send_header("Content-Type", ctype or "application/json")
            h.send_header("Content-Length", str(len(payload)))
            h.end_headers()
            h.wfile.write(payload)
        except OSError:
            pass  # the client gave up (a timeout we caused on purpose)


class Postgres:
    """A throwaway PostgreSQL cluster (Debian's binaries) on 127.0.0.1:<free port>, run as user `postgres`
    from a temp dir it owns, trust auth on loopback only. `url` is ready for psycopg."""

    def __init__(self, workdir: Path, port: int | None = None):
        import glob

        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not bins:
            missing("PostgreSQL is not installed (apt-get install postgresql)")
        self.bin = Path(bins[-1]).parent
        self.port = port or free_port()
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.process: Process | None = None
        self._as = []
        if os.geteuid() == 0:
            # pytest's tmp dirs are root-only (0700): user postgres needs a dir of its own to traverse.
            self.dir = Path(tempfile.mkdtemp(prefix="quaywatch-pg-"))
            self._owned = True
            import pwd

            try:
                pw = pwd.getpwnam("postgres")
            except KeyError:
                missing("user postgres does not exist (apt-get install postgresql)")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]
        self.data = self.dir / "data"

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> Postgres:
        subprocess.run([*self._as, str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust",
                        "--no-sync", "-E", "UTF8"], check=True, capture_output=True)
        return self.run("postgres.log")

    def run(self, log_name: str, timeout: float = 60.0) -> Postgres:
        """Start the server on the existing data dir (again, after a stop) and return once it accepts a
        connection: listening is not accepting, startup and crash recovery answer "the database system is
        starting up" for a while after the port opens."""
        self.process = Process([*self._as, str(self.bin / "postgres"), "-D", str(self.data), "-p", str(self.port),
                                "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={self.dir}",
                                "-c", "fsync=off"], self.dir / log_name)
        self.wait_accepting(timeout)
        return self

    def wait_accepting(self, timeout: float) -> None:
        import psycopg

        deadline = time.monotonic() + timeout
        wait_for_port(self.port, timeout)
        while True:
            try:
                with psycopg.connect(self.url, connect_timeout=5) as conn:
                    conn.execute("SELECT 1")
                return
            except psycopg.OperationalError as exc:
                if self.process.proc.poll() is not None:
                    raise RuntimeError(f"PostgreSQL exited:\n{self.process.output()[-2000:]}") from exc
                if time.monotonic() > deadline:
                    raise TimeoutError(f"PostgreSQL on port {self.port} not accepting after {timeout:.0f}s: {exc}") \
                        from exc
                time.sleep(0.1)

    def stop(self) -> None:
        if self.process:
            self.process.signal(signal.SIGINT)  # fast shutdown
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.proc.wait(10)
            self.process.stop()
            self.process = None
        if getattr(self, "_owned", False):
            shutil.rmtree(self.dir, ignore_errors=True)


class AlertingProcess:
    """`quaywatch alerting --site FILE` as a real child process, with a site file written from `demo.yaml`
    plus `overrides` (deep-merged), the broker on `mqtt_port`, the store in `workdir`, a free web port."""

    TOKEN = "test-auth-token-not-a-secret"

    def __init__(self, workdir: Path, mqtt_port: int, overrides: dict | None = None, twilio_url: str | None = None,
                 store_url: str | None = None, web_port: int | None = None):
        import sys

        import yaml

        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.web_port = web_port or free_port()
        site = yaml.safe_load((REPO / "config" / "sites" / "demo.yaml").read_text())
        site["mqtt"] = {"host": "127.0.0.1", "port": mqtt_port}
        alerting = site["alerting"]
        alerting.update({"dry_run": twilio_url is None, "store_url": store_url or f"sqlite:///{self.dir}/alerts.db",
                         "web": {"host": "127.0.0.1", "port": self.web_port}})
        alerting["twilio"] = {"account_sid": "AC" + "0123456789abcdef" * 2, "auth_token_env": "TWILIO_AUTH_TOKEN",
                              "from_number": "+4520000000", "public_url": "https://alerts.example.test",
                              "api_base_url": twilio_url or "http://127.0.0.1:9", "timeout_s": 2, "backoff_s": 0.1}
        _deep_merge(site, overrides or {})
        self.site = site
        self.site_file = self.dir / "site.yaml"
        self.site_file.write_text(yaml.safe_dump(site, allow_unicode=True))
        self.argv = [sys.executable, "-m", "quaywatch", "alerting", "--site", str(self.site_file)]
        self.process: Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def start(self, timeout: float = 120.0) -> AlertingProcess:  # generous: CI shares 2 cores with the rest
        log = self.dir / "alerting.log"
        earlier = log.stat().st_size if log.exists() else 0  # a restart appends: only this run's lines count
        self.process = Process(self.argv, log, env={"TWILIO_AUTH_TOKEN": self.TOKEN}, cwd=self.dir)
        deadline = time.monotonic() + timeout
        while b"alerting ready" not in log.read_bytes()[earlier:]:
            if self.process.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"alerting did not start:\n{self.process.output()[-3000:]}")
            time.sleep(0.05)
        return self

    def kill(self) -> None:
        if self.process:
            self.process.signal(signal.SIGKILL)
            self.process.proc.wait(5)
            self.process.stop()
            self.process = None

    def stop(self) -> None:
        if self.process:
            self.process.stop(10)
            self.process = None


def _deep_merge(base: dict, extra: dict) -> None:
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            _deep_merge(base[k], v)
        else:
            base[k] = v
