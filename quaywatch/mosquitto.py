"""Run Debian's Mosquitto on loopback: config for a throwaway broker (demo, tests).

As root, mosquitto drops to user `mosquitto`, so its persistence directory must belong to that user.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path


def mosquitto_binary() -> str | None:
    return shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto", "/usr/bin/mosquitto") if os.access(p, os.X_OK)), None)


def write_config(workdir: Path, port: int) -> Path:
    """A loopback-only, anonymous, persistent broker config in `workdir`; returns the config path."""
    workdir = Path(workdir)
    data = workdir / "data"
    data.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        with contextlib.suppress(KeyError, ImportError):
            import pwd

            pw = pwd.getpwnam("mosquitto")
            for d in (workdir, data):
                os.chown(d, pw.pw_uid, pw.pw_gid)
    conf = workdir / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
        f"persistence_location {data}/\nautosave_interval 1\nmax_queued_messages 100000\n"
        "log_dest stdout\nlog_type error\nlog_type warning\nlog_type notice\n"
    )
    return conf
