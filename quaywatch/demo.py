"""`quaywatch demo`: the whole harbour on one machine, on embedded defaults.

Starts, each as its own process group: an MQTT broker (Mosquitto where installed, else the embedded
amqtt), one simulated thermal camera per camera of config/sites/demo.yaml (real RTSP + ONVIF, a fall
about every minute), the alerting service with the dry-run pager and the control room on
http://127.0.0.1:8080, and the edge worker, which finds the cameras over ONVIF exactly as it would on a
real quay. Ctrl-C stops everything and leaves no process behind.

`quaywatch demo --replay` is the quick look: replay the fall fixtures and print alerts beside the truth.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from quaywatch.config import load_yaml, site_from_dict
from quaywatch.config.loader import SITES_DIR
from quaywatch.config.recording import find_clips, sidecar_for
from quaywatch.errors import QuaywatchError
from quaywatch.mosquitto import fallback_dir, mosquitto_binary, write_config
from quaywatch.mqtt_accounts import Account, accounts, write_accounts_file
from quaywatch.supervisor import Part, Supervisor, free_port, port_open

FIXTURES = Path(__file__).resolve().parents[1] / "recordings_fixtures"
CAMERA_PASSWORD_ENV = "QUAYWATCH_DEMO_CAMERA_PASSWORD"
OPERATOR_PASSWORD_ENV = "QUAYWATCH_DEMO_PASSWORD"
ADMIN_PASSWORD_ENV = "QUAYWATCH_ADMIN_PASSWORD"
EDGE_MQTT_PASSWORD_ENV = "QUAYWATCH_DEMO_MQTT_EDGE_PASSWORD"
ALERTING_MQTT_PASSWORD_ENV = "QUAYWATCH_DEMO_MQTT_ALERTING_PASSWORD"
EVIDENCE_TOKEN_ENV = "QUAYWATCH_DEMO_EVIDENCE_TOKEN"
# What reaches the terminal from the parts' chatter: pages, alerts, trouble.
SHOWN = ("DRY-RUN", "ALERT", " offline", " ERROR ", " WARNING ", "error:", "Traceback")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run the whole system on embedded defaults (Ctrl-C stops it)")
    p.add_argument("--dir", default="var/demo", help="working directory for the demo's databases and logs")
    p.add_argument("--port", type=int, default=8080, help="control room port (0 or taken: a free one)")
    p.add_argument("--seconds", type=float, default=None, help="stop by itself after this long")
    p.add_argument("--replay", action="store_true", help="only replay fall fixtures and print their alerts")
    p.add_argument("--clips", type=int, default=4, help="with --replay: how many fixture clips")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    return run_replay(args.clips) if args.replay else run_live(args)


def quaywatch_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "quaywatch", *args]


def shown(line: str) -> bool:
    return any(word in line for word in SHOWN)


def run_live(args: argparse.Namespace) -> int:
    base = Path(args.dir).resolve()
    if base.exists():
        shutil.rmtree(base)  # every demo starts from an empty store, so what you see is this run's
    base.mkdir(parents=True)
    site = load_yaml(SITES_DIR / "demo.yaml")
    env = {
        CAMERA_PASSWORD_ENV: secrets.token_urlsafe(12),
        OPERATOR_PASSWORD_ENV: secrets.token_urlsafe(9),
        ADMIN_PASSWORD_ENV: secrets.token_urlsafe(12),
        EDGE_MQTT_PASSWORD_ENV: secrets.token_urlsafe(18),
        ALERTING_MQTT_PASSWORD_ENV: secrets.token_urlsafe(18),
        EVIDENCE_TOKEN_ENV: secrets.token_urlsafe(18),
    }
    os.environ.update(env)  # children inherit them; only hashes are written to disk
    sup = Supervisor(base / "log")
    started = time.monotonic()
    mqtt_port = free_port()
    # The broker admits only these two accounts, each to its own topics (never anonymous).
    site["mqtt"] = {"host": "127.0.0.1", "port": mqtt_port,
                    "edge": {"username": "demo-edge", "password_env": EDGE_MQTT_PASSWORD_ENV},
                    "alerting": {"username": "demo-alerting", "password_env": ALERTING_MQTT_PASSWORD_ENV}}
    cameras = [camera_part(cam) for cam in site["cameras"] if str(cam["source"]).startswith("sim://")]
    web_port = free_port() if args.port == 0 or port_open(args.port) else args.port
    site["alerting"]["store_url"] = f"sqlite:///{base / 'alerts.db'}"
    site["alerting"]["web"] = {"host": "127.0.0.1", "port": web_port}
    site["alerting"].setdefault("links", {})["base_url"] = f"http://127.0.0.1:{web_port}"  # the SMS's evidence link
    site.setdefault("controlroom", {})["users_db"] = str(base / "users.db")
    evidence_port = free_port()
    site.setdefault("edge", {}).update(data_dir=str(base / "edge"),
                                       evidence={"http_port": evidence_port, "token_env": EVIDENCE_TOKEN_ENV})
    parsed = site_from_dict(site, "demo site")  # the rewritten site must still be valid
    broker = broker_part(base, mqtt_port, accounts(parsed))
    site_path = base / "site.yaml"
    site_path.write_text(yaml.safe_dump(site, allow_unicode=True, sort_keys=False), encoding="utf-8")
    add_user(site_path, "demo", "operator", OPERATOR_PASSWORD_ENV)
    try:
        sup.start(broker.part, *cameras,
                  Part("alerting", quaywatch_cmd("alerting", "--site", str(site_path), "--dry-run"),
                       ready=lambda: port_open(web_port), echo=shown),
                  Part("edge", quaywatch_cmd("edge", "--site", str(site_path)), echo=shown))
    except BaseException:
        sup.stop()
        raise
    print(f"""
quaywatch demo is running ({time.monotonic() - started:.0f} s to start)
  control room:  http://127.0.0.1:{web_port}
  login:         demo / {env[OPERATOR_PASSWORD_ENV]}   (admin / {env[ADMIN_PASSWORD_ENV]})
  cameras:       {', '.join(f"{c['id']} {c['name']}" for c in site['cameras'])}
  a simulated fall happens about every minute; pages are printed, never sent.
  logs: {base / 'log'}        Ctrl-C stops everything.
""", flush=True)
    deadline = None if args.seconds is None else time.monotonic() + args.seconds
    try:
        sup.run_until_interrupted(until=(lambda: time.monotonic() > deadline) if deadline else None)
    finally:
        shutil.rmtree(fallback_dir(mqtt_port), ignore_errors=True)
    return 0


@dataclass
class Broker:
    part: Part
    port: int


def broker_part(base: Path, port: int, site_accounts: list[Account]) -> Broker:
    """Mosquitto where installed, else the embedded amqtt broker; loopback only, the site's accounts only."""
    binary = mosquitto_binary()
    if binary:
        conf = write_config(base / "mosquitto", port, site_accounts)
        return Broker(Part("mosquitto", [binary, "-c", str(conf)], ready=lambda: port_open(port), echo=shown), port)
    accounts_file = write_accounts_file(site_accounts, base / "broker-accounts.json")
    return Broker(Part("broker", [sys.executable, "-m", "quaywatch.broker", "--host", "127.0.0.1", "--port", str(port),
                                  "--accounts", str(accounts_file)],
                       ready=lambda: port_open(port), echo=shown), port)


def camera_part(cam: dict) -> Part:
    """A simulated camera for a `sim://` source; it then reaches the edge over ONVIF like a real one.
    Rewrites the camera's source in place to point at it."""
    rtsp, onvif = free_port(), free_port()
    scene = cam["source"]
    cam["source"] = f"onvif://demo@127.0.0.1:{onvif}"
    cam["password_env"] = CAMERA_PASSWORD_ENV
    return Part(
        f"camera-{cam['id']}",
        quaywatch_cmd("camera-sim", "--scene", scene, "--port", str(rtsp), "--onvif-port", str(onvif),
                      "--user", "demo", "--password-env", CAMERA_PASSWORD_ENV, "--name", cam["name"]),
        ready=lambda: port_open(onvif) and port_open(rtsp), echo=shown,
    )


def add_user(site_path: Path, name: str, role: str, password_env: str) -> None:
    proc = subprocess.run(quaywatch_cmd("users", "--site", str(site_path), "add", name, "--role", role,
                                        "--password-env", password_env), capture_output=True, text=True)
    if proc.returncode != 0:
        raise QuaywatchError(f"could not create the demo user: {proc.stderr.strip() or proc.stdout.strip()}")


def run_replay(count: int) -> int:
    from quaywatch.evaluation.replay import replay

    if not FIXTURES.is_dir():
        raise QuaywatchError(f"{FIXTURES}: fixture library not found (run from a checkout)")
    clips = [c for c in find_clips([FIXTURES]) if sidecar_for(c).exists()]
    picked = sorted(clips, key=lambda c: ("fall" not in c.name, c.name))[:count]
    for clip in picked:
        result = replay(clip, progress=sys.stderr.isatty())
        truth = result.truth.events if result.truth else []
        print(f"\n{clip.name} — {result.camera.name} ({result.camera.id}), {result.duration_s:.0f} s")
        print("  truth: " + (", ".join(f"{e.kind} at {e.t:.2f} s" for e in truth) or "no events (negative clip)"))
        for a in result.alerts:
            d = a.detection
            print(f"  ALERT {d.kind} at {d.t:.2f} s  track {d.track_id}  box {list(d.bbox)}  "
                  f"confidence {d.confidence:.2f}")
        if not result.alerts:
            print("  no alerts")
    return 0
