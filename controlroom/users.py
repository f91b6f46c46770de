"""Users and their login sessions, in a small SQLite file of the control room's own.

A session is a random token in an HttpOnly cookie; only its SHA-256 is stored, so a copy of the
database does not let anyone log in. Each session carries its own CSRF token. Logging out, disabling a
user or changing a role takes effect on the next request, which a signed-cookie session could not do.
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from quaywatch.controlroom.passwords import hash_password, verify_password
from quaywatch.errors import QuaywatchError

Role = Literal["viewer", "operator", "admin"]
ROLES: tuple[str, ...] = ("viewer", "operator", "admin")
NAME_PATTERN = r"^[A-Za-z0-9_.@-]{1,64}$"

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY, role TEXT NOT NULL, password_hash TEXT NOT NULL,
    created_at REAL NOT NULL, disabled INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS sessions (
    token_sha256 TEXT PRIMARY KEY, user TEXT NOT NULL, csrf TEXT NOT NULL,
    created_at REAL NOT NULL, expires_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_by_user ON sessions (user);
"""


@dataclass(frozen=True)
class User:
    name: str
    role: str

    def can(self, needed: str) -> bool:
        return ROLES.index(self.role) >= ROLES.index(needed)


@dataclass(frozen=True)
class Session:
    user: User
    csrf: str
    expires_at: float


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class UserStore:
    def __init__(self, path: str | Path):
        path = str(path)
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10)
        self._conn.row_factory = sqlite3.Row
        if path != ":memory:":
            self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # --- users --------------------------------------------------------------------------------------------
    def add(self, name: str, role: str, password: str) -> User:
        import re

        if not re.match(NAME_PATTERN, name):
            raise QuaywatchError(f"user name {name!r}: use 1-64 letters, digits and _ . @ -")
        if role not in ROLES:
            raise QuaywatchError(f"role {role!r}: use one of {', '.join(ROLES)}")
        try:
            pw_hash = hash_password(password)
        except ValueError as exc:
            raise QuaywatchError(str(exc)) from None
        with self._lock:
            try:
                self._conn.execute("INSERT INTO users (name, role, password_hash, created_at) VALUES (?, ?, ?, ?)",
                                   (name, role, pw_hash, time.time()))
            except sqlite3.IntegrityError:
                raise QuaywatchError(f"user {name!r} exists already") from None
        return User(name, role)

    def set_password(self, name: str, password: str) -> None:
        try:
            pw_hash = hash_password(password)
        except ValueError as exc:
            raise QuaywatchError(str(exc)) from None
        with self._lock:
            if not self._conn.execute("UPDATE users SET password_hash = ? WHERE name = ?", (pw_hash, name)).rowcount:
                raise QuaywatchError(f"no user {name!r}")
            self._conn.execute("DELETE FROM sessions WHERE user = ?", (name,))

    def set_role(self, name: str, role: str) -> None:
        if role not in ROLES:
            raise QuaywatchError(f"role {role!r}: use one of {', '.join(ROLES)}")
        with self._lock:
            if not self._conn.execute("UPDATE users SET role = ? WHERE name = ?", (role, name)).rowcount:
                raise QuaywatchError(f"no user {name!r}")

    def remove(self, name: str) -> None:
        with self._lock:
            if not self._conn.execute("DELETE FROM users WHERE name = ?", (name,)).rowcount:
                raise QuaywatchError(f"no user {name!r}")
            self._conn.execute("DELETE FROM sessions WHERE user = ?", (name,))

    def list(self) -> list[User]:
        with self._lock:
            rows = self._conn.execute("SELECT name, role FROM users WHERE disabled = 0 ORDER BY name").fetchall()
        return [User(r["name"], r["role"]) for r in rows]

    def count(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM users").fetchone()[0])

    def authenticate(self, name: str, password: str) -> User | None:
        with self._lock:
            row = self._conn.execute("SELECT name, role, password_hash FROM users WHERE name = ? AND disabled = 0",
                                     (name,)).fetchone()
        if not verify_password(row["password_hash"] if row else None, password):
            return None
        return User(row["name"], row["role"])

    # --- sessions -----------------------------------------------------------------------------------------
    def open_session(self, user: User, max_age_s: float) -> tuple[str, Session]:
        token, csrf, now = secrets.token_urlsafe(32), secrets.token_urlsafe(32), time.time()
        with self._lock:
            self._conn.execute("DELETE FROM sessions WHERE expires_at < ?", (now,))
            self._conn.execute("INSERT INTO sessions VALUES (?, ?, ?, ?, ?)",
                               (_digest(token), user.name, csrf, now, now + max_age_s))
        return token, Session(user, csrf, now + max_age_s)

    def session(self, token: str | None) -> Session | None:
        if not token or len(token) > 200:
            return None
        with self._lock:
            row = self._conn.execute(
                "SELECT u.name, u.role, s.csrf, s.expires_at FROM sessions s JOIN users u ON u.name = s.user "
                "WHERE s.token_sha256 = ? AND s.expires_at > ? AND u.disabled = 0", (_digest(token), time.time()),
            ).fetchone()
        return Session(User(row["name"], row["role"]), row["csrf"], row["expires_at"]) if row else None

    def close_session(self, token: str | None) -> None:
        if token:
            with self._lock:
                self._conn.execute("DELETE FROM sessions WHERE token_sha256 = ?", (_digest(token),))

    def ensure_admin(self, name: str, password: str | None) -> bool:
        """First start: with no users at all, create the admin from the configured environment variable."""
        if self.count() or not password:
            return False
        self.add(name, "admin", password)
        return True
