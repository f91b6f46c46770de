"""The embedded MQTT broker (amqtt), used when the site config names no `mqtt.host`: the demo, a single-box
install, the edge and alerting on one machine. It listens on loopback only.

`EmbeddedBroker().start()` runs it as a child process in its own process group, so it cannot share a
crash or the GIL with the service that started it, and `stop()` leaves nothing behind. Run directly:
`python -m quaywatch.broker --port 1883 --accounts FILE`.

It never admits an anonymous client: every client logs in with an account from the accounts file
(`quaywatch.mqtt_accounts.write_embedded_accounts`: hashed passwords and the topics each may publish and
read), and a topic with a control character is refused whatever the account (it would forge log lines).

Production sites should name a real broker (Mosquitto, EMQX, HiveMQ): amqtt keeps sessions in memory only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from quaywatch.errors import QuaywatchError

log = logging.getLogger(__name__)


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _listening(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2):
        return True
    return False


class EmbeddedBroker:
    def __init__(self, accounts_file: str | Path, host: str = "127.0.0.1", port: int = 0,
                 log_file: str | Path | None = None):
        self.accounts_file = Path(accounts_file)
        self.host = host
        self.port = port or _free_port(host)
        self.log_file = Path(log_file) if log_file else None
        self._proc: subprocess.Popen | None = None

    def start(self, timeout: float = 15.0) -> EmbeddedBroker:
        if _listening(self.host, self.port):
            raise QuaywatchError(f"cannot start the embedded MQTT broker: {self.host}:{self.port} is already in use")
        out = open(self.log_file, "ab") if self.log_file else subprocess.DEVNULL  # noqa: SIM115
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "quaywatch.broker", "--host", self.host, "--port", str(self.port),
             "--accounts", str(self.accounts_file)],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while not _listening(self.host, self.port):
            if self._proc.poll() is not None:
                raise QuaywatchError(
                    f"the embedded MQTT broker exited with code {self._proc.returncode} before listening on "
                    f"{self.host}:{self.port}" + (f" (see {self.log_file})" if self.log_file else "")
                )
            if time.monotonic() > deadline:
                self.stop()
                raise QuaywatchError(f"the embedded MQTT broker did not listen on {self.host}:{self.port} in {timeout}s")
            time.sleep(0.05)
        log.info("embedded MQTT broker (amqtt) on %s:%d, pid %d", self.host, self.port, self._proc.pid)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout)

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def ensure_broker(host: str | None, port: int, accounts_file: str | Path | None = None,
                  log_file: str | Path | None = None) -> tuple[str, int, EmbeddedBroker | None]:
    """The broker to use for an `mqtt:` section: the configured host, or else the embedded broker on
    127.0.0.1:<port> -- reused when one is already listening there (another quaywatch part started it),
    started otherwise with `accounts_file`. Returns (host, port, the broker we started or None)."""
    if host:
        return host, port, None
    if _listening("127.0.0.1", port):
        log.info("using the MQTT broker already listening on 127.0.0.1:%d", port)
        return "127.0.0.1", port, None
    if accounts_file is None:
        raise QuaywatchError("the embedded MQTT broker needs an accounts file: it never admits anonymous clients")
    return "127.0.0.1", port, EmbeddedBroker(accounts_file, "127.0.0.1", port, log_file).start()


def ensure_site_broker(site) -> tuple[str, int, EmbeddedBroker | None]:
    """ensure_broker for a site config: its embedded broker gets the site's accounts."""
    from quaywatch.mqtt_accounts import write_embedded_accounts

    mqtt = site.mqtt
    accounts = None if mqtt.host or _listening("127.0.0.1", mqtt.port) else write_embedded_accounts(site)
    return ensure_broker(mqtt.host, mqtt.port, accounts)


def broker_config(host: str, port: int, accounts_file: str | Path) -> dict:
    return {
        "listeners": {"default": {"type": "tcp", "bind": f"{host}:{port}"}},
        # No $SYS chatter and no per-packet logging: the broker is infrastructure, not the story.
        "plugins": {"quaywatch.broker_acl.AccountsPlugin": {"accounts_file": str(accounts_file)}},
    }


async def serve(host: str, port: int, accounts_file: str | Path) -> None:
    from amqtt.broker import Broker

    from quaywatch.broker_acl import load_accounts

    load_accounts(accounts_file)  # a broken file is named here, before the broker listens
    broker = Broker(broker_config(host, port, accounts_file))
    await broker.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await broker.shutdown()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m quaywatch.broker", description="embedded MQTT broker (amqtt)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=1883)
    p.add_argument("--accounts", required=True,
                   help="accounts file (JSON: users with $7$ password hashes and the topics each may write and read)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # A readiness probe (connect, then close) is not an error worth a log line.
    logging.getLogger("amqtt.broker").addFilter(lambda r: "No data" not in r.getMessage())
    try:
        asyncio.run(serve(args.host, args.port, args.accounts))
    except QuaywatchError as exc:
        print(f"quaywatch.broker: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
