"""One database connection, SQLite or PostgreSQL, behind the same three calls: tx(), one(), all().

SQLite runs in WAL mode with synchronous=FULL: a committed event survives a power cut, which is why
intake commits in batches (group commit) rather than once per event. Writers take `BEGIN IMMEDIATE`
so two alerting processes on one file serialise instead of failing half-way through.

Checkpoints (copying the WAL back into the database file) run on a thread of their own rather than inside
whichever commit crosses SQLite's 1000-page mark: a checkpoint copies and fsyncs as many bytes again as the
commits wrote, and done inline it nearly halved durable ingest (events carry ~30 KB snapshots). Durability
is unchanged: a commit is on disk once its WAL frames are fsynced, checkpointed or not.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from quaywatch.alerting.store.migrations import pending, statements
from quaywatch.alerting.store.reserve import SpaceReserve
from quaywatch.errors import QuaywatchError

log = logging.getLogger(__name__)
MIGRATION_LOCK = 0x71756179  # "quay": the advisory lock key two nodes migrating one database agree on
_FULL_WORDS = ("database or disk is full", "could not extend file", "no space left on device")


def is_disk_full(exc: BaseException) -> bool:
    """A write refused for lack of space: SQLite's SQLITE_FULL ('database or disk is full'), an OSError
    ENOSPC, PostgreSQL's disk_full (SQLSTATE 53100: 'could not extend file ...: No space left on device')."""
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return True
    if getattr(exc, "sqlstate", None) == "53100":
        return True
    return any(w in str(exc).lower() for w in _FULL_WORDS)


class Database:
    def __init__(self, url: str, reserve_bytes: int = 0):
        """`reserve_bytes`: space held back beside a SQLite file and given back when the disk fills
        (alerting/store/reserve.py); 0 for none."""
        self.url = url
        self.reserve: SpaceReserve | None = None
        parts = urlsplit(url)
        self._lock = threading.RLock()  # web handlers run in threads; one connection, one user at a time
        self._checkpointer: Checkpointer | None = None
        if parts.scheme == "sqlite":
            self.dialect = "sqlite"
            self._conn = self._open_sqlite(url[len("sqlite://") :])
            path = self._conn.execute("PRAGMA database_list").fetchone()[2]
            if path:  # a file, not :memory:
                self._conn.execute("PRAGMA wal_autocheckpoint=0")
                self._checkpointer = Checkpointer(path)
                if reserve_bytes > 0:
                    self.reserve = SpaceReserve(f"{path}-reserve", reserve_bytes)
        elif parts.scheme in ("postgresql", "postgres"):
            self.dialect = "postgres"
            self._conn = self._open_postgres(url)
        else:
            raise QuaywatchError(f"alerting.store_url: unknown scheme {parts.scheme!r}; use sqlite:///PATH or postgresql://...")
        self._depth = 0
        # When a write last failed for lack of space (time.time()), for health to name it; never cleared here:
        # the service decides when it is over (its next event commit that succeeds).
        self.disk_full_at: float | None = None
        self.migrate()

    def _note_failure(self, exc: BaseException) -> None:
        if is_disk_full(exc):
            self.disk_full_at = time.time()
            if self.reserve is not None:
                self.reserve.release()  # the caller tries again (intake holds its batch) on the space set free

    @staticmethod
    def _open_sqlite(path: str) -> sqlite3.Connection:
        # As in SQLAlchemy: sqlite:///var/x.db is relative to the working directory, sqlite:////abs/x.db absolute.
        path = (path[1:] if path.startswith("/") else path) or ":memory:"
        if path != ":memory:":
            try:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise QuaywatchError(f"alerting.store_url: cannot create {Path(path).parent}: {exc}") from None
        try:
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10)
        except sqlite3.Error as exc:
            raise QuaywatchError(f"alerting.store_url: cannot open SQLite file {path}: {exc}") from None
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        return conn

    @staticmethod
    def _connect_postgres(url: str):
        import psycopg
        from psycopg.rows import dict_row

        return psycopg.connect(url, autocommit=True, row_factory=dict_row, connect_timeout=10)

    @classmethod
    def _open_postgres(cls, url: str):
        import psycopg

        try:
            return cls._connect_postgres(url)
        except psycopg.Error as exc:  # at start: a configuration to fix, said as such
            raise QuaywatchError(f"alerting.store_url: cannot connect to PostgreSQL: {exc}") from None

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self.dialect == "postgres" else sql

    @contextlib.contextmanager
    def tx(self, power_safe: bool = True) -> Iterator[Database]:
        """A write transaction; nested calls join the outer one.

        `power_safe=False` (SQLite): the commit survives the process being killed but not a power cut
        (synchronous=NORMAL: no fsync at commit). Used for page claims, where the worst a power cut can
        do is send a page twice; never for events, whose loss would be silent.
        """
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield self
                finally:
                    self._depth -= 1
                return
            self._reopen_if_lost()
            relaxed = not power_safe and self.dialect == "sqlite"
            if relaxed:
                self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute("BEGIN IMMEDIATE" if self.dialect == "sqlite" else "BEGIN")
            self._depth = 1
            try:
                yield self
            except BaseException as exc:
                self._depth = 0
                self._note_failure(exc)
                if self._in_transaction():
                    self._conn.execute("ROLLBACK")
                raise
            else:
                self._depth = 0
                try:
                    self._conn.execute("COMMIT")
                except BaseException as exc:
                    self._note_failure(exc)
                    with contextlib.suppress(Exception):  # a failed COMMIT can leave the transaction open
                        self._conn.execute("ROLLBACK")
                    raise
            finally:
                if relaxed:
                    self._conn.execute("PRAGMA synchronous=FULL")

    def _in_transaction(self) -> bool:
        """Whether a failed transaction is still open to roll back. SQLite rolls back by itself on some errors
        (SQLITE_FULL: a full disk); a ROLLBACK then fails with 'no transaction is active' and that error
        replaced the real one in what intake logged and held for. A lost PostgreSQL connection rolled back."""
        if self.dialect == "sqlite":
            return self._conn.in_transaction
        return not self._conn.closed

    def _reopen_if_lost(self) -> None:
        """PostgreSQL restarted or failed over: the old connection is dead for good, so open a new one
        (outside a transaction only; a transaction that lost its connection fails and its work is redone:
        intake's events are redelivered, escalation retries). A multi-host store_url
        (postgresql://primary,standby/db?target_session_attrs=read-write) then finds the new primary.
        While the server is still down this raises psycopg's OperationalError, the store's failure that
        intake holds its batch for (alerting/intake.py store_unavailable), never a QuaywatchError: that one
        is not the store's, and intake set the events aside as poison after three tries, acked and lost."""
        if self.dialect == "postgres" and not self._depth and self._conn.closed:
            self._conn = self._connect_postgres(self.url)

    def run(self, sql: str, params: tuple | list = ()) -> int:
        """Execute a statement; returns the number of rows it changed."""
        with self._lock:
            self._reopen_if_lost()
            try:
                cur = self._conn.execute(self._sql(sql), tuple(params))
            except Exception as exc:
                self._note_failure(exc)
                raise
            return cur.rowcount

    def one(self, sql: str, params: tuple | list = ()) -> dict[str, Any] | None:
        with self._lock:
            self._reopen_if_lost()
            row = self._conn.execute(self._sql(sql), tuple(params)).fetchone()
            return dict(row) if row is not None else None

    def all(self, sql: str, params: tuple | list = ()) -> list[dict[str, Any]]:
        with self._lock:
            self._reopen_if_lost()
            return [dict(r) for r in self._conn.execute(self._sql(sql), tuple(params)).fetchall()]

    def migrate(self) -> int:
        """Apply pending migrations; returns the schema version. Safe when two nodes start at once."""
        with self.tx():
            if self.dialect == "postgres":
                # Two nodes racing CREATE TABLE IF NOT EXISTS on a fresh database both pass the check, and
                # the second fails on pg_type's unique index: serialise from the first statement on.
                self.one("SELECT pg_advisory_xact_lock(?) AS locked", (MIGRATION_LOCK,))
            self.run("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            if self.dialect == "postgres":
                self.run("LOCK TABLE schema_version IN EXCLUSIVE MODE")
            row = self.one("SELECT MAX(version) AS v FROM schema_version")
            current = (row or {}).get("v") or 0
            for number, sql in pending(current):
                for stmt in statements(self.dialect, sql):
                    self.run(stmt)
                self.run("INSERT INTO schema_version (version) VALUES (?)", (number,))
                current = number
        return current

    def close(self) -> None:
        if self._checkpointer:
            self._checkpointer.stop()
        with self._lock:
            self._conn.close()


class Checkpointer:
    """Copies committed WAL frames into the SQLite file every `interval` seconds, off the writers' path.

    PASSIVE never blocks a writer or a reader; frames it cannot copy yet are copied next time. Its own
    connection, its own thread: SQLite releases the GIL while it copies and syncs.
    """

    def __init__(self, path: str, interval: float = 0.5):
        self.path, self.interval = path, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sqlite-checkpoint", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=1)
        try:
            while not self._stop.wait(self.interval):
                self.checkpoint(conn, "PASSIVE")
            self.checkpoint(conn, "PASSIVE")
        finally:
            conn.close()

    @staticmethod
    def checkpoint(conn: sqlite3.Connection, mode: str) -> None:
        try:
            conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
        except sqlite3.Error as exc:  # busy or a disk error: the frames stay in the WAL, safe, for next time
            log.warning("store: WAL checkpoint of %s failed (%s); retrying in the next round", conn, exc)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
