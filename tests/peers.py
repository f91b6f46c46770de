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
        self.binary = require("mosquitto", "apt-get install mosquitto")
        self.dir = Path(workdir or tempfile.mkdtemp(prefix="mosquitto-"))
        self.port = port or free_port()
        self.conf = self.dir / "mosquitto.conf"
        data = self.dir / "data"
        data.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            with contextlib.suppress(KeyError, ImportError):
                import pwd

                pw = pwd.getpwnam("mosquitto")
                os.chown(data, pw.pw_uid, pw.pw_gid)
                os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
            f"persistence_location {data}/\nautosave_interval 1\nmax_queued_messages 100000\n"
            "log_dest stdout\nlog_type error\nlog_type warning\nlog_type notice\n"
        )
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

    def __init__(self, port: int, topic: str = "#", client_id: str = "test-recorder", host: str = "127.0.0.1"):
        import threading

        import paho.mqtt.client as paho

        self.messages: list[tuple[str, bytes, bool]] = []  # (topic, payload, retain)
        self._cond = threading.Condition()
        self._topic = topic
        self.client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False)
        self.client.reconnect_delay_set(0.1, 1)
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
