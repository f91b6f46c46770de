"""Mosquitto for a site: its password_file and acl_file written from the site's accounts
(quaywatch.mqtt_accounts), and the config of a loopback broker (demo, tests).

As root, mosquitto drops to user `mosquitto`, so its persistence directory must belong to that user (and
it must be able to read the account files, which therefore belong to it too, mode 0600).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

from quaywatch.mqtt_accounts import Account
from quaywatch.mqtt_passwd import hash_password


def mosquitto_binary() -> str | None:
    return shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto", "/usr/bin/mosquitto") if os.access(p, os.X_OK)), None)


def _give_to_mosquitto(*paths: Path) -> None:
    if os.geteuid() == 0:
        with contextlib.suppress(KeyError, ImportError):
            import pwd

            pw = pwd.getpwnam("mosquitto")
            for p in paths:
                os.chown(p, pw.pw_uid, pw.pw_gid)


def fallback_dir(port: int) -> Path:
    """Where a root-started broker on `port` keeps its account files when its workdir is private
    (remove it when the broker is stopped)."""
    return Path(tempfile.gettempdir()) / f"quaywatch-mosquitto-{port}"


def _reachable_by_mosquitto(workdir: Path, port: int) -> Path:
    """Mosquitto opens its password_file after dropping to user `mosquitto`: as root under a private parent
    (pytest's 0700 tmp dirs) the files go to a directory of its own in the temp dir instead, 0700."""
    if os.geteuid() != 0 or all(p.stat().st_mode & 0o001 for p in workdir.resolve().parents):
        return workdir
    own = fallback_dir(port)
    own.mkdir(mode=0o700, exist_ok=True)
    _give_to_mosquitto(own)
    return own


def write_account_files(accounts: Iterable[Account], directory: Path) -> tuple[Path, Path]:
    """`password_file` (user:$7$hash, as mosquitto_passwd writes) and `acl_file` (each user's write and
    read topics, nothing else) in `directory`; returns their paths."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    accounts = list(accounts)
    passwd, acl = directory / "passwd", directory / "acl"
    lines = ["# written by quaywatch from the site config: edit the config, not this file"]
    for a in accounts:
        lines += ["", f"user {a.username}"]
        lines += [f"topic write {t}" for t in a.write]
        lines += [f"topic read {t}" for t in a.read]
    for path, text in ((passwd, "".join(f"{a.username}:{hash_password(a.password)}\n" for a in accounts)),
                       (acl, "\n".join(lines) + "\n")):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        _give_to_mosquitto(path)
    return passwd, acl


def write_config(workdir: Path, port: int, accounts: Iterable[Account] | None = None) -> Path:
    """A loopback-only, persistent broker config in `workdir`; returns the config path. With `accounts`
    (every shipped set-up: the demo) it admits only them, each to its own topics; without, it is an
    anonymous throwaway broker for tests that play a site's own broker."""
    workdir = Path(workdir)
    data = workdir / "data"
    data.mkdir(parents=True, exist_ok=True)
    _give_to_mosquitto(workdir, data)
    auth = "allow_anonymous true\n"
    if accounts is not None:
        passwd, acl = write_account_files(accounts, _reachable_by_mosquitto(workdir, port))
        auth = f"allow_anonymous false\npassword_file {passwd}\nacl_file {acl}\n"
    conf = workdir / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\n{auth}persistence true\n"
        f"persistence_location {data}/\nautosave_interval 1\nmax_queued_messages 100000\n"
        "log_dest stdout\nlog_type error\nlog_type warning\nlog_type notice\n"
    )
    return conf


def register(sub) -> None:
    p = sub.add_parser("mqtt-accounts", help="write Mosquitto's password_file and acl_file from site configs")
    p.add_argument("--site", action="append", required=True,
                   help="site YAML (repeat for each edge worker's or site's config on the same broker)")
    p.add_argument("--out", required=True, help="directory for `passwd` and `acl` (point password_file/acl_file there)")
    p.set_defaults(func=_accounts_cmd)


def _accounts_cmd(args) -> int:
    from quaywatch.config import load_site
    from quaywatch.mqtt_accounts import accounts, merge

    merged = merge([accounts(load_site(s)) for s in args.site])
    passwd, acl = write_account_files(merged, Path(args.out))
    print(f"{len(merged)} MQTT account(s): {', '.join(a.username for a in merged)}\n"
          f"  password_file {passwd}\n  acl_file {acl}\n  (and allow_anonymous false)")
    return 0
