"""Start the system's parts as child process groups, show their output, restart a part that dies, and
stop everything on Ctrl-C leaving no process behind. Used by `quaywatch run` and `quaywatch demo`.

Each part is a plain `quaywatch <command>` process: the same thing a systemd unit runs in production,
so the demo exercises the deployment shape, not a special in-process variant.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from quaywatch.errors import QuaywatchError

log = logging.getLogger(__name__)


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2):
        return True
    return False


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM it when the supervisor dies, even by SIGKILL, so no part
    outlives the command that started it (Linux; elsewhere a no-op)."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


@dataclass
class Part:
    name: str
    argv: list[str]
    ready: Callable[[], bool] | None = None  # e.g. a port that listens once the part is up
    env: dict[str, str] = field(default_factory=dict)
    restart: bool = True
    echo: Callable[[str], bool] = lambda line: True  # which output lines reach the terminal
    process: subprocess.Popen | None = None
    restarts: int = 0


class Supervisor:
    def __init__(self, log_dir: Path, out=None, ready_timeout_s: float = 60.0, max_backoff_s: float = 30.0):
        self.log_dir = Path(log_dir)
        self.max_backoff_s = max_backoff_s
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.out = out or sys.stdout
        self.ready_timeout_s = ready_timeout_s
        self.parts: list[Part] = []
        self._stopping = threading.Event()
        self._lock = threading.Lock()

    def start(self, *parts: Part) -> None:
        """Spawn the parts together, then wait until each is ready: slow starters overlap."""
        t0 = time.monotonic()
        for part in parts:
            self._spawn(part)
            self.parts.append(part)
        deadline = t0 + self.ready_timeout_s
        for part in parts:
            while part.ready is not None and not part.ready():
                if part.process.poll() is not None:
                    raise QuaywatchError(f"{part.name} exited with code {part.process.returncode} while starting "
                                         f"(log: {self.log_dir / (part.name + '.log')})")
                if time.monotonic() > deadline:
                    raise QuaywatchError(f"{part.name} was not ready after {self.ready_timeout_s:.0f} s "
                                         f"(log: {self.log_dir / (part.name + '.log')})")
                time.sleep(0.1)
            self._say(f"{part.name} ready after {time.monotonic() - t0:.1f} s (pid {part.process.pid})")

    def _spawn(self, part: Part) -> None:
        part.process = subprocess.Popen(
            part.argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, env={**os.environ, **part.env, "PYTHONUNBUFFERED": "1"},
            preexec_fn=_die_with_parent,
        )
        threading.Thread(target=self._pump, args=(part, part.process), daemon=True, name=f"out-{part.name}").start()

    def _pump(self, part: Part, proc: subprocess.Popen) -> None:
        """Copy a part's output to its log file, and the lines it wants shown to the terminal, prefixed."""
        with open(self.log_dir / f"{part.name}.log", "ab") as logf:
            for raw in iter(proc.stdout.readline, b""):
                logf.write(raw)
                logf.flush()
                line = raw.decode(errors="replace").rstrip()
                if part.echo(line):
                    with self._lock:
                        print(f"[{part.name}] {line}", file=self.out, flush=True)

    def watch(self, until: Callable[[], bool] | None = None, poll_s: float = 0.5) -> None:
        """Block, restarting parts that die (backoff 1, 2, 4 ... `max_backoff_s`), until stopped or `until()`
        holds. A part's restart time is kept until it is due: it is taken off only when the part is spawned
        again (popping it on every check reset the wait each round, so a dead part was never restarted)."""
        next_try: dict[str, float] = {}
        while not self._stopping.is_set():
            if until is not None and until():
                return
            for part in self.parts:
                code = part.process.poll() if part.process else None
                if code is None or not part.restart:
                    continue
                now = time.monotonic()
                due = next_try.get(part.name)
                if due is None:
                    delay = min(self.max_backoff_s, 2.0 ** part.restarts)
                    next_try[part.name] = now + delay
                    self._say(f"{part.name} exited with code {code}; restarting in {delay:g} s")
                elif now >= due:
                    del next_try[part.name]
                    part.restarts += 1
                    self._spawn(part)
                    self._say(f"{part.name} restarted (pid {part.process.pid}, restart {part.restarts})")
            self._stopping.wait(poll_s)

    def stop(self, timeout_s: float = 8.0) -> None:
        """SIGTERM every part's process group, newest first; SIGKILL what is left after the timeout."""
        self._stopping.set()
        for part in reversed(self.parts):
            self._signal(part, signal.SIGCONT)  # a stopped group cannot act on SIGTERM
            self._signal(part, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        for part in reversed(self.parts):
            if part.process is None:
                continue
            try:
                part.process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self._say(f"{part.name} did not stop in {timeout_s:.0f} s: killing it")
            self._signal(part, signal.SIGKILL)  # also takes any grandchild left in the group
            with contextlib.suppress(subprocess.TimeoutExpired):
                part.process.wait(2)

    def pids(self) -> list[int]:
        return [p.process.pid for p in self.parts if p.process is not None]

    @staticmethod
    def _signal(part: Part, sig: int) -> None:
        if part.process is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(part.process.pid, sig)

    def _say(self, text: str) -> None:
        with self._lock:
            print(f"[quaywatch] {text}", file=self.out, flush=True)

    def run_until_interrupted(self, until: Callable[[], bool] | None = None) -> None:
        """Watch until Ctrl-C / SIGTERM (or `until()`), then stop everything."""
        # SIGINT too, explicitly: a shell starting us in the background (`make demo &` from a script) hands us
        # SIGINT ignored, and Python then never turns it into KeyboardInterrupt.
        stop = lambda *_: self._stopping.set()  # noqa: E731
        previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            self.watch(until)
        except KeyboardInterrupt:
            pass
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self._say("stopping")
            self.stop()
