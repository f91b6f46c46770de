"""Store and forward: every event is written to a local SQLite outbox before it is published, and deleted
only when the broker has acknowledged it (PUBACK). A broker outage or an edge restart therefore loses
nothing; what was not acknowledged is sent again, in the order it was written. Event ids make a resend
harmless to the receiver.

WAL journal with synchronous=FULL: a committed put() survives a power cut, and the publisher can read
while detection threads write.
"""

from __future__ import annotations

import fcntl
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

from quaywatch.errors import QuaywatchError

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,  -- publish order
    event_id TEXT NOT NULL UNIQUE,
    topic    TEXT NOT NULL,
    payload  BLOB NOT NULL,
    created  REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0
);
-- Events the broker would not take however often we tried (e.g. larger than its packet limit): kept for
-- a person to look at, so that one poison message cannot hold back every alert behind it.
CREATE TABLE IF NOT EXISTS dead (
    event_id TEXT PRIMARY KEY,
    topic    TEXT NOT NULL,
    payload  BLOB NOT NULL,
    created  REAL NOT NULL,
    attempts INTEGER NOT NULL,
    reason   TEXT NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class Pending:
    seq: int
    event_id: str
    topic: str
    payload: bytes
    attempts: int


class Outbox:
    """Thread-safe: detection threads put(), the MQTT thread reads and acks."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._lockf = self._exclusive(self.path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise QuaywatchError(f"{self.path}: cannot open the event outbox: {exc}") from None
        self._lock = threading.Lock()
        self.added = 0
        self.acked = 0

    @staticmethod
    def _exclusive(path: Path):
        """One worker per outbox: two would both send (and both delete) the same events."""
        path.parent.mkdir(parents=True, exist_ok=True)
        lockf = open(path.with_suffix(".lock"), "a")  # noqa: SIM115 - held for the outbox's life
        try:
            fcntl.flock(lockf, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lockf.close()
            raise QuaywatchError(
                f"{path}: another edge worker is already using this outbox; give each worker its own "
                "edge.data_dir (or --data-dir)"
            ) from None
        return lockf

    def put(self, event_id: str, topic: str, payload: bytes, created: float) -> bool:
        """Durably store one event; False when the id is already there (a repeat is not stored twice)."""
        with self._lock:
            cur = self._db.execute(
                "INSERT OR IGNORE INTO outbox (event_id, topic, payload, created) VALUES (?, ?, ?, ?)",
                (event_id, topic, payload, created),
            )
            stored = cur.rowcount == 1
        if stored:
            self.added += 1
        return stored

    def pending(self, after_seq: int = 0, limit: int = 100) -> list[Pending]:
        """The oldest unacknowledged events after `after_seq`, in the order they were put."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, event_id, topic, payload, attempts FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?",
                (after_seq, limit),
            ).fetchall()
        return [Pending(seq, eid, topic, bytes(payload), attempts) for seq, eid, topic, payload, attempts in rows]

    def attempted(self, seq: int) -> None:
        with self._lock:
            self._db.execute("UPDATE outbox SET attempts = attempts + 1 WHERE seq = ?", (seq,))

    def ack(self, seq: int) -> None:
        """The broker has the event (PUBACK): it may go."""
        with self._lock:
            cur = self._db.execute("DELETE FROM outbox WHERE seq = ?", (seq,))
        self.acked += cur.rowcount

    def bury(self, seq: int, reason: str) -> None:
        """Move an event the broker keeps refusing out of the way of the ones behind it."""
        with self._lock, self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute(
                "INSERT OR REPLACE INTO dead (event_id, topic, payload, created, attempts, reason) "
                "SELECT event_id, topic, payload, created, attempts, ? FROM outbox WHERE seq = ?", (reason, seq))
            self._db.execute("DELETE FROM outbox WHERE seq = ?", (seq,))

    def dead(self) -> list[tuple[str, str]]:
        """(event_id, reason) of buried events."""
        with self._lock:
            return self._db.execute("SELECT event_id, reason FROM dead ORDER BY created").fetchall()

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]

    def oldest_age(self, now: float) -> float | None:
        with self._lock:
            row = self._db.execute("SELECT MIN(created) FROM outbox").fetchone()
        return None if row[0] is None else max(0.0, now - row[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()
        self._lockf.close()  # releases the flock
