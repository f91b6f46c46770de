"""Who may do what on the site's MQTT broker, derived from the site config.

Two kinds of client, each with its own account (docs/mqtt.md has the topic tree):
  edge      publishes only its own cameras' events, status and preview, and its worker status
            (`<prefix>/<site>/<camera>/...`, `<prefix>/<site>/edge/<worker>/status`); reads nothing.
  alerting  (with the control room's live view) reads `<prefix>/<site>/#`; publishes nothing.

A role's password comes from the environment variable its `mqtt.<role>.password_env` names. On the embedded
broker a role left out of the config gets a password generated once per install, kept 0600 in
`mqtt.credentials_dir`, so a single-box install (and `quaywatch run` of the shipped Aalborg site) works with
no set-up and is still never open to anonymous clients.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from quaywatch.config.mqtt import broker_password
from quaywatch.config.secrets import secret_from_env
from quaywatch.errors import QuaywatchError
from quaywatch.mqtt_passwd import hash_password

ROLES = ("edge", "alerting")


@dataclass(frozen=True)
class Account:
    username: str
    password: str
    write: tuple[str, ...]  # topics it may publish to
    read: tuple[str, ...]  # topic filters it may subscribe to and receive


def default_username(site: Any, role: str) -> str:
    return f"quaywatch-edge-{site.edge.worker_id}" if role == "edge" else "quaywatch-alerting"


def credentials(site: Any, role: str) -> tuple[str | None, str | None]:
    """(username, password) this part connects with. The role's own account when configured; else on the
    embedded broker a generated one; else the shared top-level `mqtt.username` (None: anonymous, for a
    broker of the site's own that allows it)."""
    mqtt = site.mqtt
    own = getattr(mqtt, role)
    if own is not None:
        return own.username, secret_from_env(own.password_env, f"mqtt.{role}.password_env")
    if mqtt.host is None:
        name = default_username(site, role)
        return name, generated_password(Path(mqtt.credentials_dir), site.site.id, name)
    return mqtt.username, broker_password(mqtt)


def evidence_token(site: Any) -> str:
    """The shared secret between the edge's evidence server and alerting: `edge.evidence.token_env`, or one
    generated per install beside the MQTT passwords (both parts on one box)."""
    env = site.edge.evidence.token_env
    if env:
        return secret_from_env(env, "edge.evidence.token_env") or ""
    return generated_password(Path(site.mqtt.credentials_dir), site.site.id, "evidence-token")


def topics_written(site: Any, role: str) -> tuple[str, ...]:
    if role != "edge":
        return ()
    base = f"{site.mqtt.topic_prefix}/{site.site.id}"
    preview = site.controlroom.preview_topic if getattr(site, "controlroom", None) else "preview"
    per_camera = [f"{base}/{cam.id}/{leaf}" for cam in site.cameras for leaf in ("events", "status", preview)]
    return (*per_camera, f"{base}/edge/{site.edge.worker_id}/status")


def topics_read(site: Any, role: str) -> tuple[str, ...]:
    if role != "alerting":
        return ()
    base = f"{site.mqtt.topic_prefix}/{site.site.id}"
    return (f"{base}/#", f"$share/+/{base}/#")  # the second: alerting.subscription = shared


def accounts(site: Any) -> list[Account]:
    """Every client account of this site with its password resolved (for writing a broker's files)."""
    out = []
    for role in ROLES:
        name, password = credentials(site, role)
        if not name or not password:
            raise QuaywatchError(
                f"mqtt.{role}: no account for the {role} ({'set mqtt.' + role + '.username and password_env'}); "
                "the broker refuses clients without one")
        out.append(Account(name, password, topics_written(site, role), topics_read(site, role)))
    return out


def merge(groups: list[list[Account]]) -> list[Account]:
    """Accounts of several site configs (two edge workers, two sites on one broker): one per user name,
    its topics the union; the same name with two passwords is a config mistake."""
    merged: dict[str, Account] = {}
    for acc in (a for g in groups for a in g):
        old = merged.get(acc.username)
        if old is None:
            merged[acc.username] = acc
            continue
        if old.password != acc.password:
            raise QuaywatchError(f"MQTT user {acc.username} has two different passwords in these configs")
        merged[acc.username] = Account(acc.username, acc.password, tuple(dict.fromkeys(old.write + acc.write)),
                                       tuple(dict.fromkeys(old.read + acc.read)))
    return list(merged.values())


def write_embedded_accounts(site: Any) -> Path:
    """The embedded broker's account file (hashed passwords and topics), 0600 in credentials_dir."""
    return write_accounts_file(accounts(site), Path(site.mqtt.credentials_dir) / f"{site.site.id}.broker-accounts.json")


def write_accounts_file(accs: list[Account], path: Path) -> Path:
    """The embedded broker's `--accounts` file (quaywatch/broker_acl.py reads it), 0600."""
    doc = {"users": {a.username: {"hash": hash_password(a.password), "write": list(a.write), "read": list(a.read)}
                     for a in accs}}
    _write_private(path, json.dumps(doc, indent=1))
    return path


def generated_password(directory: Path, site_id: str, username: str) -> str:
    """This install's password for `username`, made on first use. Parts starting at once agree: the file
    is changed under a lock and replaced whole."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{site_id}.passwords.json"
    with open(directory / f".{site_id}.passwords.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            known = json.loads(path.read_text()) if path.exists() else {}
        except (OSError, ValueError) as exc:
            raise QuaywatchError(f"{path}: unreadable generated MQTT passwords ({exc}); delete it to make new ones") from None
        if username not in known:
            known[username] = secrets.token_urlsafe(24)
            _write_private(path, json.dumps(known, indent=1))
        return known[username]


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    try:
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
